"""Why a KPI moved, as the pages show it: `marts.fct_kpi_attribution` shaped per unit and metric.

Pure functions, no HTML and no I/O (the pages are `why_view.py`). The mart splits a parent's
change among its children (value-management reference, section 4); here its rows become one
`Breakdown` per parent, metric, month, comparison and set of children, scoped to the site's org
tree: a manager's pack never holds a row about a unit outside its subtree. A child that belonged
to the parent in one of the two months and is outside the pack now (a reorganisation moved it)
is summed, with any other such child, into one nameless part, the rest of the parent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from dashboards.formatting import change_tone
from dashboards.marts import Record, as_date, as_float, as_text
from dashboards.model import Tile, UnitKey
from dashboards.org_tree import OrgTree

# What a part of a parent's change is: one of its children; the parent's own part (records
# booked at the parent itself or in no child, which the mart gives the parent's own code); the
# rest of the parent outside a pack (children that are outside the pack's subtree now).
CHILD, OWN, OUTSIDE = "child", "own", "outside"
# Comparisons a tile's why view explains, in the order shown.
SHOWN_COMPARISONS = ("mom", "yoy")
TOP_MOVERS = 5
OFF_TARGET = "red"


@dataclass(frozen=True)
class Part:
    """One bar of a waterfall: a child's contribution to its parent's change.

    `rate` and `mix` are None for additive metrics (the contribution is the child's own change).
    `code` is None for the rest of the parent outside a pack: it names no unit.
    """

    kind: str
    code: str | None
    rate: float | None
    mix: float | None
    contribution: float


@dataclass(frozen=True)
class Breakdown:
    """A parent's change in one metric and month against one base, split among one set of its
    children (`child_level`); the parts sum to `parent_change` (the mart's test proves it)."""

    metric: str
    month: date
    comparison: str
    child_level: str
    parent_change: float
    parts: tuple[Part, ...]

    @property
    def has_effects(self) -> bool:
        """True for ratios and means (a rate and a mix effect); False for additive metrics."""
        return any(p.rate is not None or p.mix is not None for p in self.parts)


BreakdownKey = tuple[str, date, str]  # (metric_name, period_start, comparison)
UnitBreakdowns = dict[BreakdownKey, tuple[Breakdown, ...]]  # one per child_level


def _sum(values: Iterable[float | None]) -> float | None:
    """The sum, or None when any is None (an additive metric has no rate or mix effect)."""
    found = list(values)
    return None if any(v is None for v in found) else sum(found)  # type: ignore[misc]


def _part_order(part: Part) -> tuple[int, float, str]:
    """Children from the largest rise to the largest fall, then the parent's own part, then the
    rest outside the pack: the bars climb, then fall, like a waterfall's."""
    rank = {CHILD: 0, OWN: 1, OUTSIDE: 2}[part.kind]
    return (rank, -part.contribution, part.code or "")


def shape_attribution(
    rows: Iterable[Record], tree: OrgTree, *, scoped: bool
) -> dict[UnitKey, UnitBreakdowns]:
    """The mart's rows as breakdowns per parent unit in the tree.

    Rows of parents outside the tree are dropped. In a pack (`scoped`), children outside the
    tree are summed into one OUTSIDE part; in the full site, a child no longer in the current
    tree (a closed unit) keeps its code.
    """
    levels = {u.code: u.level for u in tree.units.values()}
    grouped: dict[tuple, list[Record]] = defaultdict(list)
    for row in rows:
        level, code = as_text(row.get("org_level")), as_text(row.get("org_code"))
        metric, month = as_text(row.get("metric_name")), as_date(row.get("period_start"))
        comparison, child_level = as_text(row.get("comparison")), as_text(row.get("child_level"))
        if None in (level, code, metric, month, comparison, child_level):
            continue
        if levels.get(code) != level:  # type: ignore[arg-type]
            continue
        grouped[(level, code, metric, month, comparison, child_level)].append(row)
    shaped: dict[UnitKey, dict[BreakdownKey, list[Breakdown]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for (level, code, metric, month, comparison, child_level), members in grouped.items():
        parts, outside = [], []
        for row in members:
            child = as_text(row.get("child_code"))
            contribution = as_float(row.get("contribution"))
            if child is None or contribution is None:
                continue
            part = Part(
                OWN if child == code else CHILD,
                child,
                as_float(row.get("rate_effect")),
                as_float(row.get("mix_effect")),
                contribution,
            )
            if scoped and child != code and child not in levels:
                outside.append(part)
            else:
                parts.append(part)
        if outside:
            parts.append(
                Part(
                    OUTSIDE,
                    None,
                    _sum(p.rate for p in outside),
                    _sum(p.mix for p in outside),
                    sum(p.contribution for p in outside),
                )
            )
        change = as_float(members[0].get("parent_change"))
        if change is None or not parts:
            continue
        shaped[(level, code)][(metric, month, comparison)].append(
            Breakdown(
                metric,
                month,
                comparison,
                child_level,
                change,
                tuple(sorted(parts, key=_part_order)),
            )
        )
    return {
        unit: {
            key: tuple(sorted(found, key=lambda b: b.child_level != tree_child_level(unit[0])))
            for key, found in by_key.items()
        }
        for unit, by_key in shaped.items()
    }


def tree_child_level(level: str) -> str:
    """The org tier below `level`: its breakdown comes before the centers' (group only)."""
    return {"group": "subsidiary", "subsidiary": "branch", "branch": "sub_branch"}.get(level, "")


def breakdowns_for(
    attribution: Mapping[UnitKey, UnitBreakdowns], key: UnitKey, tile: Tile, comparison: str
) -> tuple[Breakdown, ...]:
    """A unit's breakdowns of a tile's metric in the tile's month against `comparison`."""
    return attribution.get(key, {}).get((tile.info.metric_name, tile.month, comparison), ())


def part_in_parent(
    attribution: Mapping[UnitKey, UnitBreakdowns],
    parent: UnitKey,
    code: str,
    tile: Tile,
    comparison: str,
) -> tuple[Breakdown, Part] | None:
    """A unit's own part in its parent's change (the parent's breakdown and the unit's bar)."""
    for breakdown in breakdowns_for(attribution, parent, tile, comparison):
        for part in breakdown.parts:
            if part.kind == CHILD and part.code == code:
                return breakdown, part
    return None


@dataclass(frozen=True)
class Mover:
    """A child's contribution to a KPI of its parent that is off target or worse than before."""

    tile: Tile
    comparison: str  # "target" for an off-target KPI, else "mom"
    child_level: str
    code: str
    contribution: float
    parent_change: float

    @property
    def share(self) -> float:
        """The part of the parent's shortfall the child accounts for (over 1 when the others
        made up some of it)."""
        return self.contribution / self.parent_change

    @property
    def base(self) -> float | None:
        """What the parent's value is compared with: last month's value, or its target."""
        value = self.tile.value
        return None if value is None else value - self.parent_change

    @property
    def size(self) -> float | None:
        """The contribution against the size of the KPI itself (|contribution| / |base|): how
        far the child moved its parent's KPI, comparable across KPIs of different units; None
        when the base is 0."""
        base = self.base
        return None if not base else abs(self.contribution) / abs(base)


def is_adverse(change: float, direction: str) -> bool:
    return change_tone(change, direction) == "bad"


def mover_comparison(
    attribution: Mapping[UnitKey, UnitBreakdowns], key: UnitKey, tile: Tile
) -> str | None:
    """Which change of a tile's KPI its top movers explain: the gap to target when the KPI is
    off target, else the fall since last month when it worsened; None when neither (or the mart
    has no such breakdown)."""
    direction = tile.info.direction
    candidates = (["target"] if tile.status == OFF_TARGET else []) + ["mom"]
    for comparison in candidates:
        found = breakdowns_for(attribution, key, tile, comparison)
        if found and is_adverse(found[0].parent_change, direction):
            return comparison
    return None


def top_movers(
    attribution: Mapping[UnitKey, UnitBreakdowns],
    key: UnitKey,
    tiles: Sequence[Tile],
    tree: OrgTree,
    n: int = TOP_MOVERS,
) -> list[Mover]:
    """The `n` largest contributions of the unit's children to its off-target or worsening KPIs.

    Only children that moved the KPI the wrong way count (a contribution of the sign of the
    parent's adverse change), and only units with a page (the parent's own part and units
    outside the tree have none). Contributions of different KPIs are in different units, so
    they are compared by their size against the KPI's own base (last month's value, or the
    target): -3 pp on a rate of 60% is 5%, +2 days on a cycle of 5 days 40%. The share of the
    shortfall would rank a KPI that barely moved first whenever its units offset one another.
    Ties: the catalog's metric order (the tiles'), then the code.
    """
    found: list[tuple[float, int, str, Mover]] = []
    for order, tile in enumerate(tiles):
        comparison = mover_comparison(attribution, key, tile)
        if comparison is None:
            continue
        for breakdown in breakdowns_for(attribution, key, tile, comparison):
            for part in breakdown.parts:
                if part.kind != CHILD or part.code not in tree:
                    continue
                mover = Mover(
                    tile,
                    comparison,
                    breakdown.child_level,
                    part.code,  # type: ignore[arg-type]
                    part.contribution,
                    breakdown.parent_change,
                )
                if mover.share > 0 and mover.size is not None:
                    found.append((-mover.size, order, mover.code, mover))
    found.sort(key=lambda item: item[:3])
    return [mover for *_, mover in found[:n]]


# --- formula inputs (marts.fct_driver_attribution) ---------------------------------------------


@dataclass(frozen=True)
class DriverInput:
    """One input of a formula-linked KPI at a unit: its values in both states and its
    contribution to the KPI's change, in the KPI's unit."""

    role: str  # numerator or denominator (a product's first or second factor)
    metric: str  # the input's metric (a catalog metric or a component volume)
    is_filtered: bool  # the formula uses a filtered part of `metric`
    base: float | None
    value: float | None
    contribution: float


@dataclass(frozen=True)
class DriverSplit:
    """A KPI's change at one unit split over its formula's inputs; they sum to the change."""

    metric: str
    month: date
    comparison: str
    formula_kind: str | None  # quotient or product
    split_method: str | None  # shapley or lmdi
    parent_change: float
    inputs: tuple[DriverInput, ...]


UnitDrivers = dict[BreakdownKey, DriverSplit]
ROLE_ORDER = {"numerator": 0, "denominator": 1}


def shape_drivers(rows: Iterable[Record], tree: OrgTree) -> dict[UnitKey, UnitDrivers]:
    """The driver attribution per unit of the tree; a row names only its own unit, so a pack
    keeps its units' rows and drops every other."""
    levels = {u.code: u.level for u in tree.units.values()}
    grouped: dict[tuple, list[Record]] = defaultdict(list)
    for row in rows:
        level, code = as_text(row.get("org_level")), as_text(row.get("org_code"))
        metric, month = as_text(row.get("metric_name")), as_date(row.get("period_start"))
        comparison = as_text(row.get("comparison"))
        if None in (level, code, metric, month, comparison) or levels.get(code) != level:  # type: ignore[arg-type]
            continue
        grouped[(level, code, metric, month, comparison)].append(row)
    shaped: dict[UnitKey, UnitDrivers] = defaultdict(dict)
    for (level, code, metric, month, comparison), members in grouped.items():
        inputs = [
            DriverInput(
                as_text(row.get("input_role")) or "",
                as_text(row.get("input_metric")) or "",
                row.get("is_filtered") is True,
                as_float(row.get("input_base_value")),
                as_float(row.get("input_value")),
                as_float(row.get("contribution")) or 0.0,
            )
            for row in members
        ]
        change = as_float(members[0].get("parent_change"))
        if change is None:
            continue
        shaped[(level, code)][(metric, month, comparison)] = DriverSplit(
            metric,
            month,
            comparison,
            as_text(members[0].get("formula_kind")),
            as_text(members[0].get("split_method")),
            change,
            tuple(sorted(inputs, key=lambda i: (ROLE_ORDER.get(i.role, 2), i.metric))),
        )
    return dict(shaped)


# --- values at the group's mix (marts.fct_kpi_standardised) ----------------------------------


@dataclass(frozen=True)
class Standardised:
    """A unit's KPI at the group's mix over one segmenting dimension."""

    value: float
    dimension: str | None
    coverage: float | None  # the part of the group's mix the unit's segments hold


UnitStandardised = dict[tuple[str, date], Standardised]  # (metric, month) -> value


def shape_standardised(rows: Iterable[Record], tree: OrgTree) -> dict[UnitKey, UnitStandardised]:
    """The mart's rows of the tree's units (a pack keeps its own units' only)."""
    levels = {u.code: u.level for u in tree.units.values()}
    shaped: dict[UnitKey, UnitStandardised] = {}
    for row in rows:
        level, code = as_text(row.get("org_level")), as_text(row.get("org_code"))
        metric, month = as_text(row.get("metric_name")), as_date(row.get("period_start"))
        value = as_float(row.get("standardised_value"))
        if None in (level, code, metric, month, value) or levels.get(code) != level:  # type: ignore[arg-type]
            continue
        shaped.setdefault((level, code), {})[(metric, month)] = Standardised(  # type: ignore[index]
            value,  # type: ignore[arg-type]
            as_text(row.get("segment_dimension")),
            as_float(row.get("mix_coverage")),
        )
    return shaped
