"""One settings object for every path the project uses.

Defaults are relative to the project root; each can be overridden by an environment variable so
tests, CI and deployments point the same code at other folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WORK_DB_NAME = "opsvalue_work.duckdb"
# The KPI checks' thresholds, in the expectations folder (read by defs/checks; its fingerprint is
# part of what a dbt build is built for, defs/transform/planning.py)
KPI_CHECKS_FILE = "kpi_checks.yml"


def _path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    # absolute but not resolved: data/site is a symbolic link that must stay one (see
    # dashboards.site.publish_site)
    return Path(os.path.abspath(Path(value).expanduser())) if value else default


def _positive_int(var: str, default: int) -> int:
    value = os.environ.get(var, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{var} must be a whole number of at least 1, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class Settings:
    project_root: Path
    raw_dir: Path
    # the published snapshot analysts, dashboards and MetricFlow read (never written in place)
    warehouse_path: Path
    # the pipeline's own working database: the only file the pipeline writes
    work_db_path: Path
    site_dir: Path
    dbt_project_dir: Path
    dagster_home: Path
    # each run's full log (`opsvalue run`/`demo` name theirs), and crash reports of the CLI
    log_dir: Path
    duckdb_memory_limit: str
    duckdb_threads: int
    # quality gates (defs/ingest/rules, defs/ingest/door.py): the expectation suites, the copies of
    # rejected files, the reference moment for "not in the future" (None = the clock), and how
    # many rows GX re-judges per batch beside the failing ones (0 = every row)
    expectations_dir: Path
    rejected_dir: Path
    now_override: str | None
    gx_sample_rows: int
    gx_chunk_rows: int
    # how many sources the ingest loads at once, each on its own DuckDB connection (1 = one after
    # another); the masters other suites read are always loaded first, alone
    ingest_workers: int

    @classmethod
    def from_env(cls) -> Settings:
        root = _path("OPSVALUE_HOME", PROJECT_ROOT)
        data = root / "data"
        warehouse = _path("OPSVALUE_WAREHOUSE", data / "warehouse" / "opsvalue.duckdb")
        return cls(
            project_root=root,
            raw_dir=_path("OPSVALUE_RAW_DIR", data / "raw"),
            warehouse_path=warehouse,
            work_db_path=_path("OPSVALUE_WORK_DB", warehouse.parent / "work" / WORK_DB_NAME),
            site_dir=_path("OPSVALUE_SITE_DIR", data / "site"),
            dbt_project_dir=_path("OPSVALUE_DBT_DIR", root / "dbt"),
            dagster_home=_path("DAGSTER_HOME", data / "dagster_home"),
            log_dir=_path("OPSVALUE_LOG_DIR", data / "logs"),
            duckdb_memory_limit=os.environ.get("OPSVALUE_DUCKDB_MEMORY_LIMIT", "4GB"),
            duckdb_threads=int(os.environ.get("OPSVALUE_DUCKDB_THREADS", str(os.cpu_count() or 2))),
            expectations_dir=_path("OPSVALUE_EXPECTATIONS_DIR", root / "expectations"),
            # beside the warehouse whose ledger lists them
            rejected_dir=_path("OPSVALUE_REJECTED_DIR", warehouse.parent / "rejected"),
            now_override=os.environ.get("OPSVALUE_NOW") or None,
            gx_sample_rows=int(os.environ.get("OPSVALUE_GX_SAMPLE_ROWS", "2000")),
            gx_chunk_rows=int(os.environ.get("OPSVALUE_GX_CHUNK_ROWS", "200000")),
            ingest_workers=_positive_int("OPSVALUE_INGEST_WORKERS", 2),
        )

    @property
    def kpi_checks_path(self) -> Path:
        return self.expectations_dir / KPI_CHECKS_FILE

    def export_env(self) -> None:
        """Expose both database paths to child processes (dbt reads them in profiles.yml)."""
        os.environ["OPSVALUE_WAREHOUSE"] = str(self.warehouse_path)
        os.environ["OPSVALUE_WORK_DB"] = str(self.work_db_path)


def get_settings() -> Settings:
    return Settings.from_env()
