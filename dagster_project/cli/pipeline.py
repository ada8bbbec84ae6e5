"""`opsvalue demo`, `run` and `generate`: the commands that move data."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from dagster_project.cli.args import positive_float, positive_int, share
from dagster_project.cli.status import report_gates
from dagster_project.core.runner import run_pipeline
from dagster_project.core.settings import get_settings

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
    from dagster_project.lib.generate import generate

    result = generate(
        out=Path(args.out),
        scale=args.scale,
        months=args.months,
        seed=args.seed,
        defects=args.defects,
        progress=True,
    )
    CONSOLE.print(
        f"[green]generated[/] {sum(result.rows.values()):,} rows in {len(result.files)} files "
        f"under {args.out} in {result.seconds:.1f} s"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    settings = get_settings()
    started = time.perf_counter()
    if not _raw_has_files(settings.raw_dir):
        CONSOLE.print(f"[bold]no extracts in {settings.raw_dir}[/]: generating demo data")
        from dagster_project.lib.generate import generate

        generate(out=settings.raw_dir, scale=DEMO_SCALE, months=DEMO_MONTHS, seed=DEMO_SEED)
    from dagster_project.core.warehouse import PipelineBusy

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
    from dagster_project.core.warehouse import PipelineBusy

    try:
        ok = run_pipeline(get_settings())
    except PipelineBusy as exc:
        CONSOLE.print(f"[bold yellow]not started[/]: {exc}")
        return 3
    report_gates(CONSOLE)
    return 0 if ok else 1


def add_pipeline_parsers(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="generate demo data if data/raw is empty, then run it all")
    demo.set_defaults(func=cmd_demo)

    gen = sub.add_parser("generate", help="write demo extracts in the input contract's shape")
    gen.add_argument("--out", default=str(get_settings().raw_dir), help="target folder")
    gen.add_argument(
        "--scale", type=positive_float, default=DEMO_SCALE, help="1 = a mid-size insurer"
    )
    gen.add_argument("--months", type=positive_int, default=DEMO_MONTHS, help="months of history")
    gen.add_argument("--seed", type=int, default=DEMO_SEED, help="random seed")
    gen.add_argument("--defects", type=share, default=0.0, help="share of defective rows")
    gen.set_defaults(func=cmd_generate)

    run = sub.add_parser("run", help="materialise every asset (ingest, dbt build, dashboards)")
    run.set_defaults(func=cmd_run)
