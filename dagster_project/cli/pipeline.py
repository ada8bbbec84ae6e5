"""`opsvalue demo`, `run` and `generate`: the commands that move data."""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap
import time
import uuid
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from dagster_project.cli import args as arg_types
from dagster_project.cli.rebuild import rebuild_and_report
from dagster_project.cli.status import report_gates
from dagster_project.core.runner import run_pipeline
from dagster_project.core.settings import Settings, get_settings
from opsgen import guard

CONSOLE = Console(stderr=True)

# The demo is small enough to run in about a minute on 2 cores, yet spans 24 months so trends,
# year-over-year changes and the reorganisation are all visible.
DEMO_SCALE = 0.01
DEMO_MONTHS = 24
DEMO_SEED = 42


def duckdb_cli() -> str:
    """The analysts' DuckDB CLI: the one installed beside this Python (duckdb-cli), else PATH's."""
    beside = Path(sys.executable).parent / "duckdb"
    return str(beside) if beside.exists() else (shutil.which("duckdb") or "duckdb")


def _raw_has_files(raw_dir: Path) -> bool:
    from dagster_project.defs.ingest.files import list_extract_files, source_folders

    return raw_dir.is_dir() and any(list_extract_files(p) for p in source_folders(raw_dir))


def cmd_generate(args: argparse.Namespace) -> int:
    from opsgen import generate

    try:
        result = generate(
            out=Path(args.out),
            scale=args.scale,
            months=args.months,
            seed=args.seed,
            defects=args.defects,
            progress=True,
            force=args.force,
        )
    except guard.GenerationRefused as exc:
        CONSOLE.print(f"[bold red]not generated[/]: {escape(str(exc))}")
        return 1
    CONSOLE.print(
        f"[green]generated[/] {sum(result.rows.values()):,} rows in {len(result.files)} files "
        f"under {escape(args.out)} in {result.seconds:.1f} s"
    )
    return 0


def _set_aside_damaged(settings: Settings) -> bool:
    """`--set-aside-damaged`: rename a damaged snapshot or working database (never delete it).

    True when the working database was set aside and a published snapshot can give back what
    data/raw cannot (definition history, ledger, releases): the caller then runs the rebuild
    (`opsvalue rebuild`), since a run from data/raw alone would lose that history.
    """
    from dagster_project.core import faults
    from dagster_project.core.state import published_fingerprint

    snapshot_problem = faults.database_problem(settings.warehouse_path)
    if snapshot_problem:
        aside = faults.set_aside(settings.warehouse_path)
        CONSOLE.print(
            f"[yellow]set aside[/] {escape(snapshot_problem)}: now {escape(str(aside))}; "
            "published anew from the working database"
        )
    work_problem = faults.database_problem(settings.work_db_path)
    if not work_problem:
        return False
    aside = faults.set_aside(settings.work_db_path)
    restorable = published_fingerprint(settings.warehouse_path) is not None
    then = (
        "rebuilt from data/raw and the last published snapshot (`opsvalue rebuild`)"
        if restorable
        else "built from the extracts in data/raw: no readable snapshot holds its history"
    )
    CONSOLE.print(f"[yellow]set aside[/] {escape(work_problem)}: now {escape(str(aside))}; {then}")
    return restorable


def _warm_gx() -> None:
    """GX's process starts importing GX now, on the other core, while this one imports
    Dagster (`rules.gx_process`)."""
    from dagster_project.defs.ingest.rules import gx_process

    gx_process.warm()


def cmd_demo(args: argparse.Namespace) -> int:
    _warm_gx()
    from dagster_project.core.faults import check_pipeline_paths
    from dagster_project.core.state import published_fingerprint

    settings = get_settings()
    started = time.perf_counter()
    if args.set_aside_damaged and _set_aside_damaged(settings):
        return rebuild_and_report(settings, accept=False)
    # before generating: a run that cannot finish starts nothing
    check_pipeline_paths(settings, published_fingerprint(settings.warehouse_path) is not None)
    if not _raw_has_files(settings.raw_dir):
        CONSOLE.print(f"[bold]no extracts in {settings.raw_dir}[/]: generating demo data")
        from opsgen import generate

        try:
            generate(out=settings.raw_dir, scale=DEMO_SCALE, months=DEMO_MONTHS, seed=DEMO_SEED)
        except guard.GenerationRefused as exc:  # someone else's files in data/raw, or no room
            CONSOLE.print(f"[bold red]not generated[/]: {escape(str(exc))}")
            return 1
    from dagster_project.core.warehouse import PipelineBusy, WorkingDatabaseLost

    try:
        ok = _run_with_progress(settings)
    except PipelineBusy as exc:
        CONSOLE.print(f"[bold yellow]not started[/]: {exc}")
        return 3
    except WorkingDatabaseLost as exc:
        CONSOLE.print(f"[bold red]not started[/]: {escape(str(exc))}")
        return 1
    elapsed = time.perf_counter() - started
    if not ok:
        return 1
    index = settings.site_dir / "index.html"
    out = Console(soft_wrap=True)  # paths stay on one line, copy-pasteable
    out.print(f"[bold green]opsvalue demo done[/] in {elapsed:.1f} s")
    out.print(f"  warehouse (DuckDB): {settings.warehouse_path} (published, read-only)")
    out.print(f"  dashboard:          {index}")
    out.print(
        f"  Dagster UI:         DAGSTER_HOME={settings.dagster_home} "
        "dagster dev -m dagster_project.definitions"
    )
    out.print(f"  analysts:           {duckdb_cli()} -readonly {settings.warehouse_path}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    _warm_gx()
    from dagster_project.core.warehouse import PipelineBusy, WorkingDatabaseLost

    settings = get_settings()
    if args.set_aside_damaged and _set_aside_damaged(settings):
        return rebuild_and_report(settings, accept=False)
    try:
        ok = _run_with_progress(settings)
    except PipelineBusy as exc:
        CONSOLE.print(f"[bold yellow]not started[/]: {exc}")
        return 3
    except WorkingDatabaseLost as exc:
        CONSOLE.print(f"[bold red]not started[/]: {escape(str(exc))}")
        return 1
    return 0 if ok else 1


def _run_with_progress(settings: Settings) -> bool:
    """One run with a line per stage on the terminal and the full log in a file."""
    from dagster_project.cli.progress import Progress, terminal_console
    from dagster_project.core.faults import check_writable_folder

    check_writable_folder(settings.log_dir, "where each run's full log is written")
    run_id = str(uuid.uuid4())
    log_path = settings.log_dir / f"{datetime.now():%Y%m%d-%H%M%S}-{run_id[:8]}.log"
    terminal = terminal_console()
    terminal.print(f"[bold]run[/] {run_id[:8]}: full log in {escape(str(log_path))}")
    progress = Progress(terminal, log_path)
    try:
        outcome = run_pipeline(settings, log_path=log_path, on_event=progress, run_id=run_id)
    finally:
        progress.stop()
    report_gates(terminal)  # a held batch is an ordinary day: reported, not a failure
    progress.finish(outcome.success)
    if not outcome.success:
        terminal.print(
            f"the run's events: DAGSTER_HOME={escape(str(settings.dagster_home))} "
            f"dagster dev -m dagster_project.definitions, run {run_id}"
        )
    return outcome.success


def generate_description() -> str:
    """`opsvalue generate --help`: the folder rule and the limits, from opsgen.guard."""
    paragraphs = (
        "Write demo extracts of every source of the input contract under --out, in the layout "
        "of data/raw/README.md, and list them in <out>/_manifest/generated.json.",
        "The folder must be empty or missing, or hold only files an earlier `opsvalue generate` "
        "wrote there and nobody has changed since (those listed in its generated.json; its "
        "README.md is left alone). Any other file (a delivered extract, a note, a generated "
        "file edited or delivered over since) makes the command refuse, naming the folder and "
        "the files, without writing or deleting anything; --force writes over it anyway.",
        f"Limits: --scale more than 0 and at most {guard.SCALE_MAX:g}, --months from "
        f"{guard.MONTHS_MIN} to {guard.MONTHS_MAX}. Before writing, the command estimates the "
        f"disk space the run needs (about {guard.BYTES_PER_SCALE_MONTH / 1e6:.0f} MB per unit "
        f"of scale and month) and its memory (about {guard.MEMORY_BASE / 1e6:.0f} MB, plus "
        f"{guard.MEMORY_PER_SCALE / 1e6:.0f} MB per unit of scale for the book of policies: "
        "the generator streams, chunk by chunk), and refuses when the machine lacks them.",
        "Exit codes: 0 written, 1 refused (nothing written), 2 arguments out of bounds.",
    )
    return "\n\n".join(textwrap.fill(p, width=88) for p in paragraphs)


def add_pipeline_parsers(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="generate demo data if data/raw is empty, then run it all")
    _add_set_aside(demo)
    demo.set_defaults(func=cmd_demo)

    gen = sub.add_parser(
        "generate",
        help="write demo extracts in the input contract's shape",
        description=generate_description(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gen.add_argument(
        "--out",
        default=str(get_settings().raw_dir),
        help="target folder (default: the delivery folder, %(default)s)",
    )
    gen.add_argument(
        "--scale",
        type=arg_types.scale,
        default=DEMO_SCALE,
        help=f"1 = a mid-size insurer; more than 0, at most {guard.SCALE_MAX:g} "
        "(default %(default)s)",
    )
    gen.add_argument(
        "--months",
        type=arg_types.months,
        default=DEMO_MONTHS,
        help=f"months of history, {guard.MONTHS_MIN} to {guard.MONTHS_MAX} (default %(default)s)",
    )
    gen.add_argument(
        "--seed", type=arg_types.seed, default=DEMO_SEED, help="random seed, 0 or more"
    )
    gen.add_argument(
        "--defects",
        type=arg_types.defects,
        default=0.0,
        help="share of defective rows, 0 to below 1",
    )
    gen.add_argument(
        "--force",
        action="store_true",
        help="write even into a folder holding files the generator did not write there: "
        "files of the same name are replaced, other <source>_*.csv in the source folders deleted",
    )
    gen.set_defaults(func=cmd_generate)

    run = sub.add_parser("run", help="materialise every asset (ingest, dbt build, dashboards)")
    _add_set_aside(run)
    run.set_defaults(func=cmd_run)


def _add_set_aside(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set-aside-damaged",
        action="store_true",
        help="first rename a damaged published snapshot or working database to "
        "<name>.damaged-<time> (kept, not deleted); the snapshot is published anew, the working "
        "database rebuilt as `opsvalue rebuild` does (from data/raw and the last snapshot)",
    )
