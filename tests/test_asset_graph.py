"""The Dagster asset graph (keys, dependencies, checks, owners, groups) as a reviewed snapshot.

The code location's shape is what the UI, the sensor and every run rely on. A change to it is
made on purpose: regenerate the snapshot with `OPSVALUE_UPDATE_SNAPSHOT=1 pytest
tests/test_asset_graph.py` and review the diff of `tests/snapshots/asset_graph.json`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def asset_graph() -> dict:
    """Every asset with its group, owners, kinds, dependencies and checks, in a stable order."""
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "owners": sorted(node.owners),
            "kinds": sorted(node.kinds),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "checks": sorted(
                f"{c.name}{' (blocking)' if graph.get_check_spec(c).blocking else ''}"
                for c in node.check_keys
            ),
        }
    repo = defs.get_repository_def()
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "sensors": sorted(s.name for s in repo.sensor_defs),
        "schedules": sorted(s.name for s in repo.schedule_defs),
        "resources": sorted(defs.resources or {}),
    }


def test_asset_graph_matches_the_reviewed_snapshot(dbt_manifest):
    current = asset_graph()
    if os.environ.get("OPSVALUE_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert current["assets"].keys() == expected["assets"].keys()
    for key, node in expected["assets"].items():
        assert current["assets"][key] == node, key
    assert current == expected
    # plausibility: the graph is the whole pipeline, not an empty or partial load
    assert len(current["assets"]) > 60
    assert any(node["checks"] for node in current["assets"].values())
