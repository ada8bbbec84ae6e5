"""What lies in data/raw that the door does not read, and `meta.unread_files`, its list.

Stray files (`notes.txt`, `claims.xlsx`), compressed extracts, folders inside a source folder,
folders no source is named after, links (other than those named like an extract, which the door
refuses with a ledger entry), and what is skipped by name (`_manifest/`, `.DS_Store`): each is
listed with the reason, so nothing delivered goes unseen. `opsvalue status` shows the list, and
the delivery sensor's fingerprint includes it, so a new stray file starts a run that records it.

`meta.unread_files` holds what data/raw holds now (a row leaves when its file does), with the
moment each was first seen. This module owns the table: its DDL and every query on it.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from dagster_project.core.warehouse import table_exists
from dagster_project.defs.ingest.files import is_extract_name

UNREAD_TABLE = "meta.unread_files"

DDL = f"""
create schema if not exists meta;
create table if not exists {UNREAD_TABLE} (
    path varchar primary key,         -- relative to data/raw; a folder's ends with '/'
    source varchar,                   -- the source folder it sits in; null at the top
    kind varchar not null,
    reason varchar not null,
    size_bytes bigint,
    mtime_ns bigint,
    first_seen_at timestamp not null
);
"""

# Compressed files are not read: the contract takes plain .csv (so the gate can scan every byte
# and DuckDB split it in parallel) or .parquet (which compresses by itself). DuckDB could read
# .csv.gz and .csv.zst, but a compressed file's size says nothing of what it unpacks to.
COMPRESSED_SUFFIXES = {
    ".gz": "gzip",
    ".tgz": "gzip",
    ".zst": "zstd",
    ".bz2": "bzip2",
    ".xz": "xz",
    ".zip": "ZIP",
    ".7z": "7-Zip",
    ".rar": "RAR",
    ".tar": "tar",
}
FOLDER_README = "README.md"  # data/raw's own description, not a delivery


@dataclass(frozen=True)
class Unread:
    """Something under data/raw the door does not read, and why."""

    path: str  # relative to data/raw; a folder's ends with '/'
    source: str | None  # the source folder it sits in; None at the top of data/raw
    # skipped | link | folder | unknown_source | not_a_folder | not_in_a_source_folder |
    # compressed | not_an_extract | special
    kind: str
    reason: str
    size_bytes: int | None
    mtime_ns: int | None

    @property
    def by_design(self) -> bool:
        """Named `_...` or `.…`: kept out of the door on purpose (the generator's `_manifest`)."""
        return self.kind == "skipped"


def _unread(raw_root: Path, path: Path, source: str | None, kind: str, reason: str) -> Unread:
    try:
        st = path.lstat()
    except FileNotFoundError:  # gone since listed
        st = None
    is_dir = st is not None and stat.S_ISDIR(st.st_mode)
    rel = path.relative_to(raw_root).as_posix() + ("/" if is_dir else "")
    return Unread(
        rel, source, kind, reason, st.st_size if st and not is_dir else None,
        st.st_mtime_ns if st else None,
    )  # fmt: skip


def _why_not_read(path: Path, in_source: bool) -> tuple[str, str] | None:
    """(kind, reason) for an entry the door does not read; None for one it does."""
    name = path.name
    if name[0] in "._":
        return "skipped", "the name starts with '_' or '.': not read, by design"
    if path.is_symlink():
        if in_source and is_extract_name(name):
            return None  # the door refuses it, with a ledger entry
        if not path.exists():
            return "link", "a symbolic link to nothing: links are not followed"
        return "link", "a symbolic link: links are not followed; deliver the file itself"
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(mode):
        if in_source:
            return "folder", (
                "a folder inside a source folder: not read (extracts go directly in "
                "data/raw/<source>/)"
            )
        return None  # a source folder: its content is listed
    if not stat.S_ISREG(mode):
        return "special", "not a regular file (a pipe, socket or device)"
    if not in_source:
        if name == FOLDER_README:
            return None
        return (
            "not_in_a_source_folder",
            "a file outside any source folder: extracts go in data/raw/<source>/",
        )
    suffix = path.suffix.lower()
    if suffix in COMPRESSED_SUFFIXES:
        return "compressed", (
            f"a compressed file ({COMPRESSED_SUFFIXES[suffix]}): the contract takes uncompressed "
            ".csv or .parquet (Parquet compresses by itself); deliver it unpacked"
        )
    if not is_extract_name(name):
        what = f"a {suffix} file" if suffix else "a file without a suffix"
        return "not_an_extract", f"{what}: only .csv and .parquet files are read"
    return None


def unread_entries(raw_root: Path, sources: Iterable[str]) -> list[Unread]:
    """Everything under data/raw the door does not read, in path order: stray files, folders,
    links, compressed files and unknown folders (without descending into them), and what is
    skipped by name. data/raw itself may be a link or a mount; nothing under it may be."""
    known = set(sources)
    if not raw_root.is_dir():
        return []
    found = []
    for entry in sorted(raw_root.iterdir()):
        if entry.name in known and entry.name[0] not in "._":
            if entry.is_symlink():
                found.append(
                    _unread(
                        raw_root, entry, entry.name, "link",
                        "the source folder is a symbolic link: not followed, nothing in it is "
                        "read (make it a real folder, or set OPSVALUE_RAW_DIR)",
                    )
                )  # fmt: skip
            elif entry.is_dir():
                for inner in sorted(entry.iterdir()):
                    why = _why_not_read(inner, in_source=True)
                    if why:
                        found.append(_unread(raw_root, inner, entry.name, *why))
            else:
                found.append(
                    _unread(raw_root, entry, None, "not_a_folder", "a source's name, not a folder")
                )
            continue
        why = _why_not_read(entry, in_source=False)
        if why is None and entry.is_dir():
            why = ("unknown_source", "a folder no source of the contract is named after: "
                   "nothing in it is read")  # fmt: skip
        if why:
            found.append(_unread(raw_root, entry, None, *why))
    return found


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def record(con: duckdb.DuckDBPyConnection, entries: Iterable[Unread], at: datetime) -> list[Unread]:
    """Make the table list exactly `entries`; returns those not listed before (new, or changed
    kind), which the run reports. Rows that did not change are left as they are."""
    ensure_table(con)
    entries = list(entries)
    before = {
        row[0]: row[1:]
        for row in con.execute(
            f"select path, kind, reason, size_bytes, mtime_ns from {UNREAD_TABLE}"
        ).fetchall()
    }
    con.execute(
        f"delete from {UNREAD_TABLE} where path not in (select unnest(?))",
        [[e.path for e in entries]],
    )
    new = []
    for e in entries:
        now = (e.kind, e.reason, e.size_bytes, e.mtime_ns)
        was = before.get(e.path)
        if was == now:
            continue
        if was is None or was[0] != e.kind:
            new.append(e)
        con.execute(
            f"insert into {UNREAD_TABLE} (path, source, kind, reason, size_bytes, mtime_ns, "
            "first_seen_at) values (?, ?, ?, ?, ?, ?, ?) on conflict (path) do update set "
            "source = excluded.source, kind = excluded.kind, reason = excluded.reason, "
            "size_bytes = excluded.size_bytes, mtime_ns = excluded.mtime_ns",
            [e.path, e.source, e.kind, e.reason, e.size_bytes, e.mtime_ns, at],
        )
    return new


@dataclass(frozen=True)
class UnreadFile:
    """One row of `meta.unread_files`, as `opsvalue status` shows it."""

    path: str
    source: str | None
    kind: str
    reason: str
    first_seen_at: datetime

    @property
    def by_design(self) -> bool:
        return self.kind == "skipped"


def unread_files(con: duckdb.DuckDBPyConnection) -> list[UnreadFile]:
    """What data/raw held, unread, at the last run, by path (none before the first run)."""
    if not table_exists(con, "meta", "unread_files"):
        return []
    rows = con.execute(
        f"select path, source, kind, reason, first_seen_at from {UNREAD_TABLE} order by path"
    ).fetchall()
    return [UnreadFile(*row) for row in rows]
