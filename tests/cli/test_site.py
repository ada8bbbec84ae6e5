"""`opsvalue site` writes only into a folder it owns, and never puts a pack in the live site."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dagster_project import cli
from dashboards import publish_site, site_version
from dashboards.site_folder import FULL, PACK, read_mark
from tests.conftest import Workspace, make_workspace, point_settings_at
from tests.dashboards.synthetic import build_warehouse


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A workspace on the synthetic warehouse whose live site has been published once."""
    ws = make_workspace(tmp_path / "ws")
    ws.warehouse.parent.mkdir(parents=True)
    build_warehouse(ws.warehouse)
    point_settings_at(ws)
    publish_site(ws.warehouse, ws.site_dir, "v1")
    return ws


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (links followed), by relative path, with its bytes."""
    root = Path(os.path.realpath(folder))
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_site(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    code = cli.main(["site", *args])
    captured = capsys.readouterr()
    return code, " ".join((captured.err + captured.out).split())


def test_site_out_refuses_a_folder_of_foreign_files(
    ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "exports"
    (out / "nested").mkdir(parents=True)
    (out / "claims.csv").write_text("claim_id\n1\n", encoding="utf-8")
    (out / "index.html").write_text("<html>someone's page</html>", encoding="utf-8")
    (out / "nested" / "branch.html").write_text("<html>theirs</html>", encoding="utf-8")
    before = snapshot(out)
    for org in ([], ["--org", "LIF-JS"]):
        code, message = run_site(capsys, "--out", str(out), *org)
        assert code == 2
        assert f"refusing to build the site into {out}" in message
        assert "claims.csv, index.html, nested/" in message
        assert snapshot(out) == before


@pytest.mark.parametrize("how", ["link", "link target", "another symlink", "versions folder"])
def test_site_org_never_replaces_the_live_site(
    ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture, how: str
) -> None:
    link_before = os.readlink(ws.site_dir)
    live_before = snapshot(ws.site_dir)
    shortcut = tmp_path / "shortcut"
    shortcut.symlink_to(ws.site_dir)
    out = {
        "link": ws.site_dir,
        "link target": ws.site_dir.resolve(),
        "another symlink": shortcut,
        "versions folder": ws.site_dir.resolve().parent,
    }[how]
    code, message = run_site(capsys, "--org", "LIF-JS", "--out", str(out))
    assert code == 2
    assert "a pack never replaces them" in message
    assert f"--out {ws.site_dir.parent / 'site-lif-js'}" in message
    assert os.readlink(ws.site_dir) == link_before
    assert snapshot(ws.site_dir) == live_before
    assert site_version(ws.site_dir) == "v1"


def test_site_full_build_through_another_symlink_publishes_the_live_site(
    ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    link_before = os.readlink(ws.site_dir)
    shortcut = tmp_path / "shortcut"
    shortcut.symlink_to(ws.site_dir)
    code, _ = run_site(capsys, "--out", str(shortcut))
    assert code == 0
    # built beside the live one and swapped in, not written into the build being served
    assert os.readlink(ws.site_dir) != link_before
    assert read_mark(ws.site_dir).kind == FULL
    assert site_version(ws.site_dir) is not None


def test_site_out_refuses_an_older_kept_build(ws: Workspace, capsys: pytest.CaptureFixture) -> None:
    older = ws.site_dir.resolve()
    publish_site(ws.warehouse, ws.site_dir, "v2")
    before = snapshot(older)
    code, message = run_site(capsys, "--out", str(older))
    assert code == 2 and "one of the kept builds" in message
    assert snapshot(older) == before


def test_site_pack_folder_is_reused_for_its_org_only(
    ws: Workspace, capsys: pytest.CaptureFixture
) -> None:
    code, _ = run_site(capsys, "--org", "lif-js")
    pack = ws.site_dir.parent / "site-lif-js"
    mark = read_mark(pack)
    assert code == 0 and (mark.kind, mark.org) == (PACK, "LIF-JS")
    before = snapshot(pack)
    assert run_site(capsys, "--org", "LIF-JS")[0] == 0
    code, message = run_site(capsys, "--org", "LIF-SH", "--out", str(pack))
    assert code == 2
    assert "refusing to build a pack for LIF-SH" in message and "a pack for LIF-JS" in message
    assert snapshot(pack) == before


def test_site_out_reuses_a_full_site_it_built(
    ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "copy-of-the-site"
    assert run_site(capsys, "--out", str(out))[0] == 0
    (out / "notes.txt").write_text("kept", encoding="utf-8")
    assert run_site(capsys, "--out", str(out))[0] == 0
    assert (out / "notes.txt").read_text(encoding="utf-8") == "kept"
    code, message = run_site(capsys, "--org", "LIF-JS", "--out", str(out))
    assert code == 2 and "it holds the full site" in message
