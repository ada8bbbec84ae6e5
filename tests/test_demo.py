"""`opsvalue demo` end to end at a tiny scale: from an empty folder to a warehouse and a site."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dagster_project import cli
from dagster_project.cli import pipeline as pipeline_cli
from tests.conftest import make_workspace, point_settings_at

DEMO_TEST_SEED = 3


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


def test_demo_reports_failure_when_a_dbt_test_fails(tmp_path, monkeypatch, generated_raw, capsys):
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
    # the terminal says which step failed and why, and where the whole story is
    err = capsys.readouterr().err
    failed = [line for line in err.splitlines() if line.startswith("✗ ")]
    assert len(failed) == 1, err
    stage = failed[0].split()[1]
    assert f"run failed at {stage}" in err and "failed: " in err, err
    assert "dagster dev" in err, "and where the run's events are"
    log = Path(err.split("full log: ", 1)[1].split()[0])
    assert "STEP_FAILURE" in log.read_text(encoding="utf-8") or "ERROR" in log.read_text(
        encoding="utf-8"
    )


def test_demo_shows_a_line_per_stage_and_keeps_the_full_log_in_a_file(tmp_path):
    """`opsvalue demo` as typed: a short terminal, every dbt node in the log file it names."""
    from opsgen import generate

    ws = make_workspace(tmp_path)
    generate(out=ws.raw_dir, scale=0.003, months=3, seed=DEMO_TEST_SEED, progress=False)
    env = {
        **os.environ,
        "OPSVALUE_RAW_DIR": str(ws.raw_dir),
        "OPSVALUE_WAREHOUSE": str(ws.warehouse),
        "OPSVALUE_WORK_DB": str(ws.work_db),
        "OPSVALUE_SITE_DIR": str(ws.site_dir),
        "DAGSTER_HOME": str(ws.dagster_home),
        "OPSVALUE_LOG_DIR": str(tmp_path / "logs"),
    }
    result = subprocess.run(
        [str(Path(sys.executable).parent / "opsvalue"), "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    terminal = (result.stderr + result.stdout).splitlines()
    assert result.returncode == 0, "\n".join(terminal)
    assert len(terminal) < 40, "\n".join(terminal)
    for stage in ("ingest", "dbt", "checks", "publication", "site"):
        assert any(line.startswith(f"✓ {stage} ") for line in terminal), stage
    assert not any(" of 1" in line and "START" in line for line in terminal), "no dbt node lines"
    logs = list((tmp_path / "logs").glob("*.log"))
    assert len(logs) == 1 and f"full log: {logs[0]}" in terminal
    log = logs[0].read_text(encoding="utf-8")
    # the detail: Dagster's log lines and dbt's, node by node
    assert "START sql table model marts.fct_kpi_values" in log or "fct_kpi_values" in log
    assert sum(" START " in line for line in log.splitlines()) > 50
    assert "raw_extracts - loaded claims/" in log


@pytest.mark.parametrize("argv", [["generate", "--scale", "-1"], ["generate", "--months", "0"]])
def test_generate_rejects_nonsense_arguments(argv, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main([*argv, "--out", str(tmp_path)])
    assert "must be" in capsys.readouterr().err
