"""Shared fixtures: tiny generated extracts and one full pipeline run against temporary files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def _import_gx_beside_pyspark() -> None:
    """Great Expectations imported at collection, in a pytest-xdist worker too, whose
    `__main__` (`python -c`) would make pyspark exit the process (`gx_worker.import_gx`)."""
    from dagster_project.defs.ingest.rules.gx_worker import import_gx

    import_gx()


_import_gx_beside_pyspark()


# A small but complete demo: 8 months around the generator's reorganisation, enough records per
# sub-branch that every metric has values at every tier.
TEST_SCALE = 0.01
TEST_MONTHS = 8
TEST_SEED = 7

ENV_VARS = (
    "OPSVALUE_RAW_DIR",
    "OPSVALUE_WAREHOUSE",
    "OPSVALUE_WORK_DB",
    "OPSVALUE_SITE_DIR",
    "DAGSTER_HOME",
    "OPSVALUE_LOG_DIR",
    "OPSVALUE_INGEST_WORKERS",
)


@dataclass(frozen=True)
class Workspace:
    root: Path
    raw_dir: Path
    warehouse: Path  # the published snapshot
    site_dir: Path
    dagster_home: Path

    @property
    def work_db(self) -> Path:
        """The pipeline's working database (raw, staging, everything it writes)."""
        return self.warehouse.parent / "work" / "opsvalue_work.duckdb"


def make_workspace(root: Path) -> Workspace:
    return Workspace(
        root=root,
        raw_dir=root / "raw",
        warehouse=root / "warehouse" / "opsvalue.duckdb",
        site_dir=root / "site",
        dagster_home=root / "dagster_home",
    )


def point_settings_at(ws: Workspace) -> None:
    """Every settings path of this process (and its dbt child processes) to the workspace."""
    os.environ["OPSVALUE_RAW_DIR"] = str(ws.raw_dir)
    os.environ["OPSVALUE_WAREHOUSE"] = str(ws.warehouse)
    os.environ["OPSVALUE_WORK_DB"] = str(ws.work_db)
    os.environ["OPSVALUE_SITE_DIR"] = str(ws.site_dir)
    os.environ["DAGSTER_HOME"] = str(ws.dagster_home)
    # the CLI's run logs (data/logs), beside the workspace rather than in the repository
    os.environ["OPSVALUE_LOG_DIR"] = str(ws.root / "logs")
    ws.dagster_home.mkdir(parents=True, exist_ok=True)


@contextmanager
def restored_env() -> Iterator[None]:
    """The settings' environment variables as they were before the body, whatever it set."""
    saved = {k: os.environ.get(k) for k in ENV_VARS}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files marked `heavy` first, each keeping its own order.

    CI runs the suite on two processes, a whole file to each (pytest-xdist's loadfile, which
    hands files out in this order, so a file's module fixtures run once). A heavy file takes
    minutes; started last, one would keep one process busy long after the other had finished.
    """
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


@pytest.fixture(autouse=True)
def _restore_env() -> Iterator[None]:
    with restored_env():
        yield


def run_on(ws: Workspace) -> None:
    """One full pipeline run on a workspace; this process's settings are restored after it."""
    from dagster_project.core.runner import run_pipeline
    from dagster_project.core.settings import get_settings

    with restored_env():
        point_settings_at(ws)
        assert run_pipeline(get_settings()), "the pipeline run failed"


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """The dbt manifest, prepared once per test session."""
    from dagster_project.defs.transform.project import ensure_manifest

    return ensure_manifest()


@pytest.fixture(scope="session")
def generated_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Clean generated extracts, written once per session; tests copy them before changing any."""
    from opsgen import generate

    out = tmp_path_factory.mktemp("generated") / "raw"
    generate(out=out, scale=TEST_SCALE, months=TEST_MONTHS, seed=TEST_SEED, progress=False)
    return out


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, generated_raw: Path, dbt_manifest: Path):
    """One full pipeline run (ingest, dbt build, site) over the generated extracts."""
    ws = make_workspace(tmp_path_factory.mktemp("built"))
    ws.raw_dir.symlink_to(generated_raw, target_is_directory=True)
    run_on(ws)
    return ws


@contextmanager
def writable_work_copy(work_db: Path, folder: Path) -> Iterator:
    """A writable copy of a working database in `folder`, under the same file name (the
    catalog name dbt's compiled SQL refers to), open."""
    import duckdb

    copy = folder / "work" / work_db.name
    copy.parent.mkdir()
    shutil.copy2(work_db, copy)
    with duckdb.connect(str(copy)) as con:
        yield con


def copy_workspace(ws: Workspace, root: Path) -> Workspace:
    """A copy of a workspace (extracts, both databases, site, Dagster home) under `root`."""
    shutil.copytree(ws.root, root, symlinks=True)
    return make_workspace(root)


@pytest.fixture(scope="session")
def loaded_but_last_day(tmp_path_factory: pytest.TempPathFactory, generated_raw: Path):
    """A full pipeline run over the generated extracts minus their last day, and that day.

    The day's files (opsgen.split_last_day: the newest day of every monthly source plus
    a few late records of the month before) wait in `delivery.files`; delivering them gives
    exactly the records `built` was computed from.
    """
    from opsgen import split_last_day

    root = tmp_path_factory.mktemp("last_day")
    ws = make_workspace(root / "ws")
    shutil.copytree(generated_raw, ws.raw_dir)
    delivery = split_last_day(ws.raw_dir, root / "delivery")
    run_on(ws)
    return ws, delivery


def deliver(delivery, ws: Workspace) -> list[str]:
    """Copy a day's files into the workspace's extract folders; their raw-relative paths."""
    paths = []
    for source, path in delivery.files.items():
        shutil.copy2(path, ws.raw_dir / source / path.name)
        paths.append(f"{source}/{path.name}")
    return sorted(paths)
