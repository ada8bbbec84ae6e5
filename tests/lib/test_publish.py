"""The published snapshot: reader-facing schemas only, comments kept, read-only, atomic."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from datetime import datetime

import duckdb
import pytest

from dagster_project.lib.freshness import publication_row
from dagster_project.lib.publish import (
    content_fingerprint,
    publish_snapshot,
    published_fingerprint,
    remove_leftovers,
)
from dagster_project.lib.settings import get_settings
from dagster_project.lib.warehouse import PipelineBusy, connect, pipeline_lock
from tests.conftest import make_workspace, point_settings_at


@pytest.fixture
def settings(tmp_path):
    point_settings_at(make_workspace(tmp_path))
    settings = get_settings()
    with connect(settings) as con:
        con.execute("create schema raw")
        con.execute("create table raw.claims as select 'c1' as claim_id")
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_kpi_values as select 'nps' as metric_name, 0.5::double value"
        )
        con.execute("comment on table marts.fct_kpi_values is 'One row per metric.'")
        con.execute("comment on column marts.fct_kpi_values.value is 'The KPI''s value.'")
        con.execute("create schema meta")
        con.execute("create view meta.stale_metrics as select 'nps' as metric_name")
    return settings


def publish(settings) -> None:
    with connect(settings) as con:
        fingerprint = content_fingerprint(con, "watermark")
        row = publication_row(con, datetime(2026, 11, 26, 6, 30), "run-1")
        publish_snapshot(con, settings, fingerprint, row)


def test_publish_snapshot_copies_reader_schemas_with_comments_and_no_raw(settings):
    publish(settings)
    path = settings.warehouse_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o444, "read-only on disk"
    assert not path.with_name(path.name + ".wal").exists()
    with duckdb.connect(str(path), read_only=True) as con:
        tables = dict(
            con.execute(
                "select schema_name || '.' || table_name, comment from duckdb_tables()"
            ).fetchall()
        )
        column = con.execute(
            "select comment from duckdb_columns() "
            "where table_name = 'fct_kpi_values' and column_name = 'value'"
        ).fetchone()[0]
        runs = con.execute("select run_id from meta.publication").fetchall()
    assert "raw.claims" not in tables
    assert tables["marts.fct_kpi_values"] == "One row per metric."
    assert "meta.stale_metrics" in tables, "views are published as tables"
    assert column == "The KPI's value."
    assert runs == [("run-1",)], "the snapshot lists its own publication"
    assert published_fingerprint(path) is not None


def test_a_new_snapshot_replaces_the_old_while_a_reader_keeps_its_view(settings):
    publish(settings)
    reader = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        with connect(settings) as con:
            con.execute("insert into marts.fct_kpi_values values ('aht', 300)")
        publish(settings)
        old = reader.execute("select count(*) from marts.fct_kpi_values").fetchone()[0]
    finally:
        reader.close()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        new = con.execute("select count(*) from marts.fct_kpi_values").fetchone()[0]
    assert (old, new) == (1, 2)


def test_remove_leftovers_deletes_interrupted_snapshots_only(settings):
    publish(settings)
    folder = settings.warehouse_path.parent
    (folder / ".publishing-dead-opsvalue.duckdb").write_bytes(b"half")
    removed = remove_leftovers(settings.warehouse_path)
    assert [p.name for p in removed] == [".publishing-dead-opsvalue.duckdb"]
    assert settings.warehouse_path.exists()


HOLDER = """
import sys, time
from dagster_project.lib.settings import get_settings
from dagster_project.lib.warehouse import pipeline_lock
with pipeline_lock(get_settings()):
    print("held", flush=True)
    time.sleep(120)
"""


def test_pipeline_lock_refuses_a_second_writer_and_dies_with_its_holder(settings):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(PipelineBusy, match=f"pid {holder.pid}"), pipeline_lock(settings):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + 10
    while True:  # the kernel released the flock with the killed process: no stale lock
        try:
            with pipeline_lock(settings):
                break
        except PipelineBusy:
            assert time.monotonic() < deadline
            time.sleep(0.1)
