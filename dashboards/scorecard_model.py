"""The value-management system as the pages show it: scores, why they moved, the league tables,
the value bridge and the indicator tree, shaped from the mart records. Pure functions, no HTML.

Counts and tier statistics are taken over every unit before a pack is cut to its subtree, so a
pack states its units' published ranks ("3 of 7") without holding any other unit's row: the
only figures about the rest of a tier are anonymous (how many were ranked; the tier's median and
quartiles, and only where enough units share them, MIN_UNITS_FOR_STATS).
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from dashboards.marts import Record, as_date, as_float, as_int, as_text
from dashboards.model import UnitKey
from dashboards.org_tree import CENTER, GROUP, TIERS

# The tiers with a league table: the group has no peers.
LEAGUE_LEVELS = (*TIERS[1:], CENTER)
# Fewer units than this and a tier's median and quartiles could be read back to one unit.
MIN_UNITS_FOR_STATS = 5
# How many KPIs the score header names as having moved the score most.
TOP_MOVERS = 3
# fct_value_created's columns that are not value streams; every other *_cny column is one.
BRIDGE_FIXED = ("ops_cost_cny", "value_created_cny", "net_value_cny")
BRIDGE_KEYS = ("org_level", "org_code", "period_start")


@dataclass(frozen=True)
class UnitScore:
    """A unit's composite score in one month (fct_unit_scores), with its peers counted."""

    level: str
    code: str
    month: date
    profile_name: str | None
    profile_version: int | None
    score: float | None
    grade: str | None
    rank_in_siblings: int | None
    rank_in_tier: int | None
    band_low: int | None
    band_high: int | None
    is_partial: bool
    kpis_scored: int | None
    kpis_in_profile: int | None
    parent_code: str | None
    siblings_ranked: int = 0  # units ranked among the same parent that month, itself included
    tier_ranked: int = 0  # units ranked in the tier that month
    profile_label: str | None = None


@dataclass(frozen=True)
class Contribution:
    """One KPI's part of a score's change (fct_score_contributions)."""

    metric_name: str
    sub_score: float | None
    weight: float | None
    missing_reason: str | None
    contribution: float | None
    score_change: float | None


@dataclass(frozen=True)
class TierStats:
    """Anonymous statistics of a tier's scores in a month: no unit's own figure."""

    level: str
    month: date
    scored: int
    median: float | None = None  # None below MIN_UNITS_FOR_STATS scored units
    lower_quartile: float | None = None
    upper_quartile: float | None = None


@dataclass(frozen=True)
class Bridge:
    """A unit's value bridge in one month (fct_value_created)."""

    month: date
    ops_cost: float | None
    streams: tuple[tuple[str, float | None], ...]  # (metric name, CNY)
    value_created: float | None
    net: float | None


@dataclass(frozen=True)
class TreeLink:
    """One link of the indicator tree (dim_indicator_tree)."""

    parent: str | None
    parent_kind: str | None
    child: str
    child_kind: str | None
    link_type: str
    input_role: str | None = None
    direction: str | None = None
    label: str | None = None
    label_zh: str | None = None


@dataclass(frozen=True)
class Scorecards:
    """What the value-management sections show, already cut to the site's units."""

    scores: Mapping[UnitKey, UnitScore] = field(default_factory=dict)  # each unit's latest
    contributions: Mapping[UnitKey, tuple[Contribution, ...]] = field(default_factory=dict)
    league: Mapping[str, tuple[UnitScore, ...]] = field(default_factory=dict)  # tier's month
    tier_stats: Mapping[str, TierStats] = field(default_factory=dict)
    bridges: Mapping[UnitKey, Bridge] = field(default_factory=dict)
    tree: tuple[TreeLink, ...] = ()

    def score(self, level: str, code: str) -> UnitScore | None:
        return self.scores.get((level, code))

    def movers(self, level: str, code: str) -> list[Contribution]:
        """The KPIs that moved the score most in its month, largest change first."""
        moved = [
            c
            for c in self.contributions.get((level, code), ())
            if c.contribution is not None and c.contribution != 0
        ]
        moved.sort(key=lambda c: (-abs(c.contribution or 0.0), c.metric_name))
        return moved[:TOP_MOVERS]

    def left_out(self, level: str, code: str) -> list[Contribution]:
        """The profile's KPIs left out of the unit's score, and why."""
        return [c for c in self.contributions.get((level, code), ()) if c.sub_score is None]


def _key(row: Record) -> UnitKey:
    return (str(row.get("org_level")), str(row.get("org_code")))


def unit_scores(rows: Iterable[Record], labels: Mapping[str, str]) -> list[UnitScore]:
    """Every fct_unit_scores row, with how many siblings and tier peers were ranked with it."""
    parsed = []
    for row in rows:
        month = as_date(row.get("period_start"))
        if month is None or row.get("org_code") is None:
            continue
        profile = as_text(row.get("profile_name"))
        parsed.append(
            UnitScore(
                level=str(row.get("org_level")),
                code=str(row.get("org_code")),
                month=month,
                profile_name=profile,
                profile_version=as_int(row.get("profile_version")),
                score=as_float(row.get("score")),
                grade=as_text(row.get("grade")),
                rank_in_siblings=as_int(row.get("rank_in_siblings")),
                rank_in_tier=as_int(row.get("rank_in_tier")),
                band_low=as_int(row.get("rank_band_low")),
                band_high=as_int(row.get("rank_band_high")),
                is_partial=bool(row.get("is_partial")),
                kpis_scored=as_int(row.get("kpis_scored")),
                kpis_in_profile=as_int(row.get("kpis_in_profile")),
                parent_code=as_text(row.get("parent_code")),
                profile_label=labels.get(profile or ""),
            )
        )
    siblings: dict[tuple[str, str | None, date], int] = {}
    tier: dict[tuple[str, date], int] = {}
    for s in parsed:
        if s.rank_in_siblings is not None:
            key = (s.level, s.parent_code, s.month)
            siblings[key] = siblings.get(key, 0) + 1
        if s.rank_in_tier is not None:
            tier[(s.level, s.month)] = tier.get((s.level, s.month), 0) + 1
    return [
        _with_counts(s, siblings.get((s.level, s.parent_code, s.month), 0), tier) for s in parsed
    ]


def _with_counts(
    score: UnitScore, siblings: int, tier: Mapping[tuple[str, date], int]
) -> UnitScore:
    return replace(
        score, siblings_ranked=siblings, tier_ranked=tier.get((score.level, score.month), 0)
    )


def tier_statistics(scores: Sequence[UnitScore], level: str, month: date) -> TierStats:
    """How many units of the tier were scored that month and, when enough were, the middle."""
    values = sorted(
        s.score for s in scores if (s.level, s.month) == (level, month) and s.score is not None
    )
    if len(values) < MIN_UNITS_FOR_STATS:
        return TierStats(level, month, len(values))
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return TierStats(level, month, len(values), median, q1, q3)


def contributions_by_unit(
    rows: Iterable[Record], months: Mapping[UnitKey, date]
) -> dict[UnitKey, tuple[Contribution, ...]]:
    """Each unit's contributions in the month of its latest score (`months`)."""
    found: dict[UnitKey, list[Contribution]] = {}
    for row in rows:
        key = _key(row)
        name = as_text(row.get("metric_name"))
        month = as_date(row.get("period_start"))
        if name is None or month is None or months.get(key) != month:
            continue
        found.setdefault(key, []).append(
            Contribution(
                metric_name=name,
                sub_score=as_float(row.get("sub_score")),
                weight=as_float(row.get("weight")),
                missing_reason=as_text(row.get("missing_reason")),
                contribution=as_float(row.get("contribution")),
                score_change=as_float(row.get("score_change")),
            )
        )
    return {k: tuple(sorted(v, key=lambda c: c.metric_name)) for k, v in found.items()}


def stream_names(row: Record) -> tuple[str, ...]:
    """The value-stream columns of a fct_value_created row, in column order."""
    return tuple(
        c for c in row if c.endswith("_cny") and c not in BRIDGE_FIXED and c not in BRIDGE_KEYS
    )


def bridges_by_unit(rows: Iterable[Record]) -> dict[UnitKey, Bridge]:
    """Each unit's latest month with an operations cost (the net needs one), else its latest."""
    best: dict[UnitKey, Record] = {}
    for row in rows:
        month = as_date(row.get("period_start"))
        if month is None:
            continue
        key = _key(row)
        held = best.get(key)
        rank = (as_float(row.get("ops_cost_cny")) is not None, month)
        if held is None or rank > (
            as_float(held.get("ops_cost_cny")) is not None,
            as_date(held.get("period_start")),
        ):
            best[key] = row
    return {
        key: Bridge(
            month=as_date(row.get("period_start")),  # type: ignore[arg-type]
            ops_cost=as_float(row.get("ops_cost_cny")),
            streams=tuple((name, as_float(row.get(name))) for name in stream_names(row)),
            value_created=as_float(row.get("value_created_cny")),
            net=as_float(row.get("net_value_cny")),
        )
        for key, row in best.items()
    }


def tree_links(rows: Iterable[Record]) -> tuple[TreeLink, ...]:
    links = []
    for row in rows:
        child = as_text(row.get("child_node"))
        link_type = as_text(row.get("link_type"))
        if child is None or link_type is None:
            continue
        links.append(
            TreeLink(
                parent=as_text(row.get("parent_node")),
                parent_kind=as_text(row.get("parent_kind")),
                child=child,
                child_kind=as_text(row.get("child_kind")),
                link_type=link_type,
                input_role=as_text(row.get("input_role")),
                direction=as_text(row.get("expected_direction")),
                label=as_text(row.get("child_label")),
                label_zh=as_text(row.get("child_label_zh")),
            )
        )
    return tuple(links)


def build_scorecards(
    score_rows: Iterable[Record],
    contribution_rows: Iterable[Record],
    profile_rows: Iterable[Record],
    value_rows: Iterable[Record],
    tree_rows: Iterable[Record],
    keys: Collection[UnitKey],
) -> Scorecards:
    """The sections' data for the units `keys` (the site's, or a pack's subtree).

    Ranks are the published ones, and peers are counted over every unit, before the cut: a
    pack names no unit outside it, and keeps no row of one.
    """
    labels = {
        str(r["profile_name"]): str(r["profile_label"])
        for r in profile_rows
        if as_text(r.get("profile_name")) and as_text(r.get("profile_label"))
    }
    every = unit_scores(score_rows, labels)
    latest: dict[UnitKey, UnitScore] = {}
    for s in every:
        held = latest.get((s.level, s.code))
        if held is None or s.month > held.month:
            latest[(s.level, s.code)] = s
    tier_months = {
        level: max(s.month for s in every if s.level == level) for level in {s.level for s in every}
    }
    league = {
        level: tuple(
            sorted(
                (
                    s
                    for s in every
                    if (s.level, s.month) == (level, month) and (s.level, s.code) in keys
                ),
                key=lambda s: (s.rank_in_tier is None, s.rank_in_tier or 0, s.code),
            )
        )
        for level, month in tier_months.items()
        if level != GROUP
    }
    scores = {k: v for k, v in latest.items() if k in keys}
    months = {k: v.month for k, v in scores.items()}
    return Scorecards(
        scores=scores,
        contributions=contributions_by_unit(contribution_rows, months),
        league={level: rows for level, rows in league.items() if rows},
        tier_stats={
            level: tier_statistics(every, level, month)
            for level, month in tier_months.items()
            if level != GROUP
        },
        bridges={k: v for k, v in bridges_by_unit(value_rows).items() if k in keys},
        tree=tree_links(tree_rows),
    )
