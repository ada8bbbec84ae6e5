"""The generator's bounds, and its estimates of the disk space and memory a run needs."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from opsgen import generate
from opsgen.guard import (
    MARGIN,
    MONTHS_MAX,
    SCALE_MAX,
    GenerationRefused,
    available_memory,
    check_disk,
    check_memory,
    check_resources,
    defects_problem,
    estimate_bytes,
    estimate_memory,
    months_problem,
    nearest_existing,
    scale_problem,
    seed_problem,
)
from tests.opsgen.extracts import DEFECT_RATE, MONTHS, SCALE

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("scale", [NAN, INF, -INF, 0.0, -0.0, -1.0, 1e9, SCALE_MAX + 1e-9])
def test_scale_problem_names_a_scale_out_of_bounds(scale: float) -> None:
    problem = scale_problem(scale)
    assert problem and f"at most {SCALE_MAX:g}" in problem and str(scale) in problem


@pytest.mark.parametrize("scale", [1e-6, 0.01, 1.0, SCALE_MAX])
def test_scale_problem_accepts_the_bounds(scale: float) -> None:
    assert scale_problem(scale) is None


@pytest.mark.parametrize("months", [0, -1, MONTHS_MAX + 1, 100_000])
def test_months_problem_names_months_out_of_bounds(months: int) -> None:
    problem = months_problem(months)
    assert problem and str(MONTHS_MAX) in problem and str(months) in problem


@pytest.mark.parametrize("months", [1, 24, MONTHS_MAX])
def test_months_problem_accepts_the_bounds(months: int) -> None:
    assert months_problem(months) is None


@pytest.mark.parametrize(("defects", "bad"), [(NAN, True), (1.0, True), (-0.1, True), (0.0, False)])
def test_defects_problem_wants_a_share_below_one(defects: float, bad: bool) -> None:
    assert (defects_problem(defects) is not None) is bad


@pytest.mark.parametrize(("seed", "bad"), [(-1, True), (0, False), (2**40, False)])
def test_seed_problem_wants_no_negative_seed(seed: int, bad: bool) -> None:
    assert (seed_problem(seed) is not None) is bad


@pytest.mark.parametrize(("fixture", "defects"), [("clean", 0.0), ("defective", DEFECT_RATE)])
def test_estimate_bytes_covers_real_runs_closely(
    fixture: str, defects: float, request: pytest.FixtureRequest
) -> None:
    out: Path = request.getfixturevalue(fixture)
    written = sum(p.stat().st_size for p in out.rglob("*.csv"))
    estimate = estimate_bytes(SCALE, MONTHS, defects)
    assert 0.8 * estimate <= written <= estimate * MARGIN


def test_estimate_bytes_matches_the_benchmarks_scale_1_run() -> None:
    # benchmarks/results/scale-1_months-24.json: 1,971,993,076 bytes of clean extracts
    assert estimate_bytes(1, 24) == pytest.approx(1_971_993_076, rel=0.01)


def test_estimate_memory_grows_with_scale_months_and_defects() -> None:
    small, large = estimate_memory(0.1, 24), estimate_memory(0.3, 24)
    assert small < large < estimate_memory(0.3, 24, defects=0.05)
    assert estimate_memory(1, 12) < estimate_memory(1, 24) < estimate_memory(3, 24)
    # measured peaks of the streaming generator (opsgen/guard.py)
    measured = ((0.1, 331e6), (0.3, 374e6), (1, 471e6), (3, 631e6), (10, 969e6))
    for scale, peak in measured:
        assert estimate_memory(scale, 24) == pytest.approx(peak, rel=0.1)
    # issue 18: flat enough that scale 10 stays under 2 GB
    assert estimate_memory(10, 24) < 2e9


def test_nearest_existing_climbs_to_a_folder_that_exists(tmp_path: Path) -> None:
    assert nearest_existing(tmp_path / "a" / "b" / "c") == tmp_path
    assert nearest_existing(tmp_path) == tmp_path


def test_check_disk_refuses_more_than_the_file_system_has_free(tmp_path: Path) -> None:
    out = tmp_path / "not" / "yet"
    too_much = shutil.disk_usage(tmp_path).total + 1
    with pytest.raises(GenerationRefused, match="not enough disk space") as refusal:
        check_disk(out, too_much)
    assert str(out) in str(refusal.value)
    check_disk(out, 1)
    check_disk(out, -(10**9))  # replacing bigger files frees space
    assert not (tmp_path / "not").exists(), "the check only reads"


def test_check_memory_refuses_more_than_is_available() -> None:
    available = available_memory()
    assert available and available > 0, "Linux says how much memory is available"
    with pytest.raises(GenerationRefused, match="not enough memory"):
        check_memory(available + 1, available)
    check_memory(available // 2, available)
    check_memory(10**18, None)  # where the system does not say, nothing is refused


def test_check_resources_lets_a_tiny_run_through(tmp_path: Path) -> None:
    check_resources(tmp_path / "raw", SCALE, MONTHS, DEFECT_RATE)


def test_generate_refuses_a_run_the_machine_cannot_hold(tmp_path: Path) -> None:
    out = tmp_path / "raw"
    disk = math.ceil(estimate_bytes(SCALE_MAX, MONTHS_MAX) * MARGIN)
    memory = math.ceil(estimate_memory(SCALE_MAX, MONTHS_MAX) * MARGIN)
    available = available_memory()
    if disk <= shutil.disk_usage(tmp_path).free and (available is None or memory <= available):
        pytest.skip("this machine could hold the largest run: it is not started here")
    with pytest.raises(GenerationRefused, match="not enough"):
        generate(out=out, scale=SCALE_MAX, months=MONTHS_MAX, progress=False)
    assert not out.exists(), "nothing is written"
