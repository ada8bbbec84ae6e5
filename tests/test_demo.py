"""`opsvalue demo` end to end at a tiny scale: from an empty folder to a warehouse and a site."""

from __future__ import annotations

import duckdb
import pytest

from dagster_project import cli
from dagster_project.cli import pipeline as pipeline_cli
from tests.conftest import make_workspace, point_settings_at


def snapshot(ws) -> dict:
    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
        published = {
            "ledger": con.execute("select * from meta.file_ledger order by ledger_id").fetchall(),
            "kpis": con.execute("select * from marts.fct_kpi_values order by all").fetchall(),
            "publications": con.execute("select * from meta.publication order by all").fetchall(),
        }
    with duckdb.connect(str(ws.work_db), read_only=True) as con:
        return {
            **published,
            "state": con.execute("select * from meta.pipeline_state order by all").fetchall(),
            "raw_claims": con.execute("select count(*) from raw.claims").fetchone()[0],
        }


def test_demo_generates_builds_and_second_run_changes_nothing(tmp_path, monkeypatch, capsys):
    ws = make_workspace(tmp_path)
    point_settings_at(ws)
    monkeypatch.setattr(pipeline_cli, "DEMO_SCALE", 0.003)
    monkeypatch.setattr(pipeline_cli, "DEMO_MONTHS", 3)

    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    index = ws.site_dir / "index.html"
    assert index.exists() and ws.warehouse.exists()
    assert str(index) in out and str(ws.warehouse) in out and "dagster dev" in out
    first = snapshot(ws)
    assert first["raw_claims"] > 0 and len(first["kpis"]) > 0
    index_mtime = index.stat().st_mtime_ns

    assert cli.main(["demo"]) == 0
    second = snapshot(ws)
    assert second == first, "a second run with no new files must change nothing"
    # dbt was skipped, so the site asset did not run either
    assert index.stat().st_mtime_ns == index_mtime


def test_demo_reports_failure_when_a_dbt_test_fails(tmp_path, monkeypatch, generated_raw):
    """A broken extract that gets past the source gate fails the run loudly instead of
    publishing numbers built on it: the dbt tests are the second gate. (With the real suite the
    duplicate is quarantined at the door: tests/defs/ingest/test_assets.py.)"""
    import json
    import shutil

    from dagster_project.core.settings import get_settings

    ws = make_workspace(tmp_path)
    shutil.copytree(generated_raw, ws.raw_dir)
    claims = sorted((ws.raw_dir / "claims").glob("*.csv"))[0]
    lines = claims.read_text(encoding="utf-8").splitlines(keepends=True)
    claims.write_text("".join(lines + [lines[1]]), encoding="utf-8")  # a duplicate claim_id
    suites = tmp_path / "expectations"
    shutil.copytree(get_settings().expectations_dir, suites)
    suite = json.loads((suites / "claims.json").read_text(encoding="utf-8"))
    suite["expectations"] = [  # a suite that forgot the uniqueness rules
        e
        for e in suite["expectations"]
        if e["type"]
        not in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")
    ]
    (suites / "claims.json").write_text(json.dumps(suite), encoding="utf-8")
    monkeypatch.setenv("OPSVALUE_EXPECTATIONS_DIR", str(suites))
    point_settings_at(ws)
    assert cli.main(["demo"]) == 1
    assert not (ws.site_dir / "index.html").exists()


@pytest.mark.parametrize("argv", [["generate", "--scale", "-1"], ["generate", "--months", "0"]])
def test_generate_rejects_nonsense_arguments(argv, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main([*argv, "--out", str(tmp_path)])
    assert "must be" in capsys.readouterr().err
