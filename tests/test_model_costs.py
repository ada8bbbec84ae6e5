"""benchmarks.model_costs: each model's cost is its node plus its tests, from dbt's results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import model_costs

MANIFEST = {
    "nodes": {
        "model.p.a": {"resource_type": "model", "name": "a"},
        "model.p.b": {"resource_type": "model", "name": "b"},
        # a generic test on a: attached to it
        "test.p.not_null_a": {
            "resource_type": "test",
            "attached_node": "model.p.a",
            "depends_on": {"nodes": ["model.p.a", "model.p.b"]},
        },
        # a singular test over both: split evenly
        "test.p.assert_ab": {
            "resource_type": "test",
            "attached_node": None,
            "depends_on": {"nodes": ["model.p.a", "model.p.b"]},
        },
    }
}


def results(**seconds: float) -> dict:
    return {
        "results": [{"unique_id": uid, "execution_time": s} for uid, s in seconds.items()]
        + [{"unique_id": "source.p.not_a_node", "execution_time": 99.0}]
    }


def test_model_costs_adds_each_models_tests() -> None:
    run = results(**{"model.p.a": 2.0, "model.p.b": 1.0})
    run["results"] += [
        {"unique_id": "test.p.not_null_a", "execution_time": 0.5},
        {"unique_id": "test.p.assert_ab", "execution_time": 3.0},
    ]
    assert model_costs.model_costs(run, MANIFEST) == pytest.approx({"a": 4.0, "b": 2.5})


def test_median_costs_counts_a_missing_model_as_zero() -> None:
    runs = [{"a": 1.0, "b": 5.0}, {"a": 3.0}, {"a": 2.0, "b": 4.0}]
    assert model_costs.median_costs(runs) == {"a": 2.0, "b": 4.0}


def test_read_run_names_the_folder_missing_results(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps(MANIFEST))
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        model_costs.read_run(tmp_path)


def test_families_name_models_of_the_project() -> None:
    """A renamed model would silently cost 0: every family member is a dbt model file."""
    root = Path(__file__).resolve().parents[1] / "dbt" / "models"
    defined = {p.stem for p in root.rglob("*.sql")}
    missing = {
        f: [n for n in names if n not in defined] for f, names in model_costs.FAMILIES.items()
    }
    assert not any(missing.values()), missing
