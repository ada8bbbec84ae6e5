"""benchmarks/gate_profile.py: the gate's time split into its steps, on the real gate."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_gate_profile_splits_the_gate_time_of_each_source_into_its_steps(generated_raw):
    """The profile loads through the real gate: every row of the claims files is accounted
    for, each step the door takes shows up, and the steps add up to the wall time."""
    import csv
    import tempfile

    from benchmarks import gate_profile

    leftovers = set(Path(tempfile.gettempdir()).glob("opsvalue-gate-profile-*"))
    profiles = {p.source: p for p in gate_profile.profile(generated_raw, ["claims"])}

    assert set(profiles) == {"org_units", "org_aliases", "centers", "claims"}, "masters first"
    claims = profiles["claims"]
    delivered = 0
    for path in sorted((generated_raw / "claims").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            delivered += sum(1 for _ in csv.reader(fh)) - 1
    assert claims.files == len(list((generated_raw / "claims").glob("*.csv")))
    assert claims.rows_loaded + claims.rows_quarantined == delivered > 0
    for step in (
        gate_profile.SCAN,
        "stage (read_csv)",
        "judge (normalise, type, rules)",
        "write raw",
        "meta (ledger, counts, flags)",
        gate_profile.GX,
    ):
        assert claims.steps[step] > 0, step
    named = sum(v for k, v in claims.steps.items() if k != gate_profile.REST)
    assert named <= claims.wall_s + 0.01
    assert claims.steps[gate_profile.REST] == pytest.approx(claims.wall_s - named, abs=0.01)
    # the statements it could not place are few: the steps cover the door
    assert claims.steps.get(gate_profile.OTHER, 0) < 0.5 * claims.wall_s
    assert set(Path(tempfile.gettempdir()).glob("opsvalue-gate-profile-*")) == leftovers


def test_gate_profile_places_each_door_statement_in_its_step():
    from benchmarks.gate_profile import OTHER, step_of

    assert step_of("create or replace temp table _stage_rows as select * from read_csv('x')") == (
        "stage (read_csv)"
    )
    assert step_of('insert into raw."claims" by name select 1') == "write raw"
    assert step_of("insert into quarantine.claims by name select 1") == "write quarantine"
    assert step_of("create or replace temp table _checked as select 1") == (
        "judge (normalise, type, rules)"
    )
    assert step_of("delete from _checked where _row_number in (1)") == "judge: uniqueness"
    assert step_of('create table if not exists "raw"."claims" ("claim_id" varchar)') == (
        "create tables (and the checkpoint before)"
    )
    assert step_of("select 42") == OTHER


def test_gate_profile_refuses_to_overwrite_a_file_it_did_not_write(tmp_path, capsys):
    from benchmarks import gate_profile

    other = tmp_path / "results.json"
    other.write_text('{"benchmark": "run"}\n', encoding="utf-8")
    assert gate_profile.main(["--raw", str(tmp_path), "--json", str(other)]) == 2
    assert other.read_text(encoding="utf-8") == '{"benchmark": "run"}\n'
    assert "not a gate profile" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("mine", encoding="utf-8")
    assert gate_profile.main(["--raw", str(tmp_path), "--json", str(notes)]) == 2
    assert notes.read_text(encoding="utf-8") == "mine"
    # a profile it wrote before may be replaced
    earlier = tmp_path / "profile.json"
    earlier.write_text('{"raw": "x", "sources": []}', encoding="utf-8")
    assert gate_profile.foreign_json(earlier) is None
