"""Scoped builds: a manager's pack holds its unit's subtree and nothing about any other unit."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from dashboards import build_site
from dashboards.formatting import format_count, format_value
from dashboards.site_folder import SiteFolderError
from tests.dashboards.conftest import BUILT_AT
from tests.dashboards.reading import number, waterfalls
from tests.dashboards.synthetic import ALL_UNITS, HELD_SOURCE, LATEST

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
        "league/branch.html",  # the pack's own units only: test_scoped_league_*
        "league/sub-branch.html",
        "quality.html",
        "sub_branch/lif-js-01.html",
        "sub_branch/lif-js-02.html",
    ]
    index = (branch_pack / "index.html").read_text(encoding="utf-8")
    assert "Jiangsu Branch" in index and 'data-org-code="LIF-JS"' in index


def test_scoped_build_has_no_other_units_code_or_name_anywhere(branch_pack: Path) -> None:
    # The moved LIF-JS-03 belonged to LIF-JS until 2026-03: it is another branch's unit now.
    assert leaks(branch_pack, {"LIF-JS", "LIF-JS-01", "LIF-JS-02"}) == []
    assert byte_leaks(branch_pack, {"LIF-JS", "LIF-JS-01", "LIF-JS-02"}) == []


def test_scoped_build_shows_no_kpi_held_at_another_unit(branch_pack: Path) -> None:
    """The synthetic warehouse holds a KPI back at PNC-BJ-01: not this pack's concern."""
    for path in branch_pack.rglob("*.html"):
        content = path.read_text(encoding="utf-8")
        assert "notice--held-kpi" not in content and 'id="held-kpis"' not in content, path


def test_scoped_leak_check_would_catch_a_full_build(synthetic_site) -> None:
    site_dir, _ = synthetic_site
    assert ("index.html", "PNC") in leaks(site_dir, {"LIF-JS", "LIF-JS-01", "LIF-JS-02"})


def moved_unit_contributions(warehouse: Path) -> dict[str, float]:
    """LIF-JS-03's contribution to LIF-JS's year-on-year change, per metric, in the mart: it
    was LIF-JS's a year before the latest month and is LIF-SH's now."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            """
            select metric_name, contribution from marts.fct_kpi_attribution
            where org_code = 'LIF-JS' and child_code = 'LIF-JS-03' and comparison = 'yoy'
                and period_start = ?
            """,
            [LATEST],
        ).fetchall()
    return dict(rows)


def test_scoped_attribution_sums_outside_units_into_one_nameless_rest(
    branch_pack: Path, synthetic_warehouse: Path
) -> None:
    moved = moved_unit_contributions(synthetic_warehouse)
    assert moved  # the fixture's reorganisation is in the mart
    index = (branch_pack / "index.html").read_text(encoding="utf-8")
    for wf in (w for w in waterfalls(index) if not w.inputs):
        outside = [r for r in wf.rows if r["kind"] == "outside"]
        assert all("data-code" not in r for r in outside)
        if wf.comparison == "yoy" and wf.metric in moved:
            assert [number(r["data-contribution"]) for r in outside] == [moved[wf.metric]]
        else:
            assert outside == []
        total = sum(number(r["data-contribution"]) or 0.0 for r in wf.rows)
        assert total == pytest.approx(wf.parent_change, abs=1e-9)
    assert "Rest of Jiangsu Branch: units outside this pack" in index
    assert leaks(branch_pack, {"LIF-JS", "LIF-JS-01", "LIF-JS-02"}) == []


def test_full_site_names_the_moved_unit_in_its_old_parents_attribution(synthetic_site) -> None:
    """The same breakdown in the group's own site: LIF-JS-03 by name, so the pack's check bites."""
    site_dir, _ = synthetic_site
    page = (site_dir / "branch" / "lif-js.html").read_text(encoding="utf-8")
    rows = [r for wf in waterfalls(page) if wf.comparison == "yoy" for r in wf.rows]
    assert any(r.get("data-code") == "LIF-JS-03" for r in rows)
    assert not any(r["kind"] == "outside" for r in rows)
    assert ("lif-js.html", "LIF-JS-03") in leaks(site_dir / "branch", {"LIF-JS"})


def test_scoped_build_breadcrumbs_start_at_the_scoped_unit(branch_pack: Path) -> None:
    page = (branch_pack / "sub_branch" / "lif-js-01.html").read_text(encoding="utf-8")
    crumbs = re.search(r'<ol class="crumbs".*?</ol>', page, re.S).group(0)
    assert re.findall(r'data-code="([^"]+)"', crumbs) == ["LIF-JS"]
    assert 'href="../index.html"' in crumbs


def test_scoped_build_keeps_rankings_inside_the_pack(branch_pack: Path) -> None:
    index = (branch_pack / "index.html").read_text(encoding="utf-8")
    compare = re.search(r'<section class="panel compare".*?</section>', index, re.S).group(0)
    assert "among" not in compare  # the root's siblings are other units: no such ranking
    assert 'data-rank-metric="claims_cycle_time_days"' in index  # its children are ranked
    sub = (branch_pack / "sub_branch" / "lif-js-02.html").read_text(encoding="utf-8")
    assert "among Jiangsu Branch sub-branches" in sub


def test_scoped_build_of_a_center_is_its_page_only(
    synthetic_warehouse: Path, tmp_path: Path
) -> None:
    site_dir = tmp_path / "site"
    build_site(synthetic_warehouse, site_dir, org="C-CC", built_at=BUILT_AT)
    assert sorted(p.relative_to(site_dir).as_posix() for p in site_dir.rglob("*.html")) == [
        "catalog.html",
        "index.html",
        "league/center.html",
        "quality.html",
    ]
    assert leaks(site_dir, {"C-CC"}) == []


def test_scoped_build_refuses_a_full_site_folder(synthetic_warehouse: Path, tmp_path: Path) -> None:
    """A pack never replaces the group's site (a copy of the live one may be served)."""
    site_dir = tmp_path / "site"
    build_site(synthetic_warehouse, site_dir, built_at=BUILT_AT)
    before = {p: p.read_bytes() for p in site_dir.rglob("*") if p.is_file()}
    with pytest.raises(SiteFolderError, match="refusing to build a pack for PNC into .* the full"):
        build_site(synthetic_warehouse, site_dir, org="PNC", built_at=BUILT_AT)
    assert {p: p.read_bytes() for p in site_dir.rglob("*") if p.is_file()} == before


def test_scoped_build_unknown_org_names_the_code(synthetic_warehouse: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'XX-99'"):
        build_site(synthetic_warehouse, tmp_path / "site", org="XX-99")
    assert not (tmp_path / "site").exists()


def names_code(content: str, code: str) -> bool:
    """True when `code` appears in `content` delimited as a code, in a file name too.

    Stricter than `mentions`: "claims_LIF-SH_2026-10.csv" names LIF-SH ("_" delimits it), while
    "LIF" inside "LIF-JS" and "LIF-JS-0" inside "LIF-JS-01" are still no mention.
    """
    pattern = rf"(?<![A-Za-z0-9-]){re.escape(code)}(?![A-Za-z0-9]|-[A-Za-z0-9])"
    return re.search(pattern, content, re.I) is not None


def byte_leaks(site_dir: Path, inside: set[str]) -> list[tuple[str, str]]:
    """(file, code) for every other unit whose code or name is in the bytes of any file."""
    found = []
    for path in sorted(p for p in site_dir.rglob("*") if p.is_file()):
        content = path.read_bytes().decode("utf-8", errors="replace")
        for _, code, name in ALL_UNITS:
            if code not in inside and (names_code(content, code) or name in content):
                found.append((path.relative_to(site_dir).as_posix(), code))
    return found


def test_names_code_finds_codes_in_file_names_only_whole() -> None:
    assert names_code("claims_LIF-SH_2026-10.csv", "LIF-SH")
    assert names_code("see branch/lif-sh.html", "LIF-SH")
    assert names_code("(LIF-SH-01)", "LIF-SH-01")
    assert not names_code("LIF-JS-01", "LIF")
    assert not names_code("LIF-JS-01", "LIF-JS-0")
    assert not names_code("LIF-JS-01", "LIF-JS")


# Gate and quality records naming units outside LIF-JS, as delivered file names and the gate's
# messages do: a claims file of the Shanghai branch held at the gate, rules that quote org codes.
LEAKY_GATES = {
    "claims": (
        "claims_LIF-SH_2026-10.csv",
        "claims_LIF-SH_2026-10.csv: 12 rows name org PNC-BJ-01 (Chaoyang Office), unknown",
    ),
    HELD_SOURCE: (
        "contacts_C-CC_Contact Center_2026-10.csv",
        "contacts_C-CC_Contact Center_2026-10.csv: rows down 60% at Pudong Office (LIF-SH-01)",
    ),
}
LEAKY_RULES = '{"known_org:LIF-SH-01": 7, "Haidian Office": 2, "GRP total": 1}'
LEAKY_STALE = "held source claims: claims_LIF-SH_2026-10.csv (Shanghai Branch, Harbour Property)"


@pytest.fixture(scope="module")
def leaky_warehouse(tmp_path_factory: pytest.TempPathFactory, synthetic_warehouse: Path) -> Path:
    warehouse = Path(
        shutil.copy(synthetic_warehouse, tmp_path_factory.mktemp("leaky") / "w.duckdb")
    )
    with duckdb.connect(str(warehouse)) as con:
        for source, (last_file, reason) in LEAKY_GATES.items():
            con.execute(
                """
                update meta.source_gate_state
                set state = 'held', check_name = 'known_org', since = timestamp '2026-11-01',
                    last_file = ?, reason = ?
                where source = ?
                """,
                [last_file, reason, source],
            )
        con.execute(
            "update marts.data_quality_scorecard set rows_quarantined_by_rule = ?", [LEAKY_RULES]
        )
        con.execute("drop table meta.stale_metrics")
        con.execute("create table meta.stale_metrics (metric_name varchar, reason varchar)")
        con.executemany(
            "insert into meta.stale_metrics values (?, ?)",
            [("claims_auto_rate", LEAKY_STALE), ("service_level_20s", LEAKY_STALE)],
        )
    return warehouse


def test_leaky_warehouse_full_site_shows_the_gate_reasons(
    leaky_warehouse: Path, tmp_path: Path
) -> None:
    """The group's own site keeps every detail; the same check finds them in it."""
    site_dir = tmp_path / "site"
    build_site(leaky_warehouse, site_dir, built_at=BUILT_AT)
    quality = (site_dir / "quality.html").read_text(encoding="utf-8")
    assert "claims_LIF-SH_2026-10.csv" in quality and "known_org:LIF-SH-01: 7" in quality
    assert ("quality.html", "LIF-SH") in byte_leaks(site_dir, {"LIF-JS", "LIF-JS-01", "LIF-JS-02"})
    assert ("quality.html", "PNC-BJ-02") in byte_leaks(site_dir, {"LIF-JS"})  # "Haidian Office"


@pytest.mark.parametrize(
    ("org", "inside"),
    [
        ("LIF-JS", {"LIF-JS", "LIF-JS-01", "LIF-JS-02"}),
        ("LIF", {"LIF", "LIF-JS", "LIF-SH", "LIF-JS-01", "LIF-JS-02", "LIF-JS-03", "LIF-SH-01"}),
        ("C-CLM", {"C-CLM"}),
    ],
)
def test_scoped_build_gate_and_quality_name_no_outside_unit(
    leaky_warehouse: Path, tmp_path: Path, org: str, inside: set[str]
) -> None:
    site_dir = tmp_path / "pack"
    build_site(leaky_warehouse, site_dir, org=org, built_at=BUILT_AT)
    assert byte_leaks(site_dir, inside) == []
    quality = (site_dir / "quality.html").read_text(encoding="utf-8")
    # the gates are still stated, without file names or the gate's free text
    assert 'data-source="claims" data-state="held"' in quality
    assert ".csv" not in quality and "known_org:" not in quality
    index = (site_dir / "index.html").read_text(encoding="utf-8")
    assert "claims held back by known_org since 2026-11-01 00:00" in index


def test_scoped_build_quality_page_has_no_group_totals(
    leaky_warehouse: Path, synthetic_warehouse: Path, tmp_path: Path
) -> None:
    site_dir = tmp_path / "pack"
    build_site(leaky_warehouse, site_dir, org="LIF-JS", built_at=BUILT_AT)
    quality = (site_dir / "quality.html").read_text(encoding="utf-8")
    with duckdb.connect(str(synthetic_warehouse), read_only=True) as con:
        rows = con.execute(
            "select rows_delivered, rows_loaded, rows_quarantined, pass_rate"
            " from marts.data_quality_scorecard"
        ).fetchall()
    figures = {format_count(n) for r in rows for n in r[:3] if n >= 1000}
    figures |= {format_value(r[3], "percent") for r in rows}
    assert sorted(f for f in figures if f in quality) == []
    assert "Rows delivered" not in quality and "Pass rate" not in quality
    assert "kept for the whole group, not per unit" in quality


# --- the value-management pages in a pack: its own units, peers counted, never named ---------


def league_codes(site_dir: Path, level: str) -> list[str]:
    content = (site_dir / "league" / f"{level}.html").read_text(encoding="utf-8")
    return re.findall(r'<tr data-code="([^"]+)" data-partial', content)


def test_scoped_league_tables_list_only_the_packs_units(branch_pack: Path, synthetic_site) -> None:
    full_site, _ = synthetic_site
    assert league_codes(branch_pack, "branch") == ["LIF-JS"]
    assert sorted(league_codes(branch_pack, "sub-branch")) == ["LIF-JS-01", "LIF-JS-02"]
    # the full site's table of the same tier holds the others: the cut is the pack's
    assert len(league_codes(full_site, "sub-branch")) == 6
    content = (branch_pack / "league" / "sub-branch.html").read_text(encoding="utf-8")
    assert "lists its own units only" in content


def test_scoped_league_shows_published_ranks_and_only_anonymous_statistics(
    branch_pack: Path, synthetic_warehouse: Path
) -> None:
    with duckdb.connect(str(synthetic_warehouse), read_only=True) as con:
        rank, scored = con.execute(
            """
            select
                max(rank_in_tier) filter (where org_code = 'LIF-JS-02'),
                count(rank_in_tier)
            from marts.fct_unit_scores
            where org_level = 'sub_branch' and period_start = date '2026-10-01'
            """
        ).fetchone()
        branches = con.execute(
            "select count(score) from marts.fct_unit_scores"
            " where org_level = 'branch' and period_start = date '2026-10-01'"
        ).fetchone()[0]
    sub = (branch_pack / "league" / "sub-branch.html").read_text(encoding="utf-8")
    row = re.search(r'<tr data-code="LIF-JS-02".*?</tr>', sub, re.S).group(0)
    assert f">{rank} / {scored}</td>" in row  # the published rank among all sub-branches
    assert scored >= 5 and "data-median" in sub  # enough units: the tier's middle, unnamed
    branch = (branch_pack / "league" / "branch.html").read_text(encoding="utf-8")
    assert branches < 5 and "data-median" not in branch  # too few to hide any one of them
    assert f"{branches} branches scored" in branch


def test_scoped_score_header_ranks_the_branch_without_naming_its_peers(
    branch_pack: Path, synthetic_warehouse: Path
) -> None:
    with duckdb.connect(str(synthetic_warehouse), read_only=True) as con:
        rank, siblings = con.execute(
            """
            select
                max(rank_in_siblings) filter (where org_code = 'LIF-JS'),
                count(rank_in_siblings) filter (where parent_code = 'LIF')
            from marts.fct_unit_scores
            where org_level = 'branch' and period_start = date '2026-10-01'
            """
        ).fetchone()
    index = (branch_pack / "index.html").read_text(encoding="utf-8")
    header = re.search(r'<section class="panel scorehead".*?</section>', index, re.S).group(0)
    assert f'data-rank-siblings="{rank}"' in header
    assert f"{rank} of {siblings} branches under the same parent" in header
    assert "Harbour Life" not in header  # the parent is outside the pack
