"""The live site is a link swapped in one rename; a half-built version never shows."""

from __future__ import annotations

import os
import shutil

from dashboards import build_site, publish_site, site_version
from dashboards.site import live_site_role, versions_dir
from dashboards.site_folder import FULL, MARKER, PACK, SiteMark, read_mark, write_mark


def test_publish_site_swaps_the_link_and_keeps_two_versions(synthetic_warehouse, tmp_path):
    site = tmp_path / "site"
    publish_site(synthetic_warehouse, site, "v1")
    first = os.readlink(site)
    assert site.is_symlink() and (site / "index.html").is_file()
    assert site_version(site) == "v1"

    crashed = tmp_path / "site.versions" / "20000101T000000-dead00"
    crashed.mkdir()
    (crashed / "index.html").write_text("half", encoding="utf-8")
    publish_site(synthetic_warehouse, site, "v2")
    second = os.readlink(site)
    assert second != first and site_version(site) == "v2"
    # unchanged pages are shared with the previous version (hard links), not rewritten
    assert (site / "index.html").stat().st_ino == (tmp_path / first / "index.html").stat().st_ino

    publish_site(synthetic_warehouse, site, "v3")
    kept = sorted(p.name for p in (tmp_path / "site.versions").iterdir())
    assert kept == sorted([os.path.basename(second), os.path.basename(os.readlink(site))])


def test_publish_site_adopts_a_plain_folder_from_before(synthetic_warehouse, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "old.txt").write_text("kept until replaced", encoding="utf-8")
    publish_site(synthetic_warehouse, site, "v1")
    assert site.is_symlink() and (site / "index.html").is_file()


def test_site_version_only_for_a_full_site_build(synthetic_warehouse, tmp_path):
    site = tmp_path / "site"
    publish_site(synthetic_warehouse, site, "v1")
    assert site_version(site) == "v1"
    live = site.resolve()
    (live / MARKER).unlink()  # a live site from before markers: rebuilt once
    assert site_version(site) is None
    write_mark(live, SiteMark(PACK, "LIF-JS"))  # a pack built into it (by an older version)
    assert site_version(site) is None


def test_publish_site_repairs_a_live_site_a_pack_was_built_into(synthetic_warehouse, tmp_path):
    site = tmp_path / "site"
    publish_site(synthetic_warehouse, site, "v1")
    live = site.resolve()
    # what an older `opsvalue site --org LIF-JS --out data/site` left: the branch's pack
    pack = tmp_path / "pack"
    build_site(synthetic_warehouse, pack, org="LIF-JS")
    for path in list(live.rglob("*.html")):
        path.unlink()
    shutil.copytree(pack, live, dirs_exist_ok=True)
    assert 'data-org-code="LIF-JS"' in (site / "index.html").read_text(encoding="utf-8")
    assert site_version(site) is None  # so the pipeline's next run rebuilds the site

    publish_site(synthetic_warehouse, site, "v1")
    assert site_version(site) == "v1"
    assert 'data-org-code="GRP"' in (site / "index.html").read_text(encoding="utf-8")
    assert (site / "branch" / "lif-sh.html").is_file()
    assert read_mark(site).kind == FULL


def test_live_site_role_sees_the_live_site_through_any_path(synthetic_warehouse, tmp_path):
    site = tmp_path / "data" / "site"
    site.parent.mkdir()
    publish_site(synthetic_warehouse, site, "v1")
    first = site.resolve()
    publish_site(synthetic_warehouse, site, "v2")
    other_link = tmp_path / "shortcut"
    other_link.symlink_to(site)
    assert live_site_role(site, site) == "live"
    assert live_site_role(site.resolve(), site) == "live"  # the build the link points to
    assert live_site_role(other_link, site) == "live"
    assert live_site_role(first, site) == "versions"  # the build before
    assert live_site_role(versions_dir(site), site) == "versions"
    assert live_site_role(versions_dir(site) / "new", site) == "versions"
    assert live_site_role(tmp_path / "data" / "site-lif-js", site) is None
    assert live_site_role(tmp_path / "elsewhere", tmp_path / "no-site-yet") is None
