"""Delivered files: which ones a source folder holds, their hash, and what their first bytes say."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.core.sql import literal
from dagster_project.defs.ingest.outcomes import RejectedFile

EXTRACT_SUFFIXES = (".csv", ".parquet")


SNIFF_BYTES = 64 * 1024


# First bytes of files that are not text: a workbook or archive renamed to .csv is the usual one.
BINARY_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive or an Excel .xlsx workbook",
    b"\xd0\xcf\x11\xe0": "an Excel .xls workbook",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"PAR1": "a Parquet file",
}


def list_extract_files(folder: Path) -> list[Path]:
    """Extract files of one source, in name order; names starting with `_` or `.` are skipped."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in EXTRACT_SUFFIXES and p.name[0] not in "._"
    )


def file_hash(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes say: the header's column names and whether the last line ends."""

    columns: tuple[str, ...]  # as delivered
    names: tuple[str, ...]  # trimmed, lower-cased: matched against the contract
    ends_with_newline: bool
    has_bom: bool


def line_count(path: Path) -> int:
    count, last = 0, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def _encoding_problem(sample: bytes) -> str | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)  # a character cut at the sample's end is fine
        return None
    except UnicodeDecodeError as exc:
        where = f"byte 0x{sample[exc.start]:02x} at offset {exc.start}"
    try:
        text = codecs.getincrementaldecoder("gb18030")().decode(sample, final=False)
        cjk = [ch for ch in text if "\u4e00" <= ch <= "\u9fff"]
        if cjk:
            snippet = "".join(cjk[:8])
            return f"not UTF-8 ({where}): it reads as GBK/GB18030 ('{snippet}…')"
    except UnicodeDecodeError:
        pass
    return f"not UTF-8 ({where})"


def sniff_csv(path: Path) -> Sniffed:
    """File rules on the first bytes of a CSV; raises RejectedFile for a file that cannot load."""
    size = path.stat().st_size
    if size == 0:
        raise RejectedFile("file:empty", "empty file (0 bytes)", rows=0)
    with path.open("rb") as fh:
        sample = fh.read(SNIFF_BYTES)
        fh.seek(max(size - 1, 0))
        last = fh.read(1)
    for signature, what in BINARY_SIGNATURES.items():
        if sample.startswith(signature):
            raise RejectedFile("file:not_csv", f"not a CSV file: the bytes are {what}")
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RejectedFile(
            "file:encoding", "UTF-16 text: the contract is UTF-8, re-export as UTF-8"
        )
    if b"\x00" in sample:
        raise RejectedFile("file:not_csv", "not a CSV file: binary content (NUL bytes)")
    problem = _encoding_problem(sample)
    if problem:
        raise RejectedFile("file:encoding", problem, rows=max(line_count(path) - 1, 0))
    has_bom = sample.startswith(codecs.BOM_UTF8)
    text = sample.decode("utf-8-sig", errors="ignore")
    first = text.split("\n", 1)[0].rstrip("\r")
    if not first.strip():
        raise RejectedFile("file:no_header", "no header row (the first line is empty)")
    columns = tuple(next(csv.reader(io.StringIO(first))))
    names = tuple(c.strip().lower() for c in columns)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RejectedFile("file:header", f"duplicate column name(s) {', '.join(duplicates)}")
    if any(not n for n in names):
        raise RejectedFile("file:header", "a column of the header row has no name")
    return Sniffed(columns, names, last == b"\n", has_bom)


def sniff_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> Sniffed:
    if path.stat().st_size == 0:
        raise RejectedFile("file:empty", "empty file (0 bytes)", rows=0)
    with path.open("rb") as fh:
        if fh.read(4) != b"PAR1":
            raise RejectedFile("file:not_parquet", "not a Parquet file (no PAR1 signature)")
    try:
        columns = tuple(
            r[0]
            for r in con.execute(f"describe select * from read_parquet({literal(path)})").fetchall()
        )
    except duckdb.Error as exc:
        raise RejectedFile("file:unreadable", f"unreadable Parquet file: {exc}") from exc
    names = tuple(c.strip().lower() for c in columns)
    return Sniffed(columns, names, True, False)
