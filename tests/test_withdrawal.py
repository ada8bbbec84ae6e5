"""Withdrawing delivered files through the whole pipeline: the published numbers become those of a
run that never had them, and a file simply deleted is reported, not silently dropped or kept."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest

from dagster_project import cli
from dagster_project.core.runner import run_pipeline
from dagster_project.core.settings import get_settings
from tests.conftest import copy_workspace, deliver, point_settings_at
from tests.test_refresh import assert_same_kpis, kpis

# heavy: many whole-pipeline runs; started first when the suite runs on two processes
# (tests/conftest.py)
pytestmark = pytest.mark.heavy

REASON = "sent a day early by mistake"


def month_inputs(path) -> dict[tuple, str]:
    """(metric, month) -> the fingerprint of its inputs (what fct_kpi_values recomputes on)."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "select metric_name, period_start, input_digest "
            "from intermediate.int_kpi_months_fingerprinted"
        ).fetchall()
    return {(name, month): digest for name, month, digest in rows}


def rows_of(path, table: str, files: list[str]) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            f"select count(*) from {table} where _source_file in (select unnest(?))", [files]
        ).fetchone()[0]


def break_first_row(path) -> None:
    """The first data row's report time no timestamp: the gate quarantines that row."""
    header, first, *rest = path.read_text().splitlines()
    names = header.split(",")
    values = first.split(",")
    values[names.index("reported_at")] = "not a time"
    path.write_text("\n".join([header, ",".join(values), *rest]) + "\n")


def test_withdrawing_the_days_files_publishes_what_a_run_without_them_published(
    loaded_but_last_day, tmp_path, capsys
):
    base, delivery = loaded_but_last_day
    ws = copy_workspace(base, tmp_path / "ws")
    point_settings_at(ws)
    never_had = kpis(base.warehouse)  # the run that never had the day's files
    delivered = deliver(delivery, ws)
    claims_day = f"claims/{delivery.files['claims'].name}"
    break_first_row(ws.raw_dir / claims_day)
    assert run_pipeline(get_settings())
    with_day = kpis(ws.warehouse)
    assert with_day != never_had
    assert rows_of(ws.warehouse, "marts.fct_claims", delivered) > 0
    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
        (held,) = con.execute(
            "select count(*) from quarantine.claims where _source_file = ? "
            "and _released_at is null",
            [claims_day],
        ).fetchone()
    assert held == 1
    digests = month_inputs(ws.work_db)

    for path in delivered:
        assert cli.main(["withdraw", path, "--reason", REASON, "--by", "ops.lead"]) == 0
    assert "leave the warehouse at the next run" in capsys.readouterr().out
    assert kpis(ws.warehouse) == with_day, "nothing changes before the next run"
    assert cli.main(["status"]) == 0
    assert "withdrawal waiting for the next run" in capsys.readouterr().out
    assert run_pipeline(get_settings())

    # the published numbers are those of the run that never had the files
    assert_same_kpis(kpis(ws.warehouse), never_had)
    for table in ("raw.claims", "raw.tasks"):
        assert rows_of(ws.work_db, table, delivered) == 0, table
    for table in ("marts.fct_claims", "marts.fct_contacts", "marts.fct_tasks"):
        assert rows_of(ws.warehouse, table, delivered) == 0, table
    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
        withdrawn = con.execute(
            "select path, message from meta.file_ledger where status = 'withdrawn' order by path"
        ).fetchall()
        released = con.execute(
            "select _release_reason from quarantine.claims where _source_file = ?", [claims_day]
        ).fetchall()
        recorded = con.execute(
            "select path, requested_by, reason from meta.withdrawals where applied_at is not null "
            "order by path"
        ).fetchall()
    assert [path for path, _ in withdrawn] == delivered
    assert all("ops.lead" in message and REASON in message for _, message in withdrawn)
    assert released == [("file withdrawn",)]
    assert recorded == [(path, "ops.lead", REASON) for path in delivered]

    # the months the files fed were recomputed: their input fingerprint changed, no other did
    after = month_inputs(ws.work_db)
    moved = {key[1] for key, digest in digests.items() if after.get(key) != digest}
    day_month = date.fromisoformat(delivery.day).replace(day=1)
    late_month = (day_month - timedelta(days=1)).replace(day=1)
    assert moved == {late_month, day_month}

    # the withdrawn bytes stay in the delivery folder and out of the warehouse
    assert all((ws.raw_dir / path).is_file() for path in delivered)
    assert run_pipeline(get_settings())
    assert rows_of(ws.work_db, "raw.claims", delivered) == 0


def test_a_deleted_file_stays_published_and_is_reported_until_it_is_withdrawn(
    loaded_but_last_day, tmp_path, capsys
):
    base, _ = loaded_but_last_day
    ws = copy_workspace(base, tmp_path / "ws")
    point_settings_at(ws)
    before = kpis(ws.warehouse)
    month = sorted((ws.raw_dir / "complaints").glob("complaints_*.csv"))[-2]
    path = f"complaints/{month.name}"
    month.unlink()

    assert cli.main(["run"]) == 0
    out = capsys.readouterr()
    assert kpis(ws.warehouse) == before, "a deletion is not a withdrawal"
    assert rows_of(ws.warehouse, "marts.fct_complaints", [path]) > 0
    assert "missing, still published" in out.err and path in out.err
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "missing, still published" in out and path in out and "opsvalue withdraw" in out
    assert cli.main(["status", "--json"]) == 0
    assert f'"path": "{path}"' in capsys.readouterr().out

    assert cli.main(["withdraw", path, "--reason", "sent to the wrong warehouse"]) == 0
    assert cli.main(["run"]) == 0
    assert "missing, still published" not in capsys.readouterr().err
    assert rows_of(ws.warehouse, "marts.fct_complaints", [path]) == 0
    assert kpis(ws.warehouse) != before


def test_withdraw_refuses_what_it_cannot_do_and_writes_nothing(
    loaded_but_last_day, tmp_path, capsys
):
    base, _ = loaded_but_last_day
    ws = copy_workspace(base, tmp_path / "ws")
    point_settings_at(ws)
    path = f"claims/{sorted((ws.raw_dir / 'claims').glob('claims_*.csv'))[0].name}"
    for argv, code, says in (
        (["claims/none.csv", "--reason", "x"], 2, "not in the file ledger"),
        (["../etc/passwd", "--reason", "x"], 2, "is not <source>/<file>"),
        (["etc/passwd", "--reason", "x"], 2, "no source named"),
        ([path, "--reason", " "], 2, "needs a reason"),
        ([path, "--reason", "[bold]x" * 100], 2, "longer than"),
    ):
        assert cli.main(["withdraw", *argv]) == code
        assert says in capsys.readouterr().err
    with duckdb.connect(str(ws.work_db), read_only=True) as con:
        assert con.execute("select count(*) from meta.withdrawals").fetchone()[0] == 0

    ws.work_db.rename(ws.work_db.with_name("elsewhere.duckdb"))
    assert cli.main(["withdraw", path, "--reason", "x"]) == 1
    assert "opsvalue rebuild" in capsys.readouterr().err
