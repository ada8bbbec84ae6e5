"""The bound: what keeping the rows costs, with nothing else.

    python -m benchmarks.bound --raw benchmarks/work/scale-1_months-24/raw --design contract

The full build's time targets are multiples of the floor, which computes the KPIs from the
extracts and keeps nothing. The pipeline must also keep every row: in the work database, and in
the snapshot published beside it (a file of its own: DuckDB lets one process write a file, and
readers must not wait for a build). This measures only that part, in one DuckDB session with the
pipeline's threads and memory limit, in a new folder that is removed afterwards:

- `contract` (the warehouse today): each source's extracts read as text in one scan and written
  to a raw table with lineage (file, batch, load time); a typed fact table cast from it with the
  contract's types (the suites'); the facts copied into a new snapshot file in the readers'
  storage version.
- `typed` (the issue's "write typed rows once"): each source read with the contract's types
  straight into one table with lineage, copied into the snapshot.

Nothing is judged, quarantined, counted in a ledger, modelled, tested or rendered; no Dagster, no
dbt. Row order is not kept (as the dbt profile) and no row number is computed: both would cost
more. So any pipeline that keeps these rows costs at least this much, on the same machine; what
it spends above the bound is the gate, dbt, the checks, the site and their start-up.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from dagster_project.core.settings import get_settings
from dagster_project.core.sql import ident, literal
from dagster_project.defs.ingest.files import list_extract_files
from dagster_project.defs.ingest.rules.suite import load_suites
from dagster_project.defs.publish.snapshot import STORAGE_VERSION

DESIGNS = ("contract", "typed")
BATCH = "bound"


@dataclass
class Bound:
    """One bound's rows, its steps' seconds and the two files' sizes."""

    design: str
    rows: dict[str, int] = field(default_factory=dict)
    steps_s: dict[str, float] = field(default_factory=dict)
    work_mb: float = 0.0
    snapshot_mb: float = 0.0

    def lap(self, step: str, started: float) -> None:
        self.steps_s[step] = round(self.steps_s.get(step, 0.0) + time.perf_counter() - started, 3)


def source_files(raw_dir: Path) -> dict[str, list[Path]]:
    """Each source folder's CSV extracts (folders starting with `_`, such as the generator's
    manifest, are no source); refuses Parquet, which the bound does not read."""
    sources: dict[str, list[Path]] = {}
    for folder in sorted(p for p in raw_dir.iterdir() if p.is_dir() and p.name[0] != "_"):
        paths = list_extract_files(folder)
        if any(p.suffix.lower() != ".csv" for p in paths):
            raise ValueError(f"the bound reads CSV extracts only; {folder} holds others")
        if paths:
            sources[folder.name] = paths
    if not sources:
        raise FileNotFoundError(f"no CSV extracts under {raw_dir}")
    return sources


def _reader(paths: list[Path], types: dict[str, str] | None) -> str:
    """read_csv over a source's files, the file's path as column `_file`; all text unless typed."""
    files = "[" + ", ".join(literal(str(p)) for p in paths) + "]"
    if types is None:
        typing = "all_varchar = true"
    else:
        typing = (
            "all_varchar = true, types = {"
            + ", ".join(f"{literal(c)}: {literal(t)}" for c, t in types.items())
            + "}"
        )
    return (
        f"read_csv({files}, header = true, delim = ',', quote = '\"', escape = '\"', "
        f"{typing}, filename = '_file')"
    )


def _lineage(raw_dir: Path) -> str:
    prefix = literal(str(raw_dir) + "/")
    return (
        f"replace(_file, {prefix}, '') as _source_file, {literal(BATCH)} as _batch_id, "
        "current_timestamp as _loaded_at"
    )


def _keep(
    con: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    source: str,
    paths: list[Path],
    columns: list[str],
    types: dict[str, str],
    bound: Bound,
) -> int:
    """One source's rows into `marts.<source>` (through `raw.<source>` for the contract)."""
    table = ident(source)
    started = time.perf_counter()
    lineage = f"select * exclude (_file), {_lineage(raw_dir)}"
    if bound.design == "typed":
        con.execute(f"create table marts.{table} as {lineage} from {_reader(paths, types)}")
        bound.lap("write typed rows", started)
    else:
        con.execute(f"create table raw.{table} as {lineage} from {_reader(paths, None)}")
        bound.lap("write raw text", started)
        started = time.perf_counter()
        cast = [f"cast({ident(c)} as {types[c]}) as {ident(c)}" if c in types else ident(c)
                for c in columns]  # fmt: skip
        con.execute(
            f"create table marts.{table} as select {', '.join(cast)}, "
            f"_source_file, _batch_id, _loaded_at from raw.{table}"
        )
        bound.lap("type the facts", started)
    return int(con.execute(f"select count(*) from marts.{table}").fetchone()[0])


def measure_bound(raw_dir: Path, design: str, folder: Path) -> Bound:
    """Keep every row of `raw_dir` the way `design` does, in databases under `folder`."""
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}: one of {', '.join(DESIGNS)}")
    settings = get_settings()
    suites = load_suites(settings.expectations_dir)
    sources = source_files(raw_dir)
    work, snapshot = folder / "work.duckdb", folder / "snapshot.duckdb"
    bound = Bound(design)
    con = duckdb.connect(str(work))
    try:
        con.execute(f"set memory_limit = {literal(settings.duckdb_memory_limit)}")
        con.execute(f"set threads = {int(settings.duckdb_threads)}")
        con.execute("set preserve_insertion_order = false")
        con.execute("create schema raw; create schema marts")
        for source, paths in sources.items():
            suite = suites.get(source)
            # only the columns the file has: the contract's types of the others cannot apply
            described = con.execute(f"select * from {_reader(paths[:1], None)} limit 0")
            columns = [d[0] for d in described.description if d[0] != "_file"]
            types = {c: t for c, t in (suite.types if suite else {}).items() if c in columns}
            bound.rows[source] = _keep(con, raw_dir, source, paths, columns, types, bound)
        started = time.perf_counter()
        con.execute("checkpoint")
        bound.lap("checkpoint", started)
        started = time.perf_counter()
        con.execute(
            f"attach {literal(str(snapshot))} as snapshot "
            f"(storage_version {literal(STORAGE_VERSION)})"
        )
        con.execute("create schema snapshot.marts")
        for source in sources:
            table = ident(source)
            con.execute(f"create table snapshot.marts.{table} as select * from marts.{table}")
        con.execute("detach snapshot")
        bound.lap("copy to the snapshot", started)
    finally:
        con.close()
    bound.work_mb = round(work.stat().st_size / 1e6, 1)
    bound.snapshot_mb = round(snapshot.stat().st_size / 1e6, 1)
    return bound


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bound",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--raw", type=Path, required=True, help="the raw extracts folder")
    parser.add_argument("--design", choices=DESIGNS, required=True)
    parser.add_argument("--tmp", type=Path, help="where its databases go (default: the system's)")
    parser.add_argument("--json", type=Path, help="write the steps and rows here")
    args = parser.parse_args(argv)
    raw_dir = args.raw.resolve()
    if not raw_dir.is_dir():
        parser.error(f"--raw {args.raw}: no such folder")

    # a folder of its own, removed afterwards: nothing it did not create is touched
    folder = Path(tempfile.mkdtemp(prefix="opsvalue-bound-", dir=args.tmp))
    started = time.perf_counter()
    try:
        bound = measure_bound(raw_dir, args.design, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    doc = asdict(bound) | {"wall_s": round(time.perf_counter() - started, 3)}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in bound.steps_s.items())
    print(
        f"bound ({args.design}): {sum(bound.rows.values()):,} rows; {steps}; "
        f"work {bound.work_mb:,.0f} MB, snapshot {bound.snapshot_mb:,.0f} MB",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
