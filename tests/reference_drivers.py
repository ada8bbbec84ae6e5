"""Independent reference computation of `marts.fct_driver_attribution` from the published KPI rows.

It shares no code and no SQL with the warehouse. The warehouse reads each split off the published
values (y(N1, D0) = y1 D1 / D0); this reference applies the value-management reference's
formulas (section 4) as written there, to the numerators and denominators of `fct_kpi_values`
with the metric's constant k from tests/reference_kpis.MULTIPLIERS:

    C_N = k (N1 - N0) (1/D0 + 1/D1) / 2,    C_D = k (N0 + N1) (1/D1 - 1/D0) / 2

and, for products of positive factors, LMDI: C_i = L(y1, y0) ln(x_i1 / x_i0) with
L(a, b) = (a - b) / (ln a - ln b). Every formula link of the published indicator tree
(`dim_indicator_tree`, link_type formula) is a quotient in today's catalog; the product formula is
here for the hand-worked checks of the warehouse's LMDI (no catalog metric is a product yet).
"""

from __future__ import annotations

import math

import pandas as pd

from tests.reference_kpis import MULTIPLIERS

OUTPUT_COLUMNS = [
    "metric_name",
    "period_start",
    "comparison",
    "org_level",
    "org_code",
    "input_role",
    "input_metric",
    "input_base_value",
    "input_value",
    "contribution",
    "parent_change",
]
KEY = OUTPUT_COLUMNS[:6]
MONTHS_BACK = {"mom": 1, "yoy": 12}


def shapley_quotient(k: float, n0: float, d0: float, n1: float, d1: float) -> tuple[float, float]:
    """(numerator's, denominator's) contribution to the change of k N / D."""
    return (
        k * (n1 - n0) * (1 / d0 + 1 / d1) / 2,
        k * (n0 + n1) * (1 / d1 - 1 / d0) / 2,
    )


def lmdi_product(factors_0: list[float], factors_1: list[float], k: float = 1.0) -> list[float]:
    """Each positive factor's contribution to the change of y = k x Π x_i (LMDI)."""
    y0, y1 = k * math.prod(factors_0), k * math.prod(factors_1)
    weight = y0 if y0 == y1 else (y1 - y0) / (math.log(y1) - math.log(y0))
    return [weight * math.log(b / a) for a, b in zip(factors_0, factors_1, strict=True)]


def formula_inputs(tree: pd.DataFrame) -> dict[str, dict[str, str]]:
    """{metric: {input_role: input metric}} of every formula-linked metric of the tree."""
    links = tree.loc[tree["link_type"] == "formula"]
    inputs: dict[str, dict[str, str]] = {}
    for row in links.itertuples():
        inputs.setdefault(row.parent_node, {})[row.input_role] = row.child_node
    return inputs


def reference_drivers(
    kpis: pd.DataFrame, tree: pd.DataFrame, multipliers: dict[str, float] = MULTIPLIERS
) -> pd.DataFrame:
    """Month on month and year on year, for every unit with a value and a non-zero denominator
    in both months, every tier and center included.

    `kpis`: fct_kpi_values rows (period_start as timestamps); `tree`: dim_indicator_tree.
    """
    inputs = formula_inputs(tree)
    units = {
        (r["metric_name"], r["period_start"], r["org_level"], r["org_code"]): r
        for r in kpis.to_dict("records")
        if r["metric_name"] in inputs
    }
    rows = []
    for (metric, month, level, code), now in units.items():
        k = multipliers.get(metric, 1.0)
        for comparison, months_back in MONTHS_BACK.items():
            then = units.get((metric, month - pd.DateOffset(months=months_back), level, code))
            if then is None or not then["denominator"] or not now["denominator"]:
                continue
            n0, d0, n1, d1 = (
                then["numerator"],
                then["denominator"],
                now["numerator"],
                now["denominator"],
            )
            if any(pd.isna(x) for x in (n0, n1)):
                continue
            c_n, c_d = shapley_quotient(k, n0, d0, n1, d1)
            change = k * n1 / d1 - k * n0 / d0
            for role, base, value, contribution in [
                ("numerator", n0, n1, c_n),
                ("denominator", d0, d1, c_d),
            ]:
                rows.append(
                    {
                        "metric_name": metric,
                        "period_start": month,
                        "comparison": comparison,
                        "org_level": level,
                        "org_code": code,
                        "input_role": role,
                        "input_metric": inputs[metric][role],
                        "input_base_value": base,
                        "input_value": value,
                        "contribution": contribution,
                        "parent_change": change,
                    }
                )
    result = pd.DataFrame(rows, columns=OUTPUT_COLUMNS)
    return result.sort_values(KEY).reset_index(drop=True)
