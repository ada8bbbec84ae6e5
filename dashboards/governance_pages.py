"""The governance pages: the metric catalog and the data-quality scorecard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import groupby

from dashboards.formatting import (
    MISSING,
    format_count,
    format_month,
    format_target,
    format_timestamp,
    format_value,
    shift_month,
)
from dashboards.i18n import DIRECTION_NAMES, ui
from dashboards.layout import (
    CATALOG_PAGE,
    QUALITY_PAGE,
    RenderedPage,
    SiteContext,
    dimension_words,
    esc,
    label_words,
    metric_anchor,
    render_notices,
    render_shell,
    render_simple_hero,
    tier_words,
    tr,
)
from dashboards.model import MetricInfo, TargetRow, VersionRow, metric_order
from dashboards.notices import PACK_HIDDEN_GATE_FIELDS, QualityRow

# Pass rates at or above these are shown green, then amber; below, red.
PASS_RATE_GOOD = 0.99
PASS_RATE_WARN = 0.95
QUALITY_MONTHS = 13


def scroll_box(table: str) -> str:
    """A table in a box that scrolls sideways when the table is wider than the screen."""
    return f'<div class="table-scroll">{table}</div>'


# --- catalog ----------------------------------------------------------------------------------


def render_change_note(v: VersionRow) -> str:
    """Why a version was made, who asked for it and who approved it; – when not recorded."""
    if not v.change_reason:
        return MISSING
    return (
        f"{esc(v.change_reason)}<br>{tr(ui('requested_by'))} "
        f"{esc(v.change_requested_by or MISSING)} · {tr(ui('approved_by'))} "
        f"{esc(v.change_approved_by or MISSING)}"
    )


def render_versions(versions: Sequence[VersionRow]) -> str:
    rows = "".join(
        f'<tr><td class="num">v{esc(v.definition_version)}</td>'
        f'<td class="num">{esc(format_timestamp(v.changed_at))}</td>'
        f"<td>{esc(v.change_summary or MISSING)}</td>"
        f"<td>{render_change_note(v)}</td>"
        f'<td class="code">{esc((v.definition_hash or "")[:12])}</td></tr>'
        for v in versions
    )
    head = (
        f"<tr>{tr(ui('version'), 'th')}{tr(ui('changed_at'), 'th')}"
        f"{tr(ui('change_summary'), 'th')}{tr(ui('change_note'), 'th')}<th>hash</th></tr>"
    )
    table = f'<table class="grid-table"><thead>{head}</thead><tbody>{rows}</tbody></table>'
    return f'<p class="sub-title">{tr(ui("versions"))}</p>{scroll_box(table)}'


def render_targets(targets: Sequence[TargetRow], info: MetricInfo) -> str:
    rows = "".join(
        f"<tr><td>{tr(tier_words(t.org_level))}</td>"
        f'<td class="r num">{esc(format_target(t.target, info.unit, info.direction) or MISSING)}'
        f'</td><td class="r num">{esc(format_value(t.red_threshold, info.unit))}</td></tr>'
        for t in targets
    )
    head = (
        f"<tr>{tr(ui('tier'), 'th')}{tr(ui('target'), 'th', 'r')}"
        f"{tr(ui('red_threshold'), 'th', 'r')}</tr>"
    )
    table = f'<table class="grid-table"><thead>{head}</thead><tbody>{rows}</tbody></table>'
    return f'<p class="sub-title">{tr(ui("targets"))}</p>{scroll_box(table)}'


def version_text(info: MetricInfo) -> str:
    """The current definition version, when it was first built and its hash: "v2 · … · 3fa9…"."""
    parts = [
        f"v{info.definition_version}" if info.definition_version is not None else "",
        format_timestamp(info.last_changed_at) if info.last_changed_at else "",
        (info.definition_hash or "")[:12],
    ]
    return " · ".join(p for p in parts if p)


def render_metric_card(
    info: MetricInfo,
    targets: Sequence[TargetRow],
    versions: Sequence[VersionRow],
    stale_reason: str | None,
) -> str:
    owner = info.owner_display or MISSING
    owner_html = esc(owner)
    if info.owner_email:
        owner_html += f' · <a href="mailto:{esc(info.owner_email)}">{esc(info.owner_email)}</a>'
    direction = DIRECTION_NAMES.get(info.direction, DIRECTION_NAMES["none"])
    fields = [
        (ui("description"), esc(info.description or "")),
        (ui("definition"), esc(info.definition or "")),
        (ui("formula"), f'<span class="code">{esc(info.formula)}</span>' if info.formula else ""),
        (ui("unit"), esc(info.unit or MISSING)),
        (ui("direction"), tr(direction)),
        (ui("dimension"), tr(dimension_words(info.dimension_key))),
        (ui("owner"), owner_html),
        (ui("sources"), esc(", ".join(info.source_systems))),
        (
            ui("source_columns"),
            f'<span class="code">{esc(", ".join(info.source_columns))}</span>'
            if info.source_columns
            else "",
        ),
        (ui("attributed_to"), esc(info.org_attribute or "")),
        (ui("rollup"), esc(" · ".join(filter(None, (info.rollup_kind, info.metric_type))))),
        (ui("current_version"), esc(version_text(info))),
    ]
    kv = "".join(f"{tr(k, 'dt')}<dd>{v}</dd>" for k, v in fields if v)
    version = (
        f'<span class="tag tag--small">v{info.definition_version}</span>'
        if (info.definition_version is not None)
        else ""
    )
    stale = (
        tr(ui("stale"), "span", "tag tag--stale", f' title="{esc(stale_reason)}"')
        if stale_reason
        else ""
    )
    if not info.is_kpi:
        stale += tr(ui("building_block"), "span", "tag tag--outlier")
    en, zh = label_words(info)
    return (
        f'<article class="metric-card" id="{metric_anchor(info.metric_name)}">'
        f'<h4><span data-zh="{esc(zh)}">{esc(en)}</span> '
        f'<span class="code muted">{esc(info.metric_name)}</span>{version}{stale}</h4>'
        f'<p class="muted" style="margin:2px 0 0">{esc(info.label_zh or "")}</p>'
        f'<dl class="kv">{kv}</dl>'
        f"{render_targets(targets, info) if targets else ''}"
        f"{render_versions(versions) if versions else ''}</article>"
    )


def render_catalog_page(
    ctx: SiteContext,
    targets: Mapping[str, Sequence[TargetRow]],
    history: Mapping[str, Sequence[VersionRow]],
) -> RenderedPage:
    """The governed catalog: owners, then dimensions, then one card per metric."""
    infos = sorted(ctx.infos.values(), key=lambda i: ((i.owner_display or "~").casefold(),))
    stale = ctx.publication.stale_everywhere()
    sections = []
    for owner, owned in groupby(infos, key=lambda i: i.owner_display or MISSING):
        metrics = sorted(owned, key=metric_order)
        dims = []
        for key, group in groupby(metrics, key=lambda i: i.dimension_key):
            cards = "".join(
                render_metric_card(
                    i,
                    targets.get(i.metric_name, ()),
                    history.get(i.metric_name, ()),
                    stale.get(i.metric_name),
                )
                for i in group
            )
            dims.append(
                f'<section class="dimension" data-dimension="{esc(key)}">'
                f'<h3 class="dimension__title">{tr(dimension_words(key))}</h3>{cards}</section>'
            )
        sections.append(
            f'<section class="owner" data-owner="{esc(owner)}">'
            f'<h2 class="owner__title">{tr(ui("owner"))}: {esc(owner)}</h2>'
            f"{''.join(dims)}</section>"
        )
    body = "\n".join(sections) or tr(ui("no_data"), "div", "empty")
    html_text = render_shell(
        path=CATALOG_PAGE,
        title="Metric catalog · opsvalue",
        kind="catalog",
        hero=render_simple_hero(CATALOG_PAGE, ctx, ui("catalog"), ui("catalog_intro")),
        body=body,
        notices=render_notices(ctx.publication, ctx.infos),
        page_data=None,
        needs_plotly=False,
        current_nav="catalog",
    )
    return RenderedPage(CATALOG_PAGE, html_text, 0)


# --- data quality -----------------------------------------------------------------------------


def pass_rate_class(rate: float | None) -> str:
    if rate is None:
        return ""
    if rate >= PASS_RATE_GOOD:
        return "cell--good"
    return "cell--warn" if rate >= PASS_RATE_WARN else "cell--bad"


def render_gate_table(gates: Sequence[Mapping[str, object]], *, pack: bool = False) -> str:
    """The gate state of every source; a pack's table has no reason or file column."""
    rows = []
    for gate in sorted(gates, key=lambda g: str(g.get("source"))):
        state = str(gate.get("state") or "").lower()
        pill_status = "red" if state == "held" else "green" if state == "ok" else "none"
        words = (
            ui("gate_held")
            if state == "held"
            else ui("gate_ok")
            if state == "ok"
            else (state or MISSING,) * 2
        )
        stale = tr(ui("stale"), "span", "tag tag--stale") if gate.get("is_stale") else ""
        reason = "" if pack else f"<td>{esc(gate.get('reason') or '')}</td>"
        last_file = "" if pack else f'<td class="code">{esc(gate.get("last_file") or "")}</td>'
        rows.append(
            f'<tr data-source="{esc(gate.get("source"))}" data-state="{esc(state)}">'
            f"<td>{esc(gate.get('source'))}{stale}</td><td>{esc(gate.get('data_owner'))}</td>"
            f"<td>{tr(words, 'span', f'status status--{pill_status}')}</td>"
            f"<td>{esc(gate.get('check_name') or '')}</td>{reason}"
            f'<td class="num">{esc(format_timestamp(gate.get("since")))}</td>{last_file}'
            f'<td class="num">{esc(format_timestamp(gate.get("last_loaded_at")))}</td></tr>'
        )
    columns = ("source", "owner", "gate", "check", "reason", "since", "last_file", "last_loaded")
    hidden = PACK_HIDDEN_GATE_FIELDS if pack else ()
    head = "".join(tr(ui(k), "th") for k in columns if k not in hidden)
    table = (
        f'<table class="grid-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return (
        '<section class="panel"><div class="panel__head">'
        f"{tr(ui('gate_states'), 'h2', 'panel__title')}</div>{scroll_box(table)}</section>"
    )


def render_held_kpi_table(ctx: SiteContext) -> str:
    """The KPIs checks hold back (values as last published): check, metric, where, since, why."""
    rows = []
    for hold in ctx.publication.held_kpis:
        info = ctx.infos.get(hold.metric_name) or MetricInfo.fallback(hold.metric_name)
        where = f"{hold.org_level} {hold.org_code}" if hold.org_code else None
        rows.append(
            f'<tr data-metric="{esc(hold.metric_name)}" data-org-code="{esc(hold.org_code or "")}">'
            f"<td>{esc(hold.check_name)}</td>"
            f'<td><span data-zh="{esc(info.label_zh or info.label)}">{esc(info.label)}</span> '
            f'<span class="code muted">{esc(hold.metric_name)}</span></td>'
            f"<td>{tr((where, where) if where else ui('every_unit'))}</td>"
            f'<td class="num">{esc(format_timestamp(hold.since))}</td>'
            f"<td>{esc(hold.reason or '')}</td></tr>"
        )
    head = "".join(tr(ui(k), "th") for k in ("check", "metric", "where", "since", "reason"))
    return (
        '<section class="panel" id="held-kpis"><div class="panel__head">'
        f"{tr(ui('held_kpis'), 'h2', 'panel__title')}</div>"
        f"{tr(ui('held_kpis_intro'), 'p', 'muted')}"
        + scroll_box(
            f'<table class="grid-table"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
        + "</section>"
    )


def render_quality_tables(rows: Sequence[QualityRow]) -> str:
    """Latest month per source, grouped by owner, and a pass-rate history grid."""
    latest_by_source: dict[str, QualityRow] = {}
    for row in rows:
        held = latest_by_source.get(row.source)
        if held is None or row.period > held.period:
            latest_by_source[row.source] = row
    latest_month = max(r.period for r in rows)
    months = [shift_month(latest_month, -k) for k in range(QUALITY_MONTHS - 1, -1, -1)]
    rate = {(r.source, r.period): r.pass_rate for r in rows}
    head = "".join(
        tr(ui(k), "th", "r" if k not in ("source", "period", "by_rule") else "")
        for k in (
            "source",
            "period",
            "delivered",
            "loaded",
            "quarantined",
            "rejected",
            "pass_rate",
            "by_rule",
        )
    )
    sections = []
    owners = sorted({r.data_owner or MISSING for r in latest_by_source.values()})
    for owner in owners:
        body = []
        for row in sorted(latest_by_source.values(), key=lambda r: r.source):
            if (row.data_owner or MISSING) != owner:
                continue
            rules = ", ".join(f"{k}: {format_count(v)}" for k, v in row.quarantined_by_rule)
            stale = tr(ui("stale"), "span", "tag tag--stale") if row.is_stale else ""
            body.append(
                f'<tr data-source="{esc(row.source)}"><td>{esc(row.source)}{stale}</td>'
                f'<td class="num">{esc(format_month(row.period))}</td>'
                f'<td class="r num">{format_count(row.rows_delivered)}</td>'
                f'<td class="r num">{format_count(row.rows_loaded)}</td>'
                f'<td class="r num">{format_count(row.rows_quarantined)}</td>'
                f'<td class="r num">{format_count(row.rejected_batches)}</td>'
                f'<td class="cell {pass_rate_class(row.pass_rate)}">'
                f"{esc(format_value(row.pass_rate, 'percent'))}</td>"
                f'<td class="muted">{esc(rules)}</td></tr>'
            )
        table = (
            f'<table class="grid-table"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>"
        )
        sections.append(
            f'<section class="panel" data-owner="{esc(owner)}"><div class="panel__head">'
            f'<h2 class="panel__title">{tr(ui("owner"))}: {esc(owner)}</h2></div>'
            f"{scroll_box(table)}</section>"
        )
    grid_head = "".join(f'<th class="r">{esc(m.strftime("%b %y"))}</th>' for m in months)
    grid_rows = "".join(
        f"<tr><td>{esc(source)}</td>"
        + "".join(
            f'<td class="cell {pass_rate_class(rate.get((source, m)))}">'
            f"{esc(format_value(rate.get((source, m)), 'percent'))}</td>"
            for m in months
        )
        + "</tr>"
        for source in sorted(latest_by_source)
    )
    grid = (
        f'<table class="grid-table"><thead><tr>{tr(ui("source"), "th")}{grid_head}</tr></thead>'
        f"<tbody>{grid_rows}</tbody></table>"
    )
    history = (
        f'<section class="panel"><div class="panel__head">'
        f"{tr(ui('pass_rate_history'), 'h2', 'panel__title')}</div>{scroll_box(grid)}</section>"
    )
    return "\n".join(sections) + "\n" + history


def render_quality_page(
    ctx: SiteContext, rows: Sequence[QualityRow], gates: Sequence[Mapping[str, object]] | None
) -> RenderedPage:
    """The data-quality scorecard by source and owner, with the gate states.

    A pack (ctx.scoped) shows the gates without reasons or file names, and no scorecard figure:
    they count the whole group's deliveries (the caller passes no rows).
    """
    parts = []
    if gates:
        parts.append(render_gate_table(gates, pack=ctx.scoped))
    if ctx.publication.held_kpis:
        parts.append(render_held_kpi_table(ctx))
    if ctx.scoped:
        parts.append(tr(ui("quality_pack"), "div", "empty"))
    elif rows:
        parts.append(render_quality_tables(rows))
    else:
        parts.append(tr(ui("no_quality"), "div", "empty"))
    html_text = render_shell(
        path=QUALITY_PAGE,
        title="Data quality · opsvalue",
        kind="quality",
        hero=render_simple_hero(QUALITY_PAGE, ctx, ui("quality"), ui("quality_intro")),
        body="\n".join(parts),
        notices=render_notices(ctx.publication, ctx.infos),
        page_data=None,
        needs_plotly=False,
        current_nav="quality",
    )
    return RenderedPage(QUALITY_PAGE, html_text, 0)
