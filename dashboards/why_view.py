"""The "why it moved" views of an org page: a waterfall per KPI, and the top movers.

Pure functions from the shaped attribution (dashboards.attribution) to HTML. A waterfall is
plain HTML and CSS (no plotly): one row per child, its bar starting where the previous one
ended, the rate and the mix effect shaded apart, then the total; each child's name links to its
page. Every row carries its numbers at full precision in data- attributes, so the tests can
check the bars against the mart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dashboards.attribution import (
    CHILD,
    OUTSIDE,
    OWN,
    SHOWN_COMPARISONS,
    Breakdown,
    DriverInput,
    Mover,
    Part,
    breakdowns_for,
    part_in_parent,
    top_movers,
)
from dashboards.formatting import (
    change_tone,
    display_number,
    format_change,
    format_month,
    format_value,
    shift_month,
)
from dashboards.i18n import WHY_UI, Words
from dashboards.layout import SiteContext, esc, label_words, plural_words, slug, tr
from dashboards.model import MetricInfo, Tile
from dashboards.org_tree import GROUP, OrgUnit

PERCENTILE = "percentile"
MONTHS_BACK = {"mom": 1, "yoy": 12}
ROLES = ("numerator", "denominator")
# Levels whose pages list the top movers (the issue: the group and each subsidiary).
MOVER_LEVELS = frozenset({GROUP, "subsidiary"})


def words(key: str) -> Words:
    return WHY_UI[key]


def why_anchor(metric_name: str) -> str:
    return f"why-{slug(metric_name)}"


def why_link(metric_name: str) -> str:
    """The tile's link to its why view (site.js opens the view it points at)."""
    anchor = why_anchor(metric_name)
    return f'<a href="#{anchor}" data-why="{anchor}">{tr(words("why_link"))} ›</a>'


# --- waterfall geometry -----------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One shaded piece of a bar: the rate or mix effect of a child, or its own change."""

    kind: str  # "rate", "mix" or "own"
    start: float
    end: float


def part_segments(part: Part, start: float) -> list[Segment]:
    """A part's bar from `start`: its rate effect, then its mix effect (ratios and means), or
    its own change (additive); zero-length pieces left out."""
    end = start + part.contribution
    if part.rate is None and part.mix is None:
        pieces = [Segment("own", start, end)]
    else:
        middle = start + (part.rate or 0.0)
        pieces = [Segment("rate", start, middle), Segment("mix", middle, end)]
    return [p for p in pieces if p.start != p.end]


def waterfall(breakdown: Breakdown) -> list[tuple[Part, float, list[Segment]]]:
    """Each part with where its bar starts and its segments: the running sum of the parts."""
    rows, level = [], 0.0
    for part in breakdown.parts:
        rows.append((part, level, part_segments(part, level)))
        level += part.contribution
    return rows


def position(value: float, low: float, high: float) -> float:
    """Where a value sits on the low..high scale, in percent (the middle when all are equal)."""
    if high <= low:
        return 50.0
    return min(100.0, max(0.0, (value - low) / (high - low) * 100))


def full(value: float | None) -> str:
    """A number at full precision for a data- attribute ("" for none)."""
    return "" if value is None else repr(float(value))


# --- one KPI's why view -----------------------------------------------------------------------


def part_label(ctx: SiteContext, parent: OrgUnit, part: Part, root: str, anchor: str) -> str:
    """The row's name: a link to the child's page, at the same KPI's why view (`anchor`); the
    parent's own part and the rest of the parent outside a pack in words (the latter naming no
    unit)."""
    if part.kind == OWN:
        return tr(
            (f"{parent.name} itself, or in no unit below", f"{parent.name}本级或未归属下级机构"),
            "span",
            "wf__label",
        )
    if part.kind == OUTSIDE:
        return tr(
            (
                f"Rest of {parent.name}: units outside this pack",
                f"{parent.name}其余部分：本数据包以外的机构",
            ),
            "span",
            "wf__label",
        )
    code = part.code or ""
    if code not in ctx.tree:
        return f'<span class="wf__label">{esc(code)}</span>'  # a unit closed since
    unit = ctx.tree.unit(code)
    href = f"{root}{ctx.paths[code]}#{anchor}"
    return f'<a class="wf__label" href="{href}" data-code="{esc(code)}">{esc(unit.name)}</a>'


def tone_class(value: float, unit: str | None, direction: str) -> str:
    return change_tone(display_number(value, unit), direction) or "neutral"


def render_split(part: Part, unit: str | None) -> str:
    """ "rate +0.3 pp · mix −0.1 pp" under the name (nothing for additive metrics)."""
    if part.rate is None and part.mix is None:
        return ""
    pieces = [
        f"{tr(words(key))} {esc(format_change(value or 0.0, unit))}"
        for key, value in (("rate", part.rate), ("mix", part.mix))
    ]
    return f'<span class="wf__split">{" · ".join(pieces)}</span>'


def render_total_row(change: float, low: float, high: float, info: MetricInfo) -> str:
    """The waterfall's last row: the whole change its rows add up to."""
    tone = tone_class(change, info.unit, info.direction)
    return (
        f'<li class="wf__row wf__row--total" data-contribution="{full(change)}">'
        f'<span class="wf__name">{tr(words("change_total"), "span", "wf__label")}</span>'
        f'<span class="wf__track">{render_bar([Segment("total", 0.0, change)], low, high, info)}'
        "</span>"
        f'<span class="wf__num change change--{tone}">'
        f"{esc(format_change(change, info.unit))}</span></li>"
    )


def render_bar(segments: Sequence[Segment], low: float, high: float, info: MetricInfo) -> str:
    """The segments of one bar, each coloured by its own sign for the metric's direction (a
    unit whose rate rose while its mix fell shows one good and one bad piece)."""
    bars = []
    for piece in segments:
        left = position(min(piece.start, piece.end), low, high)
        right = position(max(piece.start, piece.end), low, high)
        tone = tone_class(piece.end - piece.start, info.unit, info.direction)
        bars.append(
            f'<span class="wf__bar wf__bar--{piece.kind} wf__bar--{tone}"'
            f' data-dir="{"up" if piece.end >= piece.start else "down"}"'
            f' style="left:{left:.2f}%;width:{right - left:.2f}%"></span>'
        )
    return "".join(bars)


def render_breakdown(
    ctx: SiteContext, parent: OrgUnit, tile: Tile, breakdown: Breakdown, root: str, title: str
) -> str:
    """One waterfall: a row per part, then the total change."""
    info = tile.info
    rows = waterfall(breakdown)
    marks = [0.0, breakdown.parent_change]
    marks += [edge for _, _, segs in rows for s in segs for edge in (s.start, s.end)]
    low, high = min(marks), max(marks)
    zero = position(0.0, low, high)
    anchor = why_anchor(info.metric_name)
    items = []
    for part, start, segments in rows:
        tone = tone_class(part.contribution, info.unit, info.direction)
        code = f' data-code="{esc(part.code)}"' if part.kind == CHILD else ""
        items.append(
            f'<li class="wf__row wf__row--{part.kind}"{code} data-rate="{full(part.rate)}"'
            f' data-mix="{full(part.mix)}" data-contribution="{full(part.contribution)}"'
            f' data-start="{full(start)}">'
            f'<span class="wf__name">{part_label(ctx, parent, part, root, anchor)}'
            f"{render_split(part, info.unit)}</span>"
            f'<span class="wf__track">{render_bar(segments, low, high, info)}</span>'
            f'<span class="wf__num change change--{tone}">'
            f"{esc(format_change(part.contribution, info.unit))}</span></li>"
        )
    items.append(render_total_row(breakdown.parent_change, low, high, info))
    return (
        f'<figure class="wf" data-metric="{esc(info.metric_name)}"'
        f' data-comparison="{esc(breakdown.comparison)}"'
        f' data-child-level="{esc(breakdown.child_level)}"'
        f' data-parent-change="{full(breakdown.parent_change)}" style="--zero:{zero:.2f}%">'
        f"<figcaption>{title}</figcaption>"
        f'<ol class="wf__rows">{"".join(items)}</ol></figure>'
    )


def comparison_title(tile: Tile, comparison: str) -> Words:
    """ "Last month: Oct 2026 vs Sep 2026" in both languages."""
    base = shift_month(tile.month, -MONTHS_BACK[comparison])
    when = f"{format_month(tile.month)} vs {format_month(base)}"
    en, zh = words(comparison)
    return (f"{en}: {when}", f"{zh}：{when}")


def render_children(ctx: SiteContext, unit: OrgUnit, tile: Tile, comparison: str, root: str) -> str:
    """A comparison's waterfalls over the children (one per set of them), or why there is none."""
    found = breakdowns_for(ctx.attribution, (unit.level, unit.code), tile, comparison)
    if not found:
        compared = tile.mom if comparison == "mom" else tile.yoy
        reason = "no_comparison" if compared is None else "no_breakdown"
        return tr(words(reason), "p", "why__none")
    blocks = []
    for breakdown in found:
        plural = plural_words(breakdown.child_level)
        title = tr((f"By {plural[0].lower()}", f"按{plural[1]}"), "span")
        blocks.append(render_breakdown(ctx, unit, tile, breakdown, root, title))
    return "".join(blocks)


def render_leaf(ctx: SiteContext, unit: OrgUnit, tile: Tile, comparison: str, root: str) -> str:
    """A unit without children: its own part in its parent's change, linked to the parent's."""
    parent = ctx.tree.parent(unit.code)
    found = (
        part_in_parent(ctx.attribution, (parent.level, parent.code), unit.code, tile, comparison)
        if parent is not None
        else None
    )
    if parent is None or found is None:
        return tr(words("no_children"), "p", "why__none")
    breakdown, part = found
    fmt = tile.info.unit
    share = format_change(part.contribution, fmt)
    total = format_change(breakdown.parent_change, fmt)
    href = f"{root}{ctx.paths[parent.code]}#{why_anchor(tile.info.metric_name)}"
    sentence = tr(
        (
            f"Accounts for {share} of {parent.name}'s change of {total}",
            f"占{parent.name}变化（{total}）中的 {share}",
        ),
        "span",
    )
    link = (f"{parent.name}: why it moved", f"{parent.name}：变化原因")
    return (
        f'<p class="why__leaf" data-metric="{esc(tile.info.metric_name)}"'
        f' data-comparison="{esc(comparison)}"'
        f' data-contribution="{full(part.contribution)}">{sentence} '
        f"{render_split(part, fmt)} "
        f'<a href="{href}" data-code="{esc(parent.code)}">{tr(link)} ›</a></p>'
    )


def input_label(ctx: SiteContext, item: DriverInput) -> Words:
    """ "Claims paid · denominator": the input's catalog label (its name when it is a component
    the catalog does not list) and its role; "(part)" when the formula filters it."""
    info = ctx.infos.get(item.metric)
    en, zh = label_words(info) if info else (item.metric, item.metric)
    role = words(item.role) if item.role in ROLES else (item.role, item.role)
    part = words("part") if item.is_filtered else ("", "")
    return (f"{en}{part[0]} · {role[0]}", f"{zh}{part[1]} · {role[1]}")


def render_drivers(ctx: SiteContext, unit: OrgUnit, tile: Tile, comparison: str) -> str:
    """The KPI's change at the unit split over its formula's inputs (numerator, denominator),
    where the indicator tree has a formula for it: one more waterfall."""
    info = tile.info
    split = ctx.drivers.get((unit.level, unit.code), {}).get(
        (info.metric_name, tile.month, comparison)
    )
    if split is None or not split.inputs:
        return ""
    marks, level, rows = [0.0, split.parent_change], 0.0, []
    for item in split.inputs:
        rows.append((item, level, Segment("input", level, level + item.contribution)))
        marks += [level, level + item.contribution]
        level += item.contribution
    low, high = min(marks), max(marks)
    items = []
    for item, start, segment in rows:
        tone = tone_class(item.contribution, info.unit, info.direction)
        input_info = ctx.infos.get(item.metric)
        fmt = input_info.unit if input_info and input_info.unit else "count"
        values = f"{format_value(item.base, fmt)} → {format_value(item.value, fmt)}"
        items.append(
            f'<li class="wf__row wf__row--input" data-role="{esc(item.role)}"'
            f' data-input="{esc(item.metric)}" data-contribution="{full(item.contribution)}"'
            f' data-start="{full(start)}" data-base="{full(item.base)}"'
            f' data-value="{full(item.value)}">'
            f'<span class="wf__name">{tr(input_label(ctx, item), "span", "wf__label")}'
            f'<span class="wf__split num">{esc(values)}</span></span>'
            f'<span class="wf__track">{render_bar([segment], low, high, info)}</span>'
            f'<span class="wf__num change change--{tone}">'
            f"{esc(format_change(item.contribution, info.unit))}</span></li>"
        )
    items.append(render_total_row(split.parent_change, low, high, info))
    method = words("lmdi" if split.split_method == "lmdi" else "shapley")
    zero = position(0.0, low, high)
    return (
        f'<figure class="wf wf--inputs" data-metric="{esc(info.metric_name)}"'
        f' data-comparison="{esc(comparison)}" data-parent-change="{full(split.parent_change)}"'
        f' style="--zero:{zero:.2f}%"><figcaption>{tr(method)}</figcaption>'
        f'<ol class="wf__rows">{"".join(items)}</ol></figure>'
    )


def render_comparison(
    ctx: SiteContext, unit: OrgUnit, tile: Tile, comparison: str, root: str, *, leaf: bool
) -> str:
    """One comparison of a KPI's why view: over the children (or, for a unit without any, its
    part in its parent's change), then over the formula's inputs."""
    heading = tr(comparison_title(tile, comparison), "h4", "why__when")
    over_units = (render_leaf if leaf else render_children)(ctx, unit, tile, comparison, root)
    return heading + over_units + render_drivers(ctx, unit, tile, comparison)


def is_percentile(tile: Tile) -> bool:
    return tile.info.rollup_kind == PERCENTILE


def render_legend(tile: Tile, ctx: SiteContext, unit: OrgUnit) -> str:
    found = [
        b
        for c in SHOWN_COMPARISONS
        for b in breakdowns_for(ctx.attribution, (unit.level, unit.code), tile, c)
    ]
    if not found:
        return ""
    if any(b.has_effects for b in found):
        keys = (("rate", "legend_rate"), ("mix", "legend_mix"))
    else:
        keys = (("own", "legend_own"),)
    items = "".join(
        f'<span class="wf__key"><span class="wf__swatch wf__bar--{kind}"></span>'
        f"{tr(words(key))}</span>"
        for kind, key in keys
    )
    return f'<p class="wf__legend">{items}</p>'


def render_why(ctx: SiteContext, unit: OrgUnit, tile: Tile, root: str) -> str:
    """One KPI's why view, closed until asked for: last month and last year."""
    info = tile.info
    anchor = why_anchor(info.metric_name)
    has_children = bool(ctx.tree.children(unit.code)) or any(
        breakdowns_for(ctx.attribution, (unit.level, unit.code), tile, c) for c in SHOWN_COMPARISONS
    )
    if is_percentile(tile):
        body = tr(words("percentile"), "p", "why__none why__percentile")
    elif not ctx.has_attribution:  # a snapshot from before the attribution mart
        body = tr(words("no_breakdown"), "p", "why__none")
    else:
        legend = render_legend(tile, ctx, unit) if has_children else ""
        body = legend + "".join(
            render_comparison(ctx, unit, tile, c, root, leaf=not has_children)
            for c in SHOWN_COMPARISONS
        )
    en, zh = label_words(info)
    return (
        f'<details class="why" id="{anchor}" data-metric="{esc(info.metric_name)}">'
        f'<summary><span data-zh="{esc(zh)}">{esc(en)}</span></summary>'
        f'<div class="why__body">{body}</div></details>'
    )


def render_why_panel(ctx: SiteContext, unit: OrgUnit, tiles: Sequence[Tile], root: str) -> str:
    """Every tile's why view, in the tiles' order (each tile links to its own)."""
    if not tiles:
        return ""
    views = "\n".join(render_why(ctx, unit, tile, root) for tile in tiles)
    return (
        f'<section class="panel why-panel" id="why">'
        f'<div class="panel__head">{tr(words("why"), "h2", "panel__title")}</div>'
        f"{tr(words('why_intro'), 'p', 'panel__note')}{views}</section>"
    )


# --- top movers -------------------------------------------------------------------------------


def render_mover(ctx: SiteContext, mover: Mover, root: str) -> str:
    info = mover.tile.info
    child = ctx.tree.unit(mover.code)
    href = f"{root}{ctx.paths[child.code]}#{why_anchor(info.metric_name)}"
    tone = tone_class(mover.contribution, info.unit, info.direction)
    share = f"{mover.share * 100:.0f}%"
    of = words("of_gap" if mover.comparison == "target" else "of_fall")
    gap = format_change(mover.parent_change, info.unit)
    of_words = (f"{share} {of[0]} ({gap})", f"{of[1]}（{gap}）的 {share}")
    en, zh = label_words(info)
    return (
        f'<li class="top-mover" data-metric="{esc(info.metric_name)}" data-code="{esc(child.code)}"'
        f' data-comparison="{esc(mover.comparison)}" data-contribution="{full(mover.contribution)}"'
        f' data-share="{full(mover.share)}" data-size="{full(mover.size)}">'
        f'<a class="top-mover__unit" href="{href}" data-code="{esc(child.code)}">'
        f"{esc(child.name)}</a>"
        f'<span class="unit-code">{esc(child.code)}</span>'
        f'<span class="top-mover__metric" data-zh="{esc(zh)}">{esc(en)}</span>'
        f'<span class="change change--{tone}">{esc(format_change(mover.contribution, info.unit))}'
        f"</span>"
        f"{tr(of_words, 'span', 'top-mover__share')}</li>"
    )


def render_top_movers(ctx: SiteContext, unit: OrgUnit, tiles: Sequence[Tile], root: str) -> str:
    """The group's and each subsidiary's five largest contributions to off-target or worsening
    KPIs, each a link to the unit that made it."""
    if not ctx.has_attribution or unit.level not in MOVER_LEVELS or not tiles:
        return ""
    movers = top_movers(ctx.attribution, (unit.level, unit.code), tiles, ctx.tree)
    if movers:
        listing = "".join(render_mover(ctx, m, root) for m in movers)
        body = f'<ol class="top-movers__list">{listing}</ol>'
    else:
        body = tr(words("movers_none"), "p", "why__none")
    return (
        f'<section class="panel top-movers" id="top-movers">'
        f'<div class="panel__head">{tr(words("movers"), "h2", "panel__title")}</div>'
        f"{tr(words('movers_intro'), 'p', 'panel__note')}{body}</section>"
    )
