"""What each dbt model costs inside a build: its own execution time plus its data tests'.

    python -m benchmarks.model_costs RUN_DIR [RUN_DIR ...] [--family value_management] [--top 15]

A RUN_DIR is the target folder dagster-dbt gave one `dbt build` (it holds `run_results.json` and
`manifest.json`); `python -m benchmarks.run` keeps the full builds' under
`<workdir>/logs/full-<repeat>-dbt/`. With several runs, the median of each model's cost is shown.

Why not the difference of two full builds with and without the models: on 2 cores that
difference drowns in the runs' own spread (several seconds); dbt's per-node execution times
are what each node itself took. They are thread times: with `threads > 1` nodes overlap, so the
sum of a family may exceed what it adds to the wall time of the build.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

from rich.console import Console
from rich.table import Table

# The models each piece of work added, for its build-time cost in the notes. Kept here because
# no dbt folder, group or tag holds exactly these (value models sit with the transformation
# office's other facts, attribution among the marts).
FAMILIES: dict[str, tuple[str, ...]] = {
    # the indicator tree, value created, scorecards and cascaded targets
    "value_management": (
        "dim_indicator_tree",
        "fct_value_lines",
        "fct_value_created",
        "fct_unit_targets",
        "int_unit_kpis_scored",
        "score_profile_history",
        "dim_score_profiles",
        "fct_unit_scores",
        "fct_score_contributions",
    ),
    # why did it move: attribution down the org tree and the driver tree, and the
    # mix-standardised comparison
    "attribution": ("fct_kpi_attribution", "fct_driver_attribution", "fct_kpi_standardised"),
}


def model_costs(run_results: Mapping, manifest: Mapping) -> dict[str, float]:
    """Seconds per model: its own node plus the tests on it.

    A test on one model (a generic test's `attached_node`, or a singular test reading one model)
    is that model's; a singular test reading several models is split evenly between them.
    """
    nodes = manifest.get("nodes", {})
    costs: dict[str, float] = defaultdict(float)
    for result in run_results.get("results", []):
        node = nodes.get(result["unique_id"])
        if node is None:
            continue
        seconds = float(result.get("execution_time") or 0.0)
        if node["resource_type"] in ("model", "snapshot", "seed"):
            costs[node["name"]] += seconds
        elif node["resource_type"] in ("test", "unit_test"):
            attached = node.get("attached_node")
            targets = [attached] if attached else node.get("depends_on", {}).get("nodes", [])
            models = [nodes[t]["name"] for t in targets if t in nodes]
            for name in models:
                costs[name] += seconds / len(models)
    return dict(costs)


def read_run(run_dir: Path) -> dict[str, float]:
    """The model costs of one dbt invocation's target folder; a clear error when incomplete."""
    paths = {name: run_dir / f"{name}.json" for name in ("run_results", "manifest")}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        listed = ", ".join(missing)
        raise FileNotFoundError(f"{run_dir}: not a dbt target folder (missing {listed})")
    docs = {name: json.loads(path.read_text(encoding="utf-8")) for name, path in paths.items()}
    return model_costs(docs["run_results"], docs["manifest"])


def median_costs(runs: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Each model's median over the runs (a model absent from a run counts 0 there)."""
    runs = list(runs)
    names = sorted({name for run in runs for name in run})
    return {name: statistics.median(run.get(name, 0.0) for run in runs) for name in names}


def family_total(costs: Mapping[str, float], family: str) -> float:
    return sum(costs.get(name, 0.0) for name in FAMILIES[family])


def render(costs: Mapping[str, float], families: list[str], top: int) -> Table:
    table = Table(title="dbt node time per model, models and their tests (median, s)")
    table.add_column("model")
    table.add_column("s", justify="right")
    table.add_column("share", justify="right")
    total = sum(costs.values()) or 1.0
    shown = [(n, costs[n]) for n in sorted(costs, key=costs.__getitem__, reverse=True)[:top]]
    for family in families:
        shown += [(f"{name} [{family}]", costs.get(name, 0.0)) for name in FAMILIES[family]]
        shown.append((f"= {family}", family_total(costs, family)))
    shown.append(("= all nodes", sum(costs.values())))
    for name, seconds in shown:
        table.add_row(name, f"{seconds:.2f}", f"{seconds / total:.1%}")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.model_costs", description=__doc__)
    parser.add_argument("run_dirs", type=Path, nargs="+", help="dbt target folders of builds")
    parser.add_argument("--family", action="append", choices=sorted(FAMILIES), default=[])
    parser.add_argument("--top", type=int, default=15, help="most costly models to list")
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = parser.parse_args(argv)
    try:
        costs = median_costs(read_run(d) for d in args.run_dirs)
    except (FileNotFoundError, json.JSONDecodeError, KeyError) as exc:
        Console(stderr=True).print(f"[bold red]error[/]: {exc}")
        return 2
    if args.json:
        doc = {
            "runs": [str(d) for d in args.run_dirs],
            "families": {f: round(family_total(costs, f), 3) for f in FAMILIES},
            "models": {n: round(s, 3) for n, s in costs.items()},
        }
        print(json.dumps(doc, indent=2))
    else:
        Console(soft_wrap=True).print(render(costs, args.family, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
