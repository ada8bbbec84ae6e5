"""What every source builder receives: the period, the org, the scale and the shared workload."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from opsgen.org import Org
from opsgen.table import Stream, Table
from opsgen.volumes import (
    ANNUAL,
    RHYTHMS,
    SUBSIDIARY_MIX,
    FloatArray,
    IntArray,
    Period,
    day_chunks,
    event_counts,
    events_in_days,
    rng_for,
)


@dataclass
class Workload:
    """Handling hours per (month, center, sub-branch), from which staffing and costs follow."""

    hours: FloatArray

    def add(self, month: IntArray, center: IntArray, sb: IntArray, hours: FloatArray) -> None:
        months, n_centers, n_sb = self.hours.shape
        keep = (month >= 0) & (month < months)
        flat = (month[keep] * n_centers + center[keep]) * n_sb + sb[keep]
        self.hours += np.bincount(flat, weights=hours[keep], minlength=self.hours.size).reshape(
            self.hours.shape
        )


@dataclass(frozen=True)
class Context:
    """Everything a source builder needs."""

    period: Period
    org: Org
    scale: float
    workload: Workload


@dataclass(frozen=True)
class Events:
    """One chunk of a source's events, sorted by time, with the chunk's own random stream.

    `column` is the sub-branch (or the process, for RPA runs); records are numbered from
    `first_id`, continuing the chunks before.
    """

    rng: np.random.Generator
    ts: IntArray
    column: IntArray
    first_id: int

    @property
    def ids(self) -> IntArray:
        return self.first_id + np.arange(self.ts.size)


def event_stream(
    seed: int,
    ctx: Context,
    source: str,
    annual: FloatArray,
    subsidiary: IntArray,
    build: Callable[[Events], Table],
    trend: tuple[float, float] = (1.0, 1.0),
) -> Stream:
    """A source built chunk by chunk of days: volumes per day and column drawn up front for the
    period, then each chunk's events and records from a random stream of its own (so a chunk
    depends on the seed and its first day only, not on what the generator holds)."""
    rhythm = RHYTHMS[source]
    counts = event_counts(
        rng_for(seed, source, "counts"), ctx.period, rhythm, annual, subsidiary, trend
    )
    per_day = counts.sum(axis=1)

    def chunks() -> Iterator[Table]:
        first_id = 0
        for lo, end in day_chunks(ctx.period, per_day):
            rng = rng_for(seed, source, "days", str(lo))
            ts, column = events_in_days(rng, ctx.period, rhythm, counts[lo:end], lo)
            yield build(Events(rng, ts, column, first_id))
            first_id += ts.size

    return Stream(chunks(), int(per_day.sum()))


def sub_branch_stream(
    seed: int,
    ctx: Context,
    source: str,
    build: Callable[[Events], Table],
    trend: tuple[float, float] = (1.0, 1.0),
) -> Stream:
    """A source whose yearly volume (ANNUAL at scale 1) is split over the sub-branches by the
    source's subsidiary mix and their size, and spread over the days by the source's rhythm."""
    org = ctx.org
    annual = ANNUAL[source] * ctx.scale * org.shares(SUBSIDIARY_MIX[source])
    return event_stream(seed, ctx, source, annual, org.sb_subsidiary, build, trend)
