"""Losing the working database loses nothing published: `opsvalue rebuild` restores what data/raw
cannot give back from the last publication, replays raw, and proves the result before it
replaces anything."""

from __future__ import annotations

import copy
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from dagster_project import cli
from dagster_project.core.settings import get_settings
from tests.conftest import Workspace, copy_workspace, deliver, make_workspace, point_settings_at
from tests.test_catalog_versions import CLAIMS
from tests.test_refresh import assert_same_kpis, kpis
from tests.test_withdrawal import break_first_row

# heavy: many whole-pipeline runs; started first when the suite runs on two processes
# (tests/conftest.py)
pytestmark = pytest.mark.heavy

TIMEOUT_S = 1200


def opsvalue(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The `opsvalue` command in its own process (its dbt project fixed by OPSVALUE_DBT_DIR)."""
    return subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def published(path: Path) -> dict[str, list]:
    """What the snapshot shows besides the KPI values: the history readers rely on."""
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            "versions": con.execute(
                "select metric_name, definition_version, definition_hash, changed_at, "
                "change_summary from marts.metric_definition_history order by all"
            ).fetchall(),
            "catalog": con.execute(
                "select metric_name, definition_version from marts.dim_metric_catalog order by 1"
            ).fetchall(),
            "kpi_versions": con.execute(
                "select metric_name, period_start, org_level, org_code, definition_version, "
                "status from marts.fct_kpi_values order by all"
            ).fetchall(),
            "ledger": con.execute("select * from meta.file_ledger order by ledger_id").fetchall(),
            "quarantine": con.execute("select * from quarantine.claims order by all").fetchall(),
            "withdrawals": con.execute("select * from meta.withdrawals order by all").fetchall(),
            "gates": con.execute(
                "select source, state, check_name, reason, since, last_file, last_loaded_at "
                "from meta.source_gate_state order by all"
            ).fetchall(),
            "claims_batches": con.execute(
                "select _batch_id, count(*) from marts.fct_claims group by 1 order by 1"
            ).fetchall(),
        }


def publications(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select count(*) from meta.publication").fetchone()[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lose_working_database(ws: Workspace) -> None:
    for path in ws.work_db.parent.glob(f"{ws.work_db.name}*"):
        path.unlink()


def change_a_definition(project: Path) -> None:
    """claims_auto_rate counts only paid claims as auto-processed from now on."""
    path = project / CLAIMS
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    metric = next(m for m in doc["metrics"] if m["name"] == "claims_auto_rate")
    metric["type_params"]["numerator"]["filter"] += (
        " and {{ Dimension('claim__decision') }} = 'paid'"
    )
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def test_rebuild_after_losing_the_working_database_publishes_the_same(
    loaded_but_last_day, tmp_path
):
    """THE test of 'no delivery lost': after a definition change, a rejection, a quarantine
    release and a withdrawal, the working database is deleted and rebuilt; the published KPIs,
    definition versions and ledger history are the same before and after."""
    base, delivery = loaded_but_last_day
    ws = copy_workspace(base, tmp_path / "ws")
    point_settings_at(ws)
    project = tmp_path / "dbt"
    shutil.copytree(
        get_settings().dbt_project_dir, project, ignore=shutil.ignore_patterns("target", "logs")
    )
    env = {**os.environ, "OPSVALUE_DBT_DIR": str(project)}

    # a definition change, the day delivered with one claim the gate quarantines, and a file
    # the gate rejects whole
    change_a_definition(project)
    deliver(delivery, ws)
    claims_day = ws.raw_dir / "claims" / delivery.files["claims"].name
    break_first_row(claims_day)
    (ws.raw_dir / "tasks" / "tasks_resent.csv").write_text("task_id,note\nT-1,resent\n")
    run = opsvalue("run", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    # the claims correction releases the quarantined row; the day's contacts are withdrawn
    shutil.copy2(delivery.files["claims"], claims_day)
    contacts_day = f"contacts/{delivery.files['contacts'].name}"
    assert cli.main(["withdraw", contacts_day, "--reason", "a test extract"]) == 0
    run = opsvalue("run", env=env)
    assert run.returncode == 0, run.stderr[-3000:]

    before, kpis_before = published(ws.warehouse), kpis(ws.warehouse)
    statuses = {row[7] for row in before["ledger"]}  # status
    assert {"loaded", "replaced", "rejected", "withdrawn"} <= statuses
    assert [v for m, v, *_ in before["versions"] if m == "claims_auto_rate"] == [1, 2]
    assert any(row[-1] == "file re-delivered" for row in before["quarantine"])
    assert len(before["withdrawals"]) == 1
    snapshot = digest(ws.warehouse)
    count = publications(ws.warehouse)

    lose_working_database(ws)
    # a plain run would start the history again: refused, nothing written
    run = opsvalue("run", env=env)
    assert run.returncode == 1 and "opsvalue rebuild" in run.stderr, run.stderr[-3000:]
    assert not ws.work_db.exists() and digest(ws.warehouse) == snapshot

    rebuild = opsvalue("rebuild", env=env)
    assert rebuild.returncode == 0, rebuild.stderr[-5000:]
    assert "proving the rebuilt database" in rebuild.stderr

    assert publications(ws.warehouse) == count + 1, "the snapshot was written from the rebuild"
    assert_same_kpis(kpis(ws.warehouse), kpis_before)
    after = published(ws.warehouse)
    for key, rows in before.items():
        assert after[key] == rows, key
    assert not list(ws.work_db.parent.glob(".rebuild*")), "nothing of the rebuild left over"

    # and the rebuilt database carries on: the next run finds nothing new
    run = opsvalue("run", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert published(ws.warehouse) == after
    assert publications(ws.warehouse) == count + 1, "nothing new: not republished"


def test_rebuild_refuses_a_missing_delivery_and_with_accept_records_it_withdrawn(
    loaded_but_last_day, tmp_path, capsys
):
    base, _ = loaded_but_last_day
    ws = copy_workspace(base, tmp_path / "ws")
    point_settings_at(ws)
    old_db = digest(ws.work_db)
    snapshot = digest(ws.warehouse)
    month = sorted((ws.raw_dir / "complaints").glob("complaints_*.csv"))[-2]
    path = f"complaints/{month.name}"
    month.unlink()

    assert cli.main(["rebuild"]) == 1
    err = capsys.readouterr().err
    assert "missing" in err and path in err and "put them back" in err
    assert digest(ws.work_db) == old_db and digest(ws.warehouse) == snapshot
    assert not list(ws.work_db.parent.glob(".rebuild*")), "refused before building anything"

    assert cli.main(["rebuild", "--accept-differences"]) == 0
    err = capsys.readouterr().err
    assert "recorded as withdrawn" in err and "KPI values changed" in err
    (aside,) = ws.work_db.parent.glob(f"{ws.work_db.name}.before-rebuild-*")
    assert digest(aside) == old_db, "the old working database is kept as it was"
    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
        status, by = con.execute(
            "select f.status, w.requested_by from meta.file_ledger f join meta.withdrawals w "
            "on w.batch_id = f.batch_id where f.path = ?",
            [path],
        ).fetchone()
        rows = con.execute(
            "select count(*) from marts.fct_complaints where _source_file = ?", [path]
        ).fetchone()[0]
    assert status == "withdrawn" and "rebuild" in by and rows == 0
    assert cli.main(["status"]) == 0
    assert "missing, still published" not in capsys.readouterr().out


def test_rebuild_refuses_while_a_run_holds_the_working_database(loaded_but_last_day, tmp_path):
    base, _ = loaded_but_last_day
    ws = copy_workspace(base, tmp_path / "ws")
    point_settings_at(ws)
    before = digest(ws.work_db)
    lock = ws.work_db.parent / "pipeline.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert cli.main(["rebuild"]) == 3
    finally:
        holder.kill()
        holder.wait()
    assert digest(ws.work_db) == before
    assert not list(ws.work_db.parent.glob(".rebuild*"))


HOLD_LOCK = f"""
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, {fcntl.LOCK_EX})
print("held", flush=True)
time.sleep(600)
"""


def test_rebuild_without_a_publication_says_to_run(tmp_path, capsys):
    ws = make_workspace(tmp_path)
    point_settings_at(ws)
    assert cli.main(["rebuild"]) == 1
    assert "opsvalue run" in capsys.readouterr().err
    assert not ws.work_db.exists()


NEW_METRIC = "claims_auto_rate_copy"


def add_a_metric(project: Path) -> None:
    """An upgrade of the dbt project adds a KPI: claims_auto_rate's definition under a new name
    (so its values are known: claims_auto_rate's own)."""
    path = project / CLAIMS
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    metric = copy.deepcopy(next(m for m in doc["metrics"] if m["name"] == "claims_auto_rate"))
    metric["name"] = NEW_METRIC
    metric["label"] = "Claims auto-processing rate (copy)"
    metric["type_params"]["numerator"]["alias"] = f"{NEW_METRIC}_numerator"
    metric["config"]["meta"]["label_zh"] = "理赔自动化率（副本）"
    metric["config"]["meta"].pop("change_note", None)
    doc["metrics"].append(metric)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def definition_versions(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "select metric_name, definition_version, definition_hash, changed_at, "
            "change_summary from marts.metric_definition_history order by all"
        ).fetchall()


def test_rebuild_after_an_upgrade_that_adds_a_metric_needs_no_accepting(built, tmp_path):
    """A metric the snapshot never published has nothing to differ from: the rebuild lists it
    as new and publishes it, without --accept-differences, and every published KPI stays."""
    ws = copy_workspace(built, tmp_path / "ws")
    project = tmp_path / "dbt"
    shutil.copytree(
        get_settings().dbt_project_dir, project, ignore=shutil.ignore_patterns("target", "logs")
    )
    env = {
        **os.environ,
        "OPSVALUE_DBT_DIR": str(project),
        "OPSVALUE_RAW_DIR": str(ws.raw_dir),
        "OPSVALUE_WAREHOUSE": str(ws.warehouse),
        "OPSVALUE_WORK_DB": str(ws.work_db),
        "OPSVALUE_SITE_DIR": str(ws.site_dir),
        "DAGSTER_HOME": str(ws.dagster_home),
        "OPSVALUE_LOG_DIR": str(ws.root / "logs"),
    }
    before, versions_before = kpis(ws.warehouse), definition_versions(ws.warehouse)
    add_a_metric(project)
    lose_working_database(ws)

    rebuild = opsvalue("rebuild", env=env)
    assert rebuild.returncode == 0, rebuild.stderr[-5000:]
    assert f"1 metric(s) new in the dbt project, never published: {NEW_METRIC} (" in (
        " ".join(rebuild.stderr.split())
    )
    # governance coverage counts the published metrics, the copy among them (it has an owner,
    # a definition and delivered sources): one more governed metric of one more
    assert "computed from the catalog itself moved" in " ".join(rebuild.stderr.split())
    after = kpis(ws.warehouse)
    catalog = {k for k in after if k[0] == "governance_coverage_rate"}
    assert catalog and catalog == {k for k in before if k[0] == "governance_coverage_rate"}
    for key in catalog:
        assert after[key][:2] == (before[key][0] + 1, before[key][1] + 1), key
    same = {k: v for k, v in after.items() if k[0] != NEW_METRIC and k not in catalog}
    assert_same_kpis(same, {k: v for k, v in before.items() if k not in catalog})
    new = {k[1:]: v for k, v in after.items() if k[0] == NEW_METRIC}
    copied = {k[1:]: v for k, v in before.items() if k[0] == "claims_auto_rate"}
    assert new.keys() == copied.keys() and len(new) > 100
    for key, (numerator, denominator, value) in new.items():
        assert (numerator, denominator) == copied[key][:2], key
        assert value == pytest.approx(copied[key][2], rel=1e-12), key
    versions = definition_versions(ws.warehouse)
    assert [v for v in versions if v[0] != NEW_METRIC] == versions_before
    assert [v[1] for v in versions if v[0] == NEW_METRIC] == [1]
