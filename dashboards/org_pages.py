"""The page of every org unit and center: scorecard, rankings, drill-down chart, navigation.

Pure functions from the shaped model (dashboards.model) to HTML strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import groupby

from dashboards.figures import (
    LINE_COLOR,
    PALETTE,
    TARGET_COLOR,
    UNIT_COLOR,
    Line,
    compare_spec,
    sparkline_spec,
)
from dashboards.formatting import (
    MISSING,
    change_arrow,
    change_tone,
    display_number,
    format_change,
    format_count,
    format_month,
    format_target,
    format_value,
    format_volume,
    is_low_volume,
    shift_month,
    status_label,
)
from dashboards.i18n import DIRECTION_NAMES, Words, ui
from dashboards.layout import (
    CATALOG_PAGE,
    INDEX_PAGE,
    RenderedPage,
    SiteContext,
    dimension_words,
    esc,
    label_words,
    metric_anchor,
    plural_words,
    render_notices,
    render_shell,
    root_prefix,
    slug,
    tier_words,
    tr,
)
from dashboards.model import KpiPoint, MetricInfo, RankRow, Tile, rank_units, unit_tiles
from dashboards.org_tree import CENTER, OrgUnit
from dashboards.scorecard_pages import value_sections
from dashboards.standardised import MixColumn, mix_column
from dashboards.why_view import render_top_movers, render_why_panel, why_link

ADDITIVE = frozenset({"additive", "semi_additive"})
STATUS_KEYS = ("green", "amber", "red")
STATUS_FACTS = ("on_target", "near_target", "off_target")


def unit_link(unit: OrgUnit, ctx: SiteContext, root: str, cls: str = "") -> str:
    cls_attr = f' class="{cls}"' if cls else ""
    href = f"{root}{ctx.paths[unit.code]}"
    return f'<a{cls_attr} href="{href}" data-code="{esc(unit.code)}">{esc(unit.name)}</a>'


def render_breadcrumbs(ctx: SiteContext, unit: OrgUnit, root: str) -> str:
    """Links up the tree to the site's top; the current unit last, not linked."""
    crumbs = ctx.tree.breadcrumbs(unit.code)
    items = [f"<li>{unit_link(u, ctx, root)}</li>" for u in crumbs[:-1]]
    items.append(f'<li aria-current="page">{esc(unit.name)}</li>')
    return f'<ol class="crumbs" aria-label="Breadcrumb">{"".join(items)}</ol>'


def render_hero(
    ctx: SiteContext, unit: OrgUnit, month: date | None, tiles: Sequence[Tile], root: str
) -> str:
    """Breadcrumb, tier and name, the status counts and drill-down chips to the children."""
    tier = tier_words(unit.level)
    detail = f" · {unit.detail}" if unit.detail else ""
    counts = {s: sum(1 for t in tiles if t.status == s and not t.is_stale) for s in STATUS_KEYS}
    # Until targets are published every status is unknown: "–", not a misleading 0.
    has_status = any(t.status != "none" for t in tiles)
    facts = [
        (ui("latest_month"), format_month(month) if month else MISSING, ""),
        (ui("metrics"), str(len(tiles)), ""),
        *(
            (ui(key), str(counts[status]) if has_status else MISSING, f"fact--{status}")
            for key, status in zip(STATUS_FACTS, STATUS_KEYS, strict=True)
        ),
    ]
    facts_html = "".join(
        f'<div class="{cls}">{tr(words, "dt")}<dd>{esc(value)}</dd></div>'
        for words, value, cls in facts
    )
    children = ctx.tree.children(unit.code)
    drill = ""
    if children:
        chips = "".join(
            f'<a class="chip" href="{root}{ctx.paths[c.code]}" data-code="{esc(c.code)}">'
            f'{esc(c.name)} <span class="chip__code">{esc(c.code)}</span></a>'
            for c in children
        )
        drill = (
            f'<nav class="drill" aria-label="Drill down">'
            f"{tr(plural_words(children[0].level), 'span', 'drill__label')}{chips}</nav>"
        )
    return f"""<section class="hero"><div class="wrap hero__inner">
{render_breadcrumbs(ctx, unit, root)}
<div class="hero__row">
<div><p class="hero__tier"><span data-zh="{esc(tier[1])}">{esc(tier[0])}</span>{esc(detail)}</p>
<h1 class="hero__title">{esc(unit.name)}<span class="hero__code">{esc(unit.code)}</span></h1></div>
<dl class="facts">{facts_html}</dl>
</div>
{drill}
</div></section>"""


def render_change(
    delta: float | None, base: KpiPoint | None, info: MetricInfo, words: Words, month: date
) -> str:
    """One comparison line: MoM or YoY, the change badge, then the value it is compared with."""
    when = month.strftime("%b %y")
    base_value = format_value(base.value if base else None, info.unit)
    if delta is None:
        badge = f'<span class="change change--none">{MISSING}</span>'
    else:
        tone = change_tone(display_number(delta, info.unit), info.direction) or "none"
        badge = (
            f'<span class="change change--{tone}">'
            f"{change_arrow(display_number(delta, info.unit))} "
            f"{esc(format_change(delta, info.unit))}</span>"
        )
    base_html = f"{esc(when)}: {esc(base_value)}"
    return (
        f"{tr(words, 'span', 'k')}{badge}"
        f'<span class="base" title="{esc(format_month(month))}">{base_html}</span>'
    )


def render_about(info: MetricInfo, tile: Tile, root: str) -> str:
    """The metric's definition, owner and version on click, linking to the catalog."""
    version = tile.version
    owner = info.owner_display or MISSING
    rows = [
        (ui("definition"), info.meaning or MISSING),
        (ui("owner"), owner + (f" <{info.owner_email}>" if info.owner_email else "")),
        (ui("version"), f"v{version}" if version is not None else MISSING),
        (ui("direction"), DIRECTION_NAMES.get(info.direction, DIRECTION_NAMES["none"])[0]),
    ]
    if info.formula:
        rows.insert(1, (ui("formula"), info.formula))
    items = "".join(f"{tr(k, 'dt')}<dd>{esc(v)}</dd>" for k, v in rows)
    about_en, about_zh = ui("about_metric")
    return (
        f'<details class="about"><summary title="{esc(about_en)}" data-zh-title="{esc(about_zh)}"'
        f' aria-label="{esc(about_en)}">i</summary><div class="about__body">'
        f"<dl>{items}</dl>"
        f'<p><a href="{root}{CATALOG_PAGE}#{metric_anchor(info.metric_name)}">'
        f"{tr(ui('in_catalog'))} ›</a></p></div></details>"
    )


def tile_tooltip(info: MetricInfo, tile: Tile) -> str:
    """The hover text of a tile's label: definition, owner and version."""
    version = tile.version
    parts = [info.meaning or info.label]
    if info.owner_display:
        parts.append(f"Owner: {info.owner_display}")
    if version is not None:
        parts.append(f"Version: v{version}")
    return " · ".join(parts)


def render_tile(tile: Tile, index: int, root: str, has_compare: bool, page_month: date) -> str:
    """One KPI tile: value and status, target and volume, MoM and YoY, sparkline, about."""
    info = tile.info
    status = "none" if tile.latest is None else tile.status
    classes = f"tile tile--{status}" + (" tile--stale" if tile.is_stale else "")
    value = format_value(tile.value, info.unit)
    value_cls = "tile__value tile__value--missing" if value == MISSING else "tile__value"
    row = [f'<p class="{value_cls}">{esc(value)}</p>']
    if status != "none":
        row.append(tr(status_label(status), "span", f"status status--{status}"))
    if tile.is_stale:
        row.append(tr(ui("stale"), "span", "stale-badge", f' title="{esc(tile.stale_reason)}"'))
    target = format_target(tile.target, info.unit, info.direction)
    meta = [
        f'<span data-zh="{esc(ui("target")[1])} {esc(target)}">{esc(ui("target")[0])} '
        f"{esc(target)}</span>"
        if target
        else tr(ui("no_target"))
    ]
    if tile.month != page_month:
        when = format_month(tile.month)
        meta.append(f'<span class="asof" data-zh="截至 {esc(when)}">as of {esc(when)}</span>')
    volume = format_volume(tile.volume)
    if volume:
        meta.append(f'<span class="num">{esc(volume)}</span>')
        if is_low_volume(tile.volume):
            meta.append(tr(ui("small_base"), "span", "low"))
    changes = [
        render_change(tile.mom, tile.previous, info, ui("vs_prev"), shift_month(tile.month, -1)),
        render_change(tile.yoy, tile.year_ago, info, ui("vs_year"), shift_month(tile.month, -12)),
    ]
    if tile.yoy_definition_changed and tile.year_ago:
        was = tile.year_ago.definition_version
        now = tile.latest.definition_version if tile.latest else None
        changes.append(
            f'<span class="note">† {tr(ui("definition_changed"))} v{was} → v{now}</span>'
        )
    compare_link = (
        f'<a href="#compare" data-pick="{esc(info.metric_name)}">{tr(ui("compare"))} ›</a>'
        if has_compare
        else ""
    )
    label_en, label_zh = label_words(info)
    version = f"v{tile.version}" if tile.version is not None else ""
    head = (
        f'<div class="tile__head"><div><h3 class="tile__label"'
        f' title="{esc(tile_tooltip(info, tile))}" data-zh="{esc(label_zh)}">{esc(label_en)}</h3>'
        f'<p class="tile__label-zh" data-zh="{esc(label_en)}">{esc(info.label_zh or "")}</p>'
        f"</div>{render_about(info, tile, root)}</div>"
    )
    return "\n".join(
        [
            f'<article class="{classes}" id="tile-{slug(info.metric_name)}"'
            f' data-metric="{esc(info.metric_name)}" data-status="{status}">',
            head,
            f'<div class="tile__row">{"".join(row)}</div>',
            f'<p class="tile__meta">{"".join(meta)}</p>',
            f'<div class="tile__changes">{"".join(changes)}</div>',
            f'<div class="tile__spark" id="spark-{index}" data-spark="spark-{index}"></div>',
            f'<div class="tile__foot"><span>{esc(version)}</span>'
            f'<span class="tile__links">{why_link(info.metric_name)}{compare_link}</span></div>',
            "</article>",
        ]
    )


def render_scorecard(tiles: Sequence[Tile], root: str, has_compare: bool, page_month: date) -> str:
    """Tiles in one section per dimension, in the catalog's dimension order."""
    sections = []
    indexed = list(enumerate(tiles))
    for key, group in groupby(indexed, key=lambda item: item[1].info.dimension_key):
        items = list(group)
        grid = "\n".join(render_tile(t, i, root, has_compare, page_month) for i, t in items)
        sections.append(
            f'<section class="dimension" data-dimension="{esc(key)}">'
            f'<h2 class="dimension__title">{tr(dimension_words(key))}'
            f'<span class="dimension__count">· {len(items)}</span></h2>'
            f'<div class="tiles">\n{grid}\n</div></section>'
        )
    return "\n".join(sections)


def sparkline_specs(tiles: Sequence[Tile]) -> dict[str, object]:
    return {
        f"spark-{i}": sparkline_spec(
            t.months,
            t.values,
            t.info.unit,
            target=t.target,
            color="#9ca3af" if t.is_stale else LINE_COLOR,
        )
        for i, t in enumerate(tiles)
    }


def scale_position(value: float, low: float, high: float) -> float:
    """Where a value sits on a low..high scale, in percent (the middle when all are equal)."""
    if high <= low:
        return 50.0
    return min(100.0, max(0.0, (value - low) / (high - low) * 100))


def render_rank_table(
    rows: Sequence[RankRow],
    info: MetricInfo,
    ctx: SiteContext,
    root: str,
    *,
    self_code: str | None = None,
    mix: MixColumn | None = None,
) -> str:
    """A ranking with volumes; each value a dot on a min-to-max scale coloured by status.

    A dot plot rather than bars: for rates that all lie near 95% bars look alike, while dots
    spread over the observed range make an outlier stand out. The target is a tick on it.
    """
    targets = {r.point.target for r in rows if r.point is not None and r.point.target is not None}
    shown = [r.value for r in rows if r.value is not None] + sorted(targets)
    low, high = (min(shown), max(shown)) if shown else (0.0, 0.0)
    target_tick = (
        f'<span class="tick" style="left:{scale_position(next(iter(targets)), low, high):.1f}%">'
        "</span>"
        if len(targets) == 1
        else ""
    )
    # Without any denominator (totals, percentiles) a volume column would be a row of dashes.
    with_volume = any(r.point is not None and r.point.denominator is not None for r in rows)
    body = []
    for row in rows:
        point = row.point
        status = point.status_class if point else "none"
        tags = ""
        if row.low_volume:
            tags += tr(ui("small_base"), "span", "tag tag--small")
        if row.outlier:
            tags += tr(ui("outlier"), "span", "tag tag--outlier")
        classes = " ".join(
            c
            for c, on in (("is-self", row.unit.code == self_code), ("is-small", row.low_volume))
            if on
        )
        volume = (
            f'<td class="r num">{esc(format_count(point.denominator) if point else MISSING)}</td>'
            if with_volume
            else ""
        )
        label = status_label(status)
        pin = (
            f'<span class="pin pin--{status}"'
            f' style="left:{scale_position(row.value, low, high):.1f}%"'
            f' title="{esc(label[0])}" data-zh-title="{esc(label[1])}"></span>'
            if row.value is not None
            else ""
        )
        body.append(
            f'<tr class="{classes}" data-code="{esc(row.unit.code)}" data-status="{status}">'
            f'<td class="r num">{row.rank if row.rank is not None else MISSING}</td>'
            f"{mix.cell(row.unit.code) if mix else ''}"
            f"<td>{unit_link(row.unit, ctx, root, 'unit-name')}"
            f'<span class="unit-code">{esc(row.unit.code)}{tags}</span></td>'
            f'<td class="r num">{esc(format_value(row.value, info.unit))}</td>{volume}'
            f'<td class="scale-cell"><div class="track">{target_tick}{pin}</div></td></tr>'
        )
    volume_head = tr(ui("volume"), "th", "r") if with_volume else ""
    scale_head = (
        f'<th class="scale-head"><span>{esc(format_value(low, info.unit))}</span>'
        f"<span>{esc(format_value(high, info.unit))}</span></th>"
        if shown
        else "<th></th>"
    )
    head = (
        f"<tr>{tr(ui('rank'), 'th', 'r')}{mix.head if mix else ''}{tr(ui('unit_col'), 'th')}"
        f"{tr(ui('value'), 'th', 'r')}"
        f"{volume_head}{scale_head}</tr>"
    )
    return f'<table class="rank"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def compare_lines(
    ctx: SiteContext, unit: OrgUnit, metric: str, months: Sequence[date]
) -> list[Line]:
    """Children's lines with the unit as a thick dashed line; a leaf: the unit and its parent."""

    def series(u: OrgUnit) -> tuple[float | None, ...]:
        history = ctx.unit_values(u).get(metric, {})
        return tuple(history[m].value if m in history else None for m in months)

    children = ctx.tree.children(unit.code)
    if children:
        lines = [Line(c.name, series(c), PALETTE[i % len(PALETTE)]) for i, c in enumerate(children)]
        # A total is the sum of the children's: on their scale it would flatten their lines.
        if ctx.infos.get(metric, MetricInfo.fallback(metric)).rollup_kind not in ADDITIVE:
            lines.append(Line(unit.name, series(unit), UNIT_COLOR, dash="dash", width=3))
        return lines
    lines = [Line(unit.name, series(unit), LINE_COLOR, width=3)]
    parent = ctx.tree.parent(unit.code)
    if parent is not None:
        lines.append(Line(parent.name, series(parent), TARGET_COLOR, dash="dash", width=2))
    return lines


@dataclass(frozen=True)
class Rankings:
    """One metric's rankings on a page: of the unit's children and of the unit among its peers."""

    info: MetricInfo
    children: list[RankRow]
    siblings: list[RankRow]
    current: bool = True  # published for the page's latest month (not a lagging cohort)

    @property
    def ranked(self) -> int:
        return sum(1 for r in self.children or self.siblings if r.rank is not None)


def page_rankings(ctx: SiteContext, unit: OrgUnit, tiles: Sequence[Tile]) -> list[Rankings]:
    """Per tile metric, the children's and the siblings' ranking in the metric's latest month."""
    page_month = max(t.month for t in tiles)
    children = ctx.tree.children(unit.code)
    siblings = ctx.tree.siblings(unit.code)
    found = []
    for tile in tiles:
        name, month = tile.info.metric_name, tile.month
        peers = [(s, ctx.point(s, name, month)) for s in siblings]
        if unit.level == CENTER:
            # Centers serve different functions: compare only those publishing the metric.
            peers = [(s, p) for s, p in peers if p is not None]
        found.append(
            Rankings(
                info=tile.info,
                children=rank_units(
                    [(c, ctx.point(c, name, month)) for c in children], tile.info.direction
                )
                if children
                else [],
                siblings=rank_units(peers, tile.info.direction) if len(peers) > 1 else [],
                current=tile.month == page_month,
            )
        )
    return found


def default_metric(rankings: Sequence[Rankings]) -> int:
    """The metric the compare panel opens on: the first with the most units ranked.

    Preferred, in order: published for the page's month (not a lagging cohort), judged against
    a target, and with ranked values that differ (a ranking of equals says nothing).
    """

    def score(r: Rankings) -> tuple[bool, bool, bool, int]:
        rows = [row for row in r.children or r.siblings if row.rank is not None]
        judged = any(row.point is not None and row.point.status_class != "none" for row in rows)
        return (r.current, judged, len({row.value for row in rows}) > 1, len(rows))

    if not rankings:
        return 0
    best = max(score(r) for r in rankings)
    return next(i for i, r in enumerate(rankings) if score(r) == best)


def sibling_title(unit: OrgUnit, parent: OrgUnit | None, rows: Sequence[RankRow]) -> Words:
    """ "Rank 2 of 5 among 人寿江苏分公司 sub-branches", or why the unit is not ranked."""
    position = next((r.rank for r in rows if r.unit.code == unit.code), None)
    ranked = sum(1 for r in rows if r.rank is not None)
    group = f"{parent.name} " if parent is not None and unit.level != CENTER else ""
    plural = plural_words(unit.level)
    if position is not None:
        return (
            f"Rank {position} of {ranked} among {group}{plural[0].lower()}",
            f"在{group.strip()}{plural[1]}中排名第{position}（共{ranked}家）",
        )
    return (
        f"Not ranked among {group}{plural[0].lower()} (no value or fewer than 30 cases)",
        f"未参与{group.strip()}{plural[1]}排名（无数值或样本少于30）",
    )


def render_compare(
    ctx: SiteContext, unit: OrgUnit, tiles: Sequence[Tile], root: str
) -> tuple[str, dict[str, object]]:
    """The ranking of children (and of the unit among its siblings) and the drill-down chart."""
    rankings = page_rankings(ctx, unit, tiles)
    chosen = default_metric(rankings)
    children = ctx.tree.children(unit.code)
    parent = ctx.tree.parent(unit.code)
    options, child_tables, sibling_tables, specs = [], [], [], {}
    for i, (tile, ranking) in enumerate(zip(tiles, rankings, strict=True)):
        info = tile.info
        name = info.metric_name
        en, zh = label_words(info)
        selected = " selected" if i == chosen else ""
        options.append(
            f'<option value="{esc(name)}" data-zh="{esc(zh)}"{selected}>{esc(en)}</option>'
        )
        hidden = "" if i == chosen else " hidden"
        if ranking.children:
            plural = plural_words(children[0].level)
            when = format_month(tile.month)
            title = (f"{plural[0]} ranked · {when}", f"{plural[1]}排名 · {when}")
            mix = mix_column(ctx, info, tile.month, ranking.children)
            table = render_rank_table(ranking.children, info, ctx, root, mix=mix)
            child_tables.append(
                f'<div data-rank-metric="{esc(name)}"{hidden}>'
                f"{tr(title, 'p', 'sub-title')}{table}</div>"
            )
        if ranking.siblings:
            title = sibling_title(unit, parent, ranking.siblings)
            mix = mix_column(ctx, info, tile.month, ranking.siblings)
            table = render_rank_table(
                ranking.siblings, info, ctx, root, self_code=unit.code, mix=mix
            )
            sibling_tables.append(
                f'<div data-rank-metric="{esc(name)}"{hidden}>'
                f"{tr(title, 'p', 'sub-title')}{table}</div>"
            )
        history = ctx.unit_values(unit).get(name, {})
        target = [history[m].target if m in history else None for m in tile.months]
        specs[name] = compare_spec(
            tile.months,
            compare_lines(ctx, unit, name, tile.months),
            info.unit,
            target=target,
            target_name="Target 目标",
        )
    picker = (
        f'<label class="picker">{tr(ui("metric"))}'
        f'<select id="metric-picker" class="metric-picker">{"".join(options)}</select></label>'
    )
    first = label_words(tiles[chosen].info)[0]
    chart = (
        f'<div><p class="sub-title"><span id="compare-metric-label">{esc(first)}</span> · '
        f'{tr(ui("last_13"))}</p><div id="compare-chart" class="chart"></div></div>'
    )
    blocks = []
    if child_tables:
        blocks.append(f"<div>{''.join(child_tables)}</div>")
    if sibling_tables:
        blocks.append(f"<div>{''.join(sibling_tables)}</div>")
    if blocks:
        grid = (
            f'<div class="compare__grid"><div class="rankings">{"".join(blocks)}</div>{chart}</div>'
        )
        note = tr(ui("ranking_note"), "p", "panel__note")
    else:
        grid, note = chart, ""
    section = (
        f'<section class="panel compare" id="compare">'
        f'<div class="panel__head">{tr(ui("compare"), "h2", "panel__title")}{picker}</div>'
        f"{grid}{note}</section>"
    )
    return section, specs


def render_directory(ctx: SiteContext, root: str) -> str:
    """Every unit of the site one click away (two from any page, via "All units").

    One column per unit below the top, listing its children with their own children inline;
    then the centers.
    """
    tree = ctx.tree
    if tree.root is None:
        return ""

    def coded(unit: OrgUnit) -> str:
        return f'{unit_link(unit, ctx, root)} <span class="chip__code">{esc(unit.code)}</span>'

    blocks = []
    for child in tree.children(tree.root):
        items = []
        for grandchild in tree.children(child.code):
            leaves = "".join(
                f"<li>{unit_link(u, ctx, root)}</li>" for u in tree.children(grandchild.code)
            )
            items.append(
                f'<div class="dir-branch"><p class="dir-branch__name">{coded(grandchild)}</p>'
                + (f'<ul class="dir-leaves">{leaves}</ul>' if leaves else "")
                + "</div>"
            )
        blocks.append(f'<div class="dir-sub"><h3>{coded(child)}</h3>{"".join(items)}</div>')
    centers = tree.centers()
    center_html = ""
    if centers:
        chips = "".join(
            f'<li><a class="chip" href="{root}{ctx.paths[c.code]}" data-code="{esc(c.code)}">'
            f'{esc(c.name)} <span class="chip__code">{esc(c.code)}</span></a></li>'
            for c in centers
        )
        center_html = (
            f'<h3 class="sub-title" id="centers">{tr(ui("centers_title"))}</h3>'
            f'<ul class="chips">{chips}</ul>'
        )
    if not blocks and not center_html:
        return ""
    return (
        f'<section class="panel directory" id="directory">'
        f'<div class="panel__head">{tr(ui("all_units"), "h2", "panel__title")}</div>'
        f'<div class="directory__grid">{"".join(blocks)}</div>{center_html}</section>'
    )


def render_org_page(ctx: SiteContext, code: str) -> RenderedPage:
    """The page of one unit: scorecard, rankings, drill-down chart and navigation."""
    unit = ctx.tree.unit(code)
    path = ctx.paths[code]
    root = root_prefix(path)
    month, tiles = unit_tiles(
        ctx.unit_values(unit),
        ctx.infos,
        ctx.publication.stale_for(unit.level, unit.code),
        ctx.metric_months,
    )
    page_data: dict[str, object] = {}
    plots = 0
    if month is None or not tiles:
        body = tr(ui("no_data"), "div", "empty")
    else:
        compare, specs = render_compare(ctx, unit, tiles, root)
        body = "\n".join(
            [
                render_top_movers(ctx, unit, tiles, root),
                render_scorecard(tiles, root, True, month),
                render_why_panel(ctx, unit, tiles, root),
                compare,
            ]
        )
        page_data = {"sparks": sparkline_specs(tiles), "compare": specs}
        plots = len(tiles) + 1
    # the score header opens the page; the value tree and bridge follow the rankings
    value = value_sections(ctx, unit, tiles, root)
    body = "\n".join(part for part in (value.header, body, value.body) if part)
    page_data.update(value.page_data)
    plots += value.plots
    if code == ctx.tree.root:
        body += "\n" + render_directory(ctx, root)
    tier = tier_words(unit.level)[0]
    html_text = render_shell(
        path=path,
        title=f"{unit.name} · {tier} KPIs",
        kind="org",
        hero=render_hero(ctx, unit, month, tiles, root),
        body=body,
        notices=render_notices(ctx.publication, ctx.infos),
        page_data=page_data,
        needs_plotly=plots > 0,
        current_nav="home" if path == INDEX_PAGE else None,
        body_attrs=f' data-org-level="{esc(unit.level)}" data-org-code="{esc(unit.code)}"',
    )
    return RenderedPage(path, html_text, plots)
