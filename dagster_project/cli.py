"""`opsvalue` command line: generate demo extracts and run the pipeline through Dagster."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.markup import escape

from dagster_project.cli_catalog import add_catalog_parser
from dagster_project.cli_site import add_site_parsers
from dagster_project.cli_status import add_status_parser, report_gates
from dagster_project.lib.settings import Settings, get_settings
from opsgen import guard

T = TypeVar("T", int, float)

CONSOLE = Console(stderr=True)

# The demo is small enough to run in about a minute on 2 cores, yet spans 24 months so trends,
# year-over-year changes and the reorganisation are all visible.
DEMO_SCALE = 0.01
DEMO_MONTHS = 24
DEMO_SEED = 42


# Instance settings for runs started by `dagster dev` (sensor, schedule, UI): one run at a time,
# the others queue, because DuckDB allows one writing process per file. Telemetry would try the
# network, which these machines do not have. The storage is Dagster's SQLite default with its
# connections kept open (lib/dagster_storage.py): same files, a fraction of the cost per event.
DAGSTER_YAML = """\
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 1
storage:
  custom:
    module: dagster_project.lib.dagster_storage
    class: PooledSqliteStorage
    config:
      base_dir:
        env: DAGSTER_HOME
"""


def _raw_has_files(raw_dir: Path) -> bool:
    from dagster_project.lib.ingest import list_extract_files

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


# What earlier versions wrote as dagster.yaml: upgraded in place. Any other file is the user's own.
EARLIER_DAGSTER_YAMLS = (
    "telemetry:\n  enabled: false\n",
    "telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 1\n",
)


def prepare_instance(settings: Settings) -> None:
    """DAGSTER_HOME with opsvalue's dagster.yaml, paths exported and the dbt manifest current."""
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    config = settings.dagster_home / "dagster.yaml"
    if not config.exists() or config.read_text() in EARLIER_DAGSTER_YAMLS:
        config.write_text(DAGSTER_YAML)
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    settings.export_env()

    from dagster_project.lib.dbt_project import ensure_manifest

    ensure_manifest()


def run_pipeline(settings: Settings) -> bool:
    """Materialise every asset in-process, with the definitions `dagster dev` shows."""
    prepare_instance(settings)
    import dagster as dg

    from dagster_project.definitions import defs
    from dagster_project.lib.warehouse import pipeline_lock

    job = defs.resolve_job_def("refresh")
    # held for the whole run, so no other run (CLI, sensor, schedule) writes in between
    with pipeline_lock(settings), dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            raise_on_error=False,
        )
    return result.success


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
    from dagster_project.lib.warehouse import PipelineBusy

    try:
        ok = run_pipeline(settings)
    except PipelineBusy as exc:
        CONSOLE.print(f"[bold yellow]not started[/]: {exc}")
        return 3
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
    from dagster_project.lib.warehouse import PipelineBusy

    try:
        ok = run_pipeline(get_settings())
    except PipelineBusy as exc:
        CONSOLE.print(f"[bold yellow]not started[/]: {exc}")
        return 3
    report_gates(CONSOLE)
    return 0 if ok else 1


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a whole number > 0, got {text}")
    return value


def _checked(
    text: str, parse: Callable[[str], T], kind: str, problem: Callable[[T], str | None]
) -> T:
    """`text` parsed, then held against the generator's bounds (opsgen.guard)."""
    try:
        value = parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
    message = problem(value)
    if message:
        raise argparse.ArgumentTypeError(message)
    return value


def _scale(text: str) -> float:
    return _checked(text, float, "a number", guard.scale_problem)


def _months(text: str) -> int:
    return _checked(text, int, "a whole number", guard.months_problem)


def _seed(text: str) -> int:
    return _checked(text, int, "a whole number", guard.seed_problem)


def _defects(text: str) -> float:
    return _checked(text, float, "a number", guard.defects_problem)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opsvalue", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

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
        type=_scale,
        default=DEMO_SCALE,
        help=f"1 = a mid-size insurer; more than 0, at most {guard.SCALE_MAX:g} "
        "(default %(default)s)",
    )
    gen.add_argument(
        "--months",
        type=_months,
        default=DEMO_MONTHS,
        help=f"months of history, {guard.MONTHS_MIN} to {guard.MONTHS_MAX} (default %(default)s)",
    )
    gen.add_argument("--seed", type=_seed, default=DEMO_SEED, help="random seed, 0 or more")
    gen.add_argument(
        "--defects", type=_defects, default=0.0, help="share of defective rows, 0 to below 1"
    )
    gen.add_argument(
        "--force",
        action="store_true",
        help="write even into a folder holding files the generator did not write there: "
        "files of the same name are replaced, other <source>_*.csv in the source folders deleted",
    )
    gen.set_defaults(func=cmd_generate)

    add_catalog_parser(sub)
    add_site_parsers(sub)

    run = sub.add_parser("run", help="materialise every asset (ingest, dbt build, dashboards)")
    run.set_defaults(func=cmd_run)

    add_status_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


def run_cli() -> None:
    """The `opsvalue` command: main(), then leave without tearing the interpreter down.

    Every database, lock and subprocess is closed by the time main() returns; what is left is
    Python freeing the modules of Dagster, dbt and Great Expectations one by one, which takes
    about 1.4 s here, a tenth of a one-day refresh. Output is flushed and logging shut down first;
    os._exit then skips only that teardown. Tests call main() and keep the normal exit.
    """
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run_cli()
