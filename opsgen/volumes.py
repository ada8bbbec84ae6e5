"""Calendar, rhythms and volumes: how many records each source gets, and when.

Times are held as int64 epoch seconds (local time, no zone) so that whole sources are sampled as
numpy arrays; `NA` marks an empty time.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


# Timestamps are held as int64 epoch seconds; NA is numpy's NaT bit pattern, so a view as
# datetime64[s] turns it into NaT and DuckDB reads it as NULL.
NA = np.iinfo(np.int64).min
DAY = 86_400
HOUR = 3_600

# Volumes at scale 1 (a mid-size insurer), per year.


POLICIES_IN_FORCE = 1_900_000
ANNUAL = {
    "claims": 400_000,
    "contacts": 3_000_000,
    "applications": 500_000,
    "endorsements": 800_000,
    "tasks": 2_500_000,
    "nps_responses": 150_000,
    "rpa_runs": 60_000,
}
MILESTONES_PER_24_MONTHS = 200
COMPLAINTS_PER_10K_MONTH = 1.2
# Share of each source's volume by subsidiary (LIF, PNC, HLT).
SUBSIDIARY_MIX = {
    "policies": (0.45, 0.35, 0.20),
    "claims": (0.12, 0.55, 0.33),
    "contacts": (0.45, 0.35, 0.20),
    "applications": (0.35, 0.45, 0.20),
    "endorsements": (0.55, 0.25, 0.20),
    "tasks": (0.40, 0.38, 0.22),
    "nps_responses": (0.45, 0.35, 0.20),
}

# Rhythms: weekday, season, holiday and hour-of-day profiles.


OFFICE_HOURS = (
    0.02, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.2, 0.6, 1.0, 1.0, 1.0,
    0.5, 0.8, 1.0, 1.0, 0.9, 0.7, 0.35, 0.2, 0.12, 0.08, 0.05, 0.03,
)  # fmt: skip
CONTACT_HOURS = (
    0.03, 0.02, 0.01, 0.01, 0.01, 0.02, 0.05, 0.2, 0.6, 1.2, 1.3, 1.1,
    0.8, 0.9, 1.1, 1.1, 1.0, 0.8, 0.5, 0.4, 0.35, 0.25, 0.1, 0.05,
)  # fmt: skip
EVENT_HOURS = (
    0.1, 0.06, 0.04, 0.03, 0.03, 0.05, 0.15, 0.45, 0.9, 1.0, 1.0, 1.0,
    0.8, 0.9, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2,
)  # fmt: skip
FLAT_SEASON = (1.0,) * 12
# Lunar new year's day; the holiday runs from its eve for eight days.
SPRING_FESTIVAL = (
    "2015-02-19", "2016-02-08", "2017-01-28", "2018-02-16", "2019-02-05", "2020-01-25",
    "2021-02-12", "2022-02-01", "2023-01-22", "2024-02-10", "2025-01-29", "2026-02-17",
    "2027-02-06", "2028-01-26", "2029-02-13", "2030-02-03", "2031-01-23", "2032-02-11",
)  # fmt: skip


@dataclass(frozen=True)
class Rhythm:
    """How a source's volume moves over the week, the year, holidays and the day."""

    weekday: tuple[float, ...]
    season: tuple[tuple[float, ...], ...]  # per subsidiary, January first
    holiday: float
    hours: tuple[float, ...]


RHYTHMS = {
    "claims": Rhythm(
        (1.2, 1.05, 1.0, 1.0, 1.0, 0.7, 0.6),
        (
            FLAT_SEASON,
            (1.1, 0.9, 0.95, 0.95, 1.0, 1.05, 1.25, 1.25, 1.15, 0.95, 0.9, 1.0),
            (1.15, 1.05, 1.1, 1.0, 0.95, 0.9, 0.9, 0.9, 0.95, 1.0, 1.0, 1.15),
        ),
        0.6,
        EVENT_HOURS,
    ),
    "contacts": Rhythm(
        (1.25, 1.05, 1.0, 1.0, 0.95, 0.6, 0.5),
        ((1.1, 0.9, 1.05, 1.0, 0.95, 0.95, 1.0, 1.0, 1.0, 0.95, 1.0, 1.1),) * 3,
        0.5,
        CONTACT_HOURS,
    ),
    "applications": Rhythm(
        (1.1, 1.05, 1.0, 1.0, 1.05, 0.4, 0.25),
        (
            (1.9, 1.0, 1.4, 0.9, 0.85, 0.9, 0.8, 0.8, 0.85, 0.8, 0.85, 1.15),
            (1.0, 0.85, 1.0, 1.0, 1.0, 1.0, 0.95, 0.95, 1.0, 0.95, 1.05, 1.25),
            (1.3, 0.9, 1.1, 1.0, 0.95, 0.95, 0.95, 0.95, 1.0, 0.95, 0.95, 1.05),
        ),
        0.2,
        OFFICE_HOURS,
    ),
    "endorsements": Rhythm(
        (1.1, 1.05, 1.0, 1.0, 1.0, 0.4, 0.3),
        ((1.1, 0.85, 1.05, 1.0, 1.0, 1.0, 0.95, 0.95, 1.0, 0.95, 1.0, 1.15),) * 3,
        0.2,
        OFFICE_HOURS,
    ),
    "tasks": Rhythm(
        (1.05, 1.0, 1.0, 1.0, 0.98, 0.35, 0.2),
        ((1.25, 0.85, 1.1, 0.95, 0.95, 1.0, 0.95, 0.95, 1.0, 0.9, 0.95, 1.15),) * 3,
        0.15,
        OFFICE_HOURS,
    ),
    "nps_responses": Rhythm(
        (1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.7), (FLAT_SEASON,) * 3, 0.6, CONTACT_HOURS
    ),
    "rpa_runs": Rhythm((1.0, 1.0, 1.0, 1.0, 1.0, 0.3, 0.3), (FLAT_SEASON,) * 3, 0.3, OFFICE_HOURS),
}


@dataclass(frozen=True)
class Period:
    """The months of the demo; times are int64 epoch seconds (local time, no zone)."""

    first_month: np.datetime64
    months: int

    @classmethod
    def ending(cls, end_month: str, months: int) -> Period:
        if months < 1:
            raise ValueError(f"months must be at least 1, got {months}")
        try:
            end = np.datetime64(end_month, "M")
        except ValueError as exc:
            raise ValueError(f"end_month must look like 2026-10, got {end_month!r}") from exc
        return cls(end - np.timedelta64(months - 1, "M"), months)

    @property
    def month_starts(self) -> IntArray:
        """Start second of each month, plus the extraction moment (months + 1 values)."""
        months = self.first_month + np.arange(self.months + 1).astype("timedelta64[M]")
        return months.astype("datetime64[s]").astype(np.int64)

    @property
    def start(self) -> int:
        return int(self.month_starts[0])

    @property
    def extraction(self) -> int:
        """The first second after the period: nothing later has happened yet."""
        return int(self.month_starts[-1])

    @property
    def labels(self) -> list[str]:
        months = self.first_month + np.arange(self.months).astype("timedelta64[M]")
        return [str(m) for m in months]

    @property
    def n_days(self) -> int:
        return (self.extraction - self.start) // DAY

    def month_of(self, ts: IntArray) -> IntArray:
        return np.searchsorted(self.month_starts, ts, side="right").astype(np.int64) - 1

    def progress(self, ts: IntArray) -> FloatArray:
        """0 at the start of the period, 1 at the extraction moment (for trends)."""
        return (ts - self.start) / (self.extraction - self.start)


def holiday_mask(days: npt.NDArray[np.datetime64]) -> BoolArray:
    """Chinese public holidays: spring festival week, labour day and national day golden weeks."""
    eves = np.array(SPRING_FESTIVAL, dtype="datetime64[D]") - 1
    festival = (eves[:, None] + np.arange(8)).ravel()
    month_day = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    golden = ((month == 5) & (month_day <= 5)) | ((month == 10) & (month_day <= 7))
    return np.isin(days, festival) | golden


def day_weights(period: Period, rhythm: Rhythm) -> FloatArray:
    """Relative volume of each day per subsidiary, shape (days, 3); a plain weekday averages 1."""
    days = np.datetime64(period.start, "s").astype("datetime64[D]") + np.arange(period.n_days)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    month = days.astype("datetime64[M]").astype(np.int64) % 12
    week = np.asarray(rhythm.weekday) / np.mean(rhythm.weekday)
    season = np.asarray(rhythm.season) / np.mean(rhythm.season, axis=1, keepdims=True)
    weights = week[weekday][:, None] * season[:, month].T
    return np.where(holiday_mask(days)[:, None], weights * rhythm.holiday, weights)


# Rows the generator holds at once: every event source is built, damaged and written in chunks
# of at most this many records (a whole day is never split), so memory stays flat as the scale
# grows (issue 18: the whole-source arrays peaked at 15.9 GB at scale 10).
CHUNK_ROWS = 200_000


def event_counts(
    rng: np.random.Generator,
    period: Period,
    rhythm: Rhythm,
    annual: FloatArray,
    subsidiary: IntArray,
    trend: tuple[float, float] = (1.0, 1.0),
) -> IntArray:
    """Poisson volumes per day and column, shape (days, columns).

    `annual[j]` is the yearly volume of column j (a sub-branch or a process) and `subsidiary[j]`
    picks its seasonal curve; `trend` multiplies volume linearly from the first to the last day.
    Drawn up front for the whole period (a small matrix), so a source's size is known before its
    records are built chunk by chunk.
    """
    weights = day_weights(period, rhythm)[:, subsidiary]
    growth = np.linspace(trend[0], trend[1], period.n_days)[:, None]
    return rng.poisson(weights * growth * (annual / 365.25)[None, :])


def day_chunks(period: Period, per_day: IntArray) -> list[tuple[int, int]]:
    """Ranges [first, end) of days holding at most CHUNK_ROWS records each (or one day), none
    crossing a month: a chunk's records belong to one file."""
    limit = CHUNK_ROWS  # read at each call: the memory test lowers it
    month_days = (period.month_starts - period.start) // DAY
    chunks = []
    for m in range(period.months):
        lo, end = int(month_days[m]), int(month_days[m + 1])
        total = 0
        for day in range(lo, end):
            if total and total + per_day[day] > limit:
                chunks.append((lo, day))
                lo, total = day, 0
            total += int(per_day[day])
        chunks.append((lo, end))
    return chunks


def events_in_days(
    rng: np.random.Generator, period: Period, rhythm: Rhythm, counts: IntArray, first_day: int
) -> tuple[IntArray, IntArray]:
    """Event times and column index of `counts` (rows = days from `first_day`), sorted by time."""
    cells = np.repeat(np.arange(counts.size), counts.ravel())
    day, column = np.divmod(cells, counts.shape[1])
    hours = np.asarray(rhythm.hours) / np.sum(rhythm.hours)
    hour = rng.choice(24, size=cells.size, p=hours)
    start = period.start + first_day * DAY
    ts = start + day * DAY + hour * HOUR + rng.integers(0, HOUR, size=cells.size)
    order = np.argsort(ts, kind="stable")
    return ts[order], column[order]


def lognormal(
    rng: np.random.Generator, median: FloatArray | float, sigma: float, n: int
) -> FloatArray:
    """Long-tailed positive durations or amounts with the given median."""
    return np.asarray(median) * np.exp(sigma * rng.standard_normal(n))


def pick(rng: np.random.Generator, probabilities: npt.ArrayLike, rows: IntArray) -> IntArray:
    """One category per row from per-group probabilities: probabilities[group] sums to 1."""
    table = np.cumsum(np.asarray(probabilities, dtype=float), axis=1)
    table /= table[:, -1:]
    u = rng.random(rows.size)
    return (u[:, None] > table[rows]).sum(axis=1).astype(np.int64)


def later(base: IntArray, seconds: FloatArray) -> IntArray:
    """base + seconds, NA where base is NA."""
    out = base + np.maximum(seconds, 0).astype(np.int64)
    return np.where(base == NA, NA, out)


def censor(ts: IntArray, extraction: int) -> IntArray:
    """Times at or after the extraction moment have not happened yet: empty."""
    return np.where(ts >= extraction, NA, ts)


def staff_pool(annual_items: FloatArray, items_per_person: float) -> IntArray:
    """Employees per center: enough to handle the yearly items, at least three."""
    return np.maximum(np.round(annual_items / items_per_person), 3).astype(np.int64)


def rng_for(seed: int, *names: str) -> np.random.Generator:
    """An independent stream per purpose, so one source's changes leave the others as they were."""
    return np.random.default_rng([seed, *(zlib.crc32(n.encode()) for n in names)])
