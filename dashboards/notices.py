"""The publication notice every page shows, what a manager's pack may show of it, and the
data-quality rows: pure functions over the meta and quality marts, no HTML and no I/O."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from dashboards.marts import Marts, Record, as_date, as_float, as_text


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
        metric, check = as_text(r.get("metric_name")), as_text(r.get("check_name"))
        if metric is None or check is None:
            continue
        level, code = as_text(r.get("org_level")), as_text(r.get("org_code"))
        if units is not None and code is not None and (level, code) not in units:
            continue
        stamp = r.get("since")
        since = stamp if isinstance(stamp, datetime) else None
        reason = None if units is not None and code is None else as_text(r.get("reason"))
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
            source=as_text(r.get("source")) or "?",
            data_owner=as_text(r.get("data_owner")),
            check_name=as_text(r.get("check_name")),
            reason=as_text(r.get("reason")),
            since=r["since"] if isinstance(r.get("since"), datetime) else None,
        )
        for r in marts.rows("meta.source_gate_state")
        if (as_text(r.get("state")) or "").lower() == "held"
    ]
    stale = {
        str(r["metric_name"]): as_text(r.get("reason")) or "stale"
        for r in marts.rows("meta.stale_metrics")
        if as_text(r.get("metric_name"))
    }
    return Publication(
        published_at=max(stamps) if stamps else None,
        gates_known=marts.has("meta.source_gate_state"),
        held=tuple(sorted(held, key=lambda h: h.source)),
        stale_metrics=stale,
        held_kpis=held_kpis(marts.rows("meta.kpi_holds"), units),
    )


# The gate's reasons and file names are free text about the whole group: a delivered file's name
# can carry any unit's code or name ("claims_LIF-SH_2026-10.csv"). A pack for one subtree shows
# the gates' structured facts only (source, owner, state, check, since) and words of its own.
PACK_HIDDEN_GATE_FIELDS = ("reason", "last_file")


PACK_STALE_REASON = "a source of this metric is held back or late: see Data quality"


def pack_publication(found: Publication) -> Publication:
    """The publication notice as a pack shows it: held sources without the gate's reason."""
    return replace(
        found,
        held=tuple(replace(h, reason=None) for h in found.held),
        stale_metrics=dict.fromkeys(found.stale_metrics, PACK_STALE_REASON),
    )


def pack_gate_rows(rows: Iterable[Record]) -> list[Record]:
    """Gate states as a pack shows them: no reason, no file name."""
    return [{**row, **dict.fromkeys(PACK_HIDDEN_GATE_FIELDS)} for row in rows]


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
    counts = [(str(k), as_float(v)) for k, v in parsed.items()]
    kept = [(k, v) for k, v in counts if v]
    return tuple(sorted(kept, key=lambda kv: (-kv[1], kv[0])))  # type: ignore[arg-type,return-value]


def quality_rows(rows: Iterable[Record]) -> list[QualityRow]:
    found = []
    for row in rows:
        period = as_date(row.get("period_start"))
        source = as_text(row.get("source"))
        if period is None or source is None:
            continue
        found.append(
            QualityRow(
                source=source,
                data_owner=as_text(row.get("data_owner")),
                period=period,
                rows_delivered=as_float(row.get("rows_delivered")),
                rows_loaded=as_float(row.get("rows_loaded")),
                rows_quarantined=as_float(row.get("rows_quarantined")),
                rejected_batches=as_float(row.get("rejected_batches")),
                pass_rate=as_float(row.get("pass_rate")),
                is_stale=bool(row.get("is_stale")),
                quarantined_by_rule=quarantine_counts(row.get("rows_quarantined_by_rule")),
            )
        )
    return sorted(found, key=lambda r: (r.data_owner or "", r.source, r.period))
