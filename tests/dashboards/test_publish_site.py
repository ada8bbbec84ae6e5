"""The live site is a link swapped in one rename; a half-built version never shows."""

from __future__ import annotations

import os

from dashboards import publish_site, site_version


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
