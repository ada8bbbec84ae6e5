"""The published snapshot: reader-facing schemas only, comments kept, read-only, atomic."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import stat
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.settings import get_settings
from dagster_project.core.warehouse import PipelineBusy, connect, pipeline_lock
from dagster_project.defs.ingest import withdrawals
from dagster_project.defs.publish import snapshot
from dagster_project.defs.publish.records import publication_row
from dagster_project.defs.publish.snapshot import (
    STORAGE_VERSION,
    publish_snapshot,
    published_fingerprint,
    remove_leftovers,
    spare_path,
    storage_version,
)
from dagster_project.defs.transform.planning import content_fingerprint
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
from dagster_project.core.settings import get_settings
from dagster_project.core.warehouse import pipeline_lock
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


HOLDER_FORKING = """
import os, time
from dagster_project.core.settings import get_settings
from dagster_project.core.warehouse import pipeline_lock
with pipeline_lock(get_settings()):
    child = os.fork()
    if child == 0:  # outlives its parent, as a stuck worker forked by the site's build could
        time.sleep(120)
        os._exit(0)
    print(child, flush=True)
    time.sleep(120)
"""


def test_pipeline_lock_dies_with_its_holder_not_with_a_forked_child(settings):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER_FORKING],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    child = int(holder.stdout.readline())
    try:
        with pytest.raises(PipelineBusy), pipeline_lock(settings):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        deadline = time.monotonic() + 10
        while True:
            try:
                with pipeline_lock(settings):
                    break
            except PipelineBusy:
                assert time.monotonic() < deadline, "the forked child kept the lock"
                time.sleep(0.1)
        os.kill(child, 0)  # the child is still there: the lock went without it
    finally:
        holder.kill()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def snapshot_contents(path) -> dict:
    """Every reader table's rows (sorted) and every comment of a database file."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where schema_name in ('marts', 'meta', 'quarantine') "
            "and table_name not in ('pipeline_state', 'publication') order by all"
        ).fetchall()
        rows = {
            f"{s}.{t}": con.execute(f'select * from "{s}"."{t}" order by all').fetchall()
            for s, t in tables
        }
        comments = con.execute(
            "select schema_name, table_name, column_name, comment from duckdb_columns() "
            "where schema_name in ('marts', 'meta', 'quarantine') and comment is not null "
            "order by all"
        ).fetchall()
    return {"rows": rows, "comments": comments}


def test_a_publication_updates_the_previous_snapshot_to_the_same_content_as_a_whole_copy(
    settings, tmp_path
):
    """The second publication starts from a copy of the first: batches gone, added and replaced,
    a small table changed, a comment changed; the result equals a snapshot written whole."""
    with connect(settings) as con:
        con.execute(
            "create table marts.fct_claims as select * from (values "
            "('c1', 'f1', 'b1', 'run1'), ('c2', 'f1', 'b1', 'run1'), ('c3', 'f2', 'b2', 'run1')) "
            "as t(claim_id, _source_file, _batch_id, _dbt_invocation_id)"
        )
        # the history a refresh leaves alone
        con.execute(
            "insert into marts.fct_claims select 'h' || i, 'f0', 'b0', 'run0' from range(20) r(i)"
        )
        con.execute("comment on column marts.fct_claims.claim_id is 'Claim number.'")
        con.execute("comment on column marts.fct_claims._source_file is 'Delivered file.'")
    publish(settings)
    with connect(settings) as con:
        con.execute("delete from marts.fct_claims where _batch_id = 'b1'")  # f1 re-delivered
        con.execute("insert into marts.fct_claims values ('c1', 'f1', 'b3', 'run2')")
        con.execute("insert into marts.fct_claims values ('c4', 'f4', 'b4', 'run2')")
        con.execute("update marts.fct_kpi_values set value = 0.7")
        con.execute("comment on column marts.fct_claims.claim_id is 'Claim number (FNOL).'")
        con.execute("comment on column marts.fct_claims._source_file is null")
        fingerprint = content_fingerprint(con, "watermark-2")
        row = publication_row(con, datetime(2026, 11, 27, 6, 30), "run-2")
        result = publish_snapshot(con, settings, fingerprint, row)
    assert result.method == "updated" and result.batches_replaced == 3  # b1 out, b3 and b4 in
    updated = snapshot_contents(settings.warehouse_path)
    assert updated["rows"]["marts.fct_claims"][:3] == [
        ("c1", "f1", "b3", "run2"),
        ("c3", "f2", "b2", "run1"),
        ("c4", "f4", "b4", "run2"),
    ]
    assert len(updated["rows"]["marts.fct_claims"]) == 23
    # the same publication written whole, into another folder
    whole = make_workspace(tmp_path / "whole")
    whole.warehouse.parent.mkdir(parents=True, exist_ok=True)
    other = dataclasses.replace(settings, warehouse_path=whole.warehouse)
    with connect(settings) as con:
        row = publication_row(con, datetime(2026, 11, 27, 6, 30), "run-2")
        written = publish_snapshot(con, other, fingerprint, row, incremental=False)
    assert written.method == "whole"
    assert snapshot_contents(whole.warehouse) == updated


def test_a_rebuild_is_published_whole_table_by_table(settings):
    with connect(settings) as con:
        con.execute(
            "create table marts.fct_claims as select 'c' || i as claim_id, 'f' || i as "
            "_source_file, 'b' || i as _batch_id, 'run1' as _dbt_invocation_id "
            "from range(10) as r(i)"
        )
    publish(settings)
    with connect(settings) as con:  # every batch rewritten by a new dbt run: a rebuild
        con.execute("update marts.fct_claims set _dbt_invocation_id = 'run2'")
        fingerprint = content_fingerprint(con, "watermark-2")
        row = publication_row(con, datetime(2026, 11, 27, 6, 30), "run-2")
        result = publish_snapshot(con, settings, fingerprint, row)
    assert result.batches_replaced == 0  # the table was copied whole, not batch by batch
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute(
            "select count(*), min(_dbt_invocation_id) from marts.fct_claims"
        ).fetchone() == (10, "run2")


def cli_count(path, table: str) -> int:
    """`table`'s row count read by the analysts' DuckDB CLI (duckdb-cli, DuckDB 1.5)."""
    duckdb_cli = Path(sys.executable).parent / "duckdb"
    result = subprocess.run(
        [str(duckdb_cli), "-readonly", "-csv", "-noheader", str(path)],
        input=f"select count(*) from {table};\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip())


def test_snapshots_whole_and_updated_keep_the_storage_format_the_analysts_cli_reads(settings):
    with connect(settings) as con:
        con.execute(
            "create table marts.fct_claims as select 'c' || i as claim_id, 'f' || i as "
            "_source_file, 'b' || i as _batch_id, 'run1' as _dbt_invocation_id "
            "from range(10) as r(i)"
        )
    publish(settings)
    assert storage_version(settings.warehouse_path) == f"{STORAGE_VERSION}+"
    assert cli_count(settings.warehouse_path, "marts.fct_claims") == 10
    with connect(settings) as con:  # one new batch: the snapshot is updated, not rewritten
        con.execute("insert into marts.fct_claims values ('c10', 'f10', 'b10', 'run2')")
        fingerprint = content_fingerprint(con, "watermark-2")
        row = publication_row(con, datetime(2026, 11, 27, 6, 30), "run-2")
        result = publish_snapshot(con, settings, fingerprint, row)
    assert result.method == "updated"
    assert storage_version(settings.warehouse_path) == f"{STORAGE_VERSION}+"
    assert cli_count(settings.warehouse_path, "marts.fct_claims") == 11


def test_a_snapshot_in_duckdb_2_format_is_replaced_by_one_the_analysts_cli_reads(settings):
    """A snapshot published before the format rule (DuckDB 2.0's default) is written whole."""
    publish(settings)
    path = settings.warehouse_path
    old = path.with_name("old.duckdb")
    with duckdb.connect(str(old)) as con:  # the same content in DuckDB 2.0's own format
        con.execute(f"attach '{path}' as published (read_only)")
        con.execute("copy from database published to old")
    assert not storage_version(old).startswith(STORAGE_VERSION)
    path.chmod(0o644)
    os.replace(old, path)
    with connect(settings) as con:
        fingerprint = content_fingerprint(con, "watermark-2")
        row = publication_row(con, datetime(2026, 11, 27, 6, 30), "run-2")
        result = publish_snapshot(con, settings, fingerprint, row)
    assert result.method == "whole"
    assert storage_version(path) == f"{STORAGE_VERSION}+"
    assert cli_count(path, "marts.fct_kpi_values") == 1


# --- the spare: the snapshot a publication replaced, the base of the one after next -----------

READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("select count(*) from marts.fct_kpi_values").fetchone()[0], flush=True)
sys.stdin.read()  # holds the file (and DuckDB's lock on it) until the test closes stdin
print(con.execute("select count(*) from marts.fct_kpi_values").fetchone()[0], flush=True)
"""


@pytest.fixture
def no_compaction(monkeypatch):
    """A tiny file grows by whole blocks (a few KB of rows, 256 KB blocks): left uncompacted,
    so that each publication may start from a previous snapshot as a large one would."""
    monkeypatch.setattr(snapshot, "COMPACT_GROWTH", 1000.0)


def add_kpi(settings, name: str) -> None:
    with connect(settings) as con:
        con.execute("insert into marts.fct_kpi_values values (?, 1.0)", [name])


def publish_next(settings, watermark: str, incremental: bool = True):
    with connect(settings) as con:
        fingerprint = content_fingerprint(con, watermark)
        row = publication_row(con, datetime(2026, 11, 27, 6, 30), watermark)
        return publish_snapshot(con, settings, fingerprint, row, incremental=incremental)


def inode(path: Path) -> int:
    return path.stat().st_ino


def published_twice(settings) -> tuple[Path, Path]:
    """Two publications, the second from a byte copy: the first snapshot is the spare now."""
    publish(settings)
    add_kpi(settings, "aht")
    publish_next(settings, "w2")
    return settings.warehouse_path, spare_path(settings.warehouse_path)


def test_the_publication_after_next_writes_into_the_spare_and_equals_a_whole_copy(
    settings, tmp_path, no_compaction
):
    target, spare = settings.warehouse_path, spare_path(settings.warehouse_path)
    publish(settings)
    first = inode(target)
    assert not spare.exists()  # a whole write keeps no spare
    add_kpi(settings, "aht")
    assert publish_next(settings, "w2").method == "updated"  # from a byte copy
    second = inode(target)
    assert inode(spare) == first and second != first
    add_kpi(settings, "fcr")
    assert publish_next(settings, "w3").method == "updated"
    # the first snapshot's file, brought up to date; the second is the spare now
    assert inode(target) == first and inode(spare) == second
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    assert storage_version(target).startswith(STORAGE_VERSION)  # the analysts' CLI reads it
    whole = make_workspace(tmp_path / "whole")
    whole.warehouse.parent.mkdir(parents=True, exist_ok=True)
    other = dataclasses.replace(settings, warehouse_path=whole.warehouse)
    with connect(settings) as con:
        row = publication_row(con, datetime(2026, 11, 27, 6, 30), "w3")
        publish_snapshot(con, other, content_fingerprint(con, "w3"), row, incremental=False)
    assert snapshot_contents(target) == snapshot_contents(whole.warehouse)
    assert len(snapshot_contents(target)["rows"]["marts.fct_kpi_values"]) == 3
    assert published_fingerprint(target) == published_fingerprint(whole.warehouse)


def test_a_spare_a_reader_still_holds_is_left_to_it(settings, no_compaction):
    """A reader that opened the snapshot two publications ago holds the spare: the publication
    copies the current snapshot instead, and the reader's view stays as it was."""
    target, spare = settings.warehouse_path, spare_path(settings.warehouse_path)
    publish(settings)
    first = inode(target)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "1"
        add_kpi(settings, "aht")
        publish_next(settings, "w2")
        assert inode(spare) == first  # the reader's file
        add_kpi(settings, "fcr")
        assert publish_next(settings, "w3").method == "updated"
        assert inode(target) not in (first,)
        reader.stdin.close()
        assert reader.stdout.readline().strip() == "1"  # its view is untouched
    finally:
        reader.kill()
        reader.wait()
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_kpi_values").fetchone()[0] == 3


def test_a_spare_that_is_the_published_file_itself_is_never_written(settings, no_compaction):
    """A crash between keeping the spare and the rename leaves two names for the published
    inode: the next publication drops the name and copies, so readers' file is not touched."""
    target, spare = settings.warehouse_path, spare_path(settings.warehouse_path)
    publish(settings)
    os.link(target, spare)
    keep = target.with_name("kept-" + target.name)
    os.link(target, keep)  # to read the published inode afterwards
    before = snapshot_contents(keep)
    add_kpi(settings, "aht")
    assert publish_next(settings, "w2").method == "updated"
    assert snapshot_contents(keep) == before
    assert inode(target) != inode(keep) and inode(spare) == inode(keep)
    assert len(snapshot_contents(target)["rows"]["marts.fct_kpi_values"]) == 2


def test_a_whole_write_drops_the_spare(settings, no_compaction):
    target, spare = published_twice(settings)
    assert spare.exists()
    add_kpi(settings, "fcr")
    assert publish_next(settings, "w3", incremental=False).method == "whole"
    assert not spare.exists() and target.exists()


def test_a_spare_with_another_name_is_never_written(settings, no_compaction):
    """Someone's `ln` copy of the spare (or a backup tool's) is a name for the same file."""
    target, spare = published_twice(settings)
    copy = target.with_name("mine.duckdb")
    os.link(spare, copy)
    before = snapshot_contents(copy)
    add_kpi(settings, "fcr")
    assert publish_next(settings, "w3").method == "updated"
    assert snapshot_contents(copy) == before and inode(target) != inode(copy)


def test_a_publication_carrying_a_withdrawal_keeps_no_spare(settings, no_compaction):
    """The withdrawn rows leave every file: the spare and the snapshot replaced are dropped."""
    target, spare = published_twice(settings)
    assert spare.exists()
    with connect(settings) as con:
        withdrawals.ensure_table(con)
        con.execute(
            "insert into meta.withdrawals (withdrawal_id, source, path, content_hash, reason, "
            "requested_by, requested_at, applied_at) values ('w-1', 'claims', "
            "'claims/claims_2026-10.csv', 'h', 'wrong month', 'ops', now(), now())"
        )
    second = inode(target)
    assert publish_next(settings, "w3").method == "updated"
    assert not spare.exists() and inode(target) != second
    add_kpi(settings, "fcr")  # the snapshot lists the withdrawal now: a spare again
    publish_next(settings, "w4")
    assert spare.exists() and stat.S_IMODE(spare.stat().st_mode) == 0o400


def test_a_file_system_without_hard_links_publishes_without_a_spare(
    settings, no_compaction, monkeypatch
):
    def refuse(*_args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(snapshot.os, "link", refuse)
    target, spare = settings.warehouse_path, spare_path(settings.warehouse_path)
    publish(settings)
    add_kpi(settings, "aht")
    assert publish_next(settings, "w2").method == "updated"
    assert not spare.exists()
    assert len(snapshot_contents(target)["rows"]["marts.fct_kpi_values"]) == 2
