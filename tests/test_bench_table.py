"""benchmarks/table.py: the README's benchmark table, copied from benchmarks.run's result files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import table

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def _run(wall: float, peak_mb: float, tree_mb: float | None = None) -> dict:
    return {
        "wall_s_median": wall,
        "cpu_s_median": wall * 1.5,
        "peak_rss_mb_median": peak_mb,
        "tree_peak_rss_mb_median": tree_mb if tree_mb is not None else peak_mb,
        "runs": [],
    }


def _result(scale: float, **overrides: object) -> dict:
    result = {
        "scale": scale,
        "started_at": "2026-12-07T06:33:00",
        "repeat": 3,
        "environment": {"git_commit": "427f9270000", "git_dirty": False},
        "input": {"rows_total": 17_360_000, "bytes_total": 1_970_000_000},
        "measurements": {
            # the tree's peak differs from the largest process's everywhere: a cell taking
            # one for the other shows
            "floor": _run(4.71, 770.0, 771.0),
            "full": _run(146.44, 4090.0, 4400.0),
            "stage.ingest": _run(96.04, 4080.0, 4390.0),
            "stage.dbt": _run(58.46, 2710.0, 3010.0),
            "stage.publication": _run(15.12, 1280.0, 1310.0),
            "stage.site": _run(7.66, 530.0, 890.0),
            "refresh": _run(31.63, 1220.0, 1690.0),
            "record": _run(28.41, 990.0, 1480.0),
        },
        "ratios": {
            "full_over_floor": {"wall": 31.0913},
            "refresh_over_full": {"wall": 0.21599},
            "record_over_full": {"wall": 0.19401},
        },
        "verification": {
            "full": {
                "matched_rows": 16056,
                "floor_rows": 16056,
                "only_floor": 0,
                "only_pipeline": 0,
                "differing": 0,
                "error": None,
            },
            # as benchmarks/floor.py counts: matched = equal + differing, floor = matched +
            # only in the floor
            "refresh": {
                "matched_rows": 16050,
                "floor_rows": 16056,
                "pipeline_rows": 16052,
                "only_floor": 6,
                "only_pipeline": 2,
                "differing": 30,
                "error": None,
            },
        },
    }
    result.update(overrides)
    return result


def _cells(markdown: str) -> dict[str, list[str]]:
    rows = [line.strip("|").split(" | ") for line in markdown.splitlines()[2:]]
    return {row[0].strip(): [c.strip() for c in row[1:]] for row in rows}


def test_every_cell_is_the_result_files_number() -> None:
    markdown = table.render([_result(1), _result(3, repeat=1)])
    header = markdown.splitlines()[0]
    assert header == "| step (wall s / peak GB) | scale 1 | scale 3 |"
    cells = _cells(markdown)
    assert cells["commit, day, runs (medians)"] == [
        "`427f927`, 2026-12-07, 3 run(s)",
        "`427f927`, 2026-12-07, 1 run(s)",
    ]
    assert cells["input: rows / GB of CSV"][0] == "17.4M / 1.97"
    assert cells["(a) floor"][0] == "4.7 / 0.77"
    assert cells["(b) full pipeline"][0] == "146.4 / 4.09"
    assert cells["(b) peak GB of the whole process tree"][0] == "4.40"
    assert cells["(c) stage ingest"][0] == "96.0 / 4.08"
    assert cells["(c) stage dbt"][0] == "58.5 / 2.71"
    assert cells["(c) stage publication"][0] == "15.1 / 1.28"
    assert cells["(c) stage site"][0] == "7.7 / 0.53"
    assert cells["(d) refresh, one day"][0] == "31.6 / 1.22"
    assert cells["(e) refresh, one record"][0] == "28.4 / 0.99"
    assert cells["ratio (b)/(a)"][0] == "31.1"
    assert cells["ratio (d)/(b)"][0] == "0.216"
    assert cells["ratio (e)/(b)"][0] == "0.194"
    # rows that differ from the floor are counted, not hidden
    assert cells["KPI rows against the floor (full, refreshed)"][0] == (
        "full: 16,056 of 16,056 equal; refresh: 16,020 of 16,056 equal, 6 only in the floor,"
        " 2 only published, 30 differing"
    )


def test_a_dirty_checkout_a_failed_verification_and_no_ratios_are_shown() -> None:
    dirty = _result(0.1, environment={"git_commit": "5271de5aaaa", "git_dirty": True})
    dirty["ratios"] = None
    dirty["verification"] = {
        "full": {"error": "pipeline warehouse | missing:\n  no marts.fct_kpi_values"}
    }
    markdown = table.render([dirty])
    assert markdown.splitlines()[0] == "| step (wall s / peak GB) | scale 0.1 |"
    cells = _cells(markdown)
    assert cells["commit, day, runs (medians)"] == ["`5271de5 (dirty)`, 2026-12-07, 3 run(s)"]
    assert cells["ratio (b)/(a)"] == [""]
    # the error on one line, without breaking the table's cells
    assert cells["KPI rows against the floor (full, refreshed)"] == [
        "full: error (pipeline warehouse / missing: no marts.fct_kpi_values)"
    ]


def test_a_step_not_measured_is_an_empty_cell() -> None:
    only_full = _result(10)
    only_full["measurements"] = {k: only_full["measurements"][k] for k in ("floor", "full")}
    only_full["ratios"] = {"full_over_floor": {"wall": 35.0}}
    only_full["verification"] = None
    cells = _cells(table.render([only_full]))
    assert cells["(b) full pipeline"] == ["146.4 / 4.09"]
    assert cells["(c) stage dbt"] == [""]
    assert cells["(d) refresh, one day"] == [""]
    assert cells["ratio (d)/(b)"] == [""]
    assert cells["KPI rows against the floor (full, refreshed)"] == ["not verified"]


def test_a_committed_result_file() -> None:
    """A real file of benchmarks.run: the table's cells against its JSON, read here again."""
    path = RESULTS / "scale-0.1_months-24_2026-12-07_bound.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    cells = _cells(table.render([table.load(path)]))
    full = data["measurements"]["full"]
    assert cells["(b) full pipeline"] == [
        f"{full['wall_s_median']:.1f} / {full['peak_rss_mb_median'] / 1000:.2f}"
    ]
    assert cells["ratio (b)/(a)"] == [f"{data['ratios']['full_over_floor']['wall']:.1f}"]
    floor_rows = data["verification"]["full"]["floor_rows"]
    assert 16_000 < floor_rows < 16_100  # 8 spine KPIs over every unit and month
    equal = f"{floor_rows:,} of {floor_rows:,} equal"
    assert cells["KPI rows against the floor (full, refreshed)"] == [
        f"full: {equal}; refresh: {equal}"
    ]


def test_bad_input_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"scale": 1}), encoding="utf-8")
    assert table.main([str(broken)]) == 2
    assert f"benchmarks.table: {broken}: not a readable result file" in capsys.readouterr().err
    assert table.main([str(other)]) == 2
    err = capsys.readouterr().err
    assert f"{other}: not a result of benchmarks.run (no started_at, repeat," in err
    assert table.main([str(tmp_path / "missing.json")]) == 2
    assert "missing.json: not a readable result file" in capsys.readouterr().err
