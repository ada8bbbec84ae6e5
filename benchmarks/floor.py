"""The floor: benchmarks/floor.sql on the raw extracts, in one DuckDB session of its own.

    python -m benchmarks.floor --raw DIR --out kpis.parquet          # the measured run
    python -m benchmarks.floor --raw DIR --verify WAREHOUSE [--result kpis.parquet]

`--verify` compares the floor's KPIs (recomputed, or read from `--result`) with the spine
metrics of `marts.fct_kpi_values` in a pipeline's published warehouse file (opened read-only),
and exits 1 when any row is missing on one side or differs by more than VERIFY_RTOL.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from dagster_project.core.settings import get_settings
from dagster_project.defs.ingest.files import list_extract_files

FLOOR_SQL = Path(__file__).with_name("floor.sql")
# The eight spine metrics: the KPIs the floor computes and tests/reference_kpis.py recomputes.
SPINE_METRICS = (
    "claims_cycle_time_days",
    "claims_cycle_time_p90_days",
    "claims_auto_rate",
    "service_level_20s",
    "abandonment_rate",
    "nps",
    "complaints_per_10k_policies",
    "task_sla_rate",
)
KEY = ("metric_name", "period_start", "org_level", "org_code")
COMPARED = ("numerator", "denominator", "value")
# Relative tolerance; the absolute floor only forgives float noise around an exact zero.
VERIFY_RTOL = 1e-9
VERIFY_ATOL = 1e-12
SHOWN = 20  # mismatching rows listed in the report
PLACEHOLDER = re.compile(r"\$\{files_(\w+)\}")


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def render_floor_sql(raw_dir: Path, sql: str | None = None) -> str:
    """floor.sql with each `${files_<source>}` replaced by that source's delivered files."""
    sql = FLOOR_SQL.read_text(encoding="utf-8") if sql is None else sql

    def files(match: re.Match[str]) -> str:
        source = match.group(1)
        paths = list_extract_files(raw_dir / source)
        if not paths or any(p.suffix != ".csv" for p in paths):
            raise FileNotFoundError(
                f"the floor reads CSV extracts only; {raw_dir / source} holds "
                f"{[p.name for p in paths] or 'none'}"
            )
        return "[" + ", ".join(sql_literal(str(p)) for p in paths) + "]"

    return PLACEHOLDER.sub(files, sql)


def connect_floor() -> duckdb.DuckDBPyConnection:
    """An in-memory session with every core and the pipeline's memory limit (a fair comparison)."""
    con = duckdb.connect()
    con.execute(f"set threads = {os.cpu_count() or 1}")
    con.execute(f"set memory_limit = {sql_literal(get_settings().duckdb_memory_limit)}")
    con.execute("set preserve_insertion_order = false")  # as the dbt profile
    return con


def compute_floor(con: duckdb.DuckDBPyConnection, raw_dir: Path) -> int:
    """Run floor.sql; the KPIs are left in the temp table `floor_kpis`. Returns its row count."""
    con.execute(render_floor_sql(raw_dir))
    return int(con.execute("select count(*) from floor_kpis").fetchone()[0])


def load_result(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """A floor result written by `--out`, as the temp table `floor_kpis`; returns its rows."""
    con.execute("create temp table floor_kpis as select * from read_parquet(?)", [str(path)])
    return int(con.execute("select count(*) from floor_kpis").fetchone()[0])


@dataclass
class Verification:
    """The floor against the pipeline: rows on each side, matched, and what differs."""

    warehouse: str
    floor_rows: int = 0
    pipeline_rows: int = 0
    matched_rows: int = 0
    only_floor: int = 0
    only_pipeline: int = 0
    differing: int = 0
    examples: list[dict] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and self.floor_rows > 0
            and self.only_floor == 0
            and self.only_pipeline == 0
            and self.differing == 0
        )

    def to_json(self) -> dict:
        return {"ok": self.ok, **asdict(self)}


def _close(column: str) -> str:
    f, p = f"floor.{column}", f"pipeline.{column}"
    return (
        f"(({f} is null and {p} is null) or ({f} is not null and {p} is not null and "
        f"abs({f} - {p}) <= greatest({VERIFY_ATOL}, {VERIFY_RTOL} * greatest(abs({f}), abs({p})))))"
    )


def verify(con: duckdb.DuckDBPyConnection, warehouse: Path) -> Verification:
    """Compare `floor_kpis` with the spine metrics of the warehouse's marts.fct_kpi_values."""
    result = Verification(warehouse=str(warehouse))
    try:
        con.execute(f"attach {sql_literal(str(warehouse))} as pipeline_db (read_only)")
    except duckdb.Error as exc:
        result.error = f"cannot open {warehouse} read-only: {exc}"
        return result
    metrics = ", ".join(sql_literal(m) for m in SPINE_METRICS)
    on = " and ".join(f"floor.{k} = pipeline.{k}" for k in KEY)
    con.execute(
        f"""
        create or replace temp table compared as
        with
        pipeline as (
            select {", ".join(KEY + COMPARED)}
            from pipeline_db.marts.fct_kpi_values
            where metric_name in ({metrics})
        ),
        floor as (
            select {", ".join(KEY + COMPARED)}
            from floor_kpis
        )
        select
            {", ".join(f"coalesce(floor.{k}, pipeline.{k}) as {k}" for k in KEY)},
            case
                when pipeline.metric_name is null then 'only_floor'
                when floor.metric_name is null then 'only_pipeline'
                when {" and ".join(_close(c) for c in COMPARED)} then 'equal'
                else 'differs'
            end as outcome,
            {", ".join(f"floor.{c} as floor_{c}, pipeline.{c} as pipeline_{c}" for c in COMPARED)}
        from floor
        full outer join pipeline on {on}
        """
    )
    counts = dict(con.execute("select outcome, count(*) from compared group by outcome").fetchall())
    result.matched_rows = int(counts.get("equal", 0) + counts.get("differs", 0))
    result.only_floor = int(counts.get("only_floor", 0))
    result.only_pipeline = int(counts.get("only_pipeline", 0))
    result.differing = int(counts.get("differs", 0))
    result.floor_rows = result.matched_rows + result.only_floor
    result.pipeline_rows = result.matched_rows + result.only_pipeline
    cursor = con.execute(
        f"select * from compared where outcome <> 'equal' order by all limit {SHOWN}"
    )
    names = [d[0] for d in cursor.description]
    result.examples = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="the raw extracts folder")
    parser.add_argument("--out", type=Path, help="write the floor's KPIs to this parquet file")
    parser.add_argument("--verify", type=Path, metavar="WAREHOUSE", help="compare with it")
    parser.add_argument("--result", type=Path, help="floor KPIs (parquet) to verify, not recompute")
    parser.add_argument("--report", type=Path, help="write the verification as JSON here")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    con = connect_floor()
    # the measured run computes; a verification may read what a measured run wrote
    rows = load_result(con, args.result) if args.result else compute_floor(con, args.raw.resolve())
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"copy floor_kpis to {sql_literal(str(args.out))} (format parquet)")
    print(f"floor: {rows} KPI rows in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    if not args.verify:
        return 0

    result = verify(con, args.verify)
    report = json.dumps(result.to_json(), indent=2, default=str)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report + "\n", encoding="utf-8")
    print(report)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
