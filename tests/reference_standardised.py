"""Independent reference computation of `marts.fct_kpi_standardised` for the claims KPIs, from the
raw extracts.

It shares no SQL with the warehouse: the claims records (paid claims: auto-processed or not, and
their cycle time) come from tests/reference_kpis.py, which reads the raw CSV files and follows the
written metric definitions; each record keeps its claim's product line. Every unit gets its
numerator and denominator per product line, and the reference's formula (value-management
reference, section 4) is applied as written: R_u^std = sum_j S_j r_uj, with S_j the group's
share of the denominator in product line j, over the product lines the unit has, divided by the
share those hold (the model's documented rule for a unit without every product line).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.reference_kpis import (
    canonical_org_codes,
    claims_records,
    expand_to_units,
    read_org_units,
    read_source,
)

UNIT_KEY = ["metric_name", "period_start", "org_level", "org_code"]
METRICS = ("claims_auto_rate", "claims_cycle_time_days")
NO_SEGMENT = "(none)"


def claims_by_product_line(raw_dir: Path) -> pd.DataFrame:
    """Each unit's numerator and denominator per product line, for the claims KPIs."""
    aliases = read_source(raw_dir, "org_aliases")
    claims = read_source(raw_dir, "claims")
    claims = claims.assign(org_code=canonical_org_codes(claims["org_code"], aliases))
    # the claims of each product line on their own, so each record knows its segment
    records = pd.concat(
        [
            claims_records(part)[0].assign(segment=NO_SEGMENT if pd.isna(line) else line)
            for line, part in claims.groupby("product_line", dropna=False)
        ],
        ignore_index=True,
    )
    units = expand_to_units(records, read_org_units(raw_dir))
    return units.groupby([*UNIT_KEY, "segment"], as_index=False)[["numerator", "denominator"]].sum()


def reference_standardised(raw_dir: Path) -> pd.DataFrame:
    """UNIT_KEY, raw_value, standardised_value, mix_coverage and segments for the claims KPIs."""
    cells = claims_by_product_line(Path(raw_dir))
    cells = cells.loc[cells["denominator"] > 0]
    group = cells.loc[cells["org_level"] == "group"]
    shares = group.assign(
        group_share=group["denominator"]
        / group.groupby(["metric_name", "period_start"])["denominator"].transform("sum")
    )[["metric_name", "period_start", "segment", "group_share"]]
    cells = cells.merge(shares, on=["metric_name", "period_start", "segment"], how="inner")
    cells = cells.assign(
        rate=cells["numerator"] / cells["denominator"],
        weighted=lambda c: c["group_share"] * c["numerator"] / c["denominator"],
    )
    units = cells.groupby(UNIT_KEY, as_index=False).agg(
        numerator=("numerator", "sum"),
        denominator=("denominator", "sum"),
        weighted=("weighted", "sum"),
        mix_coverage=("group_share", "sum"),
        segments=("segment", "count"),
    )
    return units.assign(
        raw_value=units["numerator"] / units["denominator"],
        standardised_value=units["weighted"] / units["mix_coverage"],
    )[[*UNIT_KEY, "segments", "mix_coverage", "raw_value", "standardised_value"]]
