"""`opsvalue catalog preview` shows what an edit publishes, before it does, and writes nothing.

The previewed values are checked against what a real run with the same edit publishes
afterwards, every unit and month; a target-only edit moves statuses and no value."""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from dagster_project.core.settings import get_settings
from tests.conftest import Workspace, copy_workspace
from tests.test_change_notes import CLAIMS, NOTE, edit_claims_auto_rate
from tests.test_republish import run_with_project

# heavy: many whole-pipeline runs; started first when the suite runs on two processes
# (tests/conftest.py)
pytestmark = pytest.mark.heavy

CHROMIUM = Path("/usr/bin/chromium")
EDITED = "claims_auto_rate"
TIMEOUT_S = 1200


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file under a folder (links followed as the readers would)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def preview_cli(ws: Workspace, project: Path, html: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OPSVALUE_DBT_DIR": str(project),
        "OPSVALUE_RAW_DIR": str(ws.raw_dir),
        "OPSVALUE_WAREHOUSE": str(ws.warehouse),
        "OPSVALUE_WORK_DB": str(ws.work_db),
        "OPSVALUE_SITE_DIR": str(ws.site_dir),
        "DAGSTER_HOME": str(ws.dagster_home),
    }
    return subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "catalog", "preview", "--json"]
        + ["--project-dir", str(project), "--html", str(html)],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def copy_project(root: Path) -> Path:
    project = root / "dbt"
    shutil.copytree(
        get_settings().dbt_project_dir, project, ignore=shutil.ignore_patterns("target", "logs")
    )
    return project


def published_kpis(warehouse: Path, metric: str) -> dict[tuple, tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select org_level, org_code, cast(period_start as varchar), value, status "
            "from marts.fct_kpi_values where metric_name = ?",
            [metric],
        ).fetchall()
    return {row[:3]: row[3:] for row in rows}


def published_scores(warehouse: Path) -> dict[tuple, tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select org_level, org_code, cast(period_start as varchar), score, grade, "
            "rank_in_tier from marts.fct_unit_scores"
        ).fetchall()
    return {row[:3]: row[3:] for row in rows}


def same_score(a: float | None, b: float | None, rel: float) -> bool:
    """Equal within `rel` (and 1e-9 absolute); a unit-month without a score has none on both."""
    if a is None or b is None:
        return a is b
    return a == pytest.approx(b, rel=rel, abs=1e-9)


def previewed_scores(report: dict) -> dict[tuple, dict]:
    return {(v["tier"], v["unit"], v["month"]): v for v in report["scores"]["values"]}


@pytest.fixture(scope="module")
def filter_preview(built, tmp_path_factory):
    """A filter edit of one ratio metric, previewed, then published by a real run."""
    root = tmp_path_factory.mktemp("preview")
    ws = copy_workspace(built, root / "ws")
    project = copy_project(root)
    edit_claims_auto_rate(project, NOTE)
    before = {"root": digests(ws.root)}
    html = root / "report" / "preview.html"
    result = preview_cli(ws, project, html)
    after_preview = {"root": digests(ws.root)}
    published_before = published_kpis(ws.warehouse, EDITED)
    scores_before = published_scores(ws.warehouse)
    run = run_with_project(ws, project)
    assert run.returncode == 0, run.stderr[-3000:]
    return {
        "result": result,
        "report": json.loads(result.stdout) if result.stdout.strip().startswith("{") else None,
        "unchanged": before == after_preview,
        "published_before": published_before,
        "published_after": published_kpis(ws.warehouse, EDITED),
        "scores_before": scores_before,
        "scores_after": published_scores(ws.warehouse),
        "html": html,
        "ws": ws,
        "project": project,
    }


def test_preview_writes_nothing_of_the_pipeline(filter_preview):
    result = filter_preview["result"]
    assert result.returncode in (0, 1), result.stderr[-3000:]
    # the snapshot, the working database, the site (and every other file) byte for byte
    assert filter_preview["unchanged"]


def test_preview_of_a_filter_change_is_what_the_run_publishes(filter_preview):
    report = filter_preview["report"]
    [metric] = report["metrics"]
    assert metric["metric_name"] == EDITED
    assert metric["parts"] == ["filters"]
    assert metric["old_version"] == 1 and metric["new_version"] == 2
    after, before = filter_preview["published_after"], filter_preview["published_before"]
    previewed = {(v["tier"], v["unit"], v["month"]): v for v in metric["values"]}
    assert previewed.keys() == after.keys() | before.keys()
    assert len(previewed) > 100
    for key, row in previewed.items():
        value, status = after[key]
        assert row["new"] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        assert row["new_status"] == status, key
        assert row["old"] == pytest.approx(before[key][0], rel=1e-12, abs=1e-15), key
    # the counts and the flips agree with the publication before and after
    changed = {k for k in after if abs(after[k][0] - before[k][0]) > 1e-9 * abs(before[k][0])}
    assert sum(t["changed"] for t in metric["tiers"].values()) == len(changed) > 0
    flips = {k for k in after if after[k][1] != before[k][1]}
    shown = {
        (tier, f["unit"], f["month"])
        for tier, t in metric["tiers"].items()
        for f in t["status_flips"]
    }
    assert shown == flips
    assert report["status_flips"] == len(flips)
    assert filter_preview["result"].returncode == (1 if flips else 0)
    for tier, t in metric["tiers"].items():
        for c in t["largest"]:
            assert c["new"] == pytest.approx(after[(tier, c["unit"], c["month"])][0], rel=1e-9)
    assert "catalog.html" in report["pages"] and "index.html" in report["pages"]


def test_preview_of_a_filter_change_scores_what_the_run_publishes(filter_preview):
    """The composite scores and grades previewed are those fct_unit_scores holds after the run,
    every unit and month; the counts, grade changes and tier-rank moves agree with the
    publications before and after."""
    report = filter_preview["report"]
    before, after = filter_preview["scores_before"], filter_preview["scores_after"]
    previewed = previewed_scores(report)
    assert previewed.keys() == after.keys() | before.keys() and len(previewed) > 50
    for key, row in previewed.items():
        score, grade, _ = after[key]
        assert same_score(row["new"], score, 1e-9), key
        assert row["new_grade"] == grade, key
        assert same_score(row["old"], before[key][0], 1e-12), key
        assert row["new"] is None or 0 <= row["new"] <= 100
    assert sum(r["new"] is not None for r in previewed.values()) > 50
    # claims_auto_rate is in a score profile: its filter edit moves some scores
    moved = {k for k in after if not same_score(after[k][0], before[k][0], 0)}
    tiers = report["scores"]["tiers"]
    assert sum(t["changed"] for t in tiers.values()) == len(moved) > 0
    regraded = {k for k in after if after[k][1] != before[k][1]}
    shown = {(t, g["unit"], g["month"]) for t, r in tiers.items() for g in r["grade_changes"]}
    assert shown == regraded and report["scores"]["grade_changes"] == len(regraded)
    latest = max(k[2] for k in after)
    reranked = {k for k in after if k[2] == latest and after[k][2] != before[k][2]}
    assert {
        (c["tier"], c["unit"], c["month"]) for c in report["scores"]["rank_changes"]
    } == reranked
    for c in report["scores"]["rank_changes"]:
        assert c["new_rank"] == after[(c["tier"], c["unit"], c["month"])][2]
    # the profiles and the tree are unchanged by a filter edit
    assert report["profile_changes"] == [] and report["tree_changes"] == []


def test_preview_of_a_target_change_flips_statuses_and_no_value(built, tmp_path):
    ws = copy_workspace(built, tmp_path / "ws")
    project = copy_project(tmp_path)
    path = project / CLAIMS
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    metric = next(m for m in doc["metrics"] if m["name"] == EDITED)
    published = published_kpis(ws.warehouse, EDITED)
    values = sorted(v for v, _ in published.values())
    # a target at the median: about half the unit-months are green, the others not
    target, red = values[len(values) // 2], values[len(values) // 4]
    metric["config"]["meta"]["targets"] = {"default": {"target": target, "red_threshold": red}}
    # every unit inherits the group's target (the published file overrides LIF's subtree), so
    # each unit-month's status follows from the one target below
    metric["config"]["meta"]["target_cascade"] = {"rule": "inherit"}
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    result = preview_cli(ws, project, tmp_path / "report" / "preview.html")
    assert result.returncode == 1, result.stderr[-3000:]
    report = json.loads(result.stdout)
    [change] = report["metrics"]
    assert change["parts"] == ["targets"] and change["new_version"] == 1
    assert all(t["changed"] == 0 for t in change["tiers"].values())

    def status(value: float) -> str:  # claims_auto_rate: higher is better
        return "green" if value >= target else "amber" if value >= red else "red"

    expected = {k for k, (v, s) in published.items() if status(v) != s}
    shown = {
        (tier, f["unit"], f["month"])
        for tier, t in change["tiers"].items()
        for f in t["status_flips"]
    }
    assert shown == expected and expected
    for tier, t in change["tiers"].items():
        for f in t["status_flips"]:
            assert f["new"] == status(published[(tier, f["unit"], f["month"])][0])
    # a target attainment sub-score reads the target: the scores move, every one previewed
    scores = report["scores"]
    before = published_scores(ws.warehouse)
    previewed = previewed_scores(report)
    assert previewed.keys() == before.keys()
    for key, row in previewed.items():
        assert same_score(row["old"], before[key][0], 1e-12), key
        assert row["new"] is None or 0 <= row["new"] <= 100
    moved = [k for k, r in previewed.items() if not same_score(r["new"], r["old"], 0)]
    assert sum(t["changed"] for t in scores["tiers"].values()) == len(moved) > 0
    assert report["profile_changes"] == [] and report["tree_changes"] == []


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
def test_preview_report_opens_in_a_browser(filter_preview):
    from playwright.sync_api import sync_playwright

    report = filter_preview["report"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(filter_preview["html"].as_uri())
        assert page.title() == "opsvalue · catalog preview"
        summary = page.inner_text("#preview-summary")
        assert f"{report['status_flips']} status flip(s)" in summary
        section = page.locator(f'section[data-metric="{EDITED}"]')
        assert section.count() == 1
        assert "filters" in section.inner_text()
        # the composite scores the edit moves are on the page, with its count of grade changes
        scores = page.locator("#score-preview")
        assert scores.count() == 1
        assert f"{report['scores']['grade_changes']} grade change(s)" in scores.inner_text()
        # the site's stylesheet applies: a status pill has its colour
        if report["status_flips"]:
            pill = page.locator(".status--red, .status--green, .status--amber").first
            colour = pill.evaluate("e => getComputedStyle(e).backgroundColor")
            assert colour not in ("rgba(0, 0, 0, 0)", "")
        assert not errors
        browser.close()


def test_version_2_and_its_note_are_shown_after_the_run(filter_preview):
    """The guide's last step: `catalog show` and catalog.html show version 2 with its note."""
    ws, project = filter_preview["ws"], filter_preview["project"]
    env = {
        **os.environ,
        "OPSVALUE_DBT_DIR": str(project),
        "OPSVALUE_WAREHOUSE": str(ws.warehouse),
    }
    shown = subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "catalog", "show", EDITED, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    history = json.loads(shown.stdout)["history"]
    assert [h["version"] for h in history] == [1, 2]
    assert history[0]["why"] is None
    assert (history[1]["why"], history[1]["requested_by"], history[1]["approved_by"]) == (
        NOTE["why"],
        NOTE["requested_by"],
        NOTE["approved_by"],
    )
    catalog = (ws.site_dir / "catalog.html").read_text(encoding="utf-8")
    card = re.search(
        r'<article class="metric-card" id="metric-claims-auto-rate">.*?</article>', catalog, re.S
    ).group(0)
    assert "v2" in card and html.escape(NOTE["why"]) in card
    assert html.escape(NOTE["approved_by"]) in card


def test_a_weight_edit_is_named_in_the_definition_change():
    """A profile row whose weight differs is reported with both weights; an added link and a
    removed one are named; the version bookkeeping is not a change; no published table (an old
    snapshot) reports nothing."""
    from dagster_project.defs.transform.preview import (
        PROFILE_IGNORE,
        PROFILE_KEY,
        TREE_KEY,
        table_changes,
    )

    old = [
        {"profile_name": "branch", "metric_name": "nps", "weight": 0.1, "profile_version": 1},
        {"profile_name": "branch", "metric_name": "nigo_rate", "weight": 0.2, "profile_version": 1},
    ]
    new = [
        {"profile_name": "branch", "metric_name": "nps", "weight": 0.3, "profile_version": 2},
        {"profile_name": "branch", "metric_name": "nigo_rate", "weight": 0.2, "profile_version": 2},
    ]
    assert table_changes(old, new, PROFILE_KEY, PROFILE_IGNORE) == [
        {
            "key": "branch / nps",
            "change": "changed",
            "columns": {"weight": {"old": 0.1, "new": 0.3}},
        }
    ]
    link = {"parent_node": "cost", "child_node": "nps", "link_type": "goal_kpi"}
    other = {**link, "child_node": "nigo_rate"}
    assert table_changes([link], [other], TREE_KEY) == [
        {"key": "cost / nigo_rate / goal_kpi", "change": "added"},
        {"key": "cost / nps / goal_kpi", "change": "removed"},
    ]
    assert table_changes(None, new, PROFILE_KEY, PROFILE_IGNORE) == []


# --- a cascade-only edit, and single-tier target, grade band and tree link edits ---------------

# claims_auto_rate's published rule: override LIF at 0.7, the other subsidiaries share the rest
CASCADED = EDITED


def edit_meta(project: Path, metric_name: str, **meta: object) -> None:
    """Set config.meta keys of one metric in the claims owner's file."""
    path = project / CLAIMS
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    metric = next(m for m in doc["metrics"] if m["name"] == metric_name)
    metric["config"]["meta"].update(meta)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def published_rows(warehouse: Path, sql: str, params: list | None = None) -> list[dict]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def kpi_rows(warehouse: Path, metric: str) -> dict[tuple, dict]:
    """Every unit-month of a metric: value, unit target, red threshold and status."""
    rows = published_rows(
        warehouse,
        "select org_level, org_code, period_start, value, denominator, target, red_threshold, "
        "status from marts.fct_kpi_values where metric_name = ?",
        [metric],
    )
    return {(r["org_level"], r["org_code"], r["period_start"].isoformat()): r for r in rows}


def status_of(value: float, target: float, red: float) -> str:
    """A higher-is-better KPI's status, as the README states the rule."""
    return "green" if value >= target else "amber" if value >= red else "red"


@pytest.fixture(scope="module")
def cascade_preview(built, tmp_path_factory):
    """A cascade-only edit of claims_auto_rate (one more subsidiary overridden, at the median of
    its published months), previewed, then published by a real run."""
    root = tmp_path_factory.mktemp("cascade")
    ws = copy_workspace(built, root / "ws")
    project = copy_project(root)
    before = kpi_rows(ws.warehouse, CASCADED)
    subsidiary = sorted({k[1] for k in before if k[0] == "subsidiary"} - {"LIF"})[0]
    months = sorted(r["value"] for k, r in before.items() if k[:2] == ("subsidiary", subsidiary))
    cascade = {
        "rule": "override",
        "overrides": {"LIF": 0.7, subsidiary: months[len(months) // 2]},
        "fallback": "inherit",
    }
    edit_meta(project, CASCADED, target_cascade=cascade)
    digests_before = digests(ws.root)
    result = preview_cli(ws, project, root / "report" / "preview.html")
    unchanged = digests_before == digests(ws.root)
    catalog_before = published_rows(
        ws.warehouse, "select metric_name, target_cascade from marts.dim_metric_catalog"
    )
    org = published_rows(ws.warehouse, "select * from marts.dim_org")
    scores_before = published_scores(ws.warehouse)
    run = run_with_project(ws, project)
    assert run.returncode == 0, run.stderr[-3000:]
    return {
        "result": result,
        "report": json.loads(result.stdout) if result.stdout.strip().startswith("{") else None,
        "unchanged": unchanged,
        "cascade": cascade,
        "project": project,
        "before": before,
        "after": kpi_rows(ws.warehouse, CASCADED),
        "catalog_before": {r["metric_name"]: r["target_cascade"] for r in catalog_before},
        "catalog_after": {
            r["metric_name"]: r["target_cascade"]
            for r in published_rows(
                ws.warehouse, "select metric_name, target_cascade from marts.dim_metric_catalog"
            )
        },
        "unit_targets_after": {
            (r["org_level"], r["org_code"], r["period_start"].isoformat()): r["target"]
            for r in published_rows(
                ws.warehouse,
                "select org_level, org_code, period_start, target from marts.fct_unit_targets "
                "where metric_name = ?",
                [CASCADED],
            )
        },
        "org": org,
        "scores_before": scores_before,
        "scores_after": published_scores(ws.warehouse),
    }


def test_preview_of_a_cascade_edit_leaves_everything_as_it_was(cascade_preview):
    assert cascade_preview["result"].returncode in (0, 1), cascade_preview["result"].stderr
    assert cascade_preview["unchanged"]


def test_preview_of_a_cascade_edit_is_a_target_change(cascade_preview):
    """Reported as a change of targets, its cascade part with the rule before and after, and
    no new definition version; the published catalog names the old rule, the run the new."""
    report, cascade = cascade_preview["report"], cascade_preview["cascade"]
    [change] = report["metrics"]
    assert change["metric_name"] == CASCADED
    assert change["parts"] == ["targets"]
    assert change["old_version"] == 1 and change["new_version"] == 1
    # the tier targets are the same: only the cascade part is named
    assert set(change["details"]) == {"target_cascade"}
    detail = change["details"]["target_cascade"]
    published_rule = json.loads(cascade_preview["catalog_before"][CASCADED])
    assert detail["old"] == published_rule
    assert detail["old"] == {"rule": "override", "fallback": "inherit", "overrides": {"LIF": 0.7}}
    assert detail["new"] == cascade
    assert json.loads(cascade_preview["catalog_after"][CASCADED]) == cascade
    # no other metric's rule moved
    others = {k: v for k, v in cascade_preview["catalog_after"].items() if k != CASCADED}
    assert others == {k: v for k, v in cascade_preview["catalog_before"].items() if k != CASCADED}


def test_preview_of_a_cascade_edit_is_what_the_run_publishes(cascade_preview):
    """Every unit-month's target and status previewed are those the run publishes (and those
    an independent recomputation of the cascade gives); no value changes."""
    from tests import reference_targets

    report = cascade_preview["report"]
    before, after = cascade_preview["before"], cascade_preview["after"]
    [change] = report["metrics"]
    previewed = {(v["tier"], v["unit"], v["month"]): v for v in change["values"]}
    assert previewed.keys() == before.keys() == after.keys()
    assert len(previewed) > 100
    # the independent cascade, from the edited YAML and the published values
    rules = reference_targets.load_rules(cascade_preview["project"])
    kpis = [
        {
            "metric_name": CASCADED,
            "period_start": date.fromisoformat(k[2]),
            "org_level": k[0],
            "org_code": k[1],
            "value": r["value"],
            "denominator": r["denominator"],
        }
        for k, r in before.items()
    ]
    expected = reference_targets.cascade(rules, kpis, cascade_preview["org"])
    for key, row in previewed.items():
        published = after[key]
        # values: none moves, the run publishes the same as before
        assert row["new"] == row["old"] == pytest.approx(before[key]["value"], rel=1e-12)
        assert published["value"] == pytest.approx(before[key]["value"], rel=1e-9)
        # targets and statuses: the preview's are the run's
        assert row["new_target"] == pytest.approx(published["target"], rel=1e-9, abs=1e-12), key
        assert row["new_status"] == published["status"], key
        assert row["old_target"] == pytest.approx(before[key]["target"], rel=1e-12, abs=1e-15)
        assert row["old_status"] == before[key]["status"], key
        if key[0] != "center":
            target, red, _, _ = expected[(CASCADED, date.fromisoformat(key[2]), key[0], key[1])]
            assert row["new_target"] == pytest.approx(target, rel=1e-9), key
            assert row["new_status"] == status_of(row["new"], target, red), key
            assert cascade_preview["unit_targets_after"][key] == pytest.approx(target, rel=1e-9)
            # plausible for a rate: every unit's target between 0 and 1
            assert 0 < row["new_target"] < 1, key
    assert all(t["changed"] == 0 for t in change["tiers"].values())
    # counts: the targets and statuses that differ between the two publications
    retargeted = {
        k
        for k in after
        if abs(after[k]["target"] - before[k]["target"]) > 1e-9 * abs(before[k]["target"])
    }
    assert sum(t["target_changes"] for t in change["tiers"].values()) == len(retargeted) > 0
    flips = {k for k in after if after[k]["status"] != before[k]["status"]}
    shown = {
        (tier, f["unit"], f["month"])
        for tier, t in change["tiers"].items()
        for f in t["status_flips"]
    }
    assert shown == flips and flips
    assert report["status_flips"] == len(flips)
    assert cascade_preview["result"].returncode == 1
    # the pages of the units whose target moves would change, and the catalog page
    assert "catalog.html" in report["pages"]
    assert len(report["pages"]) > len({(k[0], k[1]) for k in flips})


def test_preview_of_a_cascade_edit_scores_what_the_run_publishes(cascade_preview):
    """claims_auto_rate is scored against each unit's own target: the previewed scores and
    grades are the run's."""
    report = cascade_preview["report"]
    before, after = cascade_preview["scores_before"], cascade_preview["scores_after"]
    previewed = previewed_scores(report)
    assert previewed.keys() == after.keys() == before.keys()
    for key, row in previewed.items():
        assert same_score(row["new"], after[key][0], 1e-9), key
        assert row["new_grade"] == after[key][1], key
    moved = {k for k in after if not same_score(after[k][0], before[k][0], 0)}
    assert sum(t["changed"] for t in report["scores"]["tiers"].values()) == len(moved) > 0
    assert report["profile_changes"] == [] and report["tree_changes"] == []


OPERATIONS = "models/owners/operations/_operations__metrics.yml"
PROFILES = "models/marts/scorecards/_scorecards__profiles.yml"
TREE = "models/owners/transformation/_transformation__models.yml"
CENTER_METRIC = "task_sla_rate"  # scored at the centers against the centers' tier target
# every grade boundary of the functional units' profiles 5 points lower
NEW_BANDS = [
    {"grade": "AAA", "from": 85, "to": 100},
    {"grade": "AA", "from": 75, "to": 85},
    {"grade": "A", "from": 65, "to": 75},
    {"grade": "B", "from": 55, "to": 65},
    {"grade": "C", "from": 0, "to": 55},
]


def grade_of(score: float, bands: list[dict]) -> str:
    """The grade of a score: `from` included, `to` excluded but 100 (README)."""
    return next(
        b["grade"] for b in bands if b["from"] <= score < b["to"] or score == b["to"] == 100
    )


def edit_yaml(path: Path, edit) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def test_preview_of_a_tier_target_grade_bands_and_a_tree_link(built, tmp_path):
    """Three edits no KPI value follows: the centers' own target of one metric (statuses flip
    at the centers only), the grade bands of the functional units' profiles (grades change,
    scores do not) and one more driver link in the indicator tree. One preview shows all three;
    the expected statuses and grades are recomputed here from the published values."""
    ws = copy_workspace(built, tmp_path / "ws")
    project = copy_project(tmp_path)
    before = kpi_rows(ws.warehouse, CENTER_METRIC)
    centers = sorted(r["value"] for k, r in before.items() if k[0] == "center")
    target, red = centers[len(centers) // 2], centers[len(centers) // 4]

    def center_target(doc: dict) -> None:
        metric = next(m for m in doc["metrics"] if m["name"] == CENTER_METRIC)
        metric["config"]["meta"]["targets"]["center"] = {"target": target, "red_threshold": red}

    def bands(doc: dict) -> None:
        for profile in doc["models"][0]["config"]["meta"]["scorecards"]["profiles"]:
            if profile["unit_type"] == "functional_unit":
                profile["bands"] = NEW_BANDS

    def driver(doc: dict) -> None:
        model = next(m for m in doc["models"] if m["name"] == "dim_indicator_tree")
        model["config"]["meta"]["indicator_tree"]["drivers"].append(
            {"parent": "nps", "child": "claims_cycle_time_days", "direction": "decreases"}
        )

    edit_yaml(project / OPERATIONS, center_target)
    edit_yaml(project / PROFILES, bands)
    edit_yaml(project / TREE, driver)
    unchanged = digests(ws.root)
    result = preview_cli(ws, project, tmp_path / "report" / "preview.html")
    assert digests(ws.root) == unchanged
    report = json.loads(result.stdout)

    # the target: one tier named, the other tiers' targets as they were
    [change] = report["metrics"]
    assert change["metric_name"] == CENTER_METRIC and change["parts"] == ["targets"]
    assert change["details"] == {"targets": {"center": {"old": [0.92, 0.88], "new": [target, red]}}}
    assert change["new_version"] == change["old_version"]
    expected = {
        k
        for k, r in before.items()
        if k[0] == "center" and status_of(r["value"], target, red) != r["status"]
    }
    shown = {
        (tier, f["unit"], f["month"])
        for tier, t in change["tiers"].items()
        for f in t["status_flips"]
    }
    assert shown == expected and expected
    assert report["status_flips"] == len(expected) and result.returncode == 1
    for row in change["values"]:
        key = (row["tier"], row["unit"], row["month"])
        assert row["new"] == row["old"] == pytest.approx(before[key]["value"], rel=1e-12)
        if row["tier"] == "center":
            assert (row["new_target"], row["new_status"]) == (
                target,
                status_of(row["new"], target, red),
            )
        else:  # the cascaded targets of the functional units do not move
            assert row["new_target"] == pytest.approx(row["old_target"], rel=1e-12), key
            assert row["new_status"] == row["old_status"], key

    # the bands: every functional profile's rows name the new bands; the centers' do not move
    profiles = report["profile_changes"]
    assert profiles and all(c["change"] == "changed" for c in profiles)
    assert all(set(c["columns"]) == {"grade_bands"} for c in profiles)
    assert not any(c["key"].startswith("center_service") for c in profiles)
    assert profiles[0]["columns"]["grade_bands"]["new"] == (
        "AAA:85-100, AA:75-85, A:65-75, B:55-65, C:0-55"
    )
    # the functional units keep their scores and take the grades of the new bands
    scores_before = published_scores(ws.warehouse)
    regraded = set()
    for key, row in previewed_scores(report).items():
        if key[0] == "center" or row["old"] is None:
            continue
        assert same_score(row["new"], row["old"], 1e-12), key
        assert row["new_grade"] == grade_of(scores_before[key][0], NEW_BANDS), key
        if row["new_grade"] != scores_before[key][1]:
            regraded.add(key)
    shown = {
        (t, g["unit"], g["month"])
        for t, r in report["scores"]["tiers"].items()
        for g in r["grade_changes"]
        if t != "center"
    }
    assert shown == regraded and regraded

    # the tree: one link added, nothing else
    assert report["tree_changes"] == [
        {"key": "nps / claims_cycle_time_days / driver", "change": "added"}
    ]
