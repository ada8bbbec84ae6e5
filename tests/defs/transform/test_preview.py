"""The preview's pure parts: which edits count as a change of targets, and what a tier reports.

The previews themselves (dbt in a scratch database, against a real run) are in
tests/test_catalog_preview.py, marked heavy; these run in the default suite."""

from __future__ import annotations

from datetime import date

from dagster_project.defs.transform.catalog import ResolvedMetric
from dagster_project.defs.transform.preview import Kpi, metric_changes, tier_report

PUBLISHED_RULE = {"rule": "override", "fallback": "inherit", "overrides": {"LIF": 0.7}}
TARGETS = {"default": {"target": 0.65, "red_threshold": 0.55}}
TIER_TARGETS = {
    tier: (0.65, 0.55) for tier in ("group", "subsidiary", "branch", "sub_branch", "center")
}


def metric(cascade: dict | None, targets: dict = TARGETS) -> ResolvedMetric:
    return ResolvedMetric(
        "claims_auto_rate", "{}", "h1", True, "higher_is_better", targets, None, cascade
    )


def changes(current: ResolvedMetric, cascades: dict | None):
    published = {current.name: {"definition_hash": "h1", "definition_version": 1}}
    return metric_changes(
        {current.name: current}, published, {current.name: TIER_TARGETS}, cascades
    )


def test_metric_changes_names_a_cascade_edit_as_a_change_of_targets():
    new_rule = {**PUBLISHED_RULE, "overrides": {"LIF": 0.7, "PNC": 0.6}}
    [change] = changes(metric(new_rule), {"claims_auto_rate": PUBLISHED_RULE})
    assert change.parts == ["targets"] and change.old_version == 1
    assert change.details == {"target_cascade": {"old": PUBLISHED_RULE, "new": new_rule}}


def test_metric_changes_names_the_cascade_beside_a_tier_target():
    targets = {**TARGETS, "center": {"target": 0.7, "red_threshold": 0.6}}
    [change] = changes(
        metric({**PUBLISHED_RULE, "rule": "inherit"}, targets), {"claims_auto_rate": PUBLISHED_RULE}
    )
    assert change.parts == ["targets"]
    assert set(change.details) == {"targets", "target_cascade"}
    assert change.details["targets"] == {"center": {"old": (0.65, 0.55), "new": (0.7, 0.6)}}


def test_metric_changes_leaves_an_unchanged_or_unpublished_rule_alone():
    assert changes(metric(PUBLISHED_RULE), {"claims_auto_rate": PUBLISHED_RULE}) == []
    # a snapshot from before dim_metric_catalog.target_cascade: no published rule to compare
    assert changes(metric({**PUBLISHED_RULE, "rule": "inherit"}), None) == []
    # a metric whose group target (and so its rule) is taken out: a change of both
    [change] = changes(metric(None, {}), {"claims_auto_rate": PUBLISHED_RULE})
    assert change.details["target_cascade"] == {"old": PUBLISHED_RULE, "new": None}


def test_tier_report_counts_the_units_whose_own_target_moves():
    month = date(2026, 10, 1)
    old = {
        ("m", "branch", "LIF-JS", month): Kpi(0.66, "green", 0.65, 1),
        ("m", "branch", "LIF-SH", month): Kpi(0.60, "amber", 0.65, 1),
        ("m", "branch", "PNC-BJ", month): Kpi(0.50, "red", 0.65, 1),
    }
    new = {
        ("m", "branch", "LIF-JS", month): Kpi(0.66, "amber", 0.70, 1),
        ("m", "branch", "LIF-SH", month): Kpi(0.60, "amber", 0.70, 1),
        ("m", "branch", "PNC-BJ", month): Kpi(0.50, "red", 0.65 * (1 + 1e-13), 1),
    }
    report = tier_report("m", "branch", old, new)
    # float noise in a target is no change; a unit whose status stays still has a new target
    assert report["target_changes"] == 2 and report["changed"] == 0
    assert [f["text"] for f in report["status_flips"]] == ["LIF-JS Oct 2026 green → amber"]
    assert report["changed_units"] == ["LIF-JS", "LIF-SH"]
