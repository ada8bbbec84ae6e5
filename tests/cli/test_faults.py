"""Faults on disk end in a message that says what to do, and lose nothing (issue 14, item 9).

Every command runs as the user types it: the `opsvalue` script in a subprocess, on a copy of a
workspace the pipeline built, with one file or folder damaged. Each must exit with 4, print what
is wrong and what to do, print no Python traceback, and leave the damaged file, the published
snapshot and the site exactly as they were.

Read-only folders: the tests run as root, whom `chmod` does not stop (CAP_DAC_OVERRIDE). The
commands are therefore started without that capability and CAP_DAC_READ_SEARCH (dropped from
the child's bounding set before exec), so a root-owned folder with mode 555 refuses them as it
refuses any user; not as root, permissions apply anyway. Where the capability cannot be dropped
the permission cases skip and say why; "a file where the folder should be" covers the same
code path as root or not.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import Workspace, copy_workspace

# heavy: many whole-pipeline runs; started first when the suite runs on two processes
# (tests/conftest.py)
pytestmark = pytest.mark.heavy

OPSVALUE = Path(sys.executable).parent / "opsvalue"
FAULT_EXIT = 4
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2
DAMAGES = ["empty", "half", "garbage", "folder"]


def _without_permission_override() -> None:
    """In the child before exec: root loses the right to ignore file permissions."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def env_for(ws: Workspace, **overrides: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "OPSVALUE_RAW_DIR": str(ws.raw_dir),
        "OPSVALUE_WAREHOUSE": str(ws.warehouse),
        "OPSVALUE_WORK_DB": str(ws.work_db),
        "OPSVALUE_SITE_DIR": str(ws.site_dir),
        "DAGSTER_HOME": str(ws.dagster_home),
        "OPSVALUE_LOG_DIR": str(ws.root / "logs"),
        # rich wraps at the terminal's width: one message, one line, whatever the path length
        "COLUMNS": "400",
    }
    env.update({key: str(value) for key, value in overrides.items()})
    return env


def opsvalue(ws: Workspace, *args: str, **overrides: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(OPSVALUE), *args],
        env=env_for(ws, **overrides),
        capture_output=True,
        text=True,
        timeout=900,
        preexec_fn=_without_permission_override,
    )


def assert_fault(result: subprocess.CompletedProcess, *words: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == FAULT_EXIT, output
    assert "Traceback" not in output, output
    assert "What to do" in result.stderr, output
    for word in words:
        assert word in result.stderr, output


def state_of(path: Path) -> object:
    """What is at `path`: a file's digest, a folder's listing with digests, or nothing."""
    if path.is_symlink() and path.is_dir():
        return ("link", os.readlink(path), state_of(path.resolve()))
    if path.is_dir():
        return sorted((p.relative_to(path).as_posix(), state_of(p)) for p in path.rglob("*"))
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return None


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    path.chmod(0o644)  # the snapshot is read-only on disk
    if how == "empty":
        path.write_bytes(b"")
    elif how == "half":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        path.write_bytes(random.Random(14).randbytes(len(data)))
    elif how == "folder":
        path.unlink()
        path.mkdir()
        (path / "note.txt").write_text("someone's folder\n")


@pytest.fixture
def ws(built, tmp_path) -> Workspace:
    """A copy of the built workspace, free to damage."""
    return copy_workspace(built, tmp_path / "ws")


def snapshot_site_and_work(ws: Workspace) -> dict:
    return {
        "snapshot": state_of(ws.warehouse),
        "site": state_of(ws.site_dir),
        "site_versions": state_of(ws.site_dir.with_name(ws.site_dir.name + ".versions")),
        "work": state_of(ws.work_db),
    }


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("scope", [[], ["--org", "LIF"]], ids=["full", "pack"])
def test_site_refuses_a_damaged_snapshot_and_leaves_it_and_the_site_as_they_were(ws, how, scope):
    damage(ws.warehouse, how)
    before = snapshot_site_and_work(ws)
    result = opsvalue(ws, "site", *scope)
    assert_fault(result, "published snapshot is damaged", str(ws.warehouse), "--set-aside-damaged")
    assert snapshot_site_and_work(ws) == before


def test_status_shows_the_state_then_reports_a_damaged_snapshot(ws):
    damage(ws.warehouse, "half")
    result = opsvalue(ws, "status")
    assert_fault(result, "published snapshot is damaged")
    assert "last publication" in result.stdout


@pytest.mark.parametrize("how", ["half", "folder"])
def test_run_and_catalog_refuse_a_damaged_snapshot_before_writing_anything(ws, how):
    damage(ws.warehouse, how)
    before = snapshot_site_and_work(ws)
    assert_fault(opsvalue(ws, "run"), "published snapshot is damaged", str(ws.warehouse))
    assert_fault(opsvalue(ws, "catalog", "show", "claims_auto_rate"), "published snapshot")
    assert snapshot_site_and_work(ws) == before


@pytest.mark.parametrize("how", DAMAGES)
def test_run_and_status_refuse_a_damaged_working_database(ws, how):
    damage(ws.work_db, how)
    before = snapshot_site_and_work(ws)
    for command in ("run", "status", "demo"):
        result = opsvalue(ws, command)
        # a snapshot is published: the way out keeps its history
        assert_fault(result, "working database is damaged", str(ws.work_db), "`opsvalue rebuild`")
    assert snapshot_site_and_work(ws) == before


@pytest.mark.parametrize("how", ["empty", "garbage"])
def test_a_damaged_working_database_without_a_snapshot_points_to_data_raw(ws, how):
    damage(ws.work_db, how)
    ws.warehouse.unlink()
    before = snapshot_site_and_work(ws)
    result = opsvalue(ws, "run")
    assert_fault(result, "working database is damaged", "no readable snapshot", "--set-aside")
    assert "`opsvalue rebuild`" not in result.stderr
    assert snapshot_site_and_work(ws) == before


def kpis(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "select * exclude (input_digest, _dbt_invocation_id) from marts.fct_kpi_values "
            "order by all"
        ).fetchall()


def assert_same_kpis(actual: list[tuple], expected: list[tuple]) -> None:
    """The same rows, numbers equal to 1e-9: two builds of the same extracts add a unit's
    floating-point day sums in their own order (as tests/test_refresh.py compares them)."""
    assert len(actual) == len(expected)
    for mine, theirs in zip(actual, expected, strict=True):
        assert mine[:4] == theirs[:4]  # metric, month, tier, unit: the rows' key, sorted first
        for a, b in zip(mine, theirs, strict=True):
            if isinstance(b, float) and isinstance(a, float):
                assert a == pytest.approx(b, rel=1e-9, abs=1e-9), mine[:4]
            else:
                assert a == b, mine[:4]


def history(path: Path) -> dict[str, list]:
    """What only the working database and the snapshot know: definition versions and ledger."""
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            "versions": con.execute(
                "select metric_name, definition_version, definition_hash, changed_at "
                "from marts.metric_definition_history order by all"
            ).fetchall(),
            "ledger": con.execute(
                "select ledger_id, source, path, content_hash, row_count, status, batch_id "
                "from meta.file_ledger order by ledger_id"
            ).fetchall(),
        }


def test_set_aside_damaged_with_both_files_damaged_keeps_them_and_builds_from_raw(ws, built):
    damage(ws.work_db, "half")
    damage(ws.warehouse, "garbage")
    damaged = {"work": state_of(ws.work_db), "snapshot": state_of(ws.warehouse)}
    result = opsvalue(ws, "run", "--set-aside-damaged")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "set aside" in result.stderr
    assert "no readable snapshot" in result.stderr  # nothing could give the history back
    kept_work = list(ws.work_db.parent.glob(f"{ws.work_db.name}.damaged-*"))
    kept_snapshot = list(ws.warehouse.parent.glob(f"{ws.warehouse.name}.damaged-*"))
    assert [state_of(p) for p in kept_work] == [damaged["work"]]
    assert [state_of(p) for p in kept_snapshot] == [damaged["snapshot"]]
    # built from the extracts: the same KPIs as the workspace it was copied from
    assert_same_kpis(kpis(ws.warehouse), kpis(built.warehouse))
    assert (ws.site_dir / "index.html").is_file()


@pytest.mark.parametrize("how", ["half", "folder"])
def test_set_aside_damaged_working_database_is_rebuilt_from_the_snapshot(ws, built, how):
    damage(ws.work_db, how)
    damaged = state_of(ws.work_db)
    before = history(ws.warehouse)
    result = opsvalue(ws, "run", "--set-aside-damaged")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    assert "set aside" in result.stderr and "rebuild" in result.stderr
    assert "nothing published moved" in result.stderr  # the rebuild's own proof ran
    kept = list(ws.work_db.parent.glob(f"{ws.work_db.name}.damaged-*"))
    assert [state_of(p) for p in kept] == [damaged]
    # the history came back from the snapshot, not from data/raw alone
    assert history(ws.warehouse) == before
    assert_same_kpis(kpis(ws.warehouse), kpis(built.warehouse))
    with duckdb.connect(str(ws.work_db), read_only=True) as con:
        assert con.execute("select count(*) from meta.file_ledger").fetchone()[0] == len(
            before["ledger"]
        )


def test_rebuild_takes_a_damaged_working_database_and_keeps_it(ws, built):
    damage(ws.work_db, "empty")
    result = opsvalue(ws, "rebuild")
    assert result.returncode == 0, result.stdout + result.stderr
    kept = list(ws.work_db.parent.glob(f"{ws.work_db.name}.before-rebuild-*"))
    assert [p.stat().st_size for p in kept] == [0]
    assert_same_kpis(kpis(ws.warehouse), kpis(built.warehouse))


def test_set_aside_damaged_snapshot_is_published_anew_from_the_working_database(ws, built):
    before = history(ws.warehouse)
    damage(ws.warehouse, "half")
    damaged = state_of(ws.warehouse)
    result = opsvalue(ws, "run", "--set-aside-damaged")
    assert result.returncode == 0, result.stdout + result.stderr
    kept = list(ws.warehouse.parent.glob(f"{ws.warehouse.name}.damaged-*"))
    assert [state_of(p) for p in kept] == [damaged]
    assert history(ws.warehouse) == before
    assert_same_kpis(kpis(ws.warehouse), kpis(built.warehouse))


@pytest.fixture(scope="module")
def permissions_apply(tmp_path_factory) -> None:
    """Skip when a child of this process can still write into a folder with mode 555."""
    folder = tmp_path_factory.mktemp("probe") / "read-only"
    folder.mkdir(mode=0o555)
    try:
        probe = subprocess.run(
            [sys.executable, "-c", f"open({str(folder / 'x')!r}, 'w')"],
            capture_output=True,
            preexec_fn=_without_permission_override,
        )
    except subprocess.SubprocessError as exc:  # prctl refused: no CAP_SETPCAP here
        pytest.skip(f"cannot start a child without CAP_DAC_OVERRIDE: {exc}")
    finally:
        folder.chmod(0o755)
    if probe.returncode == 0:
        pytest.skip("file permissions do not apply to this user (root with CAP_DAC_OVERRIDE)")


READ_ONLY = {
    "warehouse": (lambda ws: ws.warehouse.parent, "where the snapshot is published"),
    "work": (lambda ws: ws.work_db.parent, "the working database's folder"),
    "logs": (lambda ws: ws.root / "logs", "full log"),
}


@pytest.mark.parametrize("which", list(READ_ONLY))
def test_run_stops_before_writing_when_a_folder_it_writes_is_read_only(
    ws, permissions_apply, which
):
    folder_of, role = READ_ONLY[which]
    folder = folder_of(ws)
    folder.mkdir(parents=True, exist_ok=True)
    before = snapshot_site_and_work(ws)
    folder.chmod(0o555)
    try:
        result = opsvalue(ws, "run")
        status = opsvalue(ws, "status")  # reading needs no write access
    finally:
        folder.chmod(0o755)
    assert_fault(result, f"cannot write in {folder}", "Permission denied", "chmod", role)
    assert status.returncode == 0, status.stdout + status.stderr
    assert snapshot_site_and_work(ws) == before


def test_run_stops_when_dagster_home_is_read_only(ws, permissions_apply):
    before = snapshot_site_and_work(ws)
    ws.dagster_home.chmod(0o555)
    try:
        result = opsvalue(ws, "run")
    finally:
        ws.dagster_home.chmod(0o755)
    assert_fault(result, f"cannot write in {ws.dagster_home}", "DAGSTER_HOME")
    assert snapshot_site_and_work(ws) == before


def test_site_pack_stops_when_its_folder_is_read_only(ws, permissions_apply):
    parent = ws.root / "packs"
    parent.mkdir(mode=0o555)
    try:
        result = opsvalue(ws, "site", "--org", "LIF", "--out", str(parent / "lif"))
    finally:
        parent.chmod(0o755)
    assert_fault(result, f"cannot write in {parent}")
    assert not (parent / "lif").exists()


@pytest.mark.parametrize("setting", ["OPSVALUE_WAREHOUSE", "DAGSTER_HOME"])
def test_run_stops_when_a_file_stands_where_a_folder_should_be(ws, setting):
    blocker = ws.root / "a-file"
    blocker.write_text("not a folder\n")
    path = blocker / ("opsvalue.duckdb" if setting == "OPSVALUE_WAREHOUSE" else "dagster_home")
    before = snapshot_site_and_work(ws)
    result = opsvalue(ws, "run", **{setting: path})
    assert_fault(result, "a file stands where the folder should be", str(blocker))
    assert snapshot_site_and_work(ws) == before
    assert blocker.read_text() == "not a folder\n"


def test_a_missing_dagster_home_is_created(ws):
    home = ws.root / "new" / "dagster_home"
    result = opsvalue(ws, "run", DAGSTER_HOME=home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (home / "dagster.yaml").is_file()
    shutil.rmtree(home)
