"""Lint of the composite scorecards' weight profiles and the metrics' target cascade rules.

The profiles live in one dbt properties file (`config.meta.scorecards` of the model
`dim_score_profiles`, dbt/models/marts/scorecards/_scorecards__profiles.yml); the cascade rule of
a metric in its `config.meta.target_cascade`. dbt reads both when it compiles the scorecard and
target models, so a fault here would give wrong scores or targets that do not reconcile, not a
failed build: `opsvalue catalog lint` rejects each fault first, naming the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

PROFILES_MODEL = "dim_score_profiles"
STAGES = ("customer_experience", "cost_efficiency", "quality_and_risk")
UNIT_TYPES = {
    "functional_unit": ("group", "subsidiary", "branch", "sub_branch"),
    "back_office_center": ("center",),
}
METHODS = ("target_attainment", "peer_base")
RULES = ("inherit", "proportional_to_last_year", "equal_improvement", "override")
CASCADE_KEYS = ("rule", "overrides", "fallback")
MIN_DRAWS = 200
WEIGHT_TOLERANCE = 1e-9


class Metric(Protocol):
    """What the lint reads of a catalog metric (defs/transform/catalog.Metric)."""

    name: str
    type: str
    file: str
    meta: dict[str, Any]

    @property
    def is_kpi(self) -> bool: ...


@dataclass(frozen=True)
class LintError:
    """A fault of a weight profile or a cascade rule, shaped like the catalog lint's errors;
    `metric` names what is at fault."""

    file: str
    metric: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}: {self.metric}: {self.problem}. Fix: {self.fix}"


def find_profiles(project_dir: Path) -> tuple[str | None, dict[str, Any], list[LintError]]:
    """(file, config.meta.scorecards) of the model that holds the weight profiles."""
    for path in sorted((project_dir / "models").rglob("*.yml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            continue  # the catalog lint reports YAML that does not parse
        for model in doc.get("models") or []:
            if model.get("name") == PROFILES_MODEL:
                meta = (model.get("config") or {}).get("meta") or {}
                return path.relative_to(project_dir).as_posix(), meta.get("scorecards") or {}, []
    error = LintError(
        "models/",
        "weight profiles",
        f"no model {PROFILES_MODEL} with config.meta.scorecards",
        "restore dbt/models/marts/scorecards/_scorecards__profiles.yml",
    )
    return None, {}, [error]


def metric_kind(metric: Metric) -> str:
    """How a metric's targets reconcile: additive (sums), percentile (none) or ratio (weighted)."""
    rollup = metric.meta.get("rollup")
    if metric.type == "simple" and rollup in ("additive", "semi_additive"):
        return "additive"
    return "percentile" if rollup == "percentile" else "ratio"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def lint_bands(file: str, subject: str, bands: Any) -> list[LintError]:
    """Grade bands must cover 0..100 once: no gap, no overlap, each from below its to."""
    err = _maker(file, subject)
    if not isinstance(bands, list) or not bands:
        return [err("has no grade bands", "list bands of {grade, from, to} covering 0..100")]
    errors: list[LintError] = []
    spans = []
    grades = [b.get("grade") if isinstance(b, dict) else None for b in bands]
    for band in bands:
        if not isinstance(band, dict) or not band.get("grade"):
            errors.append(err(f"band {band!r} has no grade", "give every band a grade"))
            continue
        low, high = band.get("from"), band.get("to")
        if not (_is_number(low) and _is_number(high)) or low >= high:
            errors.append(
                err(
                    f"band {band['grade']} spans from {low} to {high}",
                    "give it numbers with from below to",
                )
            )
            continue
        spans.append((low, high, band["grade"]))
    for grade in {g for g in grades if g and grades.count(g) > 1}:
        errors.append(err(f"grade {grade} has more than one band", "keep one band per grade"))
    if errors:
        return errors
    spans.sort()
    edge = 0
    for low, high, grade in spans:
        if low > edge:
            errors.append(
                err(f"the bands miss scores from {edge} to {low}", f"extend a band to {low}")
            )
        elif low < edge:
            errors.append(
                err(
                    f"band {grade} ({low}-{high}) overlaps the band below it (up to {edge})",
                    f"start band {grade} at {edge}",
                )
            )
        edge = max(edge, high)
    if edge != 100:
        errors.append(err(f"the bands end at {edge}, not 100", "let the top band end at 100"))
    return errors


def _maker(file: str, subject: str):
    def make(problem: str, fix: str) -> LintError:
        return LintError(file, subject, problem, fix)

    return make


def lint_profile(
    file: str, profile: dict[str, Any], metrics: Mapping[str, Metric]
) -> list[LintError]:
    """One profile: its tiers, unit type, stages, KPIs, weights, methods, minimum base, bands."""
    subject = f"profile {profile.get('name', '?')}"
    err = _maker(file, subject)
    errors: list[LintError] = []
    unit_type = profile.get("unit_type")
    tiers = profile.get("tiers") or []
    if unit_type not in UNIT_TYPES:
        errors.append(
            err(f"unknown unit_type {unit_type!r}", f"use one of {', '.join(UNIT_TYPES)}")
        )
    else:
        for tier in tiers:
            if tier not in UNIT_TYPES[unit_type]:
                errors.append(
                    err(
                        f"tier {tier!r} is not a tier of {unit_type}",
                        f"use {', '.join(UNIT_TYPES[unit_type])}",
                    )
                )
    if not tiers:
        errors.append(err("scores no tier", "list its tiers"))
    stages = profile.get("stages") or []
    if not stages:
        errors.append(err("applies in no stage", f"list stages among {', '.join(STAGES)}"))
    for stage in stages:
        if stage not in STAGES:
            errors.append(err(f"unknown stage {stage!r}", f"use one of {', '.join(STAGES)}"))
    min_base = profile.get("min_base", 0)
    if not _is_number(min_base) or min_base < 0:
        errors.append(err(f"min_base is {min_base!r}", "set a number of 0 or more"))
    kpis = profile.get("kpis") or []
    if not kpis:
        errors.append(err("weighs no KPI", "list its kpis with metric, weight and method"))
    seen: set[str] = set()
    total = 0.0
    for kpi in kpis:
        name = kpi.get("metric") if isinstance(kpi, dict) else None
        metric = metrics.get(name) if name else None
        if metric is None or not metric.is_kpi:
            errors.append(
                err(f"unknown KPI {name!r}", "use a KPI of the catalog (opsvalue catalog)")
            )
            continue
        if name in seen:
            errors.append(err(f"KPI {name} is listed twice", "list each KPI once"))
        seen.add(name)
        weight = kpi.get("weight")
        if not _is_number(weight) or weight <= 0:
            errors.append(err(f"KPI {name} has weight {weight!r}", "give it a weight above 0"))
        else:
            total += weight
        method = kpi.get("method")
        if method not in METHODS:
            errors.append(
                err(
                    f"KPI {name} has unknown method {method!r}",
                    f"use one of {', '.join(METHODS)}",
                )
            )
        if metric.meta.get("direction") not in ("higher_is_better", "lower_is_better"):
            errors.append(
                err(
                    f"KPI {name} has no direction ({metric.meta.get('direction')})",
                    "score only KPIs where higher or lower is better",
                )
            )
        if method == "target_attainment" and not metric.meta.get("targets"):
            errors.append(
                err(
                    f"KPI {name} is scored by target attainment but has no target",
                    "give the metric targets, or score it by peer_base",
                )
            )
    if kpis and abs(total - 1.0) > WEIGHT_TOLERANCE:
        errors.append(err(f"the weights sum to {total:.6g}, not 1", "make the weights sum to 1"))
    return errors + lint_bands(file, subject, profile.get("bands"))


def lint_profiles(file: str, scorecards: dict[str, Any], metrics: Mapping[str, Metric]):
    """The whole profiles file: stages, rank stability, every profile, and which profile scores
    each tier and stage (exactly one)."""
    err = _maker(file, "weight profiles")
    errors: list[LintError] = []
    stages = scorecards.get("stages") or {}
    if stages.get("default") not in STAGES:
        errors.append(
            err(
                f"stages.default is {stages.get('default')!r}",
                f"use one of {', '.join(STAGES)}",
            )
        )
    for year, stage in (stages.get("by_year") or {}).items():
        if not str(year).isdigit() or len(str(year)) != 4:
            errors.append(err(f"stages.by_year has year {year!r}", "use four-digit years"))
        if stage not in STAGES:
            errors.append(
                err(f"stage {stage!r} of {year} is unknown", f"use one of {', '.join(STAGES)}")
            )
    stability = scorecards.get("rank_stability") or {}
    draws, spread = stability.get("draws"), stability.get("weight_spread")
    if not isinstance(draws, int) or isinstance(draws, bool) or draws < MIN_DRAWS:
        errors.append(err(f"rank_stability.draws is {draws!r}", f"draw at least {MIN_DRAWS} times"))
    if not _is_number(spread) or not 0 < spread < 1:
        errors.append(err(f"rank_stability.weight_spread is {spread!r}", "use a share such as 0.2"))
    seed = stability.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        errors.append(err(f"rank_stability.seed is {seed!r}", "fix a seed of 0 or more"))
    profiles = scorecards.get("profiles") or []
    if not profiles:
        errors.append(err("no profiles", "define at least one profile"))
    names = [p.get("name") for p in profiles]
    chosen: dict[tuple[str, str], list[str]] = {}
    for profile in profiles:
        if not profile.get("name"):
            errors.append(err("a profile has no name", "name every profile"))
            continue
        if names.count(profile["name"]) > 1:
            errors.append(
                err(f"profile name {profile['name']} is used twice", "rename one of them")
            )
        errors += lint_profile(file, profile, metrics)
        for tier in profile.get("tiers") or []:
            for stage in profile.get("stages") or []:
                chosen.setdefault((tier, stage), []).append(profile["name"])
    for (tier, stage), holders in sorted(chosen.items()):
        if len(holders) > 1:
            errors.append(
                err(
                    f"profiles {', '.join(holders)} overlap: both score {tier} in {stage}",
                    "let one profile score each tier and stage",
                )
            )
    scored_tiers = {tier for tier, _ in chosen}
    for tier in sorted(scored_tiers):
        for stage in STAGES:
            if (tier, stage) not in chosen:
                errors.append(
                    err(
                        f"no profile scores {tier} in a {stage} year",
                        f"add {stage} to the stages of a profile of {tier}",
                    )
                )
    return errors


def lint_cascade(metric: Metric) -> list[LintError]:
    """One metric's target cascade rule (config.meta.target_cascade)."""
    cascade = metric.meta.get("target_cascade")
    if cascade is None:
        return []
    err = _maker(metric.file, f"metric {metric.name} target_cascade")
    if not isinstance(cascade, dict):
        return [err(f"is {cascade!r}", "write a mapping with rule (and overrides, fallback)")]
    errors: list[LintError] = []
    for key in cascade:
        if key not in CASCADE_KEYS:
            errors.append(err(f"unknown key {key!r}", f"use {', '.join(CASCADE_KEYS)}"))
    targets = metric.meta.get("targets") or {}
    if not (targets.get("group") or targets.get("default")):
        errors.append(err("the metric has no group target to cascade", "add targets.default"))
    kind = metric_kind(metric)
    rule = cascade.get("rule")
    fallback = cascade.get("fallback", "inherit")
    if rule not in RULES:
        errors.append(err(f"unknown rule {rule!r}", f"use one of {', '.join(RULES)}"))
    if fallback not in RULES or fallback == "override":
        errors.append(err(f"unknown fallback {fallback!r}", f"use one of {', '.join(RULES[:3])}"))
    applied = {rule, fallback} if rule == "override" else {rule}
    if kind == "additive" and "inherit" in applied:
        errors.append(
            err(
                "inherit on an additive metric: the children's targets would not sum to the "
                "parent's",
                "use proportional_to_last_year or equal_improvement",
            )
        )
    if kind == "percentile" and applied - {"inherit"}:
        errors.append(
            err(
                f"{rule} on a percentile, which no weighting of children reproduces",
                "use inherit",
            )
        )
    overrides = cascade.get("overrides")
    if rule == "override":
        if not isinstance(overrides, dict) or not overrides:
            errors.append(err("rule override without overrides", "add overrides: {ORG: target}"))
        else:
            for code, value in overrides.items():
                if not _is_number(value):
                    errors.append(err(f"override of {code} is {value!r}", "give the unit's target"))
    elif overrides is not None:
        errors.append(err(f"overrides given with rule {rule}", "set rule: override"))
    return errors


def lint_scorecards(project_dir: Path, metrics: Mapping[str, Metric]) -> list[LintError]:
    """Every fault of the weight profiles and of the metrics' target cascade rules."""
    file, scorecards, errors = find_profiles(project_dir)
    if file is not None:
        errors += lint_profiles(file, scorecards, metrics)
    for metric in metrics.values():
        errors += lint_cascade(metric)
    return errors
