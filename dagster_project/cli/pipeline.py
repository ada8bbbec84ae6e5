"""`opsvalue demo`, `run` and `generate`: the commands that move data."""

from __future__ import annotations

import argparse
import textwrap
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from dagster_project.cli import args as arg_types
from dagster_project.cli.status import report_gates
from dagster_project.core.runner import run_pipeline
from dagster_project.core.settings import get_settings
from opsgen import guard

CONSOLE = Console(stderr=True)

# The demo is small enough to run in about a minute on 2 cores, yet spans 24 months so trends,
# year-over-year changes and the reorganisation are all visible.
DEMO_SCALE = 0.01
DEMO_MONTHS = 24
DEMO_SEED = 42


def _raw_has_files(raw_dir: Path) -> bool:
    from dagster_project.defs.ingest.files import list_extract_files

    return raw_dir.is_dir() and any(
        list_extract_files(p) for p in raw_dir.iterdir() if p.is_dir() and p.name[0] not in "._"
    )


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


def cmd_demo(args: argparse.Namespace) -> int:
    settings = get_settings()
    started = time.perf_counter()
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
        ok = run_pipeline(settings)
    except PipelineBusy as exc:
        CONSOLE.print(f"[bold yellow]not started[/]: {exc}")
        return 3
    except WorkingDatabaseLost as exc:
        CONSOLE.print(f"[bold red]not started[/]: {exc}")
        return 1
    report_gates(CONSOLE)  # a held batch is an ordinary day: reported, not a failure
    elapsed = time.perf_counter() - started
    if not ok:
        CONSOLE.print("[bold red]pipeline failed[/]: see the Dagster log above")
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
    out.print(f"  analysts:           duckdb -readonly {settings.warehouse_path}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from dagster_project.core.warehouse import PipelineBusy, WorkingDatabaseLost

    try:
        ok = run_pipeline(get_settings())
    except PipelineBusy as exc:
        CONSOLE.print(f"[bold yellow]not started[/]: {exc}")
        return 3
    except WorkingDatabaseLost as exc:
        CONSOLE.print(f"[bold red]not started[/]: {exc}")
        return 1
    report_gates(CONSOLE)
    return 0 if ok else 1


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
        f"of scale and month) and its memory (about {guard.MEMORY_PER_SCALE_MONTH / 1e6:.0f} MB "
        "per unit of scale and month, more with --defects), and refuses when the machine lacks "
        "them.",
        "Exit codes: 0 written, 1 refused (nothing written), 2 arguments out of bounds.",
    )
    return "\n\n".join(textwrap.fill(p, width=88) for p in paragraphs)


def add_pipeline_parsers(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="generate demo data if data/raw is empty, then run it all")
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
    run.set_defaults(func=cmd_run)
