"""What every source builder receives: the period, the org, the scale and the shared workload."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from opsgen.org import Org
from opsgen.volumes import (
    ANNUAL,
    RHYTHMS,
    SUBSIDIARY_MIX,
    FloatArray,
    IntArray,
    Period,
    sample_events,
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


def sample_sub_branch_events(
    rng: np.random.Generator, ctx: Context, source: str, trend: tuple[float, float] = (1.0, 1.0)
) -> tuple[IntArray, IntArray]:
    """Event times and sub-branch of a source's records, sorted by time.

    The yearly volume (ANNUAL at scale 1) is split over the sub-branches by the source's
    subsidiary mix and their size, and spread over the days by the source's rhythm.
    """
    org = ctx.org
    annual = ANNUAL[source] * ctx.scale * org.shares(SUBSIDIARY_MIX[source])
    return sample_events(rng, ctx.period, RHYTHMS[source], annual, org.sb_subsidiary, trend)
