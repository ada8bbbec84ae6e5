"""A site build writes only into a folder it owns, and deletes only what it wrote there."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

import dashboards.site
from dashboards import build_site
from dashboards.site_folder import (
    FULL,
    MARKER,
    PACK,
    SiteFolderError,
    SiteMark,
    claim,
    read_mark,
    stale_pages,
)
from tests.dashboards.conftest import BUILT_AT

# A folder someone else filled: data, a hand-made page, a nested folder with a page in it.
FOREIGN = {
    "claims_2026-10.csv": "claim_id,org_code\n1,LIF-JS\n",
    "report.html": "<html>the finance team's report</html>",
    "archive/2025/index.html": "<html>last year's pages</html>",
}


def fill(folder: Path, files: dict[str, str]) -> dict[Path, bytes]:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return snapshot(folder)


def snapshot(folder: Path) -> dict[Path, bytes]:
    """Every file under `folder` with its bytes."""
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_claim_accepts_a_new_or_empty_folder(tmp_path: Path) -> None:
    assert claim(tmp_path / "new", SiteMark(FULL)) is None
    (tmp_path / "empty").mkdir()
    assert claim(tmp_path / "empty", SiteMark(PACK, "LIF-JS")) is None


def test_claim_refuses_foreign_files_naming_the_folder_and_a_few_of_them(tmp_path: Path) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    fill(folder, FOREIGN)
    with pytest.raises(SiteFolderError) as refused:
        claim(folder, SiteMark(FULL))
    message = str(refused.value)
    assert str(folder) in message and MARKER in message
    assert "archive/, claims_2026-10.csv, report.html" in message
    fill(folder, {f"extra-{i}.csv": "x" for i in range(4)})
    with pytest.raises(SiteFolderError, match=r"and 2 more\."):
        claim(folder, SiteMark(FULL))


def test_claim_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "site").write_text("a file", encoding="utf-8")
    with pytest.raises(SiteFolderError, match="not a folder"):
        claim(tmp_path / "site", SiteMark(FULL))


@pytest.mark.parametrize(
    ("built", "wanted", "allowed"),
    [
        (SiteMark(FULL), SiteMark(FULL), True),
        (SiteMark(PACK, "LIF-JS"), SiteMark(PACK, "LIF-JS"), True),
        (SiteMark(FULL), SiteMark(PACK, "LIF-JS"), False),
        (SiteMark(PACK, "LIF-JS"), SiteMark(FULL), False),
        (SiteMark(PACK, "LIF-JS"), SiteMark(PACK, "LIF-SH"), False),
    ],
)
def test_claim_keeps_a_folder_to_its_scope(
    tmp_path: Path, built: SiteMark, wanted: SiteMark, allowed: bool
) -> None:
    (tmp_path / MARKER).write_text(json.dumps({"kind": built.kind, "org": built.org, "pages": []}))
    if allowed:
        assert claim(tmp_path, wanted) == SiteMark(built.kind, built.org, ())
    else:
        with pytest.raises(SiteFolderError, match=f"it holds {built.describe()}"):
            claim(tmp_path, wanted)


@pytest.mark.parametrize(
    "marker",
    [
        "not json",
        '{"org": null}',
        '{"kind": "other", "pages": []}',
        '{"kind": "full", "pages": ["../../etc/passwd.html"]}',
        '{"kind": "full", "pages": ["/abs/index.html"]}',
        '{"kind": "full", "pages": ["data.csv"]}',
    ],
)
def test_read_mark_refuses_a_marker_it_did_not_write(tmp_path: Path, marker: str) -> None:
    (tmp_path / MARKER).write_text(marker, encoding="utf-8")
    with pytest.raises(SiteFolderError, match="not a marker"):
        read_mark(tmp_path)


def test_stale_pages_are_only_pages_the_last_build_listed(tmp_path: Path) -> None:
    fill(tmp_path, {"index.html": "", "branch/a.html": "", "branch/b.html": "", "x.html": ""})
    previous = SiteMark(FULL, None, ("index.html", "branch/a.html", "branch/b.html"))
    assert stale_pages(tmp_path, previous, ["index.html", "branch/a.html"]) == [
        tmp_path / "branch/b.html"
    ]
    assert stale_pages(tmp_path, None, ["index.html"]) == []
    # a live site adopted from before the marker: the HTML of the page folders
    adopted = SiteMark(FULL)
    assert stale_pages(tmp_path, adopted, ["index.html"]) == [
        tmp_path / "branch/a.html",
        tmp_path / "branch/b.html",
        tmp_path / "x.html",
    ]


def test_build_site_refuses_a_folder_of_foreign_files_and_writes_nothing(
    synthetic_warehouse: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    before = fill(folder, FOREIGN)
    for org in (None, "LIF-JS"):
        with pytest.raises(SiteFolderError, match="refusing to build the site into"):
            build_site(synthetic_warehouse, folder, org=org, built_at=BUILT_AT)
        assert snapshot(folder) == before
        assert sorted(p.name for p in folder.iterdir()) == [
            "archive",
            "claims_2026-10.csv",
            "report.html",
        ]


def test_build_site_marks_its_folder_with_kind_and_pages(
    synthetic_warehouse: Path, tmp_path: Path
) -> None:
    full = build_site(synthetic_warehouse, tmp_path / "full", built_at=BUILT_AT)
    mark = read_mark(tmp_path / "full")
    assert (mark.kind, mark.org) == (FULL, None)
    assert set(mark.pages) == {p.relative_to(tmp_path / "full").as_posix() for p in full.pages}
    build_site(synthetic_warehouse, tmp_path / "pack", org="LIF-JS", built_at=BUILT_AT)
    pack = read_mark(tmp_path / "pack")
    assert (pack.kind, pack.org) == (PACK, "LIF-JS")
    assert "sub_branch/lif-js-01.html" in pack.pages and "branch/lif-sh.html" not in pack.pages


def test_build_site_reuses_its_own_folder_for_the_same_scope(
    synthetic_warehouse: Path, tmp_path: Path
) -> None:
    for org in (None, "LIF-JS"):
        folder = tmp_path / (org or "full")
        first = build_site(synthetic_warehouse, folder, org=org, built_at=BUILT_AT)
        again = build_site(synthetic_warehouse, folder, org=org, built_at=BUILT_AT)
        assert again.pages == first.pages and again.pages_written == [] and again.removed == []


def test_build_site_pack_folder_refuses_another_org(
    synthetic_warehouse: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "pack"
    build_site(synthetic_warehouse, folder, org="LIF-JS", built_at=BUILT_AT)
    before = snapshot(folder)
    with pytest.raises(SiteFolderError, match="a pack for LIF-SH into .* a pack for LIF-JS"):
        build_site(synthetic_warehouse, folder, org="LIF-SH", built_at=BUILT_AT)
    assert snapshot(folder) == before


def test_build_site_that_dies_half_way_has_listed_every_page_it_may_have_written(
    synthetic_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The marker lists a build's pages before they are written: a rerun can still clean up."""
    warehouse = Path(shutil.copy(synthetic_warehouse, tmp_path / "copy.duckdb"))
    folder = tmp_path / "pack"
    with duckdb.connect(str(warehouse)) as con:  # LIF-JS-02 opens after the first build
        con.execute("update marts.dim_org set is_current = false where org_code = 'LIF-JS-02'")
    build_site(warehouse, folder, org="LIF-JS", built_at=BUILT_AT)
    assert "sub_branch/lif-js-02.html" not in read_mark(folder).pages
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update marts.dim_org set is_current = true where org_code = 'LIF-JS-02'")
    written: list[str] = []
    real_write_page = dashboards.site.write_page

    def dies_after_the_new_page(path: Path, digest: str, data: bytes) -> bool:
        if "sub_branch/lif-js-02.html" in written:
            raise OSError("disk full")
        written.append(path.relative_to(folder).as_posix())
        return real_write_page(path, digest, data)

    monkeypatch.setattr(dashboards.site, "write_page", dies_after_the_new_page)
    with pytest.raises(OSError, match="disk full"):
        build_site(warehouse, folder, org="LIF-JS", built_at=BUILT_AT)
    assert (folder / "sub_branch/lif-js-02.html").is_file()
    assert set(written) <= set(read_mark(folder).pages)
