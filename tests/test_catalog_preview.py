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
    run = run_with_project(ws, project)
    assert run.returncode == 0, run.stderr[-3000:]
    return {
        "result": result,
        "report": json.loads(result.stdout) if result.stdout.strip().startswith("{") else None,
        "unchanged": before == after_preview,
        "published_before": published_before,
        "published_after": published_kpis(ws.warehouse, EDITED),
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
