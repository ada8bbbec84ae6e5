"""The generator streams: what it holds does not grow with the scale (issue 18).

Peak memory is measured with tracemalloc, which sees numpy's and pandas' arrays (all the
generator holds that grows with the data; DuckDB only ever sees one chunk) and gives the same
number on every run, unlike the resident size of a process on a loaded machine. The chunk size
is lowered so that two small scales already span many chunks.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from opsgen import generate, volumes
from opsgen.volumes import Period, day_chunks

CHUNK_ROWS = 10_000
SMALL, LARGE = 0.005, 0.05
# What may grow with the scale: the book of policies (9 bytes a policy, opsgen.sources.policies
# .Book) and, once, sorting it (the keys again and int64 positions): 48 bytes a policy with room.
# Holding whole sources, as the generator did before, takes over 120 bytes per policy here.
BOOK_BYTES_PER_POLICY = 48
SLACK_BYTES = 1_000_000


def traced_peak(out: Path, scale: float) -> tuple[int, int]:
    """Peak bytes of arrays held while generating one month at `scale`, and the policies."""
    tracemalloc.start()
    try:
        result = generate(out, scale=scale, months=1, seed=42, progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, result.rows["policies"]


def test_generate_memory_stays_flat_as_the_scale_grows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(volumes, "CHUNK_ROWS", CHUNK_ROWS)
    small, small_policies = traced_peak(tmp_path / "small", SMALL)
    large, large_policies = traced_peak(tmp_path / "large", LARGE)
    # the larger run really is larger: ten times the policies, many chunks of each source
    assert large_policies > 8 * small_policies > 8 * CHUNK_ROWS / 2
    assert 100_000 < small < large
    allowed = BOOK_BYTES_PER_POLICY * (large_policies - small_policies) + SLACK_BYTES
    assert large - small < allowed, (small, large, allowed)


def test_day_chunks_stay_within_a_month_and_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(volumes, "CHUNK_ROWS", 100)
    period = Period.ending("2026-03", 3)  # January to March: 31 + 28 + 31 days
    per_day = np.full(period.n_days, 30)
    per_day[40] = 500  # one day above the limit is a chunk of its own
    chunks = day_chunks(period, per_day)
    assert [lo for lo, _ in chunks][0] == 0 and chunks[-1][1] == period.n_days == 90
    assert all(end == lo for (_, end), (lo, _) in zip(chunks[:-1], chunks[1:], strict=True))
    month_days = {0, 31, 59, 90}
    for lo, end in chunks:
        assert end > lo
        assert not any(lo < boundary < end for boundary in month_days)
        assert per_day[lo:end].sum() <= 100 or end - lo == 1
    assert (40, 41) in chunks
    # chunks are as large as the limit allows: 3 days of 30 rows each
    assert (0, 3) in chunks
