"""Independent reference computation of `marts.fct_kpi_attribution` from the published KPI rows.

Tests compare the published attribution with `reference_attribution`. It shares no code and no
SQL with the warehouse: it reads the numerators and denominators of `fct_kpi_values` (not its
values), places every unit under the parent of the org tree version valid on the month's last
day, and applies the value-management reference's formulas (section 4) as written there, child
by child: shares s = D_child / D_parent, rates r = multiplier x N / D, rate effect = mean(s) x
change of r, mix effect = change of s x (mean(r) - mean(R)), contribution = rate + mix; a child
present in one state only has share 0 in the other and its present rate. The warehouse computes
the contribution another way (change of s x r less mean(R) x change of s), so the comparison
checks the algebra as well as the data.

The metric kind is read from the KPI rows' shape (a denominator: a ratio; none: additive; no
numerator: a percentile, not decomposed), not from the rule the warehouse applies to the catalog.

What the children of a parent leave of it (records booked at the parent, without an org, children
without a denominator) is one more child, child_code = the parent's code, as the model documents.

Against target the earlier state is the plan (the issue: "the child's cascaded target rate with
its planned share"): each org child at its own target from `fct_unit_targets`, its share its
planned weight over its siblings'. Mix is then the share's move away from the plan. The centers,
which the cascade gives no planned weight, keep their actual share (no mix).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tests.reference_kpis import MULTIPLIERS

OUTPUT_COLUMNS = [
    "metric_name",
    "period_start",
    "comparison",
    "org_level",
    "org_code",
    "child_level",
    "child_code",
    "rate_effect",
    "mix_effect",
    "contribution",
    "parent_change",
]
KEY = OUTPUT_COLUMNS[:7]
MONTHS_BACK = {"mom": 1, "yoy": 12}
PARENT_LEVELS = {"group": "subsidiary", "subsidiary": "branch", "branch": "sub_branch"}
CENTER = "center"
# A remainder smaller than this share of the parent's value is float noise, not a part.
NOISE = 1e-10
# One fct_kpi_values row as a dict (column -> value).
Row = dict


@dataclass(frozen=True)
class Part:
    """A child in one state: its share of the parent's denominator (None for additive metrics),
    its rate (None for a numerator without a denominator) and share x rate (its value, additive)."""

    share: float | None
    rate: float | None
    term: float


@dataclass(frozen=True)
class State:
    value: float  # the parent's value
    parts: dict[str, Part]


def metric_kinds(kpis: pd.DataFrame) -> dict[str, str]:
    """ratio, additive or percentile per metric, from the shape of its KPI rows."""
    kinds = {}
    for metric, rows in kpis.groupby("metric_name"):
        if rows["numerator"].isna().all():
            kinds[metric] = "percentile"
        elif rows["denominator"].notna().all():
            kinds[metric] = "ratio"
        elif rows["denominator"].isna().all():
            kinds[metric] = "additive"
        else:
            raise ValueError(f"{metric}: some rows have a denominator and some not")
    return kinds


def parent_of(org: pd.DataFrame, month: pd.Timestamp) -> dict[str, str]:
    """Each unit's parent in the tree version valid on the month's last day."""
    last_day = month + pd.offsets.MonthEnd(0)
    valid = org.loc[
        (org["valid_from"] <= last_day) & (org["valid_to"].isna() | (org["valid_to"] > last_day))
    ]
    if valid["org_code"].duplicated().any():
        raise ValueError(f"two versions of a unit valid on {last_day.date()}")
    return dict(zip(valid["org_code"], valid["parent_code"], strict=True))


def snap(x: float, scale: float) -> float:
    return 0.0 if abs(x) <= NOISE * max(1.0, abs(scale)) else x


def actual_state(parent: Row, children: list[Row], kind: str, multiplier: float) -> State:
    """The parent and its children as published in one month, with the remainder."""
    if kind == "additive":
        parts = {c["org_code"]: Part(None, c["numerator"], c["numerator"]) for c in children}
        rest = snap(
            parent["numerator"] - sum(c["numerator"] for c in children), parent["numerator"]
        )
        if rest:
            parts[parent["org_code"]] = Part(None, rest, rest)
        return State(parent["numerator"], parts)
    n, d = parent["numerator"], parent["denominator"]
    value = multiplier * n / d
    parts = {
        c["org_code"]: Part(
            c["denominator"] / d,
            multiplier * c["numerator"] / c["denominator"],
            multiplier * c["numerator"] / d,
        )
        for c in children
    }
    rest_d = snap(d - sum(c["denominator"] for c in children), d)
    rest_term = snap(multiplier * (n - sum(c["numerator"] for c in children)) / d, value)
    if rest_d:
        parts[parent["org_code"]] = Part(rest_d / d, rest_term / (rest_d / d), rest_term)
    elif rest_term:
        parts[parent["org_code"]] = Part(0.0, None, rest_term)
    return State(value, parts)


def planned_state(parent: Row, plan: list[Row]) -> State:
    """The plan against which a parent's month is compared: each child of the cascade
    (fct_unit_targets rows under the parent) at its own target, with its planned weight over
    its siblings' as its share; a child without a planned weight is not in the plan. The parent
    is at its target; what the plan leaves of it (nothing, when the cascade reconciles) is the
    parent's own part."""
    weighted = [row for row in plan if row["planned_weight"] > 0]
    total = sum(row["planned_weight"] for row in weighted)
    parts = {
        row["org_code"]: Part(
            row["planned_weight"] / total,
            row["target"],
            row["planned_weight"] / total * row["target"],
        )
        for row in weighted
    }
    target = parent["target"]
    rest_share = snap(1.0 - sum(p.share for p in parts.values()), 1.0)
    rest_term = snap(target - sum(p.term for p in parts.values()), target)
    if rest_share or rest_term:
        parts[parent["org_code"]] = Part(
            rest_share, rest_term / rest_share if rest_share else None, rest_term
        )
    return State(target, parts)


def target_state(parent: Row, children: list[Row], actual: State) -> State | None:
    """The centers against target (the cascade plans no share for them): each at its actual
    share with its tier's target as rate, the parent at its target; None when a center has no
    target."""
    if any(pd.isna(c["target"]) for c in children):
        return None
    parts = {
        c["org_code"]: Part(actual.parts[c["org_code"]].share, c["target"], 0.0) for c in children
    }
    parts = {code: Part(p.share, p.rate, p.share * p.rate) for code, p in parts.items()}
    own = actual.parts.get(parent["org_code"])
    rest_term = snap(parent["target"] - sum(p.term for p in parts.values()), parent["target"])
    rest_share = own.share if own else 0.0
    if rest_share or rest_term:
        rate = rest_term / rest_share if rest_share else None
        parts[parent["org_code"]] = Part(rest_share, rate, rest_term)
    return State(parent["target"], parts)


def effects(before: Part | None, after: Part | None, mean_parent: float) -> tuple[float, float]:
    """(rate effect, mix effect) of one child of a ratio, Kitagawa as the reference writes it."""
    s0 = before.share if before else 0.0
    s1 = after.share if after else 0.0
    if s0 and s1:
        return (
            (s0 + s1) / 2 * (after.rate - before.rate),
            (s1 - s0) * ((before.rate + after.rate) / 2 - mean_parent),
        )
    if not s0 and not s1:  # a numerator without a denominator: its own change
        return (after.term if after else 0.0) - (before.term if before else 0.0), 0.0
    present, absent = (after, before) if s1 else (before, after)
    if absent is not None and absent.term:
        raise NotImplementedError(
            "a part with a share in one state and a bare numerator in the other"
        )
    # absent: share 0, rate = its present rate, so the rate does not change: all mix
    return 0.0, (s1 - s0) * (present.rate - mean_parent)


def attribute(comparison: str, keys: dict, before: State, after: State, kind: str) -> list[dict]:
    rows = []
    mean_parent = (before.value + after.value) / 2
    for child in sorted(set(before.parts) | set(after.parts)):
        p0, p1 = before.parts.get(child), after.parts.get(child)
        if kind == "additive":
            rate = mix = None
            contribution = (p1.term if p1 else 0.0) - (p0.term if p0 else 0.0)
        else:
            rate, mix = effects(p0, p1, mean_parent)
            contribution = rate + mix
        rows.append(
            keys
            | {
                "comparison": comparison,
                "child_code": child,
                "rate_effect": rate,
                "mix_effect": mix,
                "contribution": contribution,
                "parent_change": after.value - before.value,
            }
        )
    return rows


def reference_attribution(
    kpis: pd.DataFrame,
    org: pd.DataFrame,
    catalog: pd.DataFrame,
    unit_targets: pd.DataFrame | None = None,
    multipliers: dict[str, float] = MULTIPLIERS,
) -> pd.DataFrame:
    """Month on month, year on year and against target, for every parent with children in
    either state.

    `kpis`: fct_kpi_values rows; `org`: dim_org (org_code, parent_code, valid_from, valid_to);
    `catalog`: metric_name and org_attribute; `unit_targets`: fct_unit_targets (metric_name,
    period_start, org_code, parent_code, target, planned_weight), the plan the org children
    are compared with against target (none given: no target rows for them).
    """
    kinds = metric_kinds(kpis)
    center_handled = set(catalog.loc[catalog["org_attribute"] == "handling_center", "metric_name"])
    units = {
        (r["metric_name"], r["period_start"], r["org_level"], r["org_code"]): r
        for r in kpis.to_dict("records")
    }
    groups = {(m, p): code for (m, p, level, code) in units if level == "group"}
    parents_by_month = {month: parent_of(org, month) for month in kpis["period_start"].unique()}
    # (metric, month, parent code, child level) -> children rows
    children: dict[tuple, list[Row]] = defaultdict(list)
    for (metric, month, level, code), row in units.items():
        if level == CENTER:
            if metric in center_handled and (metric, month) in groups:
                children[(metric, month, groups[(metric, month)], CENTER)].append(row)
        elif level != "group":
            parent = parents_by_month[month].get(code)
            if parent is not None:
                children[(metric, month, parent, level)].append(row)

    # (metric, month, parent code) -> the plan's children rows
    plans: dict[tuple, list[Row]] = defaultdict(list)
    if unit_targets is not None:
        for row in unit_targets.to_dict("records"):
            if not pd.isna(row["parent_code"]):
                plans[(row["metric_name"], row["period_start"], row["parent_code"])].append(row)

    rows: list[dict] = []
    for (metric, month, level, code), parent in units.items():
        kind = kinds[metric]
        if level not in PARENT_LEVELS or kind == "percentile":
            continue
        multiplier = multipliers.get(metric, 1.0)
        child_levels = [PARENT_LEVELS[level]]
        if level == "group" and metric in center_handled:
            child_levels.append(CENTER)
        for child_level in child_levels:
            now = children.get((metric, month, code, child_level), [])
            keys = {
                "metric_name": metric,
                "period_start": month,
                "org_level": level,
                "org_code": code,
                "child_level": child_level,
            }
            for comparison, months_back in MONTHS_BACK.items():
                base_month = month - pd.DateOffset(months=months_back)
                base = units.get((metric, base_month, level, code))
                then = children.get((metric, base_month, code, child_level), [])
                if base is not None and (now or then):
                    before = actual_state(base, then, kind, multiplier)
                    after = actual_state(parent, now, kind, multiplier)
                    rows += attribute(comparison, keys, before, after, kind)
            if now and kind == "ratio" and not pd.isna(parent["target"]):
                after = actual_state(parent, now, kind, multiplier)
                if child_level == CENTER:
                    planned = target_state(parent, now, after)
                elif unit_targets is not None:
                    planned = planned_state(parent, plans.get((metric, month, code), []))
                else:
                    planned = None
                if planned is not None:
                    rows += attribute("target", keys, planned, after, kind)
    result = pd.DataFrame(rows, columns=OUTPUT_COLUMNS)
    for column in ["rate_effect", "mix_effect", "contribution", "parent_change"]:
        result[column] = result[column].astype(float)
    return result.sort_values(KEY).reset_index(drop=True)


def scale_of_parent(kpis: pd.DataFrame, attribution: pd.DataFrame) -> np.ndarray:
    """max(1, |value|, |base value|) of each row's parent: the size float noise is relative to."""
    values = attribution.merge(
        kpis[["metric_name", "period_start", "org_level", "org_code", "value"]],
        on=["metric_name", "period_start", "org_level", "org_code"],
        how="left",
        validate="many_to_one",
    )["value"].to_numpy()
    base = values - attribution["parent_change"].to_numpy()
    return np.maximum.reduce([np.ones(len(values)), np.abs(values), np.abs(base)])
