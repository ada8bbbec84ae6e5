"""The benchmark harness (benchmarks/): a smoke run at a tiny scale, and its pure helpers.

The smoke run only shows the harness works end to end (every measurement taken, the floor equal
to the pipeline); its timings mean nothing at this scale and are not the suite's concern.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from benchmarks import floor
from benchmarks.measure import GNU_TIME, TimeReport, parse_elapsed, parse_time_report
from benchmarks.run import MEASUREMENTS
from dagster_project.core.settings import PROJECT_ROOT

# heavy: many whole-pipeline runs; started first when the suite runs on two processes
# (tests/conftest.py)
pytestmark = pytest.mark.heavy

SMOKE_ARGS = ["--scale", "0.002", "--months", "3", "--repeat", "1", "--bound"]
needs_gnu_time = pytest.mark.skipif(
    not Path(GNU_TIME).exists(), reason=f"the harness measures with {GNU_TIME}"
)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """One run of `python -m benchmarks.run` at a tiny scale: its JSON and its workdir."""
    root = tmp_path_factory.mktemp("bench")
    out, workdir = root / "result.json", root / "work"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *SMOKE_ARGS]
        + ["--workdir", str(workdir), "--out", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "(b) full pipeline" in done.stdout, "the table is printed"
    return json.loads(out.read_text(encoding="utf-8")), workdir


@pytest.mark.slow
@needs_gnu_time
def test_bench_smoke_run_measures_every_step_with_time_and_memory(smoke):
    result, _ = smoke
    assert result["ok"] and result["error"] is None
    assert set(result["measurements"]) == set(MEASUREMENTS)
    for name, measurement in result["measurements"].items():
        assert len(measurement["runs"]) == 1, name
        run = measurement["runs"][0]
        assert run["wall_s"] > 0 and run["cpu_s"] > 0 and run["peak_rss_mb"] > 0, name
        assert run["tree_peak_rss_mb"] >= run["peak_rss_mb"], name
        assert measurement["wall_s_median"] == run["wall_s"], name
    for pair in ("full_over_floor", "refresh_over_full", "record_over_full", "stages_over_full"):
        for resource in ("wall", "cpu", "peak_rss"):
            assert result["ratios"][pair][resource] > 0, (pair, resource)
    env = result["environment"]
    assert env["cores"] >= 1 and env["memory_gb"] > 0 and env["git_commit"]
    assert all(env["versions"][p] for p in ("duckdb", "dbt-core", "dagster"))
    inputs = result["input"]
    assert inputs["rows_total"] > 0 and inputs["bytes_total"] > 0
    assert date.fromisoformat(inputs["last_day"]) and inputs["day_rows"] > 0


@pytest.mark.slow
@needs_gnu_time
def test_bench_smoke_run_floor_equals_full_pipeline_and_refresh(smoke):
    result, _ = smoke
    assert result["verified"]
    assert set(result["verification"]) == {"full", "refresh"}
    for name, outcome in result["verification"].items():
        assert outcome["ok"], (name, outcome)
        assert outcome["matched_rows"] == outcome["floor_rows"] == outcome["pipeline_rows"] > 0


@pytest.mark.slow
@needs_gnu_time
def test_bench_record_step_publishes_exactly_its_one_new_claim(smoke):
    _, workdir = smoke
    warehouse = workdir / "runs" / "stages" / "warehouse" / "opsvalue.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select claim_id from marts.fct_claims where claim_id like 'CLM9%'"
        ).fetchall()
        ledger = con.execute(
            "select count(*) from meta.file_ledger"
            " where path like '%zz_one_record%' and status = 'loaded'"
        ).fetchone()
    assert rows == [("CLM9000000001",)]
    assert ledger == (1,)


@pytest.mark.slow
@needs_gnu_time
def test_floor_verify_reports_rows_that_differ_or_are_missing(smoke, tmp_path):
    _, workdir = smoke
    result = workdir / "runs" / "floor" / "floor_kpis.parquet"
    warehouse = workdir / "runs" / "full" / "warehouse" / "opsvalue.duckdb"
    changed = tmp_path / "changed.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"""
            copy (
                select * replace (
                    case when rank = 1 then value + 1 else value end as value
                )
                from (
                    select
                        *,
                        row_number() over (order by {", ".join(floor.KEY)}) as rank
                    from '{result}'
                )
                where rank <> 2
            ) to '{changed}' (format parquet)
            """
        )
    report = tmp_path / "report.json"
    argv = ["--raw", str(workdir / "raw"), "--result", str(changed), "--verify", str(warehouse)]

    assert floor.main([*argv, "--report", str(report)]) == 1

    outcome = json.loads(report.read_text(encoding="utf-8"))
    assert not outcome["ok"]
    assert (outcome["differing"], outcome["only_pipeline"], outcome["only_floor"]) == (1, 1, 0)


def test_parse_time_report_reads_wall_clock_peak_rss_and_status():
    report = (
        '\tCommand being timed: "opsvalue run"\n'
        "\tUser time (seconds): 12.50\n"
        "\tSystem time (seconds): 1.25\n"
        "\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02:03\n"
        "\tMaximum resident set size (kbytes): 524288\n"
        "\tExit status: 0\n"
    )
    assert parse_time_report(report) == TimeReport(
        wall_s=3723.0, cpu_s=13.75, peak_rss_mb=512.0, exit_status=0
    )
    assert parse_elapsed("0:28.45") == pytest.approx(28.45)


def test_parse_time_report_rejects_other_text():
    with pytest.raises(RuntimeError, match="GNU time"):
        parse_time_report("real 0m1.2s")


def test_content_duplicates_counts_what_each_rule_does(generated_raw, tmp_path):
    """Copies under new ids: an answered contact's is quarantined, an unanswered contact's and
    an NPS response's flagged; before, every one was quarantined."""
    import csv
    import io
    import shutil

    from benchmarks.content_duplicates import measure

    raw = tmp_path / "raw"
    expected = {"contacts": {"quarantined": 0, "flagged": 0}, "nps_responses": {"flagged": 0}}
    for source, key in (("contacts", "contact_id"), ("nps_responses", "response_id")):
        shutil.copytree(generated_raw / source, raw / source)
        path = sorted((raw / source).glob("*.csv"))[-1]
        header, *body = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        out = [header]
        unanswered_copied = False
        for i, row in enumerate(body):
            out.append(row)
            answered = source == "contacts" and bool(row[header.index("answered_at")])
            # a copy of every 50th row, next to it, under a new id, and of the first unanswered
            # contact (which row is every 50th depends on how the generator orders the file)
            first_unanswered = source == "contacts" and not answered and not unanswered_copied
            if i % 50 == 0 or first_unanswered:
                out.append([f"{v}R" if c == key else v for c, v in zip(header, row, strict=True)])
                expected[source]["quarantined" if answered else "flagged"] += 1
                unanswered_copied = unanswered_copied or (source == "contacts" and not answered)
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(out)
        path.write_text(text.getvalue(), encoding="utf-8")
    assert expected["contacts"]["quarantined"] and expected["contacts"]["flagged"]

    found = measure([raw])
    for source, outcomes in expected.items():
        repeats = sum(outcomes.values())
        assert found[source].repeats == found[source].before_quarantined == repeats
        assert {k: v for k, v in found[source].now.items() if v} == {
            k: v for k, v in outcomes.items() if v
        }
    assert found["claims"].rows == 0, "a source with no folder counts nothing"
