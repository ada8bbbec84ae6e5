"""Fixtures of the dashboard tests: a synthetic warehouse and the site built from it, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboards import SiteResult, build_site
from tests.dashboards.synthetic import build_hostile_warehouse, build_warehouse

BUILT_AT = datetime(2026, 11, 2, 7, 30, tzinfo=UTC)
# The browser tests' chromium: Debian's, never a download.
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def synthetic_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full-interface warehouse; read-only for the tests (copy it to change it)."""
    return build_warehouse(tmp_path_factory.mktemp("warehouse") / "opsvalue.duckdb")


@pytest.fixture(scope="session")
def synthetic_site(
    tmp_path_factory: pytest.TempPathFactory, synthetic_warehouse: Path
) -> tuple[Path, SiteResult]:
    """The full site built once from the synthetic warehouse; tests must not change it."""
    site_dir = tmp_path_factory.mktemp("site") / "site"
    return site_dir, build_site(synthetic_warehouse, site_dir, built_at=BUILT_AT)


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SiteResult]:
    """The full site of a warehouse whose names, labels and sources carry markup payloads."""
    root = tmp_path_factory.mktemp("hostile")
    warehouse = build_hostile_warehouse(root / "opsvalue.duckdb")
    return root / "site", build_site(warehouse, root / "site", built_at=BUILT_AT)


# One chromium per test module (the browser test files use it by this name).
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        yield chromium
        chromium.close()
