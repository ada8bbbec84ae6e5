"""The pooled SQLite storage: Dagster's files and behaviour, connections kept open."""

from __future__ import annotations

import logging
import time

import dagster as dg
import pytest
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from dagster_project.core.dagster_storage import (
    KEPT_ENGINES,
    PooledSqliteEventLogStorage,
    PooledSqliteStorage,
)
from dagster_project.core.runner import DAGSTER_YAML, EARLIER_DAGSTER_YAMLS, prepare_instance
from dagster_project.core.settings import get_settings
from tests.conftest import make_workspace, point_settings_at


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="numbers")])
def numbers() -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={"count": 3},
        check_results=[dg.AssetCheckResult(check_name="positive", passed=True)],
    )


JOB = dg.define_asset_job("numbers_job", selection=[numbers])
DEFS = dg.Definitions(assets=[numbers], jobs=[JOB])


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text(DAGSTER_YAML)
    return tmp_path


def run_once(instance: dg.DagsterInstance) -> str:
    result = DEFS.resolve_job_def("numbers_job").execute_in_process(instance=instance)
    assert result.success
    return result.run_id


def test_the_instance_uses_the_pooled_storage_with_dagsters_files(home):
    with dg.DagsterInstance.get() as instance:
        assert instance.get_ref().storage_data.class_name == PooledSqliteStorage.__name__
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        run_id = run_once(instance)
        # the run was written through the kept engines (our _connect, not Dagster's)
        assert run_id in storage._engines and "index" in storage._engines
        with storage.run_connection(run_id) as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert not storage._engines, "disposing the instance closes every connection"
    assert (home / "history" / "runs" / f"{run_id}.db").is_file()
    assert (home / "history" / "runs" / "index.db").is_file()

    # Dagster's own storage (what a webserver without this module would use) reads it all
    plain = SqliteEventLogStorage(str(home / "history" / "runs"))
    events = [e.dagster_event_type for e in plain.get_logs_for_run(run_id) if e.is_dagster_event]
    assert dg.DagsterEventType.ASSET_MATERIALIZATION in events
    assert dg.DagsterEventType.ASSET_CHECK_EVALUATION in events
    assert dg.DagsterEventType.RUN_SUCCESS in events
    latest = plain.get_latest_materialization_events([dg.AssetKey("numbers")])
    assert latest[dg.AssetKey("numbers")].run_id == run_id


def test_same_history_as_dagsters_default_storage(tmp_path, monkeypatch):
    """The same runs leave the same events, whichever storage wrote them."""
    kinds = {}
    for name, yaml in (("pooled", DAGSTER_YAML), ("default", "telemetry:\n  enabled: false\n")):
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / name))
        (tmp_path / name).mkdir()
        (tmp_path / name / "dagster.yaml").write_text(yaml)
        with dg.DagsterInstance.get() as instance:
            run_ids = [run_once(instance) for _ in range(2)]
            kinds[name] = [
                [e.dagster_event_type for e in instance.all_logs(run_id) if e.is_dagster_event]
                for run_id in run_ids
            ]
            check = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey("numbers"), "positive"), limit=10
            )
            assert [c.run_id for c in check] == run_ids[::-1]
    assert kinds["pooled"] == kinds["default"]


def test_only_a_few_files_stay_open(home):
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        first = run_once(instance)
        first_engine = storage._engines[first]
        assert first_engine.pool.checkedin() == 1, "the connection is kept between uses"
        run_ids = [first] + [run_once(instance) for _ in range(KEPT_ENGINES + 1)]
        assert len(storage._engines) == KEPT_ENGINES
        assert first not in storage._engines
        assert first_engine.pool.checkedin() == 0, "an evicted engine's connection is closed"
        # an evicted run's history is still read (through a new engine)
        assert any(e.is_dagster_event for e in instance.all_logs(run_ids[0]))


def test_wipe_closes_the_connections_before_deleting_the_files(home):
    with dg.DagsterInstance.get() as instance:
        run_id = run_once(instance)
        instance.event_log_storage.wipe()
        assert not instance.all_logs(run_id)
        assert run_once(instance)  # and the storage is usable again


def test_opsvalue_writes_its_dagster_yaml_and_upgrades_only_its_own(tmp_path):
    ws = make_workspace(tmp_path)
    point_settings_at(ws)
    config = ws.dagster_home / "dagster.yaml"
    prepare_instance(get_settings())
    assert config.read_text() == DAGSTER_YAML

    for earlier in EARLIER_DAGSTER_YAMLS:  # what earlier versions wrote
        config.write_text(earlier)
        prepare_instance(get_settings())
        assert config.read_text() == DAGSTER_YAML

    own = "telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 2\n"  # the user's
    config.write_text(own)
    prepare_instance(get_settings())
    assert config.read_text() == own


def test_a_watch_sees_each_event_while_the_writer_keeps_its_connection(tmp_path):
    """The UI follows a run through `watch`; the writer's commits go to the WAL file only."""
    base = str(tmp_path / "runs")
    writer, reader = PooledSqliteEventLogStorage(base), PooledSqliteEventLogStorage(base)
    run_id = "0000-watched-run"
    seen: list[str] = []
    try:
        writer.store_event(log_entry(run_id, "first"))  # the run's shard exists before the watch
        reader.watch(run_id, None, lambda entry, _cursor: seen.append(entry.user_message))
        for i in range(5):
            writer.store_event(log_entry(run_id, f"event {i}"))
            time.sleep(0.05)
        deadline = time.monotonic() + 10
        while len(seen) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run_id in writer._engines, "the writer still holds its connection"
        assert seen[-5:] == [f"event {i}" for i in range(5)]
    finally:
        reader.dispose()
        writer.dispose()


def log_entry(run_id: str, message: str) -> EventLogEntry:
    return EventLogEntry(
        error_info=None,
        level=logging.INFO,
        user_message=message,
        run_id=run_id,
        timestamp=time.time(),
        step_key=None,
        job_name=None,
        dagster_event=None,
    )
