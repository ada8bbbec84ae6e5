"""What every page shares: paths, the i18n and escaping helpers, the page shell and the
publication notice.

Every page links to the shared assets/ (plotly.js, site.css, site.js, units.js) relatively, so
the site works opened from disk and served over HTTP alike. English text carries its Chinese in
`data-zh`, swapped by assets/site.js.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePosixPath

from dashboards.attribution import UnitBreakdowns, UnitDrivers, UnitStandardised
from dashboards.formatting import MISSING, format_timestamp
from dashboards.i18n import DIMENSION_NAMES, TIER_NAMES, TIER_PLURALS, Words, ui
from dashboards.model import (
    OTHER_DIMENSION,
    KpiPoint,
    MetricInfo,
    UnitKey,
    UnitValues,
    metric_order,
)
from dashboards.notices import Publication
from dashboards.org_tree import OrgTree, OrgUnit
from dashboards.scorecard_model import Scorecards
from dashboards.templates import page_template

ASSETS_DIR = "assets"
PLOTLY_JS = "plotly.min.js"
SITE_CSS_FILE = "site.css"
SITE_JS_FILE = "site.js"
UNITS_JS_FILE = "units.js"
CATALOG_PAGE = PurePosixPath("catalog.html")
QUALITY_PAGE = PurePosixPath("quality.html")
INDEX_PAGE = PurePosixPath("index.html")
# Replaced after hashing, so a rebuild with unchanged data leaves the page file untouched.
BUILT_AT_SLOT = "\x00built-at\x00"
HASH_SLOT = "\x00content-hash\x00"


# --- small helpers ----------------------------------------------------------------------------


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def tr(words: Words, tag: str = "span", cls: str = "", attrs: str = "") -> str:
    """An element with English text and its Chinese in data-zh (swapped by site.js)."""
    en, zh = words
    cls_attr = f' class="{cls}"' if cls else ""
    zh_attr = f' data-zh="{esc(zh)}"' if zh and zh != en else ""
    return f"<{tag}{cls_attr}{zh_attr}{attrs}>{esc(en)}</{tag}>"


def label_words(info: MetricInfo) -> Words:
    return (info.label, info.label_zh or info.label)


def tier_words(level: str) -> Words:
    return TIER_NAMES.get(level, (level.replace("_", " ").title(),) * 2)


def plural_words(level: str) -> Words:
    return TIER_PLURALS.get(level, tier_words(level))


def dimension_words(key: str) -> Words:
    return DIMENSION_NAMES.get(key, DIMENSION_NAMES[OTHER_DIMENSION])


def root_prefix(path: PurePosixPath) -> str:
    """Relative link from a page to the site root: "" or "../"."""
    return "../" * (len(path.parts) - 1)


def slug(text: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in cleaned.split("-") if part) or "x"


def metric_anchor(metric_name: str) -> str:
    return f"metric-{slug(metric_name)}"


# Characters that could end or change the <script> element holding JSON ("</script>", "<!--"
# and its "<script" escape states), or end a line in an older JavaScript parser. JSON has them
# only inside strings, where the \u escape means the same character: the value is unchanged.
# Applied with str.replace, one pass per character: str.translate with a mapping works character
# by character in Python and took 0.65 s of the site's 4 s for the 92 org pages' data at scale 1.
SCRIPT_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def json_for_script(value: object) -> str:
    """JSON that is inert inside an HTML <script> element, whatever its strings hold."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in SCRIPT_ESCAPES:
        text = text.replace(char, escape)
    return text


# --- the site as the pages see it -------------------------------------------------------------


@dataclass(frozen=True)
class SiteContext:
    """Everything the pages are rendered from, read once per build."""

    tree: OrgTree
    values: Mapping[UnitKey, UnitValues]
    infos: Mapping[str, MetricInfo]
    publication: Publication
    paths: Mapping[str, PurePosixPath]  # unit code -> page path in the site
    # why each KPI moved, per parent unit (dashboards.attribution); empty without the mart
    attribution: Mapping[UnitKey, UnitBreakdowns] = field(default_factory=dict)
    has_attribution: bool = False  # the snapshot publishes marts.fct_kpi_attribution
    # each formula-linked KPI's change split over its inputs, per unit (dashboards.attribution)
    drivers: Mapping[UnitKey, UnitDrivers] = field(default_factory=dict)
    # each unit's KPIs at the group's mix, for the rank tables (dashboards.standardised)
    standardised: Mapping[UnitKey, UnitStandardised] = field(default_factory=dict)
    scoped: bool = False
    metric_months: Mapping[str, date] = field(default_factory=dict)  # latest month per metric
    scorecards: Scorecards = field(default_factory=Scorecards)  # scores, bridges, the tree

    def unit_values(self, unit: OrgUnit) -> UnitValues:
        return self.values.get((unit.level, unit.code), {})

    def point(self, unit: OrgUnit, metric: str, month: date) -> KpiPoint | None:
        return self.unit_values(unit).get(metric, {}).get(month)


@dataclass(frozen=True)
class RenderedPage:
    """A page's HTML with the build time and content hash still to fill in."""

    path: PurePosixPath
    html: str
    plots: int  # figures site.js draws on it


# --- page shell -------------------------------------------------------------------------------


def render_shell(
    *,
    path: PurePosixPath,
    title: str,
    kind: str,
    hero: str,
    body: str,
    notices: str,
    page_data: Mapping[str, object] | None,
    needs_plotly: bool,
    current_nav: str | None = None,
    body_attrs: str = "",
) -> str:
    root = root_prefix(path)
    assets = f"{root}{ASSETS_DIR}"
    nav_links = [
        ("home", INDEX_PAGE),
        ("all_units", f"{INDEX_PAGE}#directory"),
        ("catalog", CATALOG_PAGE),
        ("quality", QUALITY_PAGE),
    ]
    nav = "".join(
        tr(
            ui(key),
            "a",
            attrs=f' href="{root}{target}"'
            + (' aria-current="page"' if key == current_nav else ""),
        )
        for key, target in nav_links
    )
    placeholder = ui("search_placeholder")
    data_script = (
        f'<script type="application/json" id="page-data">{json_for_script(page_data)}</script>\n'
        if page_data
        else ""
    )
    plotly = f'<script src="{assets}/{PLOTLY_JS}"></script>\n' if needs_plotly else ""
    return page_template().substitute(
        content_hash=HASH_SLOT,
        title=esc(title),
        assets=assets,
        site_css=SITE_CSS_FILE,
        site_js=SITE_JS_FILE,
        units_js=UNITS_JS_FILE,
        root=root,
        kind=esc(kind),
        body_attrs=body_attrs,
        index_page=INDEX_PAGE,
        nav=nav,
        search_placeholder=esc(placeholder[0]),
        search_placeholder_zh=esc(placeholder[1]),
        search_none=esc(ui("search_none")[0]),
        lang_label=esc(ui("lang")[0]),
        notices=notices,
        hero=hero,
        body=body,
        footer=tr(ui("footer")),
        built_label=tr(ui("built")),
        built_at=BUILT_AT_SLOT,
        data_script=data_script,
        plotly_script=plotly,
    )


# held KPIs named one by one on every page; the rest are counted (the quality page lists them)
HELD_KPIS_SHOWN = 5


def _held_kpi_notices(publication: Publication, infos: Mapping[str, MetricInfo]) -> list[str]:
    """One line per KPI a check holds back: which metric, where, by which check, since when."""
    items = []
    for hold in publication.held_kpis[:HELD_KPIS_SHOWN]:
        info = infos.get(hold.metric_name) or MetricInfo.fallback(hold.metric_name)
        where = f"{hold.org_level} {hold.org_code}" if hold.org_code else None
        since = format_timestamp(hold.since)
        en = (
            f"{info.label} at {where or 'every unit'} held back by {hold.check_name} since "
            f"{since}: values as last published"
        )
        zh = (
            f"{info.label_zh or info.label}（{where or '所有机构'}）被 {hold.check_name} 拦截，"
            f"自 {since} 起：显示上次发布的数值"
        )
        title = f' title="{esc(hold.reason)}"' if hold.reason else ""
        items.append(
            f'<p class="notice notice--held-kpi" data-metric="{esc(hold.metric_name)}" '
            f'data-org-code="{esc(hold.org_code or "")}" data-check="{esc(hold.check_name)}"'
            f'{title} data-zh="{esc(zh)}">{esc(en)}</p>'
        )
    more = len(publication.held_kpis) - HELD_KPIS_SHOWN
    if more > 0:
        en = f"+{more} more KPI(s) held back by checks"
        zh = f"另有 {more} 项指标被检查拦截"
        items.append(f'<p class="notice notice--held-kpi" data-zh="{esc(zh)}">{esc(en)}</p>')
    return items


def render_notices(publication: Publication, infos: Mapping[str, MetricInfo]) -> str:
    """The publication notice: last published, held sources, stale metrics, or all passing."""
    items = []
    if publication.published_at is not None:
        en, zh = ui("published")
        stamp = format_timestamp(publication.published_at)
        items.append(
            f'<p class="notice notice--published" data-zh="{esc(zh)} {esc(stamp)}">'
            f"{esc(en)} {esc(stamp)}</p>"
        )
    for held in publication.held:
        since = format_timestamp(held.since)
        check = held.check_name or "a data gate"
        owner = held.data_owner or MISSING
        en = f"{held.source} held back by {check} since {since} — owner {owner}"
        zh = f"{held.source} 数据被 {check} 拦截，自 {since} 起 — 负责人 {owner}"
        title = f' title="{esc(held.reason)}"' if held.reason else ""
        items.append(
            f'<p class="notice notice--held" role="alert" data-source="{esc(held.source)}"'
            f'{title} data-zh="{esc(zh)}">{esc(en)}</p>'
        )
    items += _held_kpi_notices(publication, infos)
    if publication.stale_metrics:
        names = [
            infos[m] if m in infos else MetricInfo.fallback(m) for m in publication.stale_metrics
        ]
        names.sort(key=metric_order)
        en = ui("stale_metrics")[0] + " " + ", ".join(i.label for i in names)
        zh = ui("stale_metrics")[1] + "、".join(i.label_zh or i.label for i in names)
        items.append(f'<p class="notice notice--stale" data-zh="{esc(zh)}">{esc(en)}</p>')
    if publication.gates_known and not publication.held and not publication.held_kpis:
        items.append(tr(ui("gates_ok"), "p", "notice notice--ok"))
    if not items:
        return ""
    return (
        '<section class="notices" aria-label="Publication notice">'
        f'<div class="wrap notices__inner">{"".join(items)}</div></section>'
    )


def render_simple_hero(path: PurePosixPath, ctx: SiteContext, title: Words, intro: Words) -> str:
    root = root_prefix(path)
    crumbs = ""
    if ctx.tree.root:
        top = ctx.tree.unit(ctx.tree.root)
        crumbs = (
            f'<ol class="crumbs"><li><a href="{root}{INDEX_PAGE}">{esc(top.name)}</a></li>'
            f"<li>{tr(title)}</li></ol>"
        )
    return (
        f'<section class="hero"><div class="wrap hero__inner">{crumbs}'
        f'<div class="hero__row"><div>{tr(title, "h1", "hero__title")}'
        f"{tr(intro, 'p', 'muted')}</div></div></div></section>"
    )


def units_script(ctx: SiteContext) -> str:
    """assets/units.js: the search box's list of units (code, name, tier, page)."""
    units = [
        {
            "c": u.code,
            "n": u.name,
            "t": " ".join(dict.fromkeys(tier_words(u.level))),
            "p": str(ctx.paths[u.code]),
        }
        for u in ctx.tree.ordered()
    ]
    return f"window.OPSVALUE_UNITS = {json_for_script(units)};\n"
