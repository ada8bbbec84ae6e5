"""What the pages show, shaped from the mart records: pure functions, no HTML and no I/O.

The org tree (current units only, plus the back-office centers), the metric catalog, one tile
per metric and unit, rankings of units on a metric, and the publication notice.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from dashboards.formatting import (
    change,
    is_low_volume,
    is_missing,
    month_window,
    shift_month,
    status_class,
)
from dashboards.marts import Marts, Record, as_date

log = logging.getLogger(__name__)

TIERS = ("group", "subsidiary", "branch", "sub_branch")
CENTER = "center"
GROUP = "group"
# Order of the dimensions on a page; metrics of an unknown dimension come last, under "other".
DIMENSIONS = ("value", "efficiency", "quality", "risk_control", "service", "key_projects")
OTHER_DIMENSION = "other"
TREND_MONTHS = 13  # the latest month and the same month a year before, on one line
# A value further than this many robust standard deviations from the median is an outlier.
OUTLIER_Z = 3.0
# Scales the median absolute deviation to a standard deviation for normal data.
MAD_TO_SD = 1.4826


# --- org tree ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgUnit:
    """One page of the site: a unit of the org tree (current version) or a center."""

    code: str
    name: str
    level: str
    parent: str | None = None
    detail: str | None = None  # centers: the function they serve


@dataclass(frozen=True)
class OrgTree:
    """The current org tree, with centers hanging off the group; `root` is the site's top."""

    units: Mapping[str, OrgUnit]
    root: str | None
    _children: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, units: Iterable[OrgUnit], root: str | None) -> OrgTree:
        by_code = {u.code: u for u in units}
        children: dict[str, list[str]] = {}
        for unit in by_code.values():
            parent = by_code.get(unit.parent or "")
            if parent is not None and next_tier(parent.level) == unit.level:
                children.setdefault(parent.code, []).append(unit.code)
        return cls(
            units=by_code,
            root=root if root in by_code else None,
            _children={k: tuple(sorted(v)) for k, v in children.items()},
        )

    def __contains__(self, code: object) -> bool:
        return code in self.units

    def unit(self, code: str) -> OrgUnit:
        return self.units[code]

    def children(self, code: str) -> list[OrgUnit]:
        """The units one tier below, by code; centers are nobody's children."""
        return [self.units[c] for c in self._children.get(code, ())]

    def parent(self, code: str) -> OrgUnit | None:
        return self.units.get(self.units[code].parent or "")

    def ancestors(self, code: str) -> list[OrgUnit]:
        """The units above `code` that are in this tree, top first."""
        chain: list[OrgUnit] = []
        parent = self.parent(code)
        while parent is not None and parent.code not in {u.code for u in chain}:
            chain.insert(0, parent)
            parent = self.parent(parent.code)
        return chain

    def breadcrumbs(self, code: str) -> list[OrgUnit]:
        """Ancestors in the tree, then the unit itself; nothing above a scoped root."""
        return [*self.ancestors(code), self.units[code]]

    def siblings(self, code: str) -> list[OrgUnit]:
        """The units the page's unit is ranked among, itself included; empty at the top.

        Centers are compared with the other centers; a unit whose parent is outside the tree
        (the root of a scoped build) has no siblings here.
        """
        unit = self.units[code]
        if unit.level == CENTER:
            centers = self.centers()
            return centers if len(centers) > 1 else []
        parent = self.parent(code)
        return self.children(parent.code) if parent is not None else []

    def centers(self) -> list[OrgUnit]:
        return sorted((u for u in self.units.values() if u.level == CENTER), key=lambda u: u.code)

    def descendants(self, code: str) -> list[OrgUnit]:
        """Every unit below `code`, depth first, children in code order."""
        found: list[OrgUnit] = []
        for child in self.children(code):
            found.append(child)
            found.extend(self.descendants(child.code))
        return found

    def ordered(self) -> list[OrgUnit]:
        """Every unit: the root's subtree depth first, then the centers."""
        top = [self.units[self.root], *self.descendants(self.root)] if self.root else []
        seen = {u.code for u in top}
        rest = sorted(
            (u for u in self.units.values() if u.code not in seen),
            key=lambda u: (level_rank(u.level), u.code),
        )
        return top + rest


def level_rank(level: str) -> int:
    order = (*TIERS, CENTER)
    return order.index(level) if level in order else len(order)


def next_tier(level: str) -> str | None:
    """The tier below `level`: group -> subsidiary -> branch -> sub_branch -> None."""
    if level not in TIERS or level == TIERS[-1]:
        return None
    return TIERS[TIERS.index(level) + 1]


def _text(value: object) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value).strip()


def current_org_rows(rows: Iterable[Record]) -> list[Record]:
    """The current row of every org code: is_current (or an open validity), latest valid_from."""
    best: dict[str, Record] = {}
    for row in rows:
        code = _text(row.get("org_code"))
        is_current = row.get("is_current")
        current = bool(is_current) if is_current is not None else row.get("valid_to") is None
        if code is None or not current:
            continue
        held = best.get(code)
        since = as_date(row.get("valid_from")) or date.min
        if held is None or since >= (as_date(held.get("valid_from")) or date.min):
            best[code] = row
    return list(best.values())


def build_org_tree(
    org_rows: Iterable[Record],
    center_rows: Iterable[Record],
    center_codes_with_values: Iterable[str] = (),
) -> OrgTree:
    """The current org tree from dim_org, with every center (dim_centers, or with values)."""
    units: list[OrgUnit] = []
    for row in current_org_rows(org_rows):
        code = str(row["org_code"]).strip()
        level = _text(row.get("org_level")) or ""
        if level not in TIERS:
            log.warning("site: org %s has unknown level %r; no page", code, level)
            continue
        name = _text(row.get("org_name")) or code
        units.append(OrgUnit(code, name, level, _text(row.get("parent_code"))))
    groups = sorted(u.code for u in units if u.level == GROUP)
    root = groups[0] if groups else None
    codes = {u.code for u in units}
    centers: dict[str, OrgUnit] = {}
    for row in center_rows:
        code = _text(row.get("center_code"))
        if code and code not in codes:
            name = _text(row.get("center_name")) or code
            centers[code] = OrgUnit(code, name, CENTER, root, _text(row.get("function")))
    for code in center_codes_with_values:
        if code not in centers and code not in codes:
            centers[code] = OrgUnit(code, code, CENTER, root)
    return OrgTree.of([*units, *centers.values()], root)


def scope_tree(tree: OrgTree, code: str) -> OrgTree:
    """The subtree of one unit, for a manager's pack: nothing above or beside it.

    A center's pack is its own page only; the group's pack is the whole site.
    """
    if code not in tree:
        known = ", ".join(sorted(tree.units)[:12])
        raise ValueError(f"unknown org code {code!r}: not a current unit or center (e.g. {known})")
    if code == tree.root:
        return tree
    top = tree.unit(code)
    members = [OrgUnit(top.code, top.name, top.level, None, top.detail)]
    if top.level != CENTER:
        members.extend(tree.descendants(code))
    return OrgTree.of(members, code)


# --- metric catalog ---------------------------------------------------------------------------


def _names(value: object) -> tuple[str, ...]:
    """A list column, a JSON list in a string, or a comma-separated string, as names."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value if _text(v))
    text = str(value).strip()
    if text.startswith("["):
        try:
            return _names(json.loads(text))
        except ValueError:
            pass
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _int(value: object) -> int | None:
    if is_missing(value):  # type: ignore[arg-type]
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _timestamp(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _float(value: object) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if is_missing(number) else number


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
        name = _text(row.get("metric_name"))
        if name is None:
            continue
        infos[name] = MetricInfo(
            metric_name=name,
            label=_text(row.get("label")) or name,
            label_zh=_text(row.get("label_zh")),
            description=_text(row.get("description")),
            definition=_text(row.get("definition")),
            metric_type=_text(row.get("metric_type")),
            is_kpi=row.get("is_kpi") is not False,
            definition_hash=_text(row.get("definition_hash")),
            last_changed_at=_timestamp(row.get("last_changed_at")),
            unit=_text(row.get("unit")),
            direction=_text(row.get("direction")) or "none",
            dimension=_text(row.get("dimension")),
            owner=_text(row.get("owner")),
            owner_name=_text(row.get("owner_name")),
            owner_email=_text(row.get("owner_email")),
            formula=_text(row.get("formula")),
            source_systems=_names(row.get("source_systems")),
            source_columns=_names(row.get("source_columns")),
            org_attribute=_text(row.get("org_attribute")),
            rollup_kind=_text(row.get("rollup_kind")),
            definition_version=_int(row.get("definition_version")),
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
        name = _text(row.get("metric_name"))
        if name:
            found.setdefault(name, []).append(
                TargetRow(
                    _text(row.get("org_level")) or "",
                    _float(row.get("target")),
                    _float(row.get("red_threshold")),
                )
            )
    for targets in found.values():
        targets.sort(key=lambda t: level_rank(t.org_level))
    return found


def history_by_metric(rows: Iterable[Record]) -> dict[str, list[VersionRow]]:
    """`metric_definition_history` per metric, newest version first."""
    found: dict[str, list[VersionRow]] = {}
    for row in rows:
        name = _text(row.get("metric_name"))
        if name:
            changed = row.get("changed_at")
            found.setdefault(name, []).append(
                VersionRow(
                    _int(row.get("definition_version")),
                    _text(row.get("definition_hash")),
                    changed if isinstance(changed, datetime) else None,
                    _text(row.get("change_summary")),
                )
            )
    for versions in found.values():
        versions.sort(key=lambda v: v.definition_version or 0, reverse=True)
    return found


# --- KPI values -------------------------------------------------------------------------------


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
        metric = _text(row.get("metric_name"))
        if period is None or metric is None:
            continue
        key = (str(row.get("org_level")), str(row.get("org_code")))
        grouped.setdefault(key, {}).setdefault(metric, {})[period] = KpiPoint(
            value=_float(row.get("value")),
            numerator=_float(row.get("numerator")),
            denominator=_float(row.get("denominator")),
            target=_float(row.get("target")),
            red_threshold=_float(row.get("red_threshold")),
            status=_text(row.get("status")),
            definition_version=_int(row.get("definition_version")),
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


# --- rankings ---------------------------------------------------------------------------------


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


# --- publication notice -----------------------------------------------------------------------


@dataclass(frozen=True)
class HeldSource:
    source: str
    data_owner: str | None
    check_name: str | None
    reason: str | None
    since: datetime | None


@dataclass(frozen=True)
class HeldKpi:
    """A metric a KPI check holds back at one unit (org_code None: at every unit); the
    publication kept its previously published values (meta.kpi_holds)."""

    check_name: str
    metric_name: str
    org_level: str | None
    org_code: str | None
    reason: str | None
    since: datetime | None

    @property
    def why(self) -> str:
        """The stale reason a tile or card shows."""
        since = f" since {self.since:%Y-%m-%d %H:%M}" if self.since else ""
        reason = f": {self.reason}" if self.reason else ""
        return f"held back by {self.check_name}{since}, values as last published{reason}"


@dataclass(frozen=True)
class Publication:
    """The publication notice every page shows."""

    published_at: datetime | None = None
    gates_known: bool = False  # meta.source_gate_state exists
    held: tuple[HeldSource, ...] = ()
    stale_metrics: Mapping[str, str] = field(default_factory=dict)  # metric_name -> reason
    held_kpis: tuple[HeldKpi, ...] = ()

    def stale_for(self, org_level: str, org_code: str) -> dict[str, str]:
        """metric_name -> why the metric's values on one unit's page are not current: a stale or
        held source, or a check holding the metric back at this unit or at every unit."""
        out = dict(self.stale_metrics)
        for hold in self.held_kpis:
            if hold.org_code is None or (hold.org_level, hold.org_code) == (org_level, org_code):
                out[hold.metric_name] = "; ".join(
                    r for r in (out.get(hold.metric_name), hold.why) if r
                )
        return out

    def stale_everywhere(self) -> dict[str, str]:
        """metric_name -> why the metric is not current at any unit (the catalog's view)."""
        out = dict(self.stale_metrics)
        for hold in self.held_kpis:
            if hold.org_code is None:
                out[hold.metric_name] = "; ".join(
                    r for r in (out.get(hold.metric_name), hold.why) if r
                )
        return out


def held_kpis(
    rows: Iterable[Record], units: Collection[tuple[str, str]] | None = None
) -> tuple[HeldKpi, ...]:
    """The KPI holds; with `units` (level, code), a scoped site's: the holds of those units, and
    those of every unit without their reason (it may quote another unit's values)."""
    found = []
    for r in rows:
        metric, check = _text(r.get("metric_name")), _text(r.get("check_name"))
        if metric is None or check is None:
            continue
        level, code = _text(r.get("org_level")), _text(r.get("org_code"))
        if units is not None and code is not None and (level, code) not in units:
            continue
        stamp = r.get("since")
        since = stamp if isinstance(stamp, datetime) else None
        reason = None if units is not None and code is None else _text(r.get("reason"))
        found.append(HeldKpi(check, metric, level, code, reason, since))
    return tuple(sorted(found, key=lambda h: (h.metric_name, h.org_level or "", h.org_code or "")))


def publication(marts: Marts, units: Collection[tuple[str, str]] | None = None) -> Publication:
    """Last publication, held sources, stale metrics and held KPIs from the meta tables, when
    present; with `units`, only the held KPIs of those units (and of every unit)."""
    stamps = [
        r["published_at"]
        for r in marts.rows("meta.publication")
        if isinstance(r.get("published_at"), datetime)
    ]
    held = [
        HeldSource(
            source=_text(r.get("source")) or "?",
            data_owner=_text(r.get("data_owner")),
            check_name=_text(r.get("check_name")),
            reason=_text(r.get("reason")),
            since=r["since"] if isinstance(r.get("since"), datetime) else None,
        )
        for r in marts.rows("meta.source_gate_state")
        if (_text(r.get("state")) or "").lower() == "held"
    ]
    stale = {
        str(r["metric_name"]): _text(r.get("reason")) or "stale"
        for r in marts.rows("meta.stale_metrics")
        if _text(r.get("metric_name"))
    }
    return Publication(
        published_at=max(stamps) if stamps else None,
        gates_known=marts.has("meta.source_gate_state"),
        held=tuple(sorted(held, key=lambda h: h.source)),
        stale_metrics=stale,
        held_kpis=held_kpis(marts.rows("meta.kpi_holds"), units),
    )


# --- data quality -----------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityRow:
    """One source's delivery in one month, from marts.data_quality_scorecard."""

    source: str
    data_owner: str | None
    period: date
    rows_delivered: float | None
    rows_loaded: float | None
    rows_quarantined: float | None
    rejected_batches: float | None
    pass_rate: float | None
    is_stale: bool
    quarantined_by_rule: tuple[tuple[str, float], ...]


def quarantine_counts(value: object) -> tuple[tuple[str, float], ...]:
    """Quarantined rows by rule from a JSON object (string or map), largest first."""
    if value is None:
        return ()
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value) if value.strip() else {}
        except ValueError:
            return ()
    if isinstance(parsed, list):  # a DuckDB MAP arrives as a list of key/value pairs
        parsed = {str(p.get("key")): p.get("value") for p in parsed if isinstance(p, dict)}
    if not isinstance(parsed, dict):
        return ()
    counts = [(str(k), _float(v)) for k, v in parsed.items()]
    kept = [(k, v) for k, v in counts if v]
    return tuple(sorted(kept, key=lambda kv: (-kv[1], kv[0])))  # type: ignore[arg-type,return-value]


def quality_rows(rows: Iterable[Record]) -> list[QualityRow]:
    found = []
    for row in rows:
        period = as_date(row.get("period_start"))
        source = _text(row.get("source"))
        if period is None or source is None:
            continue
        found.append(
            QualityRow(
                source=source,
                data_owner=_text(row.get("data_owner")),
                period=period,
                rows_delivered=_float(row.get("rows_delivered")),
                rows_loaded=_float(row.get("rows_loaded")),
                rows_quarantined=_float(row.get("rows_quarantined")),
                rejected_batches=_float(row.get("rejected_batches")),
                pass_rate=_float(row.get("pass_rate")),
                is_stale=bool(row.get("is_stale")),
                quarantined_by_rule=quarantine_counts(row.get("rows_quarantined_by_rule")),
            )
        )
    return sorted(found, key=lambda r: (r.data_owner or "", r.source, r.period))
