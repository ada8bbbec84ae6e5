"""What a data owner's one-metric edit costs: its preview and its republish, against a full build.

    python -m benchmarks.definition_edit --scale 1 --months 24 --repeat 3 [--workdir DIR]

Per repeat, each in a process of its own under GNU time: `opsvalue run` from an empty workspace
(full); then, on the workspace it published, with a copy of the dbt project whose
claims_auto_rate numerator gets one more filter (and its change note), `opsvalue catalog
preview --json` (preview) and `opsvalue run` (republish: the run that publishes the edit).
Writes benchmarks/results/definition_edit_<scale>x<months>.json after every repeat, with the
load average at the start and end of each run, and keeps each full build's dbt results in
<workdir>/logs/full_<i>-dbt/ (python -m benchmarks.model_costs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

import yaml

from benchmarks.dataset import prepare
from benchmarks.measure import measure
from benchmarks.run import Workspace, dbt_invocations, keep_dbt_results, remove_tree

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CLAIMS = "models/owners/claims/_claims__metrics.yml"
NOTE = {"why": "benchmark", "requested_by": "benchmark", "approved_by": "benchmark"}


def edited_project(workdir: Path) -> Path:
    """A copy of the dbt project with one filter added to claims_auto_rate's numerator."""
    project = workdir / "dbt_edited"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(PROJECT_ROOT / "dbt", project, ignore=shutil.ignore_patterns("target", "logs"))
    path = project / CLAIMS
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    metric = next(m for m in doc["metrics"] if m["name"] == "claims_auto_rate")
    metric["type_params"]["numerator"]["filter"] += (
        " and {{ Dimension('claim__decision') }} = 'paid'"
    )
    metric["config"]["meta"]["change_note"] = NOTE
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return project


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--months", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", default=str(PROJECT_ROOT / "benchmarks" / "work"))
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    dataset = prepare(workdir, args.scale, args.months, args.seed)
    project = edited_project(workdir)
    cli = [sys.executable, "-m", "dagster_project.cli"]
    out = PROJECT_ROOT / "benchmarks" / "results"
    out = out / f"definition_edit_{args.scale:g}x{args.months}.json"
    runs: dict[str, list[dict]] = {"full": [], "preview": [], "republish": []}
    for i in range(args.repeat):
        ws = Workspace(workdir / "ws_edit", Path(dataset.raw_dir))
        remove_tree(ws.root)
        ws.root.mkdir(parents=True)
        env = ws.env()
        env.pop("OPSVALUE_DBT_DIR", None)
        steps = [
            ("full", [*cli, "run"], env),
            (
                "preview",
                # exit 1 means "statuses flip", not a failure
                ["sh", "-c", '"$@"; [ $? -le 1 ]', "sh", *cli, "catalog", "preview", "--json"]
                + ["--project-dir", str(project)],
                {**env, "OPSVALUE_DBT_DIR": str(project)},
            ),
            ("republish", [*cli, "run"], {**env, "OPSVALUE_DBT_DIR": str(project)}),
        ]
        for name, command, step_env in steps:
            load_before = os.getloadavg()[0]
            before = dbt_invocations()
            run = measure(command, workdir / "logs" / f"{name}_{i}.log", env=step_env)
            if name == "full":  # for benchmarks.model_costs: what each model took in it
                keep_dbt_results(before, workdir / "logs" / f"full_{i}-dbt")
            record = {**run.to_json(), "load_before": load_before, "load_after": os.getloadavg()[0]}
            runs[name].append(record)
            print(name, i, record["wall_s"], "s, load", load_before, file=sys.stderr)
        medians = {
            name: statistics.median(r["wall_s"] for r in rs) for name, rs in runs.items() if rs
        }
        out.write_text(
            json.dumps(
                {
                    "scale": args.scale,
                    "months": args.months,
                    "repeats_done": i + 1,
                    "median_wall_s": medians,
                    "preview_over_full": medians["preview"] / medians["full"],
                    "republish_over_full": medians["republish"] / medians["full"],
                    "runs": runs,
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
