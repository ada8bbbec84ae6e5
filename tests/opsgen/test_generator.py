"""generate(): deterministic output in the contract's columns, types and file layout."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dagster_project.core.contract import contract_columns
from opsgen import generate
from opsgen.marker import read_marker
from tests.opsgen.extracts import (
    DATE,
    LABELS,
    PRIMARY,
    SINGLE_FILE,
    TIMESTAMP,
    file_hashes,
    read_header,
    read_rows,
    run,
    source_rows,
)


def test_generate_is_deterministic_for_same_seed(clean: Path, tmp_path: Path) -> None:
    again = run(tmp_path / "raw")
    assert file_hashes(again) == file_hashes(clean)


def test_generate_differs_for_other_seed(clean: Path, tmp_path: Path) -> None:
    other = file_hashes(run(tmp_path / "raw", seed=43))
    same = file_hashes(clean)
    assert other.keys() == same.keys()
    assert other["claims/claims_2026-09.csv"] != same["claims/claims_2026-09.csv"]
    assert other["contacts/contacts_2026-09.csv"] != same["contacts/contacts_2026-09.csv"]


def test_generate_writes_exactly_the_contract_columns(clean: Path) -> None:
    for source, columns in contract_columns().items():
        files = sorted((clean / source).glob("*.csv"))
        assert files, f"no files for {source}"
        for path in files:
            assert read_header(path) == [name for name, _ in columns], path


def test_generate_file_layout_follows_the_period(clean: Path) -> None:
    for source in contract_columns():
        names = sorted(p.name for p in (clean / source).glob("*.csv"))
        if source in SINGLE_FILE:
            assert names == [f"{source}.csv"]
        else:
            monthly = [f"{source}_{label}.csv" for label in LABELS]
            extra = [f"{source}_initial.csv"] if source == "policies" else []
            assert names == sorted(monthly + extra)
    assert read_header(clean / "_manifest" / "defects.csv") == [
        "source",
        "file",
        "record_key",
        "defect_kind",
    ]


def test_generate_rows_sit_in_the_file_of_their_primary_month(clean: Path) -> None:
    for source, column in PRIMARY.items():
        for label in LABELS:
            rows = read_rows(clean / source / f"{source}_{label}.csv")
            assert all(row[column][:7] == label for row in rows), (source, label)
    initial = read_rows(clean / "policies" / "policies_initial.csv")
    assert initial and max(row["issued_date"] for row in initial) < f"{LABELS[0]}-01"


def test_generate_formats_timestamps_dates_and_booleans(clean: Path) -> None:
    patterns = {"timestamp": TIMESTAMP, "date": DATE, "boolean": re.compile(r"^(true|false)$")}
    for source, columns in contract_columns().items():
        rows = source_rows(clean, source)
        for name, data_type in columns:
            pattern = patterns.get(data_type)
            if pattern is None:
                continue
            values = {row[name] for row in rows} - {""}
            bad = [v for v in values if not pattern.match(v)]
            assert not bad, (source, name, bad[:3])


def test_generate_removes_stale_months(tmp_path: Path) -> None:
    out = run(tmp_path / "raw", months=3)
    run(out, months=2)
    assert sorted(p.name for p in (out / "claims").glob("*.csv")) == [
        "claims_2026-09.csv",
        "claims_2026-10.csv",
    ]
    assert "claims/claims_2026-08.csv" not in read_marker(out), "the marker forgets it too"


def test_generate_with_force_removes_stale_months_and_keeps_other_files(tmp_path: Path) -> None:
    # Without force, the note makes the folder someone else's (tests/opsgen/test_marker.py).
    out = run(tmp_path / "raw", months=3)
    (out / "claims" / "notes.txt").write_text("kept", encoding="utf-8")
    run(out, months=2, force=True)
    assert sorted(p.name for p in (out / "claims").glob("*.csv")) == [
        "claims_2026-09.csv",
        "claims_2026-10.csv",
    ]
    assert (out / "claims" / "notes.txt").read_text(encoding="utf-8") == "kept"


@pytest.mark.parametrize(
    "kwargs",
    [{"scale": 0}, {"defects": 1.0}, {"months": 0}, {"end_month": "October"}, {"seed": -1}],
)
def test_generate_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        generate(out=tmp_path / "raw", progress=False, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale": float("nan")},
        {"scale": float("inf")},
        {"scale": -1.0},
        {"scale": 1e9},
        {"scale": 20.001},
        {"months": 121},
        {"months": 100_000},
        {"months": -3},
        {"defects": float("nan")},
        {"defects": -0.1},
    ],
)
def test_generate_rejects_arguments_out_of_bounds(
    tmp_path: Path, kwargs: dict[str, object]
) -> None:
    out = tmp_path / "raw"
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        generate(out=out, progress=False, **kwargs)  # type: ignore[arg-type]
    assert not out.exists(), "nothing is written"


def test_generate_staffing_hours_follow_the_reported_fte(clean: Path) -> None:
    """Each row's productive hours per FTE as HR reports it (to hundredths) stays near the 126
    hours a month the generator draws, ±5% and the rounding: once hours were kept while small
    FTEs rounded to 0.00, and a center's month reached 933 hours per FTE."""
    rows = source_rows(clean, "staffing")
    assert rows
    small = [r for r in rows if 0 < float(r["fte"]) < 0.1]
    assert small, "no FTE under 0.1 at this scale: the test no longer covers rounding"
    for row in rows:
        fte, hours = float(row["fte"]), float(row["productive_hours"])
        if fte == 0:
            assert hours == 0, row
        else:
            # ±5% of 126, and up to 0.005 hours of rounding per row
            assert 126 * 0.95 - 0.005 / fte <= hours / fte <= 126 * 1.05 + 0.005 / fte, row


def test_clean_claims_ask_and_pay_at_least_what_the_suite_allows():
    """Clean extracts pass the claims suite: no claim under 34 CNY, so no payment, whole or
    partial, under the suite's 10 CNY. At scale 10 the unbounded lognormal made 2 claims under
    10 CNY in 7.8 million, which the gate quarantined and the benchmark's floor counted."""
    from opsgen.sources.claims import MIN_CLAIMED, claimed_amounts, paid_amounts
    from opsgen.sources.policies import PRODUCTS

    params = np.array([p[5:] for p in PRODUCTS], dtype=float)
    n = 4_000_000
    product = np.random.default_rng(7).integers(0, len(PRODUCTS), n)
    claimed = claimed_amounts(np.random.default_rng(11), params, product)
    # the same draws, unbounded (the premise: the tail does go under the bound, where a
    # partial payment of 30% would be under 10 CNY)
    same = np.random.default_rng(11).standard_normal(n)
    drawn = params[product, 0] * np.exp(params[product, 1] * same)
    assert 0 < (drawn < MIN_CLAIMED).mean() < 1e-4
    assert claimed.min() == MIN_CLAIMED
    kept = drawn >= MIN_CLAIMED
    assert np.array_equal(claimed[kept], np.round(drawn[kept], 2)), "only the tail moves"
    for decision in (0, 1):  # paid whole (less a deductible), paid in part
        paid = paid_amounts(
            np.random.default_rng(decision),
            product,
            claimed,
            np.full(n, decision),
            np.zeros(n, dtype=bool),
        )
        assert paid.min() >= 10
