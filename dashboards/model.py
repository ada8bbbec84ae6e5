"""What the pages show, shaped from the mart records: pure functions, no HTML and no I/O.

The metric catalog, one tile per metric and unit, and rankings of units on a metric. The org tree
is `org_tree.py`, the publication and quality notices `notices.py`.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from dashboards.formatting import (
    change,
    is_low_volume,
    is_missing,
    month_window,
    shift_month,
    status_class,
)
from dashboards.marts import Record, as_date, as_float, as_int, as_names, as_text, as_timestamp
from dashboards.org_tree import OrgUnit, level_rank

log = logging.getLogger(__name__)


# Order of the dimensions on a page; metrics of an unknown dimension come last, under "other".
DIMENSIONS = ("value", "efficiency", "quality", "risk_control", "service", "key_projects")


OTHER_DIMENSION = "other"


TREND_MONTHS = 13  # the latest month and the same month a year before, on one line


# A value further than this many robust standard deviations from the median is an outlier.
OUTLIER_Z = 3.0


# Scales the median absolute deviation to a standard deviation for normal data.
MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class MetricInfo:
    """A metric's entry in the governed catalog (`marts.dim_metric_catalog`)."""

    metric_name: str
    label: str
    label_zh: str | None = None
    description: str | None = None
    definition: str | None = None  # plain-language definition; the description when absent
    metric_type: str | None = None
    is_kpi: bool = True  # False for building-block volumes published only through KPIs
    definition_hash: str | None = None
    last_changed_at: datetime | None = None
    unit: str | None = None
    direction: str = "none"
    dimension: str | None = None
    owner: str | None = None
    owner_name: str | None = None
    owner_email: str | None = None
    formula: str | None = None
    source_systems: tuple[str, ...] = ()
    source_columns: tuple[str, ...] = ()
    org_attribute: str | None = None
    rollup_kind: str | None = None
    definition_version: int | None = None

    @classmethod
    def fallback(cls, metric_name: str) -> MetricInfo:
        """Metadata for a metric missing from dim_metric_catalog: its name as label, no unit."""
        return cls(metric_name=metric_name, label=metric_name)

    @property
    def meaning(self) -> str | None:
        """What the metric measures, for tooltips: its definition, else its description."""
        return self.definition or self.description

    @property
    def dimension_key(self) -> str:
        return self.dimension if self.dimension in DIMENSIONS else OTHER_DIMENSION

    @property
    def owner_display(self) -> str | None:
        return self.owner_name or self.owner


def metric_infos(rows: Iterable[Record]) -> dict[str, MetricInfo]:
    """Catalog entries by metric_name."""
    infos = {}
    for row in rows:
        name = as_text(row.get("metric_name"))
        if name is None:
            continue
        infos[name] = MetricInfo(
            metric_name=name,
            label=as_text(row.get("label")) or name,
            label_zh=as_text(row.get("label_zh")),
            description=as_text(row.get("description")),
            definition=as_text(row.get("definition")),
            metric_type=as_text(row.get("metric_type")),
            is_kpi=row.get("is_kpi") is not False,
            definition_hash=as_text(row.get("definition_hash")),
            last_changed_at=as_timestamp(row.get("last_changed_at")),
            unit=as_text(row.get("unit")),
            direction=as_text(row.get("direction")) or "none",
            dimension=as_text(row.get("dimension")),
            owner=as_text(row.get("owner")),
            owner_name=as_text(row.get("owner_name")),
            owner_email=as_text(row.get("owner_email")),
            formula=as_text(row.get("formula")),
            source_systems=as_names(row.get("source_systems")),
            source_columns=as_names(row.get("source_columns")),
            org_attribute=as_text(row.get("org_attribute")),
            rollup_kind=as_text(row.get("rollup_kind")),
            definition_version=as_int(row.get("definition_version")),
        )
    return infos


def metric_order(info: MetricInfo) -> tuple[int, str, str]:
    """Tiles run by dimension, then label."""
    dims = (*DIMENSIONS, OTHER_DIMENSION)
    return (dims.index(info.dimension_key), info.label.casefold(), info.metric_name)


@dataclass(frozen=True)
class TargetRow:
    org_level: str
    target: float | None
    red_threshold: float | None


@dataclass(frozen=True)
class VersionRow:
    definition_version: int | None
    definition_hash: str | None
    changed_at: datetime | None
    change_summary: str | None


def targets_by_metric(rows: Iterable[Record]) -> dict[str, list[TargetRow]]:
    """`dim_metric_targets` per metric, in tier order."""
    found: dict[str, list[TargetRow]] = {}
    for row in rows:
        name = as_text(row.get("metric_name"))
        if name:
            found.setdefault(name, []).append(
                TargetRow(
                    as_text(row.get("org_level")) or "",
                    as_float(row.get("target")),
                    as_float(row.get("red_threshold")),
                )
            )
    for targets in found.values():
        targets.sort(key=lambda t: level_rank(t.org_level))
    return found


def history_by_metric(rows: Iterable[Record]) -> dict[str, list[VersionRow]]:
    """`metric_definition_history` per metric, newest version first."""
    found: dict[str, list[VersionRow]] = {}
    for row in rows:
        name = as_text(row.get("metric_name"))
        if name:
            changed = row.get("changed_at")
            found.setdefault(name, []).append(
                VersionRow(
                    as_int(row.get("definition_version")),
                    as_text(row.get("definition_hash")),
                    changed if isinstance(changed, datetime) else None,
                    as_text(row.get("change_summary")),
                )
            )
    for versions in found.values():
        versions.sort(key=lambda v: v.definition_version or 0, reverse=True)
    return found


@dataclass(frozen=True)
class KpiPoint:
    """One row of fct_kpi_values: a metric's value for one unit and month."""

    value: float | None
    numerator: float | None = None
    denominator: float | None = None
    target: float | None = None
    red_threshold: float | None = None
    status: str | None = None
    definition_version: int | None = None

    @property
    def status_class(self) -> str:
        return status_class(self.status)


UnitValues = dict[str, dict[date, KpiPoint]]  # metric_name -> period_start -> point


UnitKey = tuple[str, str]  # (org_level, org_code)


def values_by_unit(rows: Iterable[Record]) -> dict[UnitKey, UnitValues]:
    """fct_kpi_values grouped by unit, then metric, then month."""
    grouped: dict[UnitKey, UnitValues] = {}
    for row in rows:
        period = as_date(row.get("period_start"))
        metric = as_text(row.get("metric_name"))
        if period is None or metric is None:
            continue
        key = (str(row.get("org_level")), str(row.get("org_code")))
        grouped.setdefault(key, {}).setdefault(metric, {})[period] = KpiPoint(
            value=as_float(row.get("value")),
            numerator=as_float(row.get("numerator")),
            denominator=as_float(row.get("denominator")),
            target=as_float(row.get("target")),
            red_threshold=as_float(row.get("red_threshold")),
            status=as_text(row.get("status")),
            definition_version=as_int(row.get("definition_version")),
        )
    return grouped


@dataclass(frozen=True)
class Tile:
    """One metric on one unit's page, in the page's latest month."""

    info: MetricInfo
    month: date
    months: tuple[date, ...]  # the trend window, oldest first, ending with `month`
    values: tuple[float | None, ...]  # one per month of the window
    latest: KpiPoint | None
    previous: KpiPoint | None
    year_ago: KpiPoint | None
    stale_reason: str | None = None
    is_stale: bool = False

    @property
    def value(self) -> float | None:
        return self.latest.value if self.latest else None

    @property
    def status(self) -> str:
        return self.latest.status_class if self.latest else "none"

    @property
    def target(self) -> float | None:
        return self.latest.target if self.latest else None

    @property
    def volume(self) -> float | None:
        return self.latest.denominator if self.latest else None

    @property
    def mom(self) -> float | None:
        """Change against the previous month."""
        return change(self.value, self.previous.value if self.previous else None)

    @property
    def yoy(self) -> float | None:
        """Change against the same month last year."""
        return change(self.value, self.year_ago.value if self.year_ago else None)

    @property
    def version(self) -> int | None:
        """The definition version of the latest value, else the catalog's current one."""
        if self.latest and self.latest.definition_version is not None:
            return self.latest.definition_version
        return self.info.definition_version

    @property
    def yoy_definition_changed(self) -> bool:
        """True when last year's value was computed under another definition version."""
        then = self.year_ago.definition_version if self.year_ago else None
        now = self.latest.definition_version if self.latest else None
        return then is not None and now is not None and then != now


def make_tile(
    info: MetricInfo, history: Mapping[date, KpiPoint], month: date, stale_reason: str | None
) -> Tile:
    months = month_window(month, TREND_MONTHS)
    return Tile(
        info=info,
        month=month,
        months=months,
        values=tuple(history[m].value if m in history else None for m in months),
        latest=history.get(month),
        previous=history.get(shift_month(month, -1)),
        year_ago=history.get(shift_month(month, -12)),
        stale_reason=stale_reason,
        is_stale=stale_reason is not None,
    )


def metric_latest_months(values: Mapping[UnitKey, UnitValues]) -> dict[str, date]:
    """The latest month each metric is published for, over all units.

    A cohort metric (13-month persistency) is published a year behind the others: its tiles
    show its own latest month, while a unit missing a month of an up-to-date metric shows "–".
    """
    months: dict[str, date] = {}
    for unit_values in values.values():
        for name, history in unit_values.items():
            if history:
                months[name] = max(months.get(name, date.min), max(history))
    return months


def unit_tiles(
    values: UnitValues,
    infos: Mapping[str, MetricInfo],
    stale: Mapping[str, str] | None = None,
    metric_months: Mapping[str, date] | None = None,
) -> tuple[date | None, tuple[Tile, ...]]:
    """The page's latest month and a tile per KPI with rows, in dimension then label order.

    Each tile compares its metric's latest month (`metric_months`, else the unit's latest row)
    with the month before and the same month a year before; a missing row shows "–".
    """
    stale = stale or {}
    metric_months = metric_months or {}
    tiles = [
        make_tile(
            infos.get(name) or MetricInfo.fallback(name),
            history,
            metric_months.get(name) or max(history),
            stale.get(name),
        )
        for name, history in values.items()
        # building-block volumes (is_kpi false) show as the KPIs' "n =", not as tiles
        if history and (name not in infos or infos[name].is_kpi)
    ]
    if not tiles:
        return None, ()
    tiles.sort(key=lambda t: metric_order(t.info))
    return max(t.month for t in tiles), tuple(tiles)


@dataclass(frozen=True)
class RankRow:
    """One unit in a ranking on one metric: ranked, or shown unranked when its base is small."""

    unit: OrgUnit
    point: KpiPoint | None
    rank: int | None
    low_volume: bool
    outlier: bool = False

    @property
    def value(self) -> float | None:
        return self.point.value if self.point else None


def outlier_flags(values: Sequence[float], z: float = OUTLIER_Z) -> list[bool]:
    """Which values lie more than `z` robust standard deviations from the median.

    Median and MAD rather than mean and standard deviation, so the outlier itself does not
    widen the band; with fewer than 4 values or no spread nothing is flagged.
    """
    if len(values) < 4:
        return [False] * len(values)
    median = statistics.median(values)
    spread = statistics.median(abs(v - median) for v in values) * MAD_TO_SD
    if spread == 0:
        return [False] * len(values)
    return [abs(v - median) / spread > z for v in values]


def rank_units(
    entries: Sequence[tuple[OrgUnit, KpiPoint | None]], direction: str | None
) -> list[RankRow]:
    """Rank units on a metric, best first for its direction (largest first when none).

    Units whose ratio rests on fewer than LOW_VOLUME_MIN cases follow unranked, and units with
    no value come last: a tiny unit at 100% never tops the list.
    """
    lower_better = direction == "lower_is_better"
    ranked, small, empty = [], [], []
    for unit, point in entries:
        if point is None or is_missing(point.value):
            empty.append((unit, point))
        elif is_low_volume(point.denominator):
            small.append((unit, point))
        else:
            ranked.append((unit, point))

    def order(item: tuple[OrgUnit, KpiPoint]) -> tuple[float, str]:
        value = item[1].value
        return (value if lower_better else -value, item[0].code)  # type: ignore[operator]

    ranked.sort(key=order)
    small.sort(key=order)
    empty.sort(key=lambda item: item[0].code)
    values = [p.value for _, p in ranked]
    flags = outlier_flags(values)  # type: ignore[arg-type]
    # Equal values share a rank (1, 1, 3): the order among them is only the codes' order.
    rows = [
        RankRow(u, p, values.index(p.value) + 1, False, flag)
        for (u, p), flag in zip(ranked, flags, strict=True)
    ]
    rows += [RankRow(u, p, None, True) for u, p in small]
    rows += [RankRow(u, p, None, False) for u, p in empty]
    return rows
