"""kill -9 at three stages of a refresh leaves the published snapshot and the dashboards exactly
as before, and the next run completes without repair and without duplicates."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.runner import run_pipeline
from dagster_project.core.settings import get_settings
from tests.conftest import Workspace, copy_workspace, deliver, point_settings_at
from tests.test_refresh import assert_same_kpis, kpis

# heavy: many whole-pipeline runs; started first when the suite runs on two processes
# (tests/conftest.py)
pytestmark = pytest.mark.heavy

TIMEOUT_S = 300


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def site_state(site_dir: Path) -> dict[str, str]:
    """Where the site link points and the content of every file it serves."""
    files = {
        p.relative_to(site_dir).as_posix(): digest(p) for p in site_dir.rglob("*") if p.is_file()
    }
    return {"target": os.readlink(site_dir), **files}


def in_ingestion(ws: Workspace, log: Path) -> bool:
    """The gate has committed a first file of the delivery (and not the others yet).

    The run's full log (OPSVALUE_LOG_DIR, which point_settings_at puts in the workspace) names
    each file loaded; the terminal shows only a line per stage."""
    started = log.stat().st_ctime
    return any(
        re.search(r"loaded \w+/\w+_\d{4}-\d{2}-\d{2}\.csv", run_log.read_text()) is not None
        for run_log in (ws.root / "logs").glob("*.log")
        if run_log.stat().st_mtime >= started
    )


def in_dbt(ws: Workspace, log: Path) -> bool:
    """dbt has committed the first detail fact (fct_claims) and is building the others."""
    target = get_settings().dbt_project_dir / "target"
    started = log.stat().st_ctime
    for dbt_log in target.glob("dbt_models-*/dbt.log"):
        if dbt_log.stat().st_mtime >= started and re.search(
            r"OK created sql incremental model marts\.fct_claims", dbt_log.read_text()
        ):
            return True
    return False


def in_publishing(ws: Workspace, log: Path) -> bool:
    """A new snapshot file is being written beside the published one."""
    return any(ws.warehouse.parent.glob(".publishing-*"))


STAGES: dict[str, Callable[[Workspace, Path], bool]] = {
    "ingestion": in_ingestion,
    "dbt": in_dbt,
    "publishing": in_publishing,
}


def run_and_kill(ws: Workspace, stage: str, log: Path) -> None:
    """Start `opsvalue run` in its own process group and SIGKILL the group (dbt too) at `stage`."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster_project.cli", "run"],
            env=dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    reached = STAGES[stage]
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not reached(ws, log):
            ended = f"the run ended before {stage}:\n{log.read_text()[-3000:]}"
            assert process.poll() is None, ended
            assert time.monotonic() < deadline, f"{stage} not reached in {TIMEOUT_S} s"
            time.sleep(0.002)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize("stage", list(STAGES))
def test_kill_9_leaves_the_published_snapshot_and_the_next_run_completes(
    stage, loaded_but_last_day, built, tmp_path
):
    base, delivery = loaded_but_last_day
    ws = copy_workspace(base, tmp_path / "ws")
    point_settings_at(ws)
    published, site = digest(ws.warehouse), site_state(ws.site_dir)
    delivered = deliver(delivery, ws)

    run_and_kill(ws, stage, tmp_path / "run.log")

    assert digest(ws.warehouse) == published, f"killed during {stage}: the snapshot changed"
    assert site_state(ws.site_dir) == site, f"killed during {stage}: the dashboards changed"
    if stage == "ingestion":  # the kill came mid-delivery: some day files are not loaded yet
        with duckdb.connect(str(ws.work_db), read_only=True) as con:
            loaded = con.execute(
                "select count(*) from meta.file_ledger where path in (select unnest(?))",
                [delivered],
            ).fetchone()[0]
        assert 0 < loaded < len(delivered)

    # the next run needs no repair: it completes and the result is the full build's
    assert run_pipeline(get_settings())
    assert not list(ws.warehouse.parent.glob(".publishing-*")), "a leftover snapshot file"
    assert digest(ws.warehouse) != published
    assert_same_kpis(kpis(ws.warehouse), kpis(built.warehouse))
    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
        claims, distinct_claims = con.execute(
            "select count(*), count(distinct claim_id) from marts.fct_claims"
        ).fetchone()
        ledger = con.execute(
            "select count(*) from meta.file_ledger where path in (select unnest(?))", [delivered]
        ).fetchone()[0]
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        expected_claims = con.execute("select count(*) from marts.fct_claims").fetchone()[0]
    assert claims == distinct_claims == expected_claims, "no duplicates, nothing lost"
    assert ledger == len(delivered), "each day file is in the ledger once"
    assert (ws.site_dir / "index.html").is_file()
    assert site_state(ws.site_dir)["target"] != site["target"], "the site shows the new data"
