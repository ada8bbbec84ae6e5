"""The generator's marker: which files under an output folder it wrote, so it replaces only those.

`_manifest/generated.json` lists every file the generator wrote there (bytes and sha256) and the
arguments of the last run. generate() refuses a folder holding any other file, or a listed file
whose content changed since (someone edited it, or delivered over it), unless forced: the default
output folder is the live delivery folder, and a delivered extract must never be overwritten or
deleted by demo data. The check only reads; on refusal nothing is written or deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from opsgen.guard import GenerationRefused
from opsgen.writer import MANIFEST_DIR, PART_SUFFIX

MARKER = f"{MANIFEST_DIR}/generated.json"
MARKER_TMP = f"{MARKER}.tmp"  # left behind only by a run stopped while saving the marker
# The delivery folder's README (data/raw/README.md, committed beside the extracts) documents the
# contract; the generator never writes a file of that name at the top, so it may stay.
LEFT_ALONE = frozenset({"README.md", MARKER, MARKER_TMP})
SHOWN = 5  # foreign files named in a refusal
# A file the run was writing when it stopped: its content is the generator's own, whatever it is.
PENDING = -1


@dataclass(frozen=True)
class FileRecord:
    bytes: int
    sha256: str


def sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def record_of(path: Path) -> FileRecord:
    return FileRecord(path.stat().st_size, sha256_of(path))


def _raise(error: OSError) -> None:
    raise error


def present_files(out: Path) -> list[str]:
    """Every file under `out`, relative to it; links are listed, never followed."""
    found = []
    # an unreadable folder raises instead of hiding what it holds
    for root, dirs, files in os.walk(out, onerror=_raise):
        base = Path(root)
        links = [d for d in dirs if (base / d).is_symlink()]
        found += [(base / name).relative_to(out).as_posix() for name in [*files, *links]]
    return sorted(found)


def read_marker(out: Path) -> dict[str, FileRecord]:
    """The files the marker under `out` lists; none when it is missing or unreadable."""
    try:
        doc = json.loads((out / MARKER).read_text(encoding="utf-8"))
        return {
            name: FileRecord(int(record["bytes"]), str(record["sha256"]))
            for name, record in doc["files"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def is_plain_file(path: Path) -> bool:
    return not path.is_symlink() and path.is_file()


def is_unchanged(path: Path, record: FileRecord) -> bool:
    """The file is as the generator left it (a plain file; its size compared before its hash)."""
    if not is_plain_file(path):
        return False
    if record.bytes == PENDING:
        return True
    return path.stat().st_size == record.bytes and sha256_of(path) == record.sha256


def part_of(name: str) -> str | None:
    """The file a chunk file (writer.part_path) was to be added to, or None for another name."""
    folder, _, base = name.rpartition("/")
    chunk = base.startswith(".") and base.endswith(PART_SUFFIX)
    if not chunk or len(base) <= 1 + len(PART_SUFFIX):
        return None
    whole = base[1 : -len(PART_SUFFIX)]
    return f"{folder}/{whole}" if folder else whole


def sort_files(out: Path) -> tuple[dict[str, FileRecord], list[str]]:
    """The files under `out` the generator owns (listed and unchanged, or the chunk file a run
    killed mid-write left beside a listed file), and all the others."""
    listed = read_marker(out)
    owned: dict[str, FileRecord] = {}
    foreign = []
    for name in present_files(out):
        if name in LEFT_ALONE:
            continue
        if name in listed and is_unchanged(out / name, listed[name]):
            owned[name] = listed[name]
        elif name not in listed and part_of(name) in listed and is_plain_file(out / name):
            owned[name] = FileRecord(PENDING, "")
        else:
            foreign.append(name)
    return owned, foreign


def refusal(out: Path, foreign: list[str]) -> str:
    shown = ", ".join(foreign[:SHOWN])
    if len(foreign) > SHOWN:
        shown += f" and {len(foreign) - SHOWN} more"
    return (
        f"{out} holds files the generator did not write there, or that changed since it did: "
        f"{shown}. Nothing was written or deleted. Generate into an empty folder, or pass --force "
        "to write over it anyway (files of the same name are replaced, and other "
        "<source>/<source>_*.csv files in the source folders are deleted)."
    )


def check_folder(out: Path, force: bool = False) -> dict[str, FileRecord]:
    """The files under `out` the generator owns; GenerationRefused if it holds any other file,
    unless `force`. An empty or missing folder is fine. Reads only."""
    if not out.exists():
        return {}
    if not out.is_dir():
        raise GenerationRefused(f"{out} is not a folder. Nothing was written or deleted.")
    owned, foreign = sort_files(out)
    if foreign and not force:
        raise GenerationRefused(refusal(out, foreign))
    return owned


class Marker:
    """The marker of one run, saved as each source's files are started and written, so that it
    stays true when the run stops half-way: a file started and not finished is still ours."""

    def __init__(self, out: Path, owned: dict[str, FileRecord], run: dict[str, object]) -> None:
        self.out, self.files, self.run = out, dict(owned), run

    def name(self, path: Path) -> str:
        return path.relative_to(self.out).as_posix()

    def start(self, paths: Iterable[Path]) -> None:
        self.files.update({self.name(p): FileRecord(PENDING, "") for p in paths})
        self.save()

    def record(self, paths: Iterable[Path]) -> None:
        self.files.update({self.name(p): record_of(p) for p in paths})
        self.save()

    def forget(self, paths: Iterable[Path]) -> None:
        for path in paths:
            self.files.pop(self.name(path), None)
        self.save()

    def save(self) -> None:
        doc = {
            "written_by": "opsgen (opsvalue generate); lists the files it may replace here",
            **self.run,
            "files": {name: asdict(record) for name, record in sorted(self.files.items())},
        }
        tmp = self.out / MARKER_TMP
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, self.out / MARKER)
