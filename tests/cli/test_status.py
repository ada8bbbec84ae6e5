"""`opsvalue status` on warehouses in various states (no run yet, a held source)."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb

from dagster_project import cli
from dagster_project.defs.checks.kpi_checks import Finding
from dagster_project.defs.ingest.gate_state import ensure_tables, refresh_stale_metrics
from dagster_project.defs.publish import records
from tests.conftest import make_workspace, point_settings_at


def test_status_without_a_warehouse_says_what_to_do(tmp_path, capsys):
    point_settings_at(make_workspace(tmp_path))
    assert cli.main(["status"]) == 1
    assert "opsvalue demo" in capsys.readouterr().err


def test_status_shows_held_sources_and_stale_metrics(tmp_path, capsys):
    ws = make_workspace(tmp_path)
    point_settings_at(ws)
    ws.work_db.parent.mkdir(parents=True)
    with duckdb.connect(str(ws.work_db)) as con:
        ensure_tables(con)
        records.ensure_table(con)
        con.execute(
            "insert into meta.source_gate_state (source, data_owner, state, check_name, reason, "
            "since, last_file, last_loaded_at, is_stale, open_quarantine_rows) values "
            "('claims', 'claims', 'held', 'columns', 'claims/c.csv: missing required column(s) "
            "org_code', ?, 'claims/c.csv', ?, false, 3), "
            "('tasks', 'operations', 'ok', null, null, null, 'tasks/t.csv', ?, false, 0)",
            [datetime(2026, 11, 2, 8), datetime(2026, 11, 1, 8), datetime(2026, 11, 2, 8)],
        )
        con.execute("insert into meta.publication values (?, 'r', 1, 1)", [datetime(2026, 11, 2)])
        # the metric catalog says which sources each metric draws on
        con.execute("create schema marts")
        con.execute(
            "create table marts.dim_metric_catalog as select * from (values "
            "('claims_auto_rate', 'claims'), ('task_sla_rate', 'tasks')) "
            "as t(metric_name, source_systems)"
        )
        refresh_stale_metrics(con)
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "held" in out and "columns" in out and "missing required column(s) org_code" in out
    assert "claims_auto_rate" in out and "2026-11-02 00:00" in out
    assert cli.main(["status", "--json"]) == 0
    assert '"state": "held"' in capsys.readouterr().out


def test_status_without_the_working_database_shows_the_publication_and_says_rebuild(
    tmp_path, capsys
):
    ws = make_workspace(tmp_path)
    point_settings_at(ws)
    ws.warehouse.parent.mkdir(parents=True)
    with duckdb.connect(str(ws.warehouse)) as con:
        ensure_tables(con)
        records.ensure_table(con)
        con.execute("insert into meta.publication values (?, 'r', 1, 1)", [datetime(2026, 11, 2)])
    assert cli.main(["status"]) == 0
    out = capsys.readouterr()
    assert "is missing" in out.err and "opsvalue rebuild" in out.err
    assert "2026-11-02 00:00" in out.out


def test_status_names_the_check_that_holds_a_kpi_back(tmp_path, capsys):
    from dagster_project.defs.checks import holds

    ws = make_workspace(tmp_path)
    point_settings_at(ws)
    ws.work_db.parent.mkdir(parents=True)
    with duckdb.connect(str(ws.work_db)) as con:
        ensure_tables(con)
        records.ensure_table(con)
        con.execute(
            "insert into meta.source_gate_state (source, data_owner, state, is_stale, "
            "open_quarantine_rows) values ('claims', 'claims', 'ok', false, 0)"
        )
        findings = [
            Finding("claims_cycle_time_days", "2026-10-01", "center", "C-CL", "value 400 outside"),
            Finding("claims_auto_rate", "2026-09-01", "group", "GRP", "group 61, subsidiaries 60"),
        ]
        bounds = holds.holds_from_findings("values_within_plausible_bounds", findings[:1])
        holds.record_holds(con, "values_within_plausible_bounds", bounds, datetime(2026, 11, 2))
        sums = holds.holds_from_findings("group_reconciles_with_subsidiaries", findings[1:], True)
        holds.record_holds(con, "group_reconciles_with_subsidiaries", sums, datetime(2026, 11, 3))
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "KPIs held back by checks" in out
    for words in (
        "values_within_plausible_bounds",
        "claims_cycle_time_days",
        "center C-CL",
        "2026-10: value 400 outside",
        "group_reconciles_with_subsidiaries",
        "every unit",
        "2026-11-03 00:00",
    ):
        assert words in out, words
    assert cli.main(["status", "--json"]) == 0
    held = json.loads(capsys.readouterr().out)["held_kpis"]
    assert {(h["check_name"], h["metric_name"], h["org_code"]) for h in held} == {
        ("values_within_plausible_bounds", "claims_cycle_time_days", "C-CL"),
        ("group_reconciles_with_subsidiaries", "claims_auto_rate", None),
    }


def test_status_says_when_no_kpi_is_held(tmp_path, capsys):
    ws = make_workspace(tmp_path)
    point_settings_at(ws)
    ws.work_db.parent.mkdir(parents=True)
    with duckdb.connect(str(ws.work_db)) as con:
        ensure_tables(con)
    assert cli.main(["status"]) == 0
    assert "KPIs held back by checks: none" in capsys.readouterr().out
