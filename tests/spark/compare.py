"""The dbt project on Apache Spark, from the inputs DuckDB built from: the marts must be equal.

    python -m tests.spark.compare [--keep DIR]

Needs the `spark` extra (`pip install -e ".[spark]"`: dbt-spark's session method, pyspark, a
Java 17 runtime); `.ci/spark-compare` installs it and runs this after the test suite.

1. Generate tiny extracts (the test suite's scale, months and seed) and run the pipeline on them
   with DuckDB, as the tests do (`run_pipeline` on a temporary workspace).
2. Export the tables the dbt sources read (schemas raw and meta) from the working database to
   Parquet, one folder per table, as an ingestion node would write them to object storage.
3. In this process, through dbt-spark's session method (Spark in local mode, tables under a
   temporary OPSVALUE_SPARK_DIR, the catalog in memory): register the folders as the source tables
   (`dbt run-operation register_parquet_sources`), then `dbt build --target spark` (a full build,
   with every data test and unit test).
4. Compare every table of schema `marts` with DuckDB's: the same columns, the same rows, numbers
   equal to 1e-9 (relative, or absolute near zero); ENGINE_SPECIFIC_COLUMNS lists the columns that
   legitimately differ and are left out.
5. Run the plausibility checks (tests/plausibility.py) on Spark's marts.

Exits 0 when the builds agree, 1 otherwise (each difference is printed), and prints the time of
each step.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from tests.conftest import TEST_MONTHS, TEST_SCALE, TEST_SEED, make_workspace, point_settings_at
from tests.plausibility import implausible_values, semantic_model_tables

ROOT = Path(__file__).resolve().parents[2]
DBT_DIR = ROOT / "dbt"
MARTS = "marts"

# Columns whose values legitimately differ between the two builds, by table (None: any table).
ENGINE_SPECIFIC_COLUMNS: dict[tuple[str | None, str], str] = {
    (None, "_dbt_invocation_id"): "the dbt invocation that wrote the row; each build is its own",
    ("metric_definition_history", "changed_at"): "when the build recorded the definition",
    ("dim_metric_catalog", "last_changed_at"): "metric_definition_history.changed_at again",
    ("score_profile_history", "changed_at"): "when the build recorded the weight profile",
    ("dim_score_profiles", "last_changed_at"): "score_profile_history.changed_at again",
    ("fct_kpi_values", "input_digest"): (
        "md5 over sums of the engine's hash() of the inputs (int_kpi_months_fingerprinted):"
        " DuckDB's hash is 64-bit, Spark's a 32-bit murmur3"
    ),
    ("fct_kpi_standardised", "input_digest"): "fct_kpi_values.input_digest again",
}
# Numbers are equal when within this relative difference (or this absolute one near zero).
TOLERANCE = 1e-9
# Rows shown per table that differs.
SHOWN = 5


def engine_specific(table: str, column: str) -> bool:
    return (None, column) in ENGINE_SPECIFIC_COLUMNS or (table, column) in ENGINE_SPECIFIC_COLUMNS


@contextmanager
def step(name: str, timings: dict[str, float]) -> Iterator[None]:
    print(f"== {name}", flush=True)
    started = time.monotonic()
    yield
    timings[name] = time.monotonic() - started
    print(f"== {name}: {timings[name]:.1f} s", flush=True)


def build_on_duckdb(root: Path, defects: float) -> Path:
    """Generate extracts and run the pipeline on them; the working database."""
    from dagster_project.core.runner import run_pipeline
    from dagster_project.core.settings import get_settings
    from opsgen import generate

    ws = make_workspace(root)
    generate(
        out=ws.raw_dir,
        scale=TEST_SCALE,
        months=TEST_MONTHS,
        seed=TEST_SEED,
        defects=defects,
        progress=False,
    )
    point_settings_at(ws)
    if not run_pipeline(get_settings()):
        raise SystemExit("the DuckDB pipeline run failed")
    return ws.work_db


def dbt_sources(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted({(s["schema"], s["identifier"]) for s in manifest["sources"].values()})


def export_sources(work_db: Path, sources: Sequence[tuple[str, str]], out: Path) -> None:
    """Each source table to <out>/<schema>/<table>/part-0.parquet."""
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        for schema, table in sources:
            folder = out / schema / table
            folder.mkdir(parents=True)
            con.execute(f"copy {schema}.{table} to '{folder / 'part-0.parquet'}' (format parquet)")
    finally:
        con.close()


def run_dbt(args: list[str], work: Path) -> None:
    """dbt in this process, on the spark target: dbt-spark's session method keeps one Spark
    session (one JVM) for every invocation and for reading the marts afterwards."""
    from dbt.cli.main import dbtRunner

    common = ["--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--target", "spark"]
    common += ["--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    result = dbtRunner().invoke([*args, *common])
    if not result.success:
        raise SystemExit(f"dbt {args[0]} on Spark failed: {result.exception or 'see above'}")


def spark_session() -> Any:
    from pyspark.sql import SparkSession

    # the session dbt-spark opened in this process (its configuration is the profile's)
    return SparkSession.builder.getOrCreate()


class SparkMarts:
    """Spark's marts for tests/plausibility.py."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def tables(self) -> list[str]:
        # `show tables` also lists the session's temporary views (dbt's __dbt_tmp)
        rows = self.session.sql(f"show tables in {MARTS}").collect()
        return [row.tableName for row in rows if not row.isTemporary]

    def columns(self, table: str) -> list[str]:
        return self.session.table(f"{MARTS}.{table}").columns

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.session.sql(sql).collect()]


def comparable(value: Any) -> Any:
    """A value as both engines' Python types can be compared: numbers as floats."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return value


def sort_key(row: Sequence[Any]) -> tuple[Any, ...]:
    """An order for rows of either engine: numbers rounded, so near-equal values sort alike."""
    key: list[tuple[Any, ...]] = []
    for value in row:
        if value is None:
            key.append((0,))
        elif isinstance(value, float) and not isinstance(value, bool):
            key.append((1, float(f"{value:.6g}") if math.isfinite(value) else repr(value)))
        else:
            key.append((2, type(value).__name__, str(value)))
    return tuple(key)


def equal(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return math.isclose(left, right, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return type(left) is type(right) and left == right


def table_differences(
    table: str,
    columns: list[str],
    duckdb_rows: list[tuple[Any, ...]],
    spark_rows: list[tuple[Any, ...]],
) -> list[str]:
    """What differs between the two engines' rows of one table (the same columns, in order)."""
    if len(duckdb_rows) != len(spark_rows):
        return [f"{table}: {len(duckdb_rows)} rows on DuckDB, {len(spark_rows)} on Spark"]
    left = sorted(([comparable(v) for v in row] for row in duckdb_rows), key=sort_key)
    right = sorted(([comparable(v) for v in row] for row in spark_rows), key=sort_key)
    differences = []
    for duck_row, spark_row in zip(left, right, strict=True):
        unequal = [
            f"{column}: {d!r} (DuckDB) != {s!r} (Spark)"
            for column, d, s in zip(columns, duck_row, spark_row, strict=True)
            if not equal(d, s)
        ]
        if unequal:
            differences.append(
                f"{table}: row {dict(zip(columns, duck_row, strict=True))}: " + "; ".join(unequal)
            )
    if differences:
        return [f"{table}: {len(differences)} of {len(left)} rows differ", *differences[:SHOWN]]
    return []


def compare_marts(work_db: Path, session: Any) -> tuple[list[str], list[str]]:
    """Differences between DuckDB's and Spark's marts, and a line per table compared."""
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                # views too (fct_policy_cohorts is one), as Spark's `show tables` lists them
                "select table_name from information_schema.tables "
                "where table_catalog = current_database() and table_schema = ? order by 1",
                [MARTS],
            ).fetchall()
        ]
        spark_tables = set(SparkMarts(session).tables())
        problems = [f"{t}: not built on Spark" for t in tables if t not in spark_tables]
        problems += [f"{t}: built on Spark only" for t in sorted(spark_tables - set(tables))]
        report = []
        for table in (t for t in tables if t in spark_tables):
            duck_columns = [
                d[0] for d in con.execute(f"select * from {MARTS}.{table} limit 0").description
            ]
            spark_columns = session.table(f"{MARTS}.{table}").columns
            if sorted(duck_columns) != sorted(spark_columns):
                problems.append(
                    f"{table}: columns {duck_columns} (DuckDB) != {spark_columns} (Spark)"
                )
                continue
            compared = [c for c in duck_columns if not engine_specific(table, c)]
            select = ", ".join(compared)
            duck_rows = con.execute(f"select {select} from {MARTS}.{table}").fetchall()
            spark_rows = [
                tuple(r) for r in session.sql(f"select {select} from {MARTS}.{table}").collect()
            ]
            problems += table_differences(table, compared, duck_rows, spark_rows)
            skipped = sorted(set(duck_columns) - set(compared))
            report.append(
                f"{table}: {len(duck_rows)} rows, {len(compared)} columns compared"
                + (f" (left out: {', '.join(skipped)})" if skipped else "")
            )
        return problems, report
    finally:
        con.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--keep", type=Path, help="work in this folder and keep it (default: temporary)"
    )
    parser.add_argument(
        "--defects",
        type=float,
        default=0.01,
        help="defect rate of the generated extracts, so the quality marts hold quarantined rows",
    )
    args = parser.parse_args(argv)
    # Spark's timestamps reach Python in the process's time zone; DuckDB's have none
    os.environ["TZ"] = "UTC"
    time.tzset()
    work = args.keep or Path(tempfile.mkdtemp(prefix="opsvalue-spark-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["OPSVALUE_SPARK_DIR"] = str(work / "spark")
    timings: dict[str, float] = {}
    try:
        with step("DuckDB: generate extracts and run the pipeline", timings):
            work_db = build_on_duckdb(work / "duckdb", args.defects)
        manifest = json.loads((DBT_DIR / "target" / "manifest.json").read_text(encoding="utf-8"))
        with step("export the sources to Parquet", timings):
            export_sources(work_db, dbt_sources(manifest), work / "parquet")
        with step("Spark: register the sources", timings):
            root = json.dumps({"root": str(work / "parquet")})
            run_dbt(["run-operation", "register_parquet_sources", "--args", root], work)
        with step("Spark: dbt build", timings):
            run_dbt(["build"], work)
        with step("compare the marts", timings):
            session = spark_session()
            problems, report = compare_marts(work_db, session)
            spark_manifest = json.loads((work / "target" / "manifest.json").read_text())
            implausible = implausible_values(
                SparkMarts(session), semantic_model_tables(spark_manifest)
            )
        print("\n".join(report))
        print("left out everywhere they occur:")
        for (table, column), why in ENGINE_SPECIFIC_COLUMNS.items():
            print(f"  {table or '*'}.{column}: {why}")
        for name, seconds in timings.items():
            print(f"{seconds:7.1f} s  {name}")
        if problems or implausible:
            print("\n".join(["DIFFERENCES:", *problems, *implausible]), file=sys.stderr)
            return 1
        print(f"Spark's {len(report)} marts equal DuckDB's and are plausible.")
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
