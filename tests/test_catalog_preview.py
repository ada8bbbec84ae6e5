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
