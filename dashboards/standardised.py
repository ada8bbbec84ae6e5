"""Raw and mix-adjusted ranks side by side in the pages' rank tables (marts.fct_kpi_standardised).

The mart publishes each unit's value at the group's product or channel mix next to its raw
value. A rank table ranks the units it lists (a unit's children, or its siblings) by their raw
value; the column added here ranks the same ranked units by their value at the group's mix, so
a unit that only looks weak because it serves harder segments shows it in one glance. Pure
functions; the table itself is org_pages.render_rank_table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from dashboards.formatting import format_value
from dashboards.i18n import WHY_UI
from dashboards.layout import SiteContext, esc, tr
from dashboards.model import MetricInfo, RankRow

DIMENSION_WORDS = {
    "product_line": ("product line", "险种"),
    "channel": ("channel", "渠道"),
}


def mix_ranks(
    rows: Sequence[RankRow],
    values: Mapping[str, float],
    direction: str | None,
) -> dict[str, int]:
    """The ranked rows' ranks by their value at the group's mix (unit code -> rank), best first
    for the metric's direction; equal values share a rank, as the raw ranks do. Units the raw
    ranking leaves unranked (small base, no value) stay unranked."""
    codes = [r.unit.code for r in rows if r.rank is not None]
    if not codes or any(code not in values for code in codes):
        return {}  # a unit without an adjusted value: no ranking to set beside the raw one
    ranked = [(code, values[code]) for code in codes]
    sign = 1.0 if direction == "lower_is_better" else -1.0
    ordered = sorted(v * sign for _, v in ranked)
    return {code: ordered.index(v * sign) + 1 for code, v in ranked}


@dataclass(frozen=True)
class MixColumn:
    """The column's head and one cell per unit code (absent: "–")."""

    head: str
    cells: Mapping[str, str]

    def cell(self, code: str) -> str:
        return self.cells.get(code, '<td class="r num mix-rank">–</td>')


def mix_column(
    ctx: SiteContext, info: MetricInfo, month: date, rows: Sequence[RankRow]
) -> MixColumn | None:
    """The "at the group's mix" rank column of a rank table; None when the mart has no adjusted
    value for the metric (no segmenting dimension) or for one of the ranked units."""
    found = {
        r.unit.code: ctx.standardised.get((r.unit.level, r.unit.code), {}).get(
            (info.metric_name, month)
        )
        for r in rows
    }
    values = {code: s.value for code, s in found.items() if s is not None}
    ranks = mix_ranks(rows, values, info.direction)
    if not ranks:
        return None
    dimension = next((s.dimension for s in found.values() if s and s.dimension), None)
    by = DIMENSION_WORDS.get(dimension or "", (dimension or "", dimension or ""))
    en, zh = WHY_UI["mix_rank"]
    title_en, title_zh = WHY_UI["mix_rank_title"]
    head = tr(
        (en, zh),
        "th",
        "r mix-rank",
        f' title="{esc(title_en.format(by=by[0]))}"'
        f' data-zh-title="{esc(title_zh.format(by=by[1]))}"',
    )
    cells = {
        code: (
            f'<td class="r num mix-rank" data-mix-rank="{rank}" data-mix-value="{values[code]!r}"'
            f' title="{esc(format_value(values[code], info.unit))}">{rank}</td>'
        )
        for code, rank in ranks.items()
    }
    return MixColumn(head, cells)
