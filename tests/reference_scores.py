"""An independent recomputation of the composite scorecards, written from the value-management
reference (section 2) and the profiles file, not from the SQL: sub-scores, scores, grades, ranks,
rank bands and the month-on-month contributions.

Input: rows of the published `fct_kpi_values` and `dim_org`, the catalog's direction and source
systems per metric, the sources the gate holds or finds stale, and the weight profiles as the
YAML file states them. Plain Python and numpy; nothing here reads dbt's output.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import yaml

PROFILES_FILE = "models/marts/scorecards/_scorecards__profiles.yml"
CENTER = "center"
MODULUS = 2**31 - 1
MULTIPLIER = 48271


def load_scorecards(dbt_dir: Path) -> dict[str, Any]:
    doc = yaml.safe_load((dbt_dir / PROFILES_FILE).read_text(encoding="utf-8"))
    (model,) = [m for m in doc["models"] if m["name"] == "dim_score_profiles"]
    return model["config"]["meta"]["scorecards"]


def next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def previous_month(d: date) -> date:
    return date(d.year - (d.month == 1), (d.month - 2) % 12 + 1, 1)


def stage_of(scorecards: dict[str, Any], period: date) -> str:
    stages = scorecards["stages"]
    by_year = {int(y): s for y, s in (stages.get("by_year") or {}).items()}
    return by_year.get(period.year, stages["default"])


def profile_for(scorecards: dict[str, Any], level: str, period: date) -> dict[str, Any] | None:
    unit_type = "back_office_center" if level == CENTER else "functional_unit"
    stage = stage_of(scorecards, period)
    found = [
        p
        for p in scorecards["profiles"]
        if level in p["tiers"] and p["unit_type"] == unit_type and stage in p["stages"]
    ]
    assert len(found) <= 1, f"two profiles for {level} in {stage}"
    return found[0] if found else None


def metric_key(metric: str) -> int:
    return int(hashlib.md5(metric.encode()).hexdigest()[:7], 16)


def uniform(seed: int, draw: int, key: int) -> float:
    """The draw's uniform number for a metric: a Lehmer hash of (seed, draw, metric)."""
    x = (seed * 31 % MODULUS + draw) % MODULUS
    x = x * MULTIPLIER % MODULUS
    x = (x + key) % MODULUS
    x = x * MULTIPLIER % MODULUS
    x = x * MULTIPLIER % MODULUS
    return x / MODULUS


def weight_factor(stability: dict[str, Any], draw: int, metric: str) -> float:
    if draw == 0:
        return 1.0
    u = uniform(stability["seed"], draw, metric_key(metric))
    return 1.0 + stability["weight_spread"] * (2.0 * u - 1.0)


def grade_of(profile: dict[str, Any], score: float) -> str | None:
    for band in profile["bands"]:
        top = score <= band["to"] if band["to"] >= 100 else score < band["to"]
        if score >= band["from"] and top:
            return band["grade"]
    return None


def sub_score(method: str, direction: str, x: float, target, red, base) -> float:
    if method == "target_attainment":
        if direction == "higher_is_better":
            g = 100.0 * (x - red) / (target - red)
        else:
            g = 100.0 * (red - x) / (red - target)
    elif direction == "higher_is_better":
        g = 50.0 * x / base
    else:
        g = 100.0 if x <= 0 else 50.0 * base / x
    return min(100.0, max(0.0, g))


def ranks(scores: dict[str, float]) -> dict[str, int]:
    """1 + how many score strictly better (scores rounded to 1e-9): ties share the better rank."""
    rounded = {k: round(v, 9) for k, v in scores.items()}
    values = sorted(rounded.values(), reverse=True)
    return {k: 1 + sum(1 for w in values if w > v) for k, v in rounded.items()}


@dataclass
class Kpi:
    metric: str
    weight: float
    method: str
    value: float | None = None
    g: float | None = None
    reason: str | None = None


@dataclass
class Unit:
    level: str
    code: str
    period: date
    profile: dict[str, Any]
    kpis: dict[str, Kpi] = field(default_factory=dict)
    parent: str | None = None

    @property
    def scored(self) -> list[Kpi]:
        return [k for k in self.kpis.values() if k.reason is None]

    @property
    def score(self) -> float | None:
        kpis = self.scored
        if not kpis:
            return None
        return sum(k.weight * k.g for k in kpis) / sum(k.weight for k in kpis)

    def weights(self) -> dict[str, float]:
        total = sum(k.weight for k in self.scored)
        return {m: (k.weight / total if k.reason is None else 0.0) for m, k in self.kpis.items()}


def parents_in(org: list[dict[str, Any]], code: str, period: date) -> str | None:
    end = next_month(period)
    versions = [
        v
        for v in org
        if v["org_code"] == code
        and v["valid_from"] < end
        and (v["valid_to"] is None or v["valid_to"] > period)
    ]
    if not versions:
        return None
    return max(versions, key=lambda v: v["valid_from"])["parent_code"]


def score_units(
    scorecards: dict[str, Any],
    kpis: list[dict[str, Any]],
    org: list[dict[str, Any]],
    directions: dict[str, str],
    sources: dict[str, list[str]],
    bad_sources: set[str],
) -> dict[tuple[str, str, date], Unit]:
    """Every unit-month's profile KPIs with their sub-scores or reasons for leaving them out."""
    rows = {(r["metric_name"], r["org_level"], r["org_code"], r["period_start"]): r for r in kpis}
    latest: dict[str, date] = {}
    for r in kpis:
        latest[r["metric_name"]] = max(
            latest.get(r["metric_name"], r["period_start"]), r["period_start"]
        )
    stale = {m for m, s in sources.items() if set(s) & bad_sources}
    units: dict[tuple[str, str, date], Unit] = {}
    for level, code, period in sorted(
        {(r["org_level"], r["org_code"], r["period_start"]) for r in kpis}
    ):
        profile = profile_for(scorecards, level, period)
        if profile is None:
            continue
        unit = Unit(level, code, period, profile)
        if level != CENTER:
            unit.parent = parents_in(org, code, period)
        for spec in profile["kpis"]:
            kpi = Kpi(spec["metric"], spec["weight"], spec["method"])
            row = rows.get((kpi.metric, level, code, period))
            min_base = spec.get("min_base", profile.get("min_base", 0))
            if row is None or row["value"] is None:
                kpi.reason = "no_data"
            else:
                kpi.value = row["value"]
                if row["denominator"] is not None and row["denominator"] < min_base:
                    kpi.reason = "small_base"
                elif kpi.metric in stale and period == latest[kpi.metric]:
                    kpi.reason = "stale_source"
                elif kpi.method == "target_attainment" and (
                    row["target"] is None
                    or row["red_threshold"] is None
                    or row["target"] == row["red_threshold"]
                ):
                    kpi.reason = "no_target"
            unit.kpis[kpi.metric] = kpi
        units[(level, code, period)] = unit
    # peer bases: the mean value of the tier's units that have the KPI
    peers: dict[tuple[str, str, date], list[float]] = defaultdict(list)
    for unit in units.values():
        for kpi in unit.kpis.values():
            if kpi.reason is None and kpi.method == "peer_base":
                peers[(kpi.metric, unit.level, unit.period)].append(kpi.value)
    for unit in units.values():
        for kpi in unit.kpis.values():
            if kpi.reason is not None:
                continue
            row = rows[(kpi.metric, unit.level, unit.code, unit.period)]
            base = None
            if kpi.method == "peer_base":
                values = peers[(kpi.metric, unit.level, unit.period)]
                base = sum(values) / len(values)
                if not base > 0:
                    kpi.reason = "no_peer_base"
                    continue
            kpi.g = sub_score(
                kpi.method,
                directions[kpi.metric],
                kpi.value,
                row["target"],
                row["red_threshold"],
                base,
            )
    return units


def unit_scores(scorecards: dict[str, Any], units: dict[tuple[str, str, date], Unit]):
    """(level, code, period) -> the published columns of fct_unit_scores."""
    stability = scorecards["rank_stability"]
    draws = stability["draws"]
    out: dict[tuple[str, str, date], dict[str, Any]] = {}
    by_tier: dict[tuple[str, date], list[Unit]] = defaultdict(list)
    for unit in units.values():
        by_tier[(unit.level, unit.period)].append(unit)
    for tier_units in by_tier.values():
        scored = [u for u in tier_units if u.score is not None]
        metrics = sorted({k.metric for u in scored for k in u.kpis.values()})
        factors = np.array(
            [[weight_factor(stability, d, m) for m in metrics] for d in range(draws + 1)]
        )
        # (units, metrics) even when no unit of the tier is scored that month (numpy cannot
        # infer a -1 axis from an empty array)
        shape = (len(scored), len(metrics))
        g = np.array([[_g(u, m) for m in metrics] for u in scored]).reshape(shape)
        w = np.array([[_w(u, m) for m in metrics] for u in scored]).reshape(shape)
        drawn = factors[:, None, :] * w[None, :, :]  # draw x unit x metric
        draw_scores = (drawn * g[None, :, :]).sum(axis=2) / drawn.sum(axis=2)
        sibling_sets = [u.parent or u.level for u in scored]
        tier_ranks = np.zeros((draws + 1, len(scored)), dtype=int)
        sibling_ranks = np.zeros((draws + 1, len(scored)), dtype=int)
        for d in range(draws + 1):
            scores = {i: float(draw_scores[d, i]) for i in range(len(scored))}
            for i, r in ranks(scores).items():
                tier_ranks[d, i] = r
            for s in set(sibling_sets):
                members = {i: v for i, v in scores.items() if sibling_sets[i] == s}
                for i, r in ranks(members).items():
                    sibling_ranks[d, i] = r
        for i, unit in enumerate(scored):
            out[(unit.level, unit.code, unit.period)] = {
                "score": unit.score,
                "grade": grade_of(unit.profile, unit.score),
                "rank_in_siblings": int(sibling_ranks[0, i]),
                "rank_in_tier": int(tier_ranks[0, i]),
                "rank_band_low": int(sibling_ranks[:, i].min()),
                "rank_band_high": int(sibling_ranks[:, i].max()),
                "tier_rank_band_low": int(tier_ranks[:, i].min()),
                "tier_rank_band_high": int(tier_ranks[:, i].max()),
                "is_partial": len(unit.scored) < len(unit.kpis),
                "profile_name": unit.profile["name"],
            }
        for unit in tier_units:
            if unit.score is None:
                out[(unit.level, unit.code, unit.period)] = {
                    "score": None,
                    "grade": None,
                    "rank_in_siblings": None,
                    "rank_in_tier": None,
                    "rank_band_low": None,
                    "rank_band_high": None,
                    "tier_rank_band_low": None,
                    "tier_rank_band_high": None,
                    "is_partial": True,
                    "profile_name": unit.profile["name"],
                }
    return out


def _g(unit: Unit, metric: str) -> float:
    kpi = unit.kpis.get(metric)
    return kpi.g if kpi is not None and kpi.reason is None else 0.0


def _w(unit: Unit, metric: str) -> float:
    kpi = unit.kpis.get(metric)
    return kpi.weight if kpi is not None and kpi.reason is None else 0.0


def contributions(units: dict[tuple[str, str, date], Unit]):
    """(level, code, period, metric) -> performance, weight effect, contribution, score change:
    S1 - S0 = sum of mean(w) x change(g) + change(w) x mean(g); a KPI scored in one month only
    takes that month's sub-score in the other."""
    out = {}
    for (level, code, period), unit in units.items():
        before = units.get((level, code, previous_month(period)))
        if unit.score is None or before is None or before.score is None:
            continue
        w1, w0 = unit.weights(), before.weights()
        for metric in set(unit.kpis) | set(before.kpis):
            k1, k0 = unit.kpis.get(metric), before.kpis.get(metric)
            g1 = k1.g if k1 is not None and k1.reason is None else None
            g0 = k0.g if k0 is not None and k0.reason is None else None
            g1, g0 = (g1 if g1 is not None else g0), (g0 if g0 is not None else g1)
            a, b = w1.get(metric, 0.0), w0.get(metric, 0.0)
            if g1 is None:
                performance = weight = 0.0
            else:
                performance = (a + b) / 2 * (g1 - g0)
                weight = (a - b) * (g1 + g0) / 2
            out[(level, code, period, metric)] = {
                "performance_effect": performance,
                "weight_effect": weight,
                "contribution": performance + weight,
                "score_change": unit.score - before.score,
            }
    return out


def is_close(a: float | None, b: float | None, tol: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)
