"""Delivered files: which ones a source folder holds, their hash, and what their first bytes say.

Nothing outside data/raw gets in. Every read of a delivered file opens it without following a
symbolic link (`O_NOFOLLOW`), and DuckDB is never handed a file's name: its readers expand glob
characters (`*`, `?`, `[...]`) and read a folder given in place of a file, so a name such as
`claims_[1].csv` would read `claims_1.csv`. The door opens the file itself and gives DuckDB the path
of that open file (`/proc/self/fd/N`), which names exactly the file opened, whatever its name. A
link is refused with a ledger entry and never read, so nothing of its target reaches raw, the
quarantine, the rejected-files folder or a message.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import errno
import hashlib
import io
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.core.sql import literal
from dagster_project.defs.ingest.outcomes import RejectedFile

EXTRACT_SUFFIXES = (".csv", ".parquet")

LINK_RULE = "file:link"
OUTSIDE_RAW_RULE = "file:outside_raw"
CHANGED_RULE = "file:changed"
NOT_REGULAR_RULE = "file:not_regular"
# Rejections whose file is not copied into the rejected-files folder: a link's target was never
# read (it may be anything on the machine), and a file that changed under the gate is read again.
NOT_KEPT_RULES = frozenset({LINK_RULE, OUTSIDE_RAW_RULE, CHANGED_RULE, NOT_REGULAR_RULE})

# Where Linux shows each open file of this process as a path; elsewhere the name is escaped.
PROC_FD = Path("/proc/self/fd")
_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO named x.csv must not block the run
    | getattr(os, "O_CLOEXEC", 0)
)


SNIFF_BYTES = 64 * 1024
SCAN_CHUNK = 1 << 20

# Limits of a CSV delivery (data/raw/README.md). A header row must end within the first 64 KiB
# and hold at most MAX_COLUMNS columns (a contract has a few dozen; extra ones are kept in raw, so
# a runaway export must not widen the table without bound). A record may be at most
# MAX_LINE_BYTES long (DuckDB's max_line_size, stated here so the limit is ours): a longer one
# rejects the file, naming the line.
MAX_HEADER_BYTES = SNIFF_BYTES
MAX_COLUMNS = 1_000
MAX_LINE_BYTES = 2_000_000


# First bytes of files that are not text: a workbook or archive renamed to .csv is the usual one.
BINARY_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive or an Excel .xlsx workbook",
    b"\xd0\xcf\x11\xe0": "an Excel .xls workbook",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"PAR1": "a Parquet file",
}


def is_extract_name(name: str) -> bool:
    """`*.csv` or `*.parquet`, not starting with `_` or `.` (skipped by design)."""
    return name[0] not in "._" and Path(name).suffix.lower() in EXTRACT_SUFFIXES


def source_folders(raw_dir: Path) -> list[Path]:
    """The folders of `raw_dir` that may hold a source's extracts, in name order: those starting
    with `_` or `.` (the generator's `_manifest`, hidden folders) are skipped by design."""
    return sorted(p for p in raw_dir.iterdir() if p.is_dir() and p.name[0] not in "._")


def list_extract_files(folder: Path) -> list[Path]:
    """Extract files of one source, in name order: the regular files and the links (which the door
    refuses) named like an extract. A source folder that is itself a link is not read at all."""
    if folder.is_symlink() or not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if not is_extract_name(path.name):
            continue
        with contextlib.suppress(FileNotFoundError):  # removed while listed
            if stat.S_ISREG(path.lstat().st_mode) or path.is_symlink():
                found.append(path)
    return sorted(found)


def _open_fd(path: Path) -> int:
    """A read-only descriptor of the file itself; RejectedFile for a link or a non-file."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RejectedFile(LINK_RULE, LINK_MESSAGE) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RejectedFile(NOT_REGULAR_RULE, "not a regular file (a device, pipe or socket)")
    return fd


@contextlib.contextmanager
def open_binary(path: Path) -> Iterator[io.BufferedReader]:
    """The delivered file opened for reading, never through a link."""
    with os.fdopen(_open_fd(path), "rb") as fh:
        yield fh


def glob_escaped(path: str) -> str:
    """`path` as a DuckDB glob matching only itself (a character class holds `*`, `?`, `[`)."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in path)


@contextlib.contextmanager
def opened_for_duckdb(path: Path, expected: os.stat_result | None = None) -> Iterator[str]:
    """The file opened without following a link, as a path naming exactly that open file for
    DuckDB's readers (no glob, folder or link can make it another file).

    `expected`: the file's stat when it was listed and hashed; a file that is no longer the same
    (another inode, size or modification time) is rejected rather than loaded unhashed."""
    fd = _open_fd(path)
    try:
        now = os.fstat(fd)
        if expected is not None and _identity(now) != _identity(expected):
            raise RejectedFile(
                CHANGED_RULE,
                "the file changed while the gate read it (still being written?): it is read "
                "again on the next run",
            )
        yield str(PROC_FD / str(fd)) if PROC_FD.is_dir() else glob_escaped(str(path))
    finally:
        os.close(fd)


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


LINK_MESSAGE = (
    "a symbolic link: links are not followed and nothing of the file it points to was read; "
    "deliver the file itself"
)


def link_refusal(path: Path, raw_root: Path) -> RejectedFile:
    """Why a link in a source folder is refused, naming neither its target nor its content."""
    target = Path(os.path.realpath(path))
    if not target.exists():
        return RejectedFile(LINK_RULE, f"{LINK_MESSAGE} (the link points to nothing)")
    if not target.is_relative_to(Path(os.path.realpath(raw_root))):
        return RejectedFile(
            OUTSIDE_RAW_RULE, f"{LINK_MESSAGE} (the link points outside data/raw)", rows=None
        )
    return RejectedFile(LINK_RULE, f"{LINK_MESSAGE} (the link points to another file in data/raw)")


def link_digest(path: Path) -> str:
    """What the ledger records as a link's content hash: the link's own text, not its target's
    bytes (so a link never passes for a delivered file's twin)."""
    return hashlib.sha256(b"symlink\0" + os.fsencode(os.readlink(path))).hexdigest()


def copy_file(path: Path, target: Path) -> None:
    """Copy a delivered file (never through a link), keeping its modification time."""
    with open_binary(path) as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        st = os.fstat(src.fileno())
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


@dataclass(frozen=True)
class Scan:
    """One streaming read of a whole file: its hash, and for a CSV what the text rules need.

    The text rules (no NUL byte, UTF-8) are judged on every byte of the file in the same read as
    the hash, so they do not depend on where in the file a bad byte sits."""

    digest: str
    size: int
    lines: int  # line ends, plus an unterminated last line
    ends_with_newline: bool
    nul_at: tuple[int, int] | None = None  # (offset, line) of the first NUL byte
    bad_utf8_at: tuple[int, int] | None = None  # (offset, line) of the first byte not UTF-8

    @property
    def data_rows(self) -> int:
        """Rows below the header, as line ends count them (a quoted line end counts too)."""
        return max(self.lines - 1, 0)


def scan_file(path: Path, text: bool = True) -> Scan:
    """Hash a delivered file and, when `text`, find its first NUL byte and first byte that is
    not UTF-8 (offset and line); one read of 1 MiB chunks, never through a link."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = lines = 0
    last = b"\n"
    nul_at = bad_at = None
    with open_binary(path) as fh:
        while chunk := fh.read(SCAN_CHUNK):
            digest.update(chunk)
            if text and nul_at is None and (at := chunk.find(b"\x00")) >= 0:
                nul_at = (size + at, lines + chunk.count(b"\n", 0, at) + 1)
            if text and bad_at is None and not chunk.isascii():
                pending = len(decoder.getstate()[0])  # bytes of a character cut by the chunk
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    at = exc.start - pending
                    line = lines + chunk.count(b"\n", 0, max(at, 0)) + 1
                    bad_at = (size + at, line)
            elif text and bad_at is None and (pending := len(decoder.getstate()[0])):
                bad_at = (size - pending, lines + 1)  # a character cut short by ASCII
            lines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk[-1:]
    if text and bad_at is None and (pending := len(decoder.getstate()[0])):
        bad_at = (size - pending, lines + (last != b"\n"))  # the file ends inside a character
    return Scan(digest.hexdigest(), size, lines + (last != b"\n"), last == b"\n", nul_at, bad_at)


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes say: the header's column names and whether the last line ends."""

    columns: tuple[str, ...]  # as delivered
    names: tuple[str, ...]  # trimmed, lower-cased: matched against the contract
    ends_with_newline: bool
    has_bom: bool


def _encoding_problem(window: bytes, offset: int, line: int) -> str:
    """The message for the first byte that is not UTF-8; `window` holds the bytes from there."""
    where = f"byte 0x{window[0]:02x} at offset {offset:,}, line {line:,}"
    try:
        text = codecs.getincrementaldecoder("gb18030")().decode(window, final=False)
        cjk = [ch for ch in text if "\u4e00" <= ch <= "\u9fff"]
        if cjk:
            snippet = "".join(cjk[:8])
            return f"not UTF-8 ({where}): it reads as GBK/GB18030 ('{snippet}…')"
    except UnicodeDecodeError:
        pass
    return f"not UTF-8 ({where})"


def sniff_csv(path: Path, scan: Scan | None = None) -> Sniffed:
    """The file rules of a CSV: its first bytes (signature, header) and, from the scan of the
    whole file, NUL bytes and UTF-8; raises RejectedFile for a file that cannot load."""
    scan = scan or scan_file(path)
    with open_binary(path) as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            raise RejectedFile("file:empty", "empty file (0 bytes)", rows=0)
        sample = fh.read(SNIFF_BYTES)
        window = b""
        if scan.bad_utf8_at is not None:
            fh.seek(scan.bad_utf8_at[0])
            window = fh.read(256)
    for signature, what in BINARY_SIGNATURES.items():
        if sample.startswith(signature):
            raise RejectedFile("file:not_csv", f"not a CSV file: the bytes are {what}")
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RejectedFile(
            "file:encoding", "UTF-16 text: the contract is UTF-8, re-export as UTF-8"
        )
    if scan.nul_at is not None:
        offset, line = scan.nul_at
        raise RejectedFile(
            "file:not_csv",
            f"not a CSV file: binary content (a NUL byte at offset {offset:,}, line {line:,})",
        )
    if scan.bad_utf8_at is not None and window:
        problem = _encoding_problem(window, *scan.bad_utf8_at)
        raise RejectedFile("file:encoding", problem, rows=scan.data_rows)
    has_bom = sample.startswith(codecs.BOM_UTF8)
    end = sample.find(b"\n")
    if end < 0 and scan.size > len(sample):
        raise RejectedFile(
            "file:header",
            f"the header row is longer than {MAX_HEADER_BYTES // 1024} KB (no line end in the "
            f"first {MAX_HEADER_BYTES:,} bytes); the contract allows at most {MAX_COLUMNS:,} "
            "columns",
            rows=scan.data_rows,
        )
    first = sample[: end if end >= 0 else len(sample)].decode("utf-8-sig", errors="ignore")
    first = first.rstrip("\r")
    if not first.strip():
        raise RejectedFile("file:no_header", "no header row (the first line is empty)")
    columns = tuple(next(csv.reader(io.StringIO(first))))
    if len(columns) > MAX_COLUMNS:
        raise RejectedFile(
            "file:header",
            f"the header has {len(columns):,} columns; the contract allows at most "
            f"{MAX_COLUMNS:,} (its own and extra ones)",
            rows=scan.data_rows,
        )
    names = tuple(c.strip().lower() for c in columns)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RejectedFile("file:header", f"duplicate column name(s) {', '.join(duplicates)}")
    if any(not n for n in names):
        raise RejectedFile("file:header", "a column of the header row has no name")
    return Sniffed(columns, names, scan.ends_with_newline, has_bom)


def sniff_parquet(con: duckdb.DuckDBPyConnection, path: Path, readable: str) -> Sniffed:
    """The columns of a Parquet file; `readable` is the path DuckDB reads (`opened_for_duckdb`)."""
    with open_binary(path) as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            raise RejectedFile("file:empty", "empty file (0 bytes)", rows=0)
        if fh.read(4) != b"PAR1":
            raise RejectedFile("file:not_parquet", "not a Parquet file (no PAR1 signature)")
    try:
        columns = tuple(
            r[0]
            for r in con.execute(
                f"describe select * from read_parquet({literal(readable)})"
            ).fetchall()
        )
    except duckdb.Error as exc:
        detail = str(exc).replace(readable, path.name)
        raise RejectedFile("file:unreadable", f"unreadable Parquet file: {detail}") from exc
    names = tuple(c.strip().lower() for c in columns)
    return Sniffed(columns, names, True, False)
