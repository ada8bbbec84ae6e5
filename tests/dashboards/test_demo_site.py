"""The site the pipeline's `site` asset builds from a real (tiny) demo warehouse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dashboards.site import MAX_PAGE_BYTES, page_relpath
from tests.dashboards.conftest import CHROMIUM, LAUNCH_ARGS

pytestmark = pytest.mark.slow
RENDERED_PLOTS = (
    "Array.from(document.querySelectorAll('.js-plotly-plot'))"
    ".filter(d => d.querySelector('svg.main-svg')).length"
)
# Every figure container of the page has been drawn into.
FIGURES = "[data-spark], #compare-chart, #bridge-chart"
ALL_DRAWN = f"{RENDERED_PLOTS} === document.querySelectorAll('{FIGURES}').length"


def demo_units(warehouse: Path) -> list[tuple[str, str]]:
    """(level, code) of every current org unit and every center of the demo warehouse."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            """
            select distinct org_level, org_code from marts.dim_org where valid_to is null
            union
            select 'center', center_code from marts.dim_centers
            """
        ).fetchall()


def test_demo_site_has_a_page_for_every_unit_of_every_tier(built) -> None:
    units = demo_units(built.warehouse)
    assert {level for level, _ in units} == {
        "group",
        "subsidiary",
        "branch",
        "sub_branch",
        "center",
    }
    for level, code in units:
        page = built.site_dir / page_relpath(level, code)
        assert page.is_file(), code
        assert page.stat().st_size < MAX_PAGE_BYTES
    assert (built.site_dir / "catalog.html").is_file()
    assert (built.site_dir / "quality.html").is_file()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
def test_demo_site_one_page_per_tier_renders_in_a_browser(built) -> None:
    from playwright.sync_api import sync_playwright

    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        samples = con.execute(
            """
            with sample as (
                select org_level, min(org_code) as org_code
                from marts.fct_kpi_values
                group by org_level
            )
            select sample.org_level, sample.org_code, count(distinct kpis.metric_name)
            from sample
            inner join marts.fct_kpi_values as kpis
                on sample.org_level = kpis.org_level and sample.org_code = kpis.org_code
            inner join marts.dim_metric_catalog as catalog
                on kpis.metric_name = catalog.metric_name
            where catalog.is_kpi
            group by all
            """
        ).fetchall()
        # units with a value bridge (fct_value_created): one more chart on their page
        bridged = set(
            con.execute(
                "select distinct org_level, org_code from marts.fct_value_created"
            ).fetchall()
        )
    assert len(samples) == 5
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            for level, code, metrics in samples:
                errors: list[str] = []
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else 0)
                page.on("pageerror", lambda exc, e=errors: e.append(str(exc)))
                page.goto((built.site_dir / page_relpath(level, code)).as_uri())
                page.wait_for_function(ALL_DRAWN, timeout=30_000)
                # a sparkline per KPI tile, the drill-down chart and the value bridge
                plots = metrics + 1 + ((level, code) in bridged)
                assert page.evaluate(RENDERED_PLOTS) == plots, code
                assert errors == [], code
                page.close()
        finally:
            browser.close()
