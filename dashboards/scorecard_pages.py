"""The value-management sections of the site (issue 15): every unit page's score header, value
tree and value bridge, and a league-table page per tier.

Pure functions from the shaped model (dashboards.scorecard_model) to HTML strings. Everything a
section shows of another unit is a count or an anonymous statistic, or a unit of the site's own
tree: a pack names no unit outside it (README, "Access").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from dashboards.figures import Spec, bridge_spec
from dashboards.formatting import (
    MISSING,
    format_change,
    format_month,
    format_target,
    format_value,
    status_label,
)
from dashboards.i18n import MISSING_REASONS, TREE_LINKS, Words, ui
from dashboards.layout import (
    RenderedPage,
    SiteContext,
    dimension_words,
    esc,
    label_words,
    plural_words,
    render_notices,
    render_shell,
    render_simple_hero,
    root_prefix,
    slug,
    tr,
)
from dashboards.model import KpiPoint, MetricInfo, Tile
from dashboards.org_tree import CENTER, GROUP, OrgUnit
from dashboards.scorecard_model import (
    LEAGUE_LEVELS,
    Bridge,
    TreeLink,
    UnitScore,
)

LEAGUE_DIR = "league"
SCORE_UNIT = "points"  # scores and their changes: one decimal
MAX_TREE_DEPTH = 3  # KPI -> driver -> driver's driver: deeper chains are the catalog's to show
STATUS_ORDER = ("green", "amber", "red")
TOTAL_LINES = ("value_created_cny", "net_value_cny")  # the bridge's sums, not steps


@dataclass(frozen=True)
class ValueSections:
    """What a unit page gets from this module: a header above the tiles, sections below."""

    header: str = ""
    body: str = ""
    page_data: dict[str, object] = field(default_factory=dict)
    plots: int = 0


def league_relpath(level: str) -> PurePosixPath:
    return PurePosixPath(LEAGUE_DIR) / f"{slug(level)}.html"


def league_links(ctx: SiteContext, root: str, current: str | None = None) -> str:
    """Chips to every league table of the site; the current one marked."""
    levels = [level for level in LEAGUE_LEVELS if level in ctx.scorecards.league]
    if not levels:
        return ""
    chips = "".join(
        tr(
            plural_words(level),
            "a",
            "chip",
            f' href="{root}{league_relpath(level)}" data-league="{esc(level)}"'
            + (' aria-current="page"' if level == current else ""),
        )
        for level in levels
    )
    return (
        f'<nav class="drill league-links" aria-label="League tables">'
        f"{tr(ui('league_tables'), 'span', 'drill__label')}{chips}</nav>"
    )


def metric_info(ctx: SiteContext, name: str) -> MetricInfo:
    return ctx.infos.get(name) or MetricInfo.fallback(name)


def tile_href(name: str, tiles: Mapping[str, Tile]) -> str | None:
    """The page's own tile of a metric, when it has one."""
    return f"#tile-{slug(name)}" if name in tiles else None


def metric_name_html(ctx: SiteContext, name: str, href: str | None, cls: str) -> str:
    attrs = f' href="{esc(href)}"' if href else ""
    return tr(label_words(metric_info(ctx, name)), "a" if href else "span", cls, attrs)


# --- score header -----------------------------------------------------------------------------


def sibling_rank_words(ctx: SiteContext, unit: OrgUnit, score: UnitScore) -> Words:
    """ "2 of 5 branches of Harbour Life"; a pack's top unit names no parent, only the count."""
    rank, count = score.rank_in_siblings, score.siblings_ranked
    plural = plural_words(unit.level)
    parent = ctx.tree.units.get(score.parent_code or "")
    if unit.level == CENTER:
        return f"{rank} of {count} {plural[0].lower()}", f"{plural[1]}中第{rank}名（共{count}家）"
    if parent is not None:
        return (
            f"{rank} of {count} {plural[0].lower()} of {parent.name}",
            f"{parent.name}{plural[1]}中第{rank}名（共{count}家）",
        )
    return (
        f"{rank} of {count} {plural[0].lower()} under the same parent",
        f"同一上级机构的{plural[1]}中第{rank}名（共{count}家）",
    )


def band_words(score: UnitScore) -> Words:
    low, high = score.band_low, score.band_high
    if low is None or high is None:
        return MISSING, MISSING
    shown = f"{low}" if low == high else f"{low}–{high}"
    return shown, shown


def grade_html(grade: str | None) -> str:
    if grade is None:
        return f'<span class="grade grade--none">{MISSING}</span>'
    return f'<span class="grade grade--{esc(slug(grade))}">{esc(grade)}</span>'


def fact(words: Words, value: str, cls: str = "") -> str:
    cls_attr = f' class="{cls}"' if cls else ""
    return f"<div{cls_attr}>{tr(words, 'dt')}<dd>{value}</dd></div>"


def render_movers(ctx: SiteContext, unit: OrgUnit, tiles: Mapping[str, Tile]) -> str:
    """The three KPIs whose contributions moved the score most, each linking to its tile."""
    cards = ctx.scorecards
    contributions = cards.contributions.get((unit.level, unit.code), ())
    if all(c.score_change is None for c in contributions):
        return tr(ui("first_scored"), "p", "muted")
    movers = cards.movers(unit.level, unit.code)
    if not movers:
        return tr(ui("unchanged"), "p", "muted")
    items = []
    for mover in movers:
        delta = mover.contribution or 0.0
        shown = format_change(delta, SCORE_UNIT)
        tone = "good" if delta > 0 else "bad"
        points = ui("points")
        items.append(
            f'<li data-metric="{esc(mover.metric_name)}" data-contribution="{delta!r}">'
            f"{metric_name_html(ctx, mover.metric_name, tile_href(mover.metric_name, tiles), '')}"
            f' <span class="change change--{tone}" data-zh="{esc(shown)} {points[1]}">'
            f"{esc(shown)} {points[0]}</span></li>"
        )
    return f'<ol class="movers">{"".join(items)}</ol>'


def render_left_out(ctx: SiteContext, unit: OrgUnit) -> str:
    """Which KPIs the partial score left out, and why, folded away."""
    left = ctx.scorecards.left_out(unit.level, unit.code)
    if not left:
        return ""
    items = "".join(
        f'<li data-metric="{esc(c.metric_name)}">'
        f"{metric_name_html(ctx, c.metric_name, None, '')}: "
        f"{tr(MISSING_REASONS.get(c.missing_reason or '', (c.missing_reason or MISSING,) * 2))}"
        "</li>"
        for c in left
    )
    return (
        f'<details class="left-out"><summary>{tr(ui("left_out"))} · {len(left)}</summary>'
        f"<ul>{items}</ul></details>"
    )


def render_score_header(
    ctx: SiteContext, unit: OrgUnit, root: str, tiles: Mapping[str, Tile]
) -> str:
    """The unit's score, grade, ranks with their band, partial flag and top movers."""
    score = ctx.scorecards.score(unit.level, unit.code)
    if score is None:
        return ""
    month = format_month(score.month)
    profile = score.profile_label or score.profile_name or MISSING
    version = f" v{score.profile_version}" if score.profile_version is not None else ""
    title = ui("composite_score")
    head = (
        f'<p class="scorehead__label"><span data-zh="{esc(title[1])} · {esc(month)}">'
        f"{esc(title[0])} · {esc(month)}</span></p>"
        f'<p class="scorehead__score"><span class="scorehead__value">'
        f"{esc(format_value(score.score, SCORE_UNIT))}</span>{grade_html(score.grade)}</p>"
        f'<p class="scorehead__profile">{tr(ui("profile"))}: {esc(profile)}{esc(version)}</p>'
    )
    facts, note = [], ""  # a note (not scored, no peers) is a sentence, not a term of the list
    if score.score is None:
        note = tr(ui("not_scored"), "p", "muted")
    elif unit.level == GROUP:
        note = tr(ui("no_peers"), "p", "muted")
    elif score.rank_in_siblings is not None:
        band = band_words(score)
        facts.append(
            fact(ui("rank_siblings"), tr(sibling_rank_words(ctx, unit, score), cls="rank-text"))
        )
        facts.append(
            fact(
                ui("rank_band"),
                f'<span class="num" title="{esc(ui("band_note")[0])}"'
                f' data-zh-title="{esc(ui("band_note")[1])}">{esc(band[0])}</span>',
            )
        )
        plural = plural_words(unit.level)
        facts.append(
            fact(
                ui("rank_tier"),
                f'<span data-zh="{esc(plural[1])}中第{score.rank_in_tier}名'
                f'（共{score.tier_ranked}家）">{score.rank_in_tier} of {score.tier_ranked} '
                f"{esc(plural[0].lower())}</span>",
            )
        )
    if score.kpis_scored is not None and score.kpis_in_profile is not None:
        partial = tr(ui("partial"), "span", "tag tag--small") if score.is_partial else ""
        facts.append(
            fact(ui("kpis_scored"), f"{score.kpis_scored} / {score.kpis_in_profile}{partial}")
        )
    attrs = " ".join(
        f'data-{name}="{esc(value)}"'
        for name, value in (
            ("score", "" if score.score is None else repr(score.score)),
            ("grade", score.grade or ""),
            ("rank-siblings", score.rank_in_siblings or ""),
            ("rank-tier", score.rank_in_tier or ""),
            ("band-low", score.band_low or ""),
            ("band-high", score.band_high or ""),
            ("partial", "true" if score.is_partial else "false"),
            ("month", score.month.isoformat()),
        )
    )
    movers = (
        f'<div class="scorehead__movers">{tr(ui("moved_most"), "h3", "sub-title")}'
        f"{render_movers(ctx, unit, tiles)}</div>"
        if score.score is not None
        else ""
    )
    return (
        f'<section class="panel scorehead" id="score" {attrs}>'
        f'<div class="scorehead__grid"><div class="scorehead__main">{head}</div>'
        f'<div>{note}<dl class="facts scorehead__facts">{"".join(facts)}</dl></div>{movers}</div>'
        f"{render_left_out(ctx, unit)}{league_links(ctx, root, None)}</section>"
    )


# --- value tree -------------------------------------------------------------------------------


def node_line(
    ctx: SiteContext, name: str, point: KpiPoint | None, href: str | None
) -> tuple[str, str]:
    """(the node's line: name, value, target, status; its status class)."""
    info = metric_info(ctx, name)
    status = point.status_class if point else "none"
    parts = [
        metric_name_html(ctx, name, href, "vnode__name"),
        f'<span class="vnode__value num">'
        f"{esc(format_value(point.value if point else None, info.unit))}</span>",
    ]
    target = format_target(point.target if point else None, info.unit, info.direction)
    if target:
        words = ui("target")
        parts.append(
            f'<span class="vnode__target" data-zh="{esc(words[1])} {esc(target)}">'
            f"{esc(words[0])} {esc(target)}</span>"
        )
    if status != "none":
        parts.append(tr(status_label(status), "span", f"status status--{status}"))
    return "".join(parts), status


def link_words(link: TreeLink) -> tuple[str, Words]:
    """(the sign shown before a child, what it means)."""
    if link.link_type == "driver":
        key = link.direction if link.direction in TREE_LINKS else "increases"
        return ("↑" if key == "increases" else "↓"), TREE_LINKS[key]
    return "∑", TREE_LINKS.get(link.input_role or "", TREE_LINKS["formula"])


def render_children(
    ctx: SiteContext,
    unit: OrgUnit,
    name: str,
    kids: Mapping[str, Sequence[TreeLink]],
    tiles: Mapping[str, Tile],
    seen: frozenset[str],
) -> str:
    """A metric's formula inputs and drivers with a value at this unit, and theirs below."""
    items = []
    for link in kids.get(name, ()):
        child = link.child
        month = ctx.metric_months.get(child)
        point = ctx.point(unit, child, month) if month else None
        if child in seen or point is None or point.value is None:
            continue
        line, status = node_line(ctx, child, point, tile_href(child, tiles))
        sign, meaning = link_words(link)
        deeper = (
            render_children(ctx, unit, child, kids, tiles, seen | {child})
            if len(seen) < MAX_TREE_DEPTH
            else ""
        )
        items.append(
            f'<li class="vnode vnode--{esc(link.link_type)}" data-metric="{esc(child)}"'
            f' data-status="{status}"><span class="vnode__link" title="{esc(meaning[0])}"'
            f' data-zh-title="{esc(meaning[1])}">{sign}</span>{line}{deeper}</li>'
        )
    return f'<ul class="vtree__kids">{"".join(items)}</ul>' if items else ""


def status_counts(statuses: Sequence[str]) -> str:
    """How many KPIs below a goal or dimension are on, near and off target."""
    parts = []
    for status in STATUS_ORDER:
        n = sum(1 for s in statuses if s == status)
        if n:
            label = status_label(status)
            parts.append(
                f'<span class="vcount vcount--{status}" title="{esc(label[0])}"'
                f' data-zh-title="{esc(label[1])}">{n}</span>'
            )
    return f'<span class="vcounts">{"".join(parts)}</span>' if parts else ""


def render_value_tree(ctx: SiteContext, unit: OrgUnit, tiles: Mapping[str, Tile]) -> str:
    """Goals -> dimensions -> the unit's KPIs -> their drivers, as nested lists."""
    links = ctx.scorecards.tree
    goals = [link for link in links if link.link_type == "root"]
    below: dict[str, list[TreeLink]] = {}
    kids: dict[str, list[TreeLink]] = {}
    for link in links:
        if link.link_type == "hierarchy" and link.parent:
            below.setdefault(link.parent, []).append(link)
        elif link.link_type in ("formula", "driver") and link.parent:
            kids.setdefault(link.parent, []).append(link)
    goal_items = []
    for goal in goals:
        dim_items, goal_statuses = [], []
        for dim in below.get(goal.child, ()):
            kpi_items, statuses = [], []
            for kpi in below.get(dim.child, ()):
                tile = tiles.get(kpi.child)
                if tile is None:
                    continue
                line, status = node_line(ctx, kpi.child, tile.latest, tile_href(kpi.child, tiles))
                statuses.append(status)
                inner = render_children(ctx, unit, kpi.child, kids, tiles, frozenset({kpi.child}))
                body = (
                    f"<details><summary>{line}</summary>{inner}</details>"
                    if inner
                    else f'<div class="vnode__line">{line}</div>'
                )
                kpi_items.append(
                    f'<li class="vnode vnode--kpi" data-metric="{esc(kpi.child)}"'
                    f' data-status="{status}" id="tree-{slug(kpi.child)}">{body}</li>'
                )
            if not kpi_items:
                continue
            goal_statuses += statuses
            dim_items.append(
                f'<li class="vnode vnode--dimension" data-node="{esc(dim.child)}"><details open>'
                f"<summary>{tr(dimension_words(dim.child), 'span', 'vnode__title')}"
                f'{status_counts(statuses)}</summary><ul class="vtree__kpis">{"".join(kpi_items)}'
                "</ul></details></li>"
            )
        if not dim_items:
            continue
        words = (goal.label or goal.child, goal.label_zh or goal.label or goal.child)
        goal_items.append(
            f'<li class="vnode vnode--goal" data-node="{esc(goal.child)}"><details open>'
            f"<summary>{tr(words, 'span', 'vnode__title')}{status_counts(goal_statuses)}</summary>"
            f'<ul class="vtree__dims">{"".join(dim_items)}</ul></details></li>'
        )
    if not goal_items:
        return ""
    return (
        f'<section class="panel vtree" id="value-tree">'
        f'<div class="panel__head">{tr(ui("value_tree"), "h2", "panel__title")}</div>'
        f"{tr(ui('value_tree_note'), 'p', 'panel__note')}"
        f'<ul class="vtree__goals">{"".join(goal_items)}</ul></section>'
    )


# --- value bridge -----------------------------------------------------------------------------


def bridge_lines(ctx: SiteContext, bridge: Bridge) -> list[tuple[str, Words, float | None]]:
    """(line key, words, signed CNY) from the cost to the net, as the table lists them."""
    lines: list[tuple[str, Words, float | None]] = [
        ("ops_cost_cny", ui("ops_cost"), None if bridge.ops_cost is None else -bridge.ops_cost)
    ]
    lines += [(name, label_words(metric_info(ctx, name)), v) for name, v in bridge.streams]
    lines.append(("value_created_cny", ui("value_created"), bridge.value_created))
    lines.append(("net_value_cny", ui("net_value"), bridge.net))
    return lines


def render_value_bridge(ctx: SiteContext, unit: OrgUnit) -> tuple[str, Spec | None]:
    """The month's bridge from operations cost through each value stream to the net: a
    waterfall, and the same figures as a table (what a screen reader and a printout get)."""
    bridge = ctx.scorecards.bridges.get((unit.level, unit.code))
    if bridge is None:
        return "", None
    lines = bridge_lines(ctx, bridge)
    steps = [(w[0], w[1], v) for key, w, v in lines if key not in TOTAL_LINES]
    if bridge.ops_cost is None:  # no cost booked: the streams add up to the value created
        steps = steps[1:]
        total = (*ui("value_created"), bridge.value_created)
    else:
        total = (*ui("net_value"), bridge.net)
    rows = "".join(
        f'<tr class="bridge__{"total" if key in TOTAL_LINES else "step"}"'
        f' data-line="{esc(key)}" data-value="{"" if value is None else repr(value)}">'
        f"<td>{tr(words)}</td>"
        f'<td class="r num">{esc(format_value(value, "cny"))}</td></tr>'
        for key, words, value in lines
    )
    month = format_month(bridge.month)
    title = ui("value_bridge")
    table = (
        f'<table class="grid-table bridge-table"><thead><tr>{tr(ui("line"), "th")}'
        f"{tr(ui('amount'), 'th', 'r')}</tr></thead><tbody>{rows}</tbody></table>"
    )
    section = (
        f'<section class="panel bridge" id="value-bridge" data-month="{bridge.month.isoformat()}">'
        f'<div class="panel__head"><h2 class="panel__title" data-zh="{esc(title[1])} · {month}">'
        f"{esc(title[0])} · {month}</h2></div>"
        f'<div class="bridge__grid"><div id="bridge-chart" class="bridge__chart"></div>'
        f"<div>{table}</div></div>{tr(ui('value_bridge_note'), 'p', 'panel__note')}</section>"
    )
    return section, bridge_spec(steps, total)


def value_sections(
    ctx: SiteContext, unit: OrgUnit, tiles: Sequence[Tile], root: str
) -> ValueSections:
    """Everything a unit page shows of the value-management system."""
    by_metric = {t.info.metric_name: t for t in tiles}
    bridge, spec = render_value_bridge(ctx, unit)
    body = "\n".join(s for s in (render_value_tree(ctx, unit, by_metric), bridge) if s)
    return ValueSections(
        header=render_score_header(ctx, unit, root, by_metric),
        body=body,
        page_data={"bridge": spec} if spec else {},
        plots=1 if spec else 0,
    )


# --- league tables ----------------------------------------------------------------------------


def sort_head(words: Words, kind: str, cls: str = "", *, sorted_by: bool = False) -> str:
    """A column heading whose button sorts the table by it (assets/site.js)."""
    aria = ' aria-sort="ascending"' if sorted_by else ""
    cls_attr = f' class="{cls}"' if cls else ""
    button = tr(words, "button", "sort", ' type="button"')
    return f'<th{cls_attr} data-sort-type="{kind}"{aria}>{button}</th>'


def league_row(ctx: SiteContext, score: UnitScore, root: str) -> str:
    unit = ctx.tree.units.get(score.code)
    name = unit.name if unit else score.code
    link = (
        f'<a class="unit-name" href="{root}{ctx.paths[score.code]}" data-code="{esc(score.code)}">'
        f"{esc(name)}</a>"
        if unit
        else esc(name)
    )
    parent = ctx.tree.units.get(score.parent_code or "")
    where = f" · {esc(parent.name)}" if parent is not None and score.level != CENTER else ""
    value = "" if score.score is None else repr(score.score)
    band = band_words(score)[0]
    band_key = "" if score.band_low is None else f"{score.band_low + (score.band_high or 0) / 1000}"
    partial = tr(ui("partial"), "span", "tag tag--small") if score.is_partial else ""
    scored = "" if score.kpis_scored is None else str(score.kpis_scored)
    in_profile = MISSING if score.kpis_in_profile is None else str(score.kpis_in_profile)
    flag = "true" if score.is_partial else "false"

    def ranked(rank: int | None, count: int) -> str:
        return f"{rank} / {count}" if rank is not None else MISSING

    return (
        f'<tr data-code="{esc(score.code)}" data-partial="{flag}">'
        f'<td data-sort="{esc(name)}">{link}'
        f'<span class="unit-code">{esc(score.code)}{where}</span></td>'
        f'<td class="r num" data-sort="{score.rank_in_tier or ""}">'
        f"{ranked(score.rank_in_tier, score.tier_ranked)}</td>"
        f'<td class="r num" data-sort="{value}">{esc(format_value(score.score, SCORE_UNIT))}</td>'
        f'<td data-sort="{value}">{grade_html(score.grade)}</td>'
        f'<td class="r num" data-sort="{score.rank_in_siblings or ""}">'
        f"{ranked(score.rank_in_siblings, score.siblings_ranked)}</td>"
        f'<td class="r num" data-sort="{band_key}">{esc(band)}</td>'
        f'<td class="r num" data-sort="{scored}">{scored or MISSING} / {in_profile}{partial}</td>'
        "</tr>"
    )


def tier_stats_html(ctx: SiteContext, level: str) -> str:
    stats = ctx.scorecards.tier_stats.get(level)
    if stats is None:
        return ""
    plural = plural_words(level)
    month = format_month(stats.month)
    counted = (
        f"{stats.scored} {plural[0].lower()} scored in {month}",
        f"{month}共{stats.scored}家{plural[1]}计分",
    )
    if stats.median is None:
        more = ui("tier_stats_few")
        return f'<p class="tier-stats">{tr(counted)} · {tr(more)}</p>'
    median = format_value(stats.median, SCORE_UNIT)
    q1 = format_value(stats.lower_quartile, SCORE_UNIT)
    q3 = format_value(stats.upper_quartile, SCORE_UNIT)
    figures = (
        f"median {median} · middle half {q1}–{q3}",
        f"中位数 {median} · 中间一半 {q1}–{q3}",
    )
    return f'<p class="tier-stats" data-median="{stats.median!r}">{tr(counted)} · {tr(figures)}</p>'


def render_league_page(ctx: SiteContext, level: str) -> RenderedPage:
    """One tier's league table: its units (a pack's own only), sortable, with the statistics.

    The unit comes first: on a phone the table scrolls sideways with its first column kept in
    view (site.css), and a row is read by its unit's name."""
    path = league_relpath(level)
    root = root_prefix(path)
    plural = plural_words(level)
    title = (f"{plural[0]}: league table", f"{plural[1]}排名表")
    rows = ctx.scorecards.league.get(level, ())
    profiles = sorted({s.profile_label or s.profile_name or "" for s in rows} - {""})
    head = (
        "<tr>"
        + sort_head(ui("unit_col"), "text")
        + sort_head(ui("rank_tier"), "num", "r", sorted_by=True)
        + sort_head(ui("score"), "num", "r")
        + sort_head(ui("grade"), "num")
        + sort_head(ui("rank_siblings"), "num", "r")
        + sort_head(ui("rank_band"), "num", "r")
        + sort_head(ui("kpis_scored"), "num", "r")
        + "</tr>"
    )
    body_rows = "".join(league_row(ctx, s, root) for s in rows)
    notes = [tr(ui("band_note"), "p", "panel__note")]
    if ctx.scoped:
        notes.insert(0, tr(ui("league_pack"), "p", "panel__note league-pack"))
    profile = (
        f'<p class="muted">{tr(ui("profile"))}: {esc(", ".join(profiles))}</p>' if profiles else ""
    )
    body = (
        f"{league_links(ctx, root, level)}"
        f'<section class="panel league" id="league" data-level="{esc(level)}">'
        f"{tier_stats_html(ctx, level)}{profile}"
        f'<div class="table-scroll"><table class="grid-table league-table" data-sortable>'
        f"<thead>{head}</thead><tbody>{body_rows}</tbody></table></div>"
        f"{''.join(notes)}</section>"
    )
    html_text = render_shell(
        path=path,
        title=f"{title[0]} · opsvalue",
        kind="league",
        hero=render_simple_hero(path, ctx, title, ui("league_intro")),
        body=body,
        notices=render_notices(ctx.publication, ctx.infos),
        page_data=None,
        needs_plotly=False,
        body_attrs=f' data-league-level="{esc(level)}"',
    )
    return RenderedPage(path, html_text, 0)


def render_league_pages(ctx: SiteContext) -> list[RenderedPage]:
    """A league table per tier with scored units in the site (the group has none)."""
    levels = [level for level in LEAGUE_LEVELS if level in ctx.scorecards.league]
    return [render_league_page(ctx, level) for level in levels]
