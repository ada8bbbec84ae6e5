"""Nothing in data/raw goes unseen: whatever the door does not read is listed with the reason."""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project import cli
from dagster_project.core.resources import WAREHOUSE, Warehouse
from dagster_project.defs.ingest import unread
from dagster_project.defs.ingest.checks import CONTRACT
from dagster_project.defs.ingest.files import list_extract_files
from dagster_project.defs.ingest.sensors import raw_fingerprint
from tests.conftest import make_workspace, point_settings_at

SOURCES = list(CONTRACT)
CSV = b"claim_id,org_code\nA,X\n"


def _file(data: bytes = CSV) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return build


def _link(target: str) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)

    return build


def _fifo(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)


# case: (path under data/raw, builder, path listed, kind, words of the reason)
CASES: dict[str, tuple[str, Callable[[Path], None], str, str, str]] = {
    "gzip_csv": ("claims/claims_2026-01.csv.gz", _file(gzip.compress(CSV)), "", "compressed",
                 "gzip"),
    "zstd_csv": ("claims/claims_2026-01.csv.zst", _file(b"\x28\xb5\x2f\xfd"), "", "compressed",
                 "zstd"),
    "zip_archive": ("tasks/tasks.zip", _file(b"PK\x03\x04"), "", "compressed", "ZIP"),
    "notes": ("claims/notes.txt", _file(b"call Li on Monday"), "", "not_an_extract", ".txt"),
    "workbook": ("claims/claims.xlsx", _file(b"PK\x03\x04"), "", "not_an_extract", ".xlsx"),
    "no_suffix": ("claims/README", _file(b"hello"), "", "not_an_extract", "without a suffix"),
    "nested_folder": ("claims/2026/claims_2026-01.csv", _file(), "claims/2026/", "folder",
                      "inside a source folder"),
    "unknown_source": ("mystery/mystery_2026-01.csv", _file(), "mystery/", "unknown_source",
                       "no source"),
    "file_at_the_top": ("claims_2026-01.csv", _file(), "", "not_in_a_source_folder",
                        "outside any source folder"),
    "dangling_link": ("claims/old.txt", _link("/nonexistent/old.txt"), "", "link", "to nothing"),
    "link_to_a_folder": ("claims/share", _link("/tmp"), "", "link", "not followed"),
    "source_folder_link": ("centers", _link("/tmp"), "", "link", "source folder"),
    "pipe": ("claims/feed.csv", _fifo, "", "special", "not a regular file"),
    "underscore": ("claims/_draft.csv", _file(), "", "skipped", "by design"),
    "dot_file": ("claims/.DS_Store", _file(b"\0\0"), "", "skipped", "by design"),
    "manifest": ("_manifest/defects.csv", _file(), "_manifest/", "skipped", "by design"),
}  # fmt: skip


def _raw_with_a_clean_file(root: Path) -> Path:
    raw = root / "raw"
    (raw / "claims").mkdir(parents=True)
    (raw / "claims" / "claims_2025-12.csv").write_bytes(CSV)
    (raw / "README.md").write_text("the folder's own description")
    return raw


@pytest.mark.parametrize("case", list(CASES))
def test_everything_not_read_is_listed_with_the_reason(case, tmp_path):
    raw = _raw_with_a_clean_file(tmp_path)
    where, build, listed, kind, words = CASES[case]
    build(raw / where)
    listed = listed or where
    entries = unread.unread_entries(raw, SOURCES)
    assert [(e.path, e.kind) for e in entries] == [(listed, kind)]
    assert words in entries[0].reason
    # and the door does not read it
    extracts = [p.relative_to(raw).as_posix() for s in SOURCES for p in list_extract_files(raw / s)]
    assert extracts == ["claims/claims_2025-12.csv"]


def test_a_clean_delivery_lists_nothing(tmp_path):
    raw = _raw_with_a_clean_file(tmp_path)
    (raw / "claims" / "claims_2026-01.parquet").write_bytes(b"PAR1")
    (raw / "claims" / "claims_link.csv").symlink_to("/etc/hostname")  # the door refuses it
    assert unread.unread_entries(raw, SOURCES) == []


def test_the_table_follows_the_folder_and_keeps_first_sight(tmp_path):
    raw = _raw_with_a_clean_file(tmp_path)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    from datetime import datetime

    for where in ("claims/notes.txt", "claims/a.csv.gz", "stray.xlsx"):
        _file()(raw / where)
    first = unread.record(con, unread.unread_entries(raw, SOURCES), datetime(2026, 1, 1))
    assert sorted(e.path for e in first) == ["claims/a.csv.gz", "claims/notes.txt", "stray.xlsx"]
    (raw / "stray.xlsx").unlink()
    _file()(raw / "claims" / "b.txt")
    second = unread.record(con, unread.unread_entries(raw, SOURCES), datetime(2026, 1, 2))
    assert [e.path for e in second] == ["claims/b.txt"]  # only the newcomer is news
    rows = {f.path: f.first_seen_at for f in unread.unread_files(con)}
    assert rows == {
        "claims/a.csv.gz": datetime(2026, 1, 1),
        "claims/b.txt": datetime(2026, 1, 2),
        "claims/notes.txt": datetime(2026, 1, 1),
    }
    con.close()


def test_the_sensor_notices_a_stray_file_but_not_the_manifest(tmp_path):
    ws = make_workspace(tmp_path)
    point_settings_at(ws)
    (ws.raw_dir / "claims").mkdir(parents=True)
    (ws.raw_dir / "claims" / "claims_2026-01.csv").write_bytes(CSV)
    before = raw_fingerprint()
    _file()(ws.raw_dir / "_manifest" / "defects.csv")
    assert raw_fingerprint() == before
    for n, where in enumerate(["claims/notes.txt", "claims/x.csv.gz", "nested/a.csv"]):
        _file()(ws.raw_dir / where)
        now = raw_fingerprint()
        assert now != before, (n, where)
        before = now


def test_the_run_records_them_and_status_shows_them(tmp_path, generated_raw, capsys):
    """A real materialisation (one small source) fills meta.unread_files; `opsvalue status`
    shows each item with its reason, and the skipped ones on a line of their own."""
    from dagster_project.defs.ingest.assets import raw_extracts

    ws = make_workspace(tmp_path)
    point_settings_at(ws)
    shutil.copytree(generated_raw / "centers", ws.raw_dir / "centers")
    strays = {  # delivered: (listed as, words of the reason)
        "centers/centers.csv.gz": ("centers/centers.csv.gz", "compressed"),
        "centers/notes.txt": ("centers/notes.txt", "only .csv and .parquet"),
        "centers/old/centers_2020.csv": ("centers/old/", "inside a source folder"),
        "hr_archive/staff.csv": ("hr_archive/", "no source"),
    }
    for where in strays:
        _file()(ws.raw_dir / where)
    _file()(ws.raw_dir / "_manifest" / "generated.json")
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [raw_extracts],
        selection=[dg.AssetKey(["raw", "centers"])],
        resources={WAREHOUSE: Warehouse()},
        instance=instance,
    )
    assert result.success
    logged = [e.user_message for e in instance.all_logs(result.run_id)]
    for shown, _ in strays.values():
        assert any(f"not read: data/raw/{shown}" in m for m in logged), shown
    assert not any("_manifest" in m for m in logged), "skipped by design: no warning"
    with duckdb.connect(str(ws.work_db), read_only=True) as con:
        listed = {f.path: f.kind for f in unread.unread_files(con)}
    assert listed == {
        "_manifest/": "skipped",
        "centers/centers.csv.gz": "compressed",
        "centers/notes.txt": "not_an_extract",
        "centers/old/": "folder",
        "hr_archive/": "unknown_source",
    }
    assert cli.main(["status"]) == 0
    text = capsys.readouterr().out
    for shown, words in strays.values():
        assert shown in text and words in " ".join(text.split()), (shown, text)
    assert "skipped by name ('_' or '.'): _manifest/" in text
    assert cli.main(["status", "--json"]) == 0
    assert '"path": "centers/notes.txt"' in capsys.readouterr().out
