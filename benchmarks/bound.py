"""The bound: what keeping the rows costs, with nothing else.

    python -m benchmarks.bound --raw benchmarks/work/scale-1_months-24/raw --design contract

The full build's time targets are multiples of the floor, which computes the KPIs from the
extracts and keeps nothing. The pipeline must also keep every row: in the work database, and in
the snapshot published beside it (a file of its own: DuckDB lets one process write a file, and
readers must not wait for a build). This measures only that part, in one DuckDB session with the
pipeline's threads and memory limit, in a new folder that is removed afterwards:

- `contract` (the warehouse today): each source's extracts read as text in one scan and written
  to a raw table with lineage (file, batch, load time); the fact is a view casting it to the
  contract's types (the suites'), written once, typed, into a new snapshot file in the readers'
  storage version.
- `typed` (the issue's "write typed rows once"): each source read with the contract's types
  straight into one table with lineage, copied into the snapshot.

Nothing is judged, quarantined, counted in a ledger, modelled, tested or rendered; no Dagster, no
dbt, no GX. Row order is not kept (as the dbt profile) and no row number is computed: both would
cost more. Every column of every source is kept, where some of the pipeline's facts keep fewer
(policies, staffing): for the large sources (contacts, tasks, claims, endorsements) the facts
keep them all. So a pipeline keeping these rows costs about this much at least, on the same
machine; what it spends above the bound is the gate, dbt, the checks, the site and their start.
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
from dagster_project.core.warehouse import skip_vacuum
from dagster_project.defs.ingest.files import list_extract_files, source_folders
from dagster_project.defs.ingest.rules.suite import SUITE_SUFFIX
from dagster_project.defs.publish.snapshot import STORAGE_VERSION

DESIGNS = ("contract", "typed")
BATCH = "bound"
CONTRACT_TYPE = "expect_column_values_to_match_contract_type"


@dataclass
class Bound:
    """One bound's rows, its steps' seconds and the two files' sizes."""

    design: str
    rows: dict[str, int] = field(default_factory=dict)
    steps_s: dict[str, float] = field(default_factory=dict)
    work_mb: float = 0.0
    snapshot_mb: float = 0.0

    def kept(self, table: str) -> str:
        """Where the rows of a source are written: raw for the contract, else the fact."""
        return f"raw.{table}" if self.design == "contract" else f"marts.{table}"

    def lap(self, step: str, started: float) -> None:
        self.steps_s[step] = round(self.steps_s.get(step, 0.0) + time.perf_counter() - started, 3)


def contract_types(expectations_dir: Path) -> dict[str, dict[str, str]]:
    """Source -> column -> contract type, read from the suite files as `rules.suite.load_suite`
    reads them. Not through it: it has GX check each suite in GX's own process, whose start
    would be measured as part of the bound (tests/test_bound.py compares both)."""
    types: dict[str, dict[str, str]] = {}
    for path in sorted(expectations_dir.glob(f"*{SUITE_SUFFIX}")):
        document = json.loads(path.read_text(encoding="utf-8"))
        types[path.stem] = {
            str(e["kwargs"]["column"]): str(e["kwargs"]["data_type"]).lower()
            for e in document.get("expectations") or []
            if e.get("type") == CONTRACT_TYPE
        }
    return types


def source_files(raw_dir: Path) -> dict[str, list[Path]]:
    """Each source folder's CSV extracts; refuses Parquet, which the bound does not read."""
    sources: dict[str, list[Path]] = {}
    for folder in source_folders(raw_dir):
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
    """One source's rows into `marts.<source>`: a table of typed rows, or a view typing
    `raw.<source>` (the contract)."""
    table = ident(source)
    started = time.perf_counter()
    lineage = f"select * exclude (_file), {_lineage(raw_dir)}"
    if bound.design == "typed":
        con.execute(f"create table marts.{table} as {lineage} from {_reader(paths, types)}")
        bound.lap("write typed rows", started)
    else:
        con.execute(f"create table raw.{table} as {lineage} from {_reader(paths, None)}")
        bound.lap("write raw text", started)
        cast = [f"cast({ident(c)} as {types[c]}) as {ident(c)}" if c in types else ident(c)
                for c in columns]  # fmt: skip
        con.execute(
            f"create view marts.{table} as select {', '.join(cast)}, "
            f"_source_file, _batch_id, _loaded_at from raw.{table}"
        )
    return int(con.execute(f"select count(*) from {bound.kept(table)}").fetchone()[0])


def measure_bound(raw_dir: Path, design: str, folder: Path) -> Bound:
    """Keep every row of `raw_dir` the way `design` does, in databases under `folder`."""
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}: one of {', '.join(DESIGNS)}")
    settings = get_settings()
    suites = contract_types(settings.expectations_dir)
    sources = source_files(raw_dir)
    work, snapshot = folder / "work.duckdb", folder / "snapshot.duckdb"
    bound = Bound(design)
    con = duckdb.connect(str(work))
    try:
        con.execute(f"set memory_limit = {literal(settings.duckdb_memory_limit)}")
        con.execute(f"set threads = {int(settings.duckdb_threads)}")
        con.execute("set preserve_insertion_order = false")
        skip_vacuum(con)  # as every writer of the pipeline
        con.execute("create schema raw; create schema marts")
        for source, paths in sources.items():
            # the first file's columns (the benchmark's extracts share one header per source);
            # the contract's types of columns the file does not have cannot apply
            described = con.execute(f"select * from {_reader(paths[:1], None)} limit 0")
            columns = [d[0] for d in described.description if d[0] != "_file"]
            types = {c: t for c, t in suites.get(source, {}).items() if c in columns}
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
        bound.lap("write the snapshot" if design == "contract" else "copy to the snapshot", started)
        started = time.perf_counter()
    finally:
        con.close()
    bound.lap("close", started)
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
    if args.tmp is not None and not args.tmp.is_dir():
        parser.error(f"--tmp {args.tmp}: no such folder")

    # a folder of its own, removed afterwards: nothing it did not create is touched
    folder = Path(tempfile.mkdtemp(prefix="opsvalue-bound-", dir=args.tmp))
    started = time.perf_counter()
    try:
        bound = measure_bound(raw_dir, args.design, folder)
        wall = time.perf_counter() - started  # not the removal below
    except (ValueError, FileNotFoundError, duckdb.Error) as exc:
        print(f"bound: {raw_dir}: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    doc = asdict(bound) | {"wall_s": round(wall, 3)}
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
