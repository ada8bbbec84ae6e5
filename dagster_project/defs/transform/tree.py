"""The indicator tree (issue 15): read from the dbt manifest, linted, and laid out for the CLI.

One place for each part of the tree: the goals with their dimensions and the driver links are
`config.meta.indicator_tree` of the model `dim_indicator_tree`
(dbt/models/owners/transformation/_transformation__models.yml, owned by the transformation
office); a KPI's dimension is its own `config.meta.dimension`; the formula links are each ratio or
derived metric's own inputs (`type_params`). dbt/macros/indicator_tree.sql builds the same links
for `marts.dim_indicator_tree`, and tests compare the two.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from dagster_project.defs.transform.catalog import (
    DIMENSIONS,
    LintError,
    Metric,
    metrics_from_manifest,
)

TREE_MODEL = "dim_indicator_tree"
TREE_FILE = "models/owners/transformation/_transformation__models.yml"
DRIVER_DIRECTIONS = ("increases", "decreases")
GOAL_ATTRIBUTES = ("name", "label", "label_zh", "dimensions")
# words of a derived metric's expr that are SQL, not metric names
EXPR_KEYWORDS = frozenset({"case", "when", "then", "else", "end", "and", "or", "not", "null"})


@dataclass(frozen=True)
class Link:
    parent: str | None
    parent_kind: str | None  # goal, dimension or metric; None for a goal (a root)
    child: str
    child_kind: str  # goal, dimension, kpi or component
    link_type: str  # root, hierarchy, formula or driver
    input_role: str | None = None  # formula links: numerator or denominator
    is_filtered: bool = False  # formula links: the parent uses a filtered part of the child
    direction: str | None = None  # driver links: increases or decreases


@dataclass(frozen=True)
class Tree:
    file: str
    goals: list[dict[str, Any]]
    links: list[Link]

    def children(self, node: str) -> list[Link]:
        return [link for link in self.links if link.parent == node]


def tree_config(manifest: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(the YAML file that defines the tree, config.meta.indicator_tree or None)."""
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") == "model" and node.get("name") == TREE_MODEL:
            patch = node.get("patch_path") or ""
            file = patch.split("://", 1)[-1] if patch else TREE_FILE
            config = node.get("config") or {}
            meta = (config["meta"] if "meta" in config else node.get("meta")) or {}
            return file, meta.get("indicator_tree")
    return TREE_FILE, None


def formula_inputs(metric: dict[str, Any]) -> list[tuple[str, str, bool, str | None]]:
    """(role, input metric, filtered, alias) of a ratio or derived metric, numerator first."""
    tp = metric.get("type_params") or {}
    if metric.get("type") == "ratio":
        refs = [tp.get("numerator"), tp.get("denominator")]
    elif metric.get("type") == "derived":
        refs = list(tp.get("metrics") or [])
    else:
        return []
    metric_filtered = bool(metric.get("filter"))
    out = []
    for i, ref in enumerate(refs):
        if not ref or not ref.get("name"):
            continue
        role = "numerator" if i == 0 else "denominator"
        out.append(
            (role, ref["name"], bool(ref.get("filter")) or metric_filtered, ref.get("alias"))
        )
    return out


def _raw_metrics(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in manifest.get("metrics", {}).values()}


def _kind(metric: Metric | None) -> str:
    return "component" if metric is not None and not metric.is_kpi else "kpi"


def build_tree(manifest: dict[str, Any]) -> Tree:
    """Every link, parents before children, as macros/indicator_tree.sql lists them."""
    file, config = tree_config(manifest)
    config = config if isinstance(config, dict) else {}
    metrics = metrics_from_manifest(manifest)
    raw = _raw_metrics(manifest)
    goals = [g for g in config.get("goals") or [] if isinstance(g, dict)]
    links: list[Link] = []
    for goal in goals:
        links.append(Link(None, None, str(goal.get("name")), "goal", "root"))
        for dimension in goal.get("dimensions") or []:
            links.append(
                Link(str(goal.get("name")), "goal", str(dimension), "dimension", "hierarchy")
            )
    for name in sorted(metrics):
        if metrics[name].is_kpi:
            dimension = metrics[name].meta.get("dimension")
            links.append(Link(dimension, "dimension", name, "kpi", "hierarchy"))
    for name in sorted(raw):
        for role, child, filtered, _ in formula_inputs(raw[name]):
            kind = _kind(metrics.get(child))
            links.append(Link(name, "metric", child, kind, "formula", role, filtered))
    for driver in config.get("drivers") or []:
        if isinstance(driver, dict):
            child = str(driver.get("child"))
            links.append(
                Link(
                    driver.get("parent"),
                    "metric",
                    child,
                    _kind(metrics.get(child)),
                    "driver",
                    direction=driver.get("direction"),
                )
            )
    return Tree(file=file, goals=goals, links=links)


# --- lint --------------------------------------------------------------------------------------


def lint_tree(manifest: dict[str, Any]) -> list[LintError]:
    """Every fault of the indicator tree, each naming the YAML file to fix."""
    file, config = tree_config(manifest)
    if not isinstance(config, dict):
        return [
            LintError(
                file,
                "-",
                f"the indicator tree is not defined (config.meta.indicator_tree of {TREE_MODEL})",
                "declare the goals with their dimensions, and the driver links",
            )
        ]
    metrics = metrics_from_manifest(manifest)
    raw = _raw_metrics(manifest)
    errors = _lint_goals(file, config)
    errors += _lint_kpi_dimensions(file, config, metrics)
    errors += _lint_formulas(raw, metrics)
    errors += _lint_drivers(file, config, raw, metrics)
    errors += _lint_cycles(file, config, raw, metrics)
    return errors


def _goal_dimensions(config: dict[str, Any]) -> dict[str, list[str]]:
    """Each dimension with the goals it is declared under."""
    under: dict[str, list[str]] = defaultdict(list)
    for goal in config.get("goals") or []:
        if isinstance(goal, dict) and isinstance(goal.get("dimensions"), list):
            for dimension in goal["dimensions"]:
                under[str(dimension)].append(str(goal.get("name")))
    return under


def _lint_goals(file: str, config: dict[str, Any]) -> list[LintError]:
    errors: list[LintError] = []
    goals = config.get("goals")
    if not isinstance(goals, list) or not goals:
        return [LintError(file, "-", "the indicator tree has no goals", "list the three goals")]
    names = Counter(g.get("name") for g in goals if isinstance(g, dict))
    for goal in goals:
        if not isinstance(goal, dict):
            errors.append(LintError(file, "-", f"goal {goal!r} is not a mapping", "use name: ..."))
            continue
        name = str(goal.get("name") or "?")
        for attr in GOAL_ATTRIBUTES:
            if goal.get(attr) in (None, "", []):
                errors.append(LintError(file, f"goal {name}", f"{attr} is missing", f"set {attr}"))
        if names[goal.get("name")] > 1:
            errors.append(LintError(file, f"goal {name}", "the goal is declared twice", "keep one"))
        dimensions = goal.get("dimensions")
        if dimensions is not None and not isinstance(dimensions, list):
            errors.append(
                LintError(file, f"goal {name}", "dimensions is not a list", "list its dimensions")
            )
    under = _goal_dimensions(config)
    for dimension, holders in sorted(under.items()):
        if dimension not in DIMENSIONS:
            errors.append(
                LintError(
                    file,
                    f"dimension {dimension}",
                    f"goal {holders[0]} lists an unknown dimension",
                    f"use one of {', '.join(DIMENSIONS)}",
                )
            )
        elif len(holders) > 1:
            errors.append(
                LintError(
                    file,
                    f"dimension {dimension}",
                    f"sits under {len(holders)} goals ({', '.join(holders)})",
                    "keep it under exactly one goal",
                )
            )
    for dimension in DIMENSIONS:
        if dimension not in under:
            errors.append(
                LintError(
                    file,
                    f"dimension {dimension}",
                    "sits under no goal",
                    "add it to the dimensions of one goal",
                )
            )
    return errors


def _lint_kpi_dimensions(
    file: str, config: dict[str, Any], metrics: dict[str, Metric]
) -> list[LintError]:
    """Every KPI under exactly one dimension of the tree."""
    errors: list[LintError] = []
    in_tree = set(_goal_dimensions(config))
    for m in sorted(metrics.values(), key=lambda m: m.name):
        if not m.is_kpi:
            continue
        dimension = m.meta.get("dimension")
        if isinstance(dimension, list):
            if len(dimension) != 1:
                errors.append(
                    LintError(
                        m.file,
                        m.name,
                        f"the KPI sits under {len(dimension)} dimensions "
                        f"({', '.join(map(str, dimension)) or 'none'})",
                        "set config.meta.dimension to exactly one dimension",
                    )
                )
                continue
            dimension = dimension[0]
        if dimension in (None, ""):
            errors.append(
                LintError(
                    m.file,
                    m.name,
                    "the KPI sits under no dimension of the indicator tree",
                    "set config.meta.dimension",
                )
            )
        elif dimension in DIMENSIONS and dimension not in in_tree:
            errors.append(
                LintError(
                    file,
                    m.name,
                    f"the KPI's dimension {dimension} sits under no goal, so the KPI is not in "
                    "the indicator tree",
                    f"add {dimension} to one goal's dimensions",
                )
            )
    return errors


def _expr_names(expr: str) -> set[str]:
    words = set(re.findall(r"\b[a-z_][a-z0-9_]*\b", expr.lower()))
    return words - EXPR_KEYWORDS


def _lint_formulas(raw: dict[str, dict[str, Any]], metrics: dict[str, Metric]) -> list[LintError]:
    """Every derived or ratio metric formula-linked to its inputs, all catalog metrics."""
    errors: list[LintError] = []
    for name in sorted(raw):
        metric = raw[name]
        if metric.get("type") not in ("ratio", "derived"):
            continue
        file = metrics[name].file if name in metrics else metric.get("original_file_path", "?")
        inputs = formula_inputs(metric)
        roles = {role for role, *_ in inputs}
        if metric["type"] == "ratio" and roles != {"numerator", "denominator"}:
            missing = {"numerator", "denominator"} - roles
            errors.append(
                LintError(
                    file,
                    name,
                    f"the ratio is not formula-linked to its {' and '.join(sorted(missing))}",
                    "name both inputs in type_params.numerator and type_params.denominator",
                )
            )
        if metric["type"] == "derived" and not inputs:
            errors.append(
                LintError(
                    file,
                    name,
                    "the derived metric is not formula-linked to any input",
                    "list its inputs in type_params.metrics",
                )
            )
        for _, child, _, _ in inputs:
            if child not in raw:
                errors.append(
                    LintError(
                        file,
                        name,
                        f"formula input {child} is not a catalog metric",
                        "define it as a metric, or link the formula to an existing one",
                    )
                )
        if metric["type"] == "derived":
            expr = str((metric.get("type_params") or {}).get("expr") or "")
            used = _expr_names(expr)
            named = {alias or child for _, child, _, alias in inputs}
            for word in sorted(used - named):
                errors.append(
                    LintError(
                        file,
                        name,
                        f"the formula {expr!r} uses {word}, which is not one of its inputs",
                        f"add {word} to type_params.metrics, or correct the expr",
                    )
                )
            for child in sorted(named - used):
                errors.append(
                    LintError(
                        file,
                        name,
                        f"input {child} is not in the formula {expr!r}",
                        "use it in type_params.expr, or remove it from type_params.metrics",
                    )
                )
    return errors


def _lint_drivers(
    file: str,
    config: dict[str, Any],
    raw: dict[str, dict[str, Any]],
    metrics: dict[str, Metric],
) -> list[LintError]:
    errors: list[LintError] = []
    drivers = config.get("drivers") or []
    if not isinstance(drivers, list):
        return [LintError(file, "drivers", "drivers is not a list", "list the driver links")]
    formula = {(name, child) for name in raw for _, child, _, _ in formula_inputs(raw[name])}
    seen: Counter[tuple[str, str]] = Counter()
    for driver in drivers:
        if not isinstance(driver, dict):
            errors.append(LintError(file, "drivers", f"{driver!r} is not a link", "parent: ..."))
            continue
        parent, child = driver.get("parent"), driver.get("child")
        label = f"driver link {parent} <- {child}"
        for end, node in (("parent", parent), ("child", child)):
            if node not in metrics:
                kind = (
                    "a dimension"
                    if node in DIMENSIONS
                    else "a goal"
                    if node in {g.get("name") for g in config.get("goals") or []}
                    else "not a catalog metric"
                )
                errors.append(
                    LintError(
                        file,
                        label,
                        f"its {end} {node!r} is {kind}; every node of a link is a catalog metric",
                        "name a metric of the catalog (opsvalue catalog --all)",
                    )
                )
        if driver.get("direction") not in DRIVER_DIRECTIONS:
            errors.append(
                LintError(
                    file,
                    label,
                    f"direction is {driver.get('direction')!r}",
                    f"use one of {', '.join(DRIVER_DIRECTIONS)}",
                )
            )
        if parent == child:
            errors.append(LintError(file, label, "a metric drives itself", "remove the link"))
        if (parent, child) in formula:
            errors.append(
                LintError(
                    file,
                    label,
                    "the metrics are already formula-linked (the child is one of the parent's "
                    "inputs)",
                    "remove the driver link",
                )
            )
        seen[(parent, child)] += 1
        if seen[(parent, child)] == 2:
            errors.append(LintError(file, label, "the link is declared twice", "keep one"))
    return errors


def _lint_cycles(
    file: str,
    config: dict[str, Any],
    raw: dict[str, dict[str, Any]],
    metrics: dict[str, Metric],
) -> list[LintError]:
    """No metric below itself, through formula and driver links together."""
    edges: dict[str, list[str]] = defaultdict(list)
    drivers = set()
    for name in sorted(raw):
        for _, child, _, _ in formula_inputs(raw[name]):
            if child != name:
                edges[name].append(child)
    for driver in config.get("drivers") or []:
        if isinstance(driver, dict) and driver.get("parent") != driver.get("child"):
            edges[str(driver.get("parent"))].append(str(driver.get("child")))
            drivers.add((str(driver.get("parent")), str(driver.get("child"))))
    errors: list[LintError] = []
    reported: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for child in edges.get(node, []):
            if state.get(child) == 1:
                cycle = [*path[path.index(child) :], child]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    steps = list(zip(cycle, cycle[1:], strict=False))
                    via_driver = any(step in drivers for step in steps)
                    owner = metrics.get(cycle[0])
                    where = file if via_driver or owner is None else owner.file
                    errors.append(
                        LintError(
                            where,
                            cycle[0],
                            f"the links form a cycle: {' -> '.join(cycle)}",
                            "remove one link of the cycle (a metric cannot sit below itself)",
                        )
                    )
            elif state.get(child) is None:
                visit(child, [*path, child])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    return errors
