"""The ingestion loads sources two at a time, and what it writes is what one at a time wrote.

`raw_extracts` loads the masters first, alone, then the other sources `OPSVALUE_INGEST_WORKERS`
at a time, each on a DuckDB connection of its own (`assets._load_sources`). These tests run the
real asset by Dagster on generated extracts with defects, once with one worker and once with
two, and compare every table the ingestion writes, value by value.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.core.resources import WAREHOUSE, Warehouse
from dagster_project.defs.ingest import assets
from dagster_project.defs.ingest.rules.suite import PARAMETER_PROVIDERS
from tests.conftest import make_workspace, point_settings_at

EXTRACTED = "2026-11-01 00:00:00"  # the generator's extraction moment for end_month 2026-10
RESOURCES = {WAREHOUSE: Warehouse()}
# what differs between two loads of the same bytes by design: when, the batch's nonce, and the
# ledger's sequence number (two sources at once take turns; each source's files keep their order,
# compared below)
VOLATILE = {"_batch_id", "_loaded_at", "_quarantined_at", "batch_id", "loaded_at", "run_id",
            "recorded_at", "file_id", "kept_copy", "mtime_ns", "ledger_id", "last_loaded_at",
            "validated_at", "updated_at", "since", "gx_seconds", "first_seen_at", "_released_at",
            "_released_by_batch_id", "validation_id", "batch_ids"}  # fmt: skip


class Calls:
    """`ingest_source` wrapped: which source ran on which thread, when, and how many at once.

    With `hold`, the first call waits (up to 20 s) until a second one is under way: the loads can
    only overlap if the asset really runs two at a time, whatever the machine's speed."""

    def __init__(self, hold: bool) -> None:
        self.lock = threading.Lock()
        self.second = threading.Event()
        self.hold = hold
        self.in_flight = 0
        self.most_in_flight = 0
        self.spans: dict[str, tuple[float, float, str]] = {}
        self.real = assets.ingest_source

    def __call__(self, con, source, *args, **kwargs):
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            if self.in_flight >= 2:
                self.second.set()
        started = time.perf_counter()
        try:
            if self.hold and source not in PARAMETER_PROVIDERS:
                self.second.wait(timeout=20)
            return self.real(con, source, *args, **kwargs)
        finally:
            with self.lock:
                self.in_flight -= 1
                self.spans[source] = (started, time.perf_counter(), threading.current_thread().name)


def _load(ws_root: Path, extracts: Path, workers: str, calls: Calls) -> dg.ExecuteInProcessResult:
    ws = make_workspace(ws_root)
    shutil.copytree(extracts, ws.raw_dir)
    point_settings_at(ws)
    os.environ["OPSVALUE_NOW"] = EXTRACTED
    os.environ["OPSVALUE_INGEST_WORKERS"] = workers
    mp = pytest.MonkeyPatch()
    mp.setattr(assets, "ingest_source", calls)
    try:
        return dg.materialize([assets.raw_extracts], resources=RESOURCES, raise_on_error=False)
    finally:
        mp.undo()
        os.environ.pop("OPSVALUE_NOW", None)


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from opsgen import generate

    out = tmp_path_factory.mktemp("extracts") / "raw"
    generate(out=out, scale=0.01, months=6, seed=23, defects=0.02, progress=False)
    return out


@pytest.fixture(scope="module")
def loads(tmp_path_factory, extracts) -> Iterator[dict]:
    """The same extracts loaded one source at a time and two at a time."""
    out = {}
    saved = dict(os.environ)
    try:
        for workers in ("1", "2"):
            calls = Calls(hold=workers == "2")
            root = tmp_path_factory.mktemp(f"workers{workers}")
            result = _load(root, extracts, workers, calls)
            out[workers] = (result, calls, make_workspace(root).work_db)
        out["raw"] = extracts  # the same files each load copied
    finally:
        os.environ.clear()
        os.environ.update(saved)
    yield out


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_schema in ('raw', 'quarantine', 'meta') and table_type = 'BASE TABLE' "
        "order by 1"
    ).fetchall()
    return [r[0] for r in rows]


def _content(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    columns = [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema || '.' || table_name = ? order by ordinal_position",
            [table],
        ).fetchall()
        if r[0] not in VOLATILE
    ]
    cols = ", ".join(f'"{c}"' for c in columns)
    return con.execute(f"select {cols} from {table} order by all").fetchall()


def test_both_loads_succeed_and_two_sources_ran_at_once(loads):
    (one, calls_one, _), (two, calls_two, _) = loads["1"], loads["2"]
    assert one.success and two.success
    assert calls_one.most_in_flight == 1
    assert calls_two.most_in_flight == 2
    assert len({thread for _, _, thread in calls_two.spans.values()}) >= 2
    # the masters ran alone, before any other source started
    others = [s for s in calls_two.spans if s not in PARAMETER_PROVIDERS]
    first_other = min(calls_two.spans[s][0] for s in others)
    for master in PARAMETER_PROVIDERS & calls_two.spans.keys():
        assert calls_two.spans[master][1] <= first_other, master
    assert set(calls_one.spans) == set(calls_two.spans)
    assert len(others) >= 10
    # the two largest sources started first (the pool takes them in `largest_first` order; the
    # later ones start after setup steps of their own, so their order is not compared)
    expected = assets.largest_first(loads["raw"], others)
    started = sorted(others, key=lambda s: calls_two.spans[s][0])
    assert set(started[:2]) == set(expected[:2])


def test_largest_first_orders_sources_by_the_bytes_of_their_extract_files(tmp_path) -> None:
    raw = tmp_path / "raw"
    sizes = {"claims": [300, 300], "tasks": [1000], "complaints": [10], "rpa_runs": [], "hr": [10]}
    for source, files in sizes.items():
        (raw / source).mkdir(parents=True)
        for i, size in enumerate(files):
            (raw / source / f"{source}_2026-0{i + 1}.csv").write_bytes(b"x" * size)
    # not an extract's name: not counted
    (raw / "complaints" / "notes.txt").write_bytes(b"x" * 5000)
    names = ["complaints", "claims", "hr", "missing", "rpa_runs", "tasks"]
    # ties (and folders with nothing, or none at all) by name
    assert assets.largest_first(raw, names) == [
        "tasks", "claims", "complaints", "hr", "missing", "rpa_runs",
    ]  # fmt: skip


def test_every_table_holds_the_same_rows_either_way(loads):
    one = duckdb.connect(str(loads["1"][2]), read_only=True)
    two = duckdb.connect(str(loads["2"][2]), read_only=True)
    try:
        assert _tables(one) == _tables(two)
        compared = 0
        for table in _tables(one):
            rows_one, rows_two = _content(one, table), _content(two, table)
            assert rows_one == rows_two, table
            compared += len(rows_one)
        # each source's file versions in the same order
        order = "select source, path from meta.file_ledger order by source, ledger_id"
        assert one.execute(order).fetchall() == two.execute(order).fetchall()
        # plausibility: the comparison covered the data, defects included, not empty tables
        raw = one.execute("select count(*) from raw.claims").fetchone()[0]
        quarantined = one.execute("select count(*) from quarantine.claims").fetchone()[0]
        assert raw > 1000 and quarantined > 0
        assert compared > 10 * raw
    finally:
        one.close()
        two.close()


def test_the_ledger_balances_file_by_file(loads):
    con = duckdb.connect(str(loads["2"][2]), read_only=True)
    try:
        files = con.execute(
            "select source, path, rows_delivered, rows_loaded, rows_quarantined "
            "from meta.file_ledger where status = 'loaded'"
        ).fetchall()
        assert len(files) > 20
        for source, path, delivered, loaded, quarantined in files:
            in_raw = con.execute(
                f"select count(*) from raw.{source} where _source_file = ?", [path]
            ).fetchone()[0]
            assert in_raw == loaded, path
            assert delivered == loaded + quarantined, path
    finally:
        con.close()


def test_a_source_that_fails_fails_the_run_and_leaves_nothing_half_loaded(
    tmp_path, extracts
) -> None:
    calls = Calls(hold=False)
    real = calls.real

    def failing(con, source, *args, **kwargs):
        if source == "claims":
            raise RuntimeError("claims: the disk went away")
        return real(con, source, *args, **kwargs)

    calls.real = failing
    result = _load(tmp_path, extracts, "2", calls)
    assert not result.success
    failure = result.get_asset_materialization_events()  # what was loaded before the failure
    assert "claims" not in {e.asset_key.path[-1] for e in failure}
    errors = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert errors and "the disk went away" in str(errors[0].event_specific_data.error)
    con = duckdb.connect(str(make_workspace(tmp_path).work_db), read_only=True)
    try:
        assert con.execute("select count(*) from raw.claims").fetchone()[0] == 0
        # every file a source did load is whole: its rows in raw are what its ledger row says
        for source, path, loaded in con.execute(
            "select source, path, rows_loaded from meta.file_ledger where status = 'loaded'"
        ).fetchall():
            in_raw = con.execute(
                f"select count(*) from raw.{source} where _source_file = ?", [path]
            ).fetchone()[0]
            assert in_raw == loaded, path
    finally:
        con.close()


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_worker_count_is_refused_by_name(value) -> None:
    from dagster_project.core.settings import get_settings

    os.environ["OPSVALUE_INGEST_WORKERS"] = value
    with pytest.raises(ValueError, match="OPSVALUE_INGEST_WORKERS must be a whole number"):
        get_settings()
