"""The governed metric catalog, read from the dbt project: listing, one metric's card, and lint.

The definitions live once, in the semantic-layer YAML of each owner's folder. This module reads
them through the dbt manifest (which resolves groups, folders and owners) plus a pre-scan of the
YAML files for the faults that stop `dbt parse` itself (duplicate names).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dagster_project.defs.transform.profile_lint import LintError as ProfileFault
from dagster_project.defs.transform.profile_lint import lint_scorecards

DIMENSIONS = ("value", "efficiency", "quality", "risk_control", "service", "key_projects")
DIRECTIONS = ("higher_is_better", "lower_is_better", "none")
ORG_ATTRIBUTES = ("owning_org", "handling_center")
ROLLUPS = ("additive", "ratio", "mean", "percentile", "semi_additive", "cohort")
UNITS = ("percent", "days", "hours", "minutes", "seconds", "points", "per_10k", "cny", "count")
KPI_ATTRIBUTES = (
    "label_zh",
    "dimension",
    "unit",
    "direction",
    "definition",
    "formula",
    "source_systems",
    "source_columns",
    "org_attribute",
    "rollup",
)
COMPONENT_ATTRIBUTES = ("unit", "definition", "source_systems", "org_attribute", "rollup")
ALLOWED = {
    "dimension": DIMENSIONS,
    "direction": DIRECTIONS,
    "org_attribute": ORG_ATTRIBUTES,
    "rollup": ROLLUPS,
    "unit": UNITS,
}
TIERS = ("default", "group", "subsidiary", "branch", "sub_branch", "center")


@dataclass(frozen=True)
class LintError:
    file: str
    metric: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}: metric {self.metric}: {self.problem}. Fix: {self.fix}"


@dataclass
class Metric:
    name: str
    label: str
    description: str
    type: str
    group: str | None
    file: str
    meta: dict[str, Any]
    type_params: dict[str, Any]
    owner_name: str | None = None
    owner_email: str | None = None
    models: list[str] = field(default_factory=list)

    @property
    def is_kpi(self) -> bool:
        return not self.meta.get("component", False)

    def row(self) -> dict[str, Any]:
        return {
            "metric_name": self.name,
            "label": self.label,
            "label_zh": self.meta.get("label_zh"),
            "owner": self.group,
            "owner_email": self.owner_email,
            "dimension": self.meta.get("dimension"),
            "unit": self.meta.get("unit"),
            "direction": self.meta.get("direction"),
            "rollup": self.meta.get("rollup"),
            "type": self.type,
            "definition": self.meta.get("definition"),
            "formula": self.meta.get("formula"),
            "source_systems": self.meta.get("source_systems"),
            "source_columns": self.meta.get("source_columns"),
            "org_attribute": self.meta.get("org_attribute"),
            "targets": self.meta.get("targets"),
            "file": self.file,
        }


def load_manifest(project_dir: Path) -> dict[str, Any]:
    path = project_dir / "target" / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `dbt parse` in {project_dir} first")
    return json.loads(path.read_text(encoding="utf-8"))


def metrics_from_manifest(manifest: dict[str, Any]) -> dict[str, Metric]:
    """Every metric with its owner, the file that defines it and the models its measures read."""
    groups = {g["name"]: g.get("owner") or {} for g in manifest.get("groups", {}).values()}
    measure_model: dict[str, str] = {}
    for sm in manifest.get("semantic_models", {}).values():
        model_id = (sm.get("depends_on") or {}).get("nodes", [None])[0]
        for measure in sm.get("measures", []):
            measure_model[measure["name"]] = model_id
    by_name = {m["name"]: m for m in manifest.get("metrics", {}).values()}

    def measures_of(metric: dict[str, Any], seen: frozenset[str] = frozenset()) -> list[str]:
        tp = metric.get("type_params") or {}
        if metric["type"] == "simple":
            return [tp["measure"]["name"]] if tp.get("measure") else []
        inputs = [tp.get("numerator"), tp.get("denominator"), *(tp.get("metrics") or [])]
        out: list[str] = []
        for ref in inputs:
            if ref and ref["name"] in by_name and ref["name"] not in seen:
                out += measures_of(by_name[ref["name"]], seen | {metric["name"]})
        return out

    result = {}
    for m in by_name.values():
        group = m.get("group") or (m.get("config") or {}).get("group")
        owner = groups.get(group or "", {})
        result[m["name"]] = Metric(
            name=m["name"],
            label=m.get("label") or "",
            description=m.get("description") or "",
            type=m["type"],
            group=group,
            file=m["original_file_path"],
            meta=(m.get("config") or {}).get("meta") or m.get("meta") or {},
            type_params=m.get("type_params") or {},
            owner_name=owner.get("name"),
            owner_email=owner.get("email"),
            models=[measure_model.get(x) for x in measures_of(m) if measure_model.get(x)],
        )
    return result


# --- lint --------------------------------------------------------------------------------------


def scan_metric_yaml(project_dir: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[LintError]]:
    """Metric definitions straight from the YAML files, for faults dbt parse would choke on."""
    found: list[tuple[str, dict[str, Any]]] = []
    errors: list[LintError] = []
    for path in sorted((project_dir / "models").rglob("*.yml")):
        rel = path.relative_to(project_dir).as_posix()
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            errors.append(LintError(rel, "-", f"the YAML does not parse ({exc})", "fix the syntax"))
            continue
        for metric in doc.get("metrics") or []:
            found.append((rel, metric))
    return found, errors


def lint_yaml(found: Iterable[tuple[str, dict[str, Any]]]) -> list[LintError]:
    found = list(found)
    errors: list[LintError] = []
    names = Counter(m.get("name") for _, m in found)
    labels: dict[tuple[str, str], list[str]] = {}
    for _, metric in found:
        meta = (metric.get("config") or {}).get("meta") or {}
        for lang, label in (("en", metric.get("label")), ("zh", meta.get("label_zh"))):
            if label and str(label).strip():
                labels.setdefault((lang, str(label).strip().lower()), []).append(metric["name"])
    for file, metric in found:
        name = metric.get("name", "?")
        if names[name] > 1:
            files = sorted({f for f, m in found if m.get("name") == name})
            errors.append(
                LintError(
                    file,
                    name,
                    f"the name is defined more than once ({', '.join(files)})",
                    "keep one definition and rename or delete the others",
                )
            )
        for (lang, label), holders in labels.items():
            others = [n for n in holders if n != name]
            if name in holders and others:
                errors.append(
                    LintError(
                        file,
                        name,
                        f"label {label!r} ({lang}) is shared with {', '.join(others)}",
                        "give every metric its own label",
                    )
                )
        tp = metric.get("type_params") or {}
        if metric.get("type") == "ratio" and not (tp.get("denominator") or {}).get("name"):
            errors.append(
                LintError(
                    file, name, "a ratio without a denominator", "add type_params.denominator"
                )
            )
        if metric.get("type") == "derived" and len(tp.get("metrics") or []) != 2:
            errors.append(
                LintError(
                    file,
                    name,
                    "a derived metric must combine exactly two metrics (numerator, denominator)",
                    "list the numerator first and the denominator second in type_params.metrics",
                )
            )
    return errors


def lint_manifest(manifest: dict[str, Any]) -> list[LintError]:
    metrics = metrics_from_manifest(manifest)
    nodes = manifest.get("nodes", {})
    errors: list[LintError] = []
    for m in metrics.values():
        if not m.group:
            errors.append(
                LintError(m.file, m.name, "no owner", "set config.group to the owner's dbt group")
            )
        elif not m.owner_email:
            errors.append(
                LintError(
                    m.file,
                    m.name,
                    f"owner group {m.group} has no owner email",
                    f"add owner.email to group {m.group}",
                )
            )
        own_models = m.models[:1] if m.type in ("ratio", "derived") else m.models
        for model_id in own_models:
            model_group = (nodes.get(model_id) or {}).get("group")
            if m.group and model_group != m.group:
                errors.append(
                    LintError(
                        m.file,
                        m.name,
                        f"owner group {m.group} differs from the group {model_group} of the model "
                        f"it reads ({model_id})",
                        f"move the metric to {model_group}'s folder, or its model to {m.group}'s",
                    )
                )
        required = KPI_ATTRIBUTES if m.is_kpi else COMPONENT_ATTRIBUTES
        for attr in required:
            value = m.meta.get(attr)
            if value in (None, "", []):
                errors.append(
                    LintError(
                        m.file,
                        m.name,
                        f"governance attribute {attr} is missing or empty",
                        f"set config.meta.{attr}",
                    )
                )
            elif attr in ALLOWED and value not in ALLOWED[attr]:
                errors.append(
                    LintError(
                        m.file,
                        m.name,
                        f"{attr} is {value!r}",
                        f"use one of {', '.join(ALLOWED[attr])}",
                    )
                )
        if m.is_kpi and not m.label.strip():
            errors.append(LintError(m.file, m.name, "no label", "set label"))
        errors += _lint_targets(m)
    return errors


def _lint_targets(m: Metric) -> list[LintError]:
    targets = m.meta.get("targets") or {}
    direction = m.meta.get("direction")
    errors = []
    for tier, t in targets.items():
        if tier not in TIERS:
            errors.append(
                LintError(m.file, m.name, f"targets has unknown tier {tier!r}", f"use {TIERS}")
            )
            continue
        target, red = (t or {}).get("target"), (t or {}).get("red_threshold")
        if target is None or red is None:
            errors.append(
                LintError(
                    m.file,
                    m.name,
                    f"targets.{tier} needs both target and red_threshold",
                    "set both numbers",
                )
            )
            continue
        wrong = (direction == "higher_is_better" and target < red) or (
            direction == "lower_is_better" and target > red
        )
        if direction == "none":
            errors.append(
                LintError(
                    m.file,
                    m.name,
                    "has targets but direction none",
                    "set a direction, or remove the targets",
                )
            )
        elif wrong:
            better = "above" if direction == "higher_is_better" else "below"
            errors.append(
                LintError(
                    m.file,
                    m.name,
                    f"targets.{tier}: target {target} is on the wrong side of red_threshold {red} "
                    f"for {direction}",
                    f"the target must be {better} the red threshold",
                )
            )
    return errors


ManifestCheck = Callable[[dict[str, Any]], list[LintError]]


def lint_project(
    project_dir: Path, parse: bool = True, extra_checks: Iterable[ManifestCheck] = ()
) -> list[LintError | ProfileFault]:
    """Every lint error of a dbt project; runs `dbt parse` first unless told not to.

    extra_checks: checks of other modules on the parsed manifest (the indicator tree's,
    defs/transform/tree.py), which read this module's metrics and so cannot be imported here.
    """
    found, errors = scan_metric_yaml(project_dir)
    errors += lint_yaml(found)
    if errors:  # dbt parse would stop on these before the manifest exists
        return errors
    if parse:
        from dagster_project.defs.transform.project import parse_project

        parse_problem = parse_project(project_dir)
        if parse_problem:
            return [LintError("dbt parse", "-", parse_problem, "fix the error dbt reports")]
    manifest = load_manifest(project_dir)
    faults: list[LintError | ProfileFault] = [*lint_manifest(manifest)]
    faults += lint_scorecards(project_dir, metrics_from_manifest(manifest))
    for check in extra_checks:
        faults += check(manifest)
    return faults


# --- change notes: what the working tree changes against the published definitions -------------

CATALOG_STATE_MARKER = "OPSVALUE_CATALOG_STATE "
NOTE_FIELDS = ("why", "requested_by", "approved_by")


@dataclass(frozen=True)
class ResolvedMetric:
    """One metric as the pipeline would publish it: its resolved definition (what
    metric_definition_history records), direction, targets, cascade rule (as
    dim_metric_catalog.target_cascade publishes it: none without a group target) and change
    note."""

    name: str
    definition_json: str
    definition_hash: str
    is_kpi: bool
    direction: str | None
    targets: dict[str, Any]
    change_note: dict[str, Any] | None
    target_cascade: dict[str, Any] | None = None


def resolve_catalog(
    project_dir: Path, work_dir: Path | None = None, database: str = ":memory:"
) -> dict[str, ResolvedMetric]:
    """Every metric of a dbt project resolved by dbt itself (macro kpi_catalog_state), so the
    definitions compared here are byte for byte the ones the history model hashes. dbt writes
    its manifest into `work_dir`/target (a temporary folder by default)."""
    from dagster_project.defs.transform.project import dbt_executable

    with tempfile.TemporaryDirectory(prefix="opsvalue-catalog-") as scratch:
        folder = work_dir or Path(scratch)
        # its own target and log folders: the project's manifest stays the one parse wrote, and
        # an in-memory database by default: resolving the catalog opens no warehouse file
        result = subprocess.run(
            [dbt_executable(), "run-operation", "kpi_catalog_state", "--quiet"]
            + ["--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
            + ["--target", "work", "--target-path", str(folder / "target")]
            + ["--log-path", str(folder / "logs")],
            env={**os.environ, "OPSVALUE_WORK_DB": database},
            capture_output=True,
            text=True,
            check=False,
        )
    line = next((x for x in result.stdout.splitlines() if x.startswith(CATALOG_STATE_MARKER)), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(
            f"dbt could not resolve the catalog in {project_dir}:\n"
            + (result.stdout + result.stderr).strip()[-3000:]
        )
    state = json.loads(line[len(CATALOG_STATE_MARKER) :])
    return {
        name: ResolvedMetric(
            name=name,
            definition_json=m["definition_json"],
            definition_hash=m["definition_hash"],
            is_kpi=bool(m["is_kpi"]),
            direction=m.get("direction"),
            targets=m.get("targets") or {},
            change_note=m.get("change_note"),
            target_cascade=m.get("target_cascade"),
        )
        for name, m in state.items()
    }


def changed_definitions(
    current: dict[str, ResolvedMetric], published: dict[str, dict[str, Any]]
) -> list[str]:
    """Metrics published before whose resolved definition differs from the published one."""
    return sorted(
        name
        for name, metric in current.items()
        if name in published and published[name]["definition_hash"] != metric.definition_hash
    )


def note_problem(note: Any, recorded: dict[str, Any]) -> str | None:
    """What is wrong with the change note of a changed definition, or None."""
    if not isinstance(note, dict):
        return "the definition changed but config.meta.change_note is missing"
    missing = [f for f in NOTE_FIELDS if not str(note.get(f) or "").strip()]
    if missing:
        return f"change_note lacks {', '.join(missing)}"
    columns = ("change_reason", "change_requested_by", "change_approved_by")
    before = tuple(str(recorded.get(c) or "").strip() for c in columns)
    if before == tuple(str(note[f]).strip() for f in NOTE_FIELDS):
        return f"change_note is the one recorded with version {recorded.get('definition_version')}"
    return None


def lint_change_notes(
    current: dict[str, ResolvedMetric],
    published: dict[str, dict[str, Any]],
    files: dict[str, str],
) -> list[LintError]:
    """A definition that differs from the published one needs its own change note: why, who
    asked for it, who approved it (stored with the new version in metric_definition_history).
    `published` is the latest recorded version per metric; `files` the YAML defining each."""
    errors = []
    for name in changed_definitions(current, published):
        problem = note_problem(current[name].change_note, published[name])
        if problem:
            errors.append(
                LintError(
                    files.get(name, "?"),
                    name,
                    problem,
                    "set config.meta.change_note with why, requested_by and approved_by "
                    "for this change",
                )
            )
    return errors
