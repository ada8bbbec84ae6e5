"""Where the quality gate's time goes: each kind of work the door does, per source.

    python -m benchmarks.gate_profile --raw benchmarks/work/scale-1_months-24/raw \\
        [--source contacts --source tasks] [--json out.json]

Loads the extracts of the named sources (all by default; the masters whose codes the suites check
are always loaded first) through the pipeline's own gate (`ingest.load.ingest_source`, with the
pipeline's DuckDB settings and GX sampling) into a new database in a temporary folder, which is
removed afterwards: nothing of a workspace is read or written. Every statement the gate sends
to DuckDB is timed and put in one of the steps below by what it writes; the file scan and the GX
validation are timed around their functions. "Python and the rest" is the source's wall time
minus all of them: the gate's own Python between statements.

What `benchmarks.run` reports as one number (the ingest stage) this splits, so that a redesign
starts where the time is. The statements are timed one by one from Python, in one process, on
the pipeline's threads: what it shows is each step's share of the gate, not of the stage, which
also imports Dagster and writes the gate's state and checks (a few percent at scale 1).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

from dagster_project.core import warehouse
from dagster_project.core.settings import get_settings
from dagster_project.defs.ingest import gate_state, ledger, load, results, withdrawals
from dagster_project.defs.ingest.assets import reference_now, source_gate
from dagster_project.defs.ingest.checks import CONTRACT
from dagster_project.defs.ingest.rules.suite import PARAMETER_PROVIDERS, load_order, load_suites

CONSOLE = Console(stderr=True)
SCAN = "scan (Python: hash, NUL, UTF-8)"
GX = "GX: validate"
REST = "Python and the rest"
# A statement's step: the first pattern its SQL matches (whitespace collapsed, lower case).
STEPS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("stage (read_csv)", re.compile(r"temp table _stage_rows as ")),
    ("stage: malformed rows", re.compile(r"_renumber|_stage_numbered")),
    ("judge (normalise, type, rules)", re.compile(r"temp table _checked as ")),
    (
        "judge: uniqueness",
        re.compile(r"_unique_hits|_rechecked|^delete from _checked|^insert into _checked"),
    ),
    ("write raw", re.compile(r"^(insert into|delete from) raw\.")),
    ("write quarantine", re.compile(r"quarantine\.")),
    ("GX: pick rows", re.compile(r"_judged")),
    ("meta (ledger, counts, flags)", re.compile(r"meta\.")),
    ("commit", re.compile(r"^(commit|rollback|begin)")),
    # DuckDB checkpoints the data a large source committed at the next statement that changes
    # the catalog: the next source's first `create table if not exists` (3 s after contacts at
    # scale 1)
    (
        "create tables (and the checkpoint before)",
        re.compile(r"^(create (table|schema|sequence)|alter table)"),
    ),
)
OTHER = "other statements"


def step_of(sql: str) -> str:
    text = " ".join(sql.split()).lower()
    return next((name for name, pattern in STEPS if pattern.search(text)), OTHER)


class TimedConnection:
    """A DuckDB connection that adds each statement's wall time to its step; the gate only
    calls `execute` (and reads the results it returns), the rest is passed through."""

    def __init__(self, con: duckdb.DuckDBPyConnection, times: dict[str, float]) -> None:
        self._con = con
        self._times = times
        self.paused = False  # inside a function timed as a whole (GX reads its rows itself)

    def execute(self, sql: str, *args: Any) -> duckdb.DuckDBPyConnection:
        started = time.perf_counter()
        try:
            return self._con.execute(sql, *args)
        finally:
            if not self.paused:
                self._times[step_of(sql)] += time.perf_counter() - started

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@contextmanager
def timed_functions(timed: TimedConnection, times: dict[str, float]) -> Iterator[None]:
    """Time the file scan and the GX validation as wholes, where `load` calls them."""

    def wrap(function: Callable[..., Any], step: str) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            timed.paused = True
            try:
                return function(*args, **kwargs)
            finally:
                timed.paused = False
                times[step] += time.perf_counter() - started

        return timed_call

    originals = {"scan_file": load.scan_file, "judge_with_gx": load.judge_with_gx}
    load.scan_file = wrap(load.scan_file, SCAN)
    load.judge_with_gx = wrap(load.judge_with_gx, GX)
    try:
        yield
    finally:
        for name, function in originals.items():
            setattr(load, name, function)


@dataclasses.dataclass
class SourceProfile:
    source: str
    files: int
    rows_loaded: int
    rows_quarantined: int
    wall_s: float
    steps: dict[str, float]


def profile(raw_dir: Path, sources: Sequence[str]) -> list[SourceProfile]:
    """Load `sources` (and the masters first) from `raw_dir` into a temporary database."""
    settings = get_settings()
    now = reference_now(settings)  # "not in the future" is judged as the pipeline judges it
    suites = load_suites(settings.expectations_dir)
    profiles = []
    with tempfile.TemporaryDirectory(prefix="opsvalue-gate-profile-") as tmp:
        settings = dataclasses.replace(
            settings, work_db_path=Path(tmp) / "gate.duckdb", raw_dir=raw_dir, rejected_dir=None
        )
        with warehouse.connect(settings) as con:
            ledger.ensure_ledger(con)
            results.ensure_tables(con)
            gate_state.ensure_tables(con)
            withdrawals.ensure_table(con)
            for name in load_order(set(sources) | PARAMETER_PROVIDERS):
                times: dict[str, float] = defaultdict(float)
                timed = TimedConnection(con, times)
                gate = source_gate(con, settings, name, suites.get(name), now)
                CONSOLE.print(f"{name} ...", end=" ")
                started = time.perf_counter()
                with timed_functions(timed, times):
                    report = load.ingest_source(
                        timed,  # type: ignore[arg-type]  # duck-typed: the gate only executes
                        source=name,
                        folder=raw_dir / name,
                        raw_root=raw_dir,
                        columns=[c.name for c in CONTRACT[name].columns],
                        run_id="gate-profile",
                        gate=gate,
                    )
                wall = time.perf_counter() - started
                times[REST] = max(wall - sum(times.values()), 0.0)
                CONSOLE.print(f"{wall:.1f} s")
                profiles.append(
                    SourceProfile(
                        source=name,
                        files=len(report.files),
                        rows_loaded=report.rows_loaded,
                        rows_quarantined=report.rows_quarantined,
                        wall_s=round(wall, 3),
                        steps={k: round(v, 3) for k, v in times.items()},
                    )
                )
    return profiles


def step_names() -> list[str]:
    return [SCAN, *(name for name, _ in STEPS), OTHER, GX, REST]


def render(profiles: Sequence[SourceProfile]) -> Table:
    """Seconds per step, per source and in all; the share of the gate's total wall time."""
    big = sorted(profiles, key=lambda p: -p.wall_s)[:4]
    table = Table(title="the gate's wall time per step (s)")
    table.add_column("step")
    for p in big:
        table.add_column(p.source, justify="right")
    table.add_column("all sources", justify="right")
    table.add_column("share", justify="right")
    total = sum(p.wall_s for p in profiles) or 1.0
    for step in step_names():
        seconds = sum(p.steps.get(step, 0.0) for p in profiles)
        if not seconds:
            continue
        cells = [f"{p.steps.get(step, 0.0):.2f}" for p in big]
        table.add_row(step, *cells, f"{seconds:.2f}", f"{seconds / total:.0%}")
    cells = [f"{p.wall_s:.2f}" for p in big]
    table.add_row("= wall time", *cells, f"{total:.2f}", "100%")
    return table


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gate_profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--raw", type=Path, required=True, help="the extracts (data/raw layout)")
    parser.add_argument(
        "--source",
        action="append",
        choices=sorted(CONTRACT),
        help="a source to profile (repeat; default: all)",
    )
    parser.add_argument("--json", type=Path, help="also write the profile here")
    return parser


def foreign_json(path: Path) -> str | None:
    """Why `path` must not be overwritten: it exists and is no profile this module wrote."""
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return "it exists and is not a gate profile (not JSON)"
    if isinstance(doc, dict) and set(doc) == {"raw", "sources"}:
        return None
    return "it exists and is not a gate profile (other keys)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.raw.is_dir():
        CONSOLE.print(f"[red]--raw {args.raw}: no such folder[/red]")
        return 2
    refusal = args.json and foreign_json(args.json)
    if refusal:  # checked before the run, which takes minutes
        CONSOLE.print(f"[red]--json {args.json}: {refusal}; not overwritten[/red]")
        return 2
    profiles = profile(args.raw, sorted(set(args.source or CONTRACT)))
    Console(width=max(Console().width, 120)).print(render(profiles))
    if args.json:
        doc = {"raw": str(args.raw), "sources": [dataclasses.asdict(p) for p in profiles]}
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
