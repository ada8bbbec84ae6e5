"""An independent recomputation of the cascaded targets (value-management reference, section 3),
written from the rules as documented, not from the SQL: the group's target split to every unit
of each month's org tree, tier by tier.

Input: the metric YAML files (targets and target_cascade as the owners wrote them), rows of the
published `fct_kpi_values` (last year's values and denominators) and `dim_org`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

LEVELS = ("group", "subsidiary", "branch", "sub_branch")


@dataclass(frozen=True)
class Rule:
    metric: str
    kind: str  # additive | ratio | percentile
    rule: str
    fallback: str
    target: float
    red: float
    overrides: dict[str, float]


def load_rules(dbt_dir: Path) -> dict[str, Rule]:
    """Every metric with a group target, read straight from the owners' metric files."""
    rules = {}
    for path in sorted((dbt_dir / "models" / "owners").rglob("_*__metrics.yml")):
        for metric in yaml.safe_load(path.read_text(encoding="utf-8")).get("metrics") or []:
            meta = (metric.get("config") or {}).get("meta") or {}
            targets = meta.get("targets") or {}
            top = targets.get("group") or targets.get("default")
            if not top:
                continue
            rollup = meta.get("rollup")
            if metric["type"] == "simple" and rollup in ("additive", "semi_additive"):
                kind = "additive"
            elif rollup == "percentile":
                kind = "percentile"
            else:
                kind = "ratio"
            cascade = meta.get("target_cascade") or {}
            rules[metric["name"]] = Rule(
                metric["name"],
                kind,
                cascade.get("rule", "inherit"),
                cascade.get("fallback", "inherit"),
                top["target"],
                top["red_threshold"],
                {str(k): float(v) for k, v in (cascade.get("overrides") or {}).items()},
            )
    return rules


def next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def year_before(d: date) -> date:
    return date(d.year - 1, d.month, 1)


def tree_of(org: list[dict[str, Any]], period: date) -> dict[str, tuple[str, str | None]]:
    """code -> (level, parent) of the latest version of each unit overlapping the month."""
    end, latest = next_month(period), {}
    for v in org:
        if v["valid_from"] < end and (v["valid_to"] is None or v["valid_to"] > period):
            code = v["org_code"]
            if code not in latest or v["valid_from"] > latest[code]["valid_from"]:
                latest[code] = v
    return {c: (v["org_level"], v["parent_code"]) for c, v in latest.items()}


def split(rule: Rule, target: float, red: float, children: list[str], basis: dict[str, tuple]):
    """child -> (target, red, planned weight) for one parent; basis: child -> (value, denom)."""
    out: dict[str, tuple[float, float, float]] = {}
    overridden = {c for c in children if rule.rule == "override" and c in rule.overrides}
    applied = rule.fallback if rule.rule == "override" else rule.rule
    if rule.kind == "additive":
        b = {c: (basis.get(c, (None, None))[0] or 0.0) for c in children}
        rest = [c for c in children if c not in overridden]
        left = target - sum(rule.overrides[c] for c in overridden)
        total = sum(b[c] for c in rest)
        for c in children:
            if c in overridden:
                t = rule.overrides[c]
            elif applied == "proportional_to_last_year" and total > 0:
                t = left * b[c] / total
            elif applied == "equal_improvement":
                t = b[c] + (left - total) / len(rest)
            else:
                t = left / len(rest)
            red_c = t * red / target if target != 0 else t + (red - target)
            out[c] = (t, red_c, 1.0)
        return out
    # ratios, means, percentiles: weighted by the planned (last year's) denominators
    weight, rate = {}, {}
    for c in children:
        value, denominator = basis.get(c, (None, None))
        has = rule.kind != "percentile" and value is not None and (denominator or 0) > 0
        weight[c], rate[c] = (denominator, value) if has else (0.0, target)
    if sum(weight.values()) == 0:
        weight = dict.fromkeys(children, 1.0)
    rest = [c for c in children if c not in overridden]
    rest_weight = sum(weight[c] for c in rest)
    if rest_weight > 0:
        left = (
            target * sum(weight.values()) - sum(weight[c] * rule.overrides[c] for c in overridden)
        ) / rest_weight
        mean_rate = sum(weight[c] * rate[c] for c in rest) / rest_weight
    else:
        left, mean_rate = target, None
    for c in children:
        if c in overridden:
            t = rule.overrides[c]
        elif rule.kind == "percentile" or weight[c] == 0:
            t = target if rule.kind == "percentile" else left
        elif applied == "proportional_to_last_year" and mean_rate:
            t = rate[c] * left / mean_rate
        elif applied == "equal_improvement" and mean_rate is not None:
            t = rate[c] + (left - mean_rate)
        else:
            t = left
        out[c] = (t, t + (red - target), weight[c])
    return out


def cascade(rules: dict[str, Rule], kpis: list[dict[str, Any]], org: list[dict[str, Any]]):
    """(metric, period, level, code) -> (target, red, planned weight, parent)."""
    values = {
        (r["metric_name"], r["period_start"], r["org_code"]): (r["value"], r["denominator"])
        for r in kpis
        if r["org_level"] != "center"
    }
    months = {(m, p) for m, p, _ in values}
    out = {}
    for metric, period in sorted(months):
        rule = rules.get(metric)
        if rule is None:
            continue
        tree = tree_of(org, period)
        basis = {
            code: values[(metric, year_before(period), code)]
            for code in tree
            if (metric, year_before(period), code) in values
        }
        level_targets = {}
        for code, (level, _) in tree.items():
            if level == "group":
                level_targets[code] = (rule.target, rule.red)
                out[(metric, period, level, code)] = (rule.target, rule.red, 1.0, None)
        for level in LEVELS[1:]:
            next_targets = {}
            for parent, (target, red) in level_targets.items():
                children = sorted(c for c, (lv, p) in tree.items() if lv == level and p == parent)
                if not children:
                    continue
                for c, (t, r, w) in split(rule, target, red, children, basis).items():
                    out[(metric, period, level, c)] = (t, r, w, parent)
                    next_targets[c] = (t, r)
            level_targets = next_targets
    return out
