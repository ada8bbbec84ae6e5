"""Scoped builds: a manager's pack holds its unit's subtree and nothing about any other unit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboards import build_site
from tests.dashboards.conftest import BUILT_AT
from tests.dashboards.synthetic import ALL_UNITS

PLOTLY_JS = Path("assets/plotly.min.js")


def site_files(site_dir: Path) -> list[Path]:
    """Every file of the site but the shared plotly.js (a library, no data)."""
    return [p for p in site_dir.rglob("*") if p.is_file() and p.relative_to(site_dir) != PLOTLY_JS]


def mentions(content: str, code: str) -> bool:
    """True when `code` appears as a whole code (or page slug), any case.

    "LIF" inside "LIF-JS" is the scoped branch's own code, not a mention of the subsidiary.
    """
    return (
        re.search(rf"(?<![A-Za-z0-9_-]){re.escape(code)}(?![A-Za-z0-9_-])", content, re.I)
        is not None
    )


def leaks(site_dir: Path, inside: set[str]) -> list[tuple[str, str]]:
    """(file, code or name) for every other unit's code or name found in the site's files."""
    others = [(code, name) for _, code, name in ALL_UNITS if code not in inside]
    found = []
    for path in site_files(site_dir):
        content = path.read_text(encoding="utf-8")
        for code, name in others:
            if mentions(content, code):
                found.append((path.name, code))
            if name in content:
                found.append((path.name, name))
    return found


@pytest.fixture(scope="module")
def branch_pack(tmp_path_factory: pytest.TempPathFactory, synthetic_warehouse: Path) -> Path:
    site_dir = tmp_path_factory.mktemp("pack") / "site"
    build_site(synthetic_warehouse, site_dir, org="LIF-JS", built_at=BUILT_AT)
    return site_dir


def test_mentions_matches_whole_codes_and_slugs_only() -> None:
    assert mentions("see branch/lif-sh.html", "LIF-SH")
    assert mentions('"c":"LIF"', "LIF")
    assert not mentions("LIF-JS-01", "LIF")
    assert not mentions("LIF-JS-01", "LIF-JS-0")


def test_scoped_build_holds_only_the_subtree(branch_pack: Path) -> None:
    pages = sorted(p.relative_to(branch_pack).as_posix() for p in branch_pack.rglob("*.html"))
    assert pages == [
        "catalog.html",
        "index.html",
        "quality.html",
        "sub_branch/lif-js-01.html",
        "sub_branch/lif-js-02.html",
    ]
    index = (branch_pack / "index.html").read_text(encoding="utf-8")
    assert "Jiangsu Branch" in index and 'data-org-code="LIF-JS"' in index


def test_scoped_build_has_no_other_units_code_or_name_anywhere(branch_pack: Path) -> None:
    # The moved LIF-JS-03 belonged to LIF-JS until 2026-03: it is another branch's unit now.
    assert leaks(branch_pack, {"LIF-JS", "LIF-JS-01", "LIF-JS-02"}) == []


def test_scoped_build_shows_no_kpi_held_at_another_unit(branch_pack: Path) -> None:
    """The synthetic warehouse holds a KPI back at PNC-BJ-01: not this pack's concern."""
    for path in branch_pack.rglob("*.html"):
        content = path.read_text(encoding="utf-8")
        assert "notice--held-kpi" not in content and 'id="held-kpis"' not in content, path


def test_scoped_leak_check_would_catch_a_full_build(synthetic_site) -> None:
    site_dir, _ = synthetic_site
    assert ("index.html", "PNC") in leaks(site_dir, {"LIF-JS", "LIF-JS-01", "LIF-JS-02"})


def test_scoped_build_breadcrumbs_start_at_the_scoped_unit(branch_pack: Path) -> None:
    page = (branch_pack / "sub_branch" / "lif-js-01.html").read_text(encoding="utf-8")
    crumbs = re.search(r'<ol class="crumbs".*?</ol>', page, re.S).group(0)
    assert re.findall(r'data-code="([^"]+)"', crumbs) == ["LIF-JS"]
    assert 'href="../index.html"' in crumbs


def test_scoped_build_keeps_rankings_inside_the_pack(branch_pack: Path) -> None:
    index = (branch_pack / "index.html").read_text(encoding="utf-8")
    assert "among" not in index  # the root's siblings are other units: no such ranking
    assert 'data-rank-metric="claims_cycle_time_days"' in index  # its children are ranked
    sub = (branch_pack / "sub_branch" / "lif-js-02.html").read_text(encoding="utf-8")
    assert "among Jiangsu Branch sub-branches" in sub


def test_scoped_build_of_a_center_is_its_page_only(
    synthetic_warehouse: Path, tmp_path: Path
) -> None:
    site_dir = tmp_path / "site"
    build_site(synthetic_warehouse, site_dir, org="C-CC", built_at=BUILT_AT)
    assert sorted(p.name for p in site_dir.rglob("*.html")) == [
        "catalog.html",
        "index.html",
        "quality.html",
    ]
    assert leaks(site_dir, {"C-CC"}) == []


def test_scoped_build_over_a_full_build_removes_other_units(
    synthetic_warehouse: Path, tmp_path: Path
) -> None:
    site_dir = tmp_path / "site"
    build_site(synthetic_warehouse, site_dir, built_at=BUILT_AT)
    build_site(synthetic_warehouse, site_dir, org="PNC", built_at=BUILT_AT)
    assert leaks(site_dir, {"PNC", "PNC-BJ", "PNC-BJ-01", "PNC-BJ-02"}) == []


def test_scoped_build_unknown_org_names_the_code(synthetic_warehouse: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'XX-99'"):
        build_site(synthetic_warehouse, tmp_path / "site", org="XX-99")
    assert not (tmp_path / "site").exists()
