"""benchmarks/bound.py: every row kept once (and typed once) and copied to a snapshot, checked
against the extracts read independently with Python's csv module."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from benchmarks import bound


def _read_csvs(folder: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            rows += list(csv.DictReader(fh))
    return rows


@pytest.fixture(scope="module")
def extracts(generated_raw: Path) -> dict[str, list[dict[str, str]]]:
    return {
        p.name: _read_csvs(p)
        for p in sorted(generated_raw.iterdir())
        if p.is_dir() and p.name[0] != "_" and any(p.glob("*.csv"))
    }


@pytest.mark.parametrize("design", bound.DESIGNS)
def test_bound_keeps_every_row_typed_as_the_contract_and_copies_it(
    design, generated_raw, extracts, tmp_path, monkeypatch
):
    from dagster_project.defs.ingest.rules import gx_process

    def no_gx(*_args):
        raise AssertionError("GX's process is no part of keeping rows")

    monkeypatch.setattr(gx_process, "check_suite", no_gx)
    result = bound.measure_bound(generated_raw, design, tmp_path)

    assert result.rows == {source: len(rows) for source, rows in extracts.items()}
    assert sum(result.rows.values()) > 1000
    expected_steps = {"checkpoint", "close"} | (
        {"write typed rows", "copy to the snapshot"}
        if design == "typed"
        else {"write raw text", "write the snapshot"}
    )
    assert set(result.steps_s) == expected_steps
    assert all(0 <= s < 120 for s in result.steps_s.values())
    assert 0 < result.snapshot_mb <= result.work_mb * 1.5

    contacts = extracts["contacts"]
    talk = sum(int(r["talk_sec"]) for r in contacts if r["talk_sec"].strip())
    claims = extracts["claims"]
    files = {f"contacts/{p.name}" for p in (generated_raw / "contacts").glob("*.csv")}
    with duckdb.connect(str(tmp_path / "snapshot.duckdb"), read_only=True) as con:
        # typed as the suite says, and the values are those delivered
        kinds = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'marts' and table_name = 'contacts'"
            ).fetchall()
        )
        assert kinds["talk_sec"] == "INTEGER" and kinds["arrived_at"] == "TIMESTAMP"
        assert kinds["contact_id"] == "VARCHAR"
        assert con.execute("select sum(talk_sec) from marts.contacts").fetchone()[0] == talk
        ids = {r[0] for r in con.execute("select contact_id from marts.contacts").fetchall()}
        assert ids == {r["contact_id"] for r in contacts}
        lineage = con.execute("select distinct _source_file from marts.contacts").fetchall()
        assert {r[0] for r in lineage} == files
        paid = con.execute("select sum(paid_amount) from marts.claims").fetchone()[0]
        assert paid == sum(Decimal(r["paid_amount"]) for r in claims if r["paid_amount"].strip())
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        assert tables == set(extracts)
    if design == "contract":
        with duckdb.connect(str(tmp_path / "work.duckdb"), read_only=True) as con:
            # raw holds the delivered text, as the warehouse's raw layer
            raw = dict(con.execute("select contact_id, arrived_at from raw.contacts").fetchall())
        assert raw == {r["contact_id"]: r["arrived_at"] for r in contacts}


def test_bound_reads_the_contract_types_the_gate_reads():
    from dagster_project.core.settings import get_settings
    from dagster_project.defs.ingest.rules.suite import load_suites

    expectations = get_settings().expectations_dir
    types = bound.contract_types(expectations)
    assert types == {source: suite.types for source, suite in load_suites(expectations).items()}
    assert types["contacts"]["talk_sec"] == "integer"


def test_bound_main_removes_what_it_made_and_refuses_a_missing_folder(
    generated_raw, tmp_path, capsys
):
    out = tmp_path / "bound.json"
    assert bound.main(["--raw", str(generated_raw), "--design", "typed", "--tmp", str(tmp_path),
                       "--json", str(out)]) == 0  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bound.json"]
    assert "bound (typed)" in capsys.readouterr().err
    assert '"design": "typed"' in out.read_text(encoding="utf-8")

    with pytest.raises(SystemExit) as exc:
        bound.main(["--raw", str(tmp_path / "nowhere"), "--design", "typed"])
    assert exc.value.code == 2
    assert "nowhere: no such folder" in capsys.readouterr().err


def test_bound_refuses_bad_input_with_a_clear_error_and_leaves_nothing(tmp_path, capsys):
    raw, scratch = tmp_path / "raw", tmp_path / "scratch"
    (raw / "claims").mkdir(parents=True)
    scratch.mkdir()
    argv = ["--raw", str(raw), "--design", "contract", "--tmp", str(scratch)]
    assert bound.main(argv) == 2
    assert f"bound: {raw}: no CSV extracts under {raw}" in capsys.readouterr().err

    (raw / "claims" / "claims_2024-01.csv").write_text(
        "claim_id,claimed_amount\nC1,12.50\nC2,not a number\n", encoding="utf-8"
    )
    assert bound.main(argv) == 2
    err = capsys.readouterr().err
    assert f"bound: {raw}:" in err and "not a number" in err
    assert not list(scratch.iterdir()), "its folder is removed after a failure too"


@pytest.mark.skipif(not Path("/usr/bin/time").exists(), reason="the harness measures with it")
def test_benchmark_only_bound_measures_the_floor_and_both_bounds(tmp_path):
    """`benchmarks.run --only-bound`: the floor and each bound in its own measured process, every
    delivered row kept (the dataset's own line count), nothing verified, nothing left behind."""
    import json
    import subprocess
    import sys

    from dagster_project.core.settings import PROJECT_ROOT

    out, workdir = tmp_path / "result.json", tmp_path / "work"
    argv = ["--scale", "0.002", "--months", "3", "--repeat", "1", "--only-bound"]
    argv += ["--workdir", str(workdir), "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *argv],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "(a') bound, contract" in done.stdout and "(b) full pipeline" not in done.stdout
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert set(doc["measurements"]) == {"floor", "bound.contract", "bound.typed"}
    assert doc["verified"] is None and doc["ok"] is True and not doc["verification"]
    for design in bound.DESIGNS:
        wall = doc["measurements"][f"bound.{design}"]["wall_s_median"]
        floor_wall = doc["measurements"]["floor"]["wall_s_median"]
        assert doc["ratios"][f"bound_{design}_over_floor"]["wall"] == pytest.approx(
            wall / floor_wall, rel=1e-3
        )
        steps = json.loads((workdir / "logs" / f"bound.{design}-1.json").read_text())
        assert steps["rows"] == doc["input"]["rows"]
        assert 0 < steps["wall_s"] <= wall
    assert not list((workdir / "runs").glob("opsvalue-bound-*"))
