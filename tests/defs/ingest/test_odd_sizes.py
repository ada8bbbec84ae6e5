"""Odd sizes at the door: one rule for a file's bytes wherever they sit, and stated limits.

- NUL bytes and bytes that are not UTF-8 reject the file wherever they are, not only in its
  first 64 KB (the whole file is scanned in the read that hashes it);
- a header wider than MAX_COLUMNS, or longer than 64 KB, is rejected as such;
- a record longer than MAX_LINE_BYTES rejects the file, naming the line, and the corrected file
  re-delivered under the same name loads (nothing sits in quarantine without its key).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dagster_project.defs.ingest.files import (
    MAX_COLUMNS,
    MAX_LINE_BYTES,
    SCAN_CHUNK,
    scan_file,
    sniff_csv,
)
from dagster_project.defs.ingest.outcomes import RejectedFile
from tests.defs.ingest.door_cases import fresh_rows, ledger_rows, loaded_workspace
from tests.defs.ingest.test_gate import load, to_csv

NAME = "claims_odd.csv"


@pytest.fixture
def workspace(tmp_path: Path, generated_raw: Path):
    with loaded_workspace(tmp_path, generated_raw) as ws:
        yield ws


def big_csv(clean: Path, min_bytes: int, prefix: str = "BIG") -> bytes:
    """Valid claims rows under fresh ids, repeated until the file holds `min_bytes`."""
    header, *body = fresh_rows(clean, prefix)
    claim, policy = header.index("claim_id"), header.index("policy_id")
    out = io.StringIO()
    out.write(to_csv([header]))
    n = 0
    while out.tell() < min_bytes:
        for row in body:
            row = list(row)
            row[claim], row[policy] = f"{prefix}C{n:08d}", f"{prefix}P{n:08d}"
            out.write(to_csv([row]))
            n += 1
    return out.getvalue().encode()


def put(data: bytes, offset: int, payload: bytes) -> bytes:
    """`data` with `payload` written over the bytes at `offset` (the size stays the same)."""
    return data[:offset] + payload + data[offset + len(payload) :]


def deliver(raw: Path, data: bytes, name: str = NAME) -> Path:
    path = raw / "claims" / name
    path.write_bytes(data)
    return path


def raw_rows(con, name: str = NAME) -> int:
    return con.execute(
        "select count(*) from raw.claims where _source_file = ?", [f"claims/{name}"]
    ).fetchone()[0]


# --- NUL bytes and UTF-8: the whole file, one rule ----------------------------------------------

NUL_OFFSETS = {
    "just_past_64k": 64 * 1024 + 1,
    "last_byte_of_a_chunk": SCAN_CHUNK - 1,
    "first_byte_of_a_chunk": SCAN_CHUNK,
    "deep_in_the_file": 2 * SCAN_CHUNK + 12_345,
}


@pytest.mark.parametrize("case", list(NUL_OFFSETS))
def test_nul_byte_anywhere_rejects_the_file(case, workspace, tmp_path):
    raw, con, clean = workspace
    offset = NUL_OFFSETS[case]
    data = put(big_csv(clean, offset + 5_000), offset, b"\x00")
    deliver(raw, data)
    load(con, raw, "claims", tmp_path)
    [(status, rule, message, *_)] = ledger_rows(con, f"claims/{NAME}")
    assert (status, rule) == ("rejected", "file:not_csv"), message
    line = data[:offset].count(b"\n") + 1
    assert f"NUL byte at offset {offset:,}, line {line:,}" in message
    assert raw_rows(con) == 0


NOT_UTF8 = {
    # case: (offset, bytes written there, words of the message)
    "gbk_name_past_64k": (100_000, "张三".encode("gbk"), "GBK"),
    "latin1_at_a_chunk_end": (SCAN_CHUNK - 1, "é".encode("latin-1"), "byte 0xe9"),
    "stray_continuation_byte": (SCAN_CHUNK + 70_000, b"\x80", "byte 0x80"),
}


@pytest.mark.parametrize("case", list(NOT_UTF8))
def test_bytes_not_utf8_anywhere_reject_the_file(case, workspace, tmp_path):
    raw, con, clean = workspace
    offset, payload, words = NOT_UTF8[case]
    data = put(big_csv(clean, offset + 5_000), offset, payload)
    deliver(raw, data)
    load(con, raw, "claims", tmp_path)
    [(status, rule, message, delivered, *_)] = ledger_rows(con, f"claims/{NAME}")
    assert (status, rule) == ("rejected", "file:encoding"), message
    assert f"offset {offset:,}" in message and words in message
    assert delivered == data.count(b"\n") - 1
    assert raw_rows(con) == 0


def test_file_ending_inside_a_character_is_rejected(workspace, tmp_path):
    raw, con, clean = workspace
    data = big_csv(clean, 80_000)[:-1] + "张".encode()[:2]  # the transfer cut the last character
    deliver(raw, data)
    load(con, raw, "claims", tmp_path)
    [(status, rule, message, *_)] = ledger_rows(con, f"claims/{NAME}")
    assert (status, rule) == ("rejected", "file:encoding"), message
    assert f"offset {len(data) - 2:,}" in message


@pytest.mark.parametrize("offset", [SCAN_CHUNK - 2, SCAN_CHUNK - 1, 3 * SCAN_CHUNK - 1])
def test_character_split_by_a_chunk_is_not_an_encoding_error(offset, tmp_path):
    """A valid character across the scan's chunk boundary is UTF-8: no false alarm."""
    data = b"a,b\n" + b"x" * (offset - 4) + "张".encode() + b"x\n" * 10
    path = tmp_path / "split.csv"
    path.write_bytes(data)
    scan = scan_file(path)
    assert (scan.nul_at, scan.bad_utf8_at, scan.size, scan.lines) == (None, None, len(data), 11)
    sniff_csv(path, scan)  # no RejectedFile


@pytest.mark.parametrize("size", [10, 70_000, SCAN_CHUNK + 1, 3 * SCAN_CHUNK])
def test_scan_hash_and_lines_match_the_bytes(size, tmp_path):
    import hashlib

    data = (b"a,b\n" + "值,1\n".encode() * size)[:size]
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    scan = scan_file(path)
    assert scan.digest == hashlib.sha256(data).hexdigest()
    assert scan.lines == data.count(b"\n") + (not data.endswith(b"\n"))
    assert scan.ends_with_newline == data.endswith(b"\n")


# --- the header: at most MAX_COLUMNS columns, ending within 64 KB --------------------------------


def _wide(columns: int, name_len: int = 6) -> bytes:
    names = [f"c{n:0{name_len - 1}d}" for n in range(columns)]
    return (",".join(names) + "\n" + ",".join("1" for _ in names) + "\n").encode()


WIDE_HEADERS = {
    # case: (header builder, words of the message)
    "one_column_too_many": (lambda: _wide(MAX_COLUMNS + 1), f"{MAX_COLUMNS + 1:,} columns"),
    "twenty_thousand_columns": (lambda: _wide(20_000), "longer than 64 KB"),
    "five_thousand_short_names": (lambda: _wide(5_000, 3), "5,000 columns"),
    "one_huge_name": (lambda: b"claim_id," + b"n" * 70_000 + b"\n1,2\n", "longer than 64 KB"),
}


@pytest.mark.parametrize("case", list(WIDE_HEADERS))
def test_wide_header_is_rejected_as_wide(case, workspace, tmp_path):
    raw, con, _ = workspace
    build, words = WIDE_HEADERS[case]
    deliver(raw, build())
    load(con, raw, "claims", tmp_path)
    [(status, rule, message, *_)] = ledger_rows(con, f"claims/{NAME}")
    assert (status, rule) == ("rejected", "file:header"), message
    assert words in message and "duplicate" not in message


def test_header_at_the_column_limit_passes_the_sniff(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_bytes(_wide(MAX_COLUMNS))
    assert len(sniff_csv(path).names) == MAX_COLUMNS


# --- a record longer than MAX_LINE_BYTES ---------------------------------------------------------

LONG_CELLS = {
    # case: ({data row: cell bytes}, the line named in the message)
    "ten_mb_cell": ({3: 10_000_000}, 4),
    "just_over_the_limit_on_the_last_row": ({-1: MAX_LINE_BYTES + 1}, None),
    "two_long_rows": ({2: 3_000_000, 5: 4_000_000}, 3),
}


def _with_long_cells(clean: Path, cells: dict[int, int], prefix: str) -> tuple[bytes, list]:
    rows = fresh_rows(clean, prefix)
    handler = rows[0].index("handler_id")
    for at, size in cells.items():
        rows[at if at > 0 else len(rows) + at][handler] = "H" * size
    return to_csv(rows).encode(), rows


@pytest.mark.parametrize("case", list(LONG_CELLS))
def test_record_over_the_limit_rejects_the_file_and_its_correction_loads(case, workspace, tmp_path):
    raw, con, clean = workspace
    cells, line = LONG_CELLS[case]
    data, rows = _with_long_cells(clean, cells, "LNG")
    line = line or len(rows)  # the last row is line len(rows): the header is line 1
    path = deliver(raw, data)
    load(con, raw, "claims", tmp_path)
    [(status, rule, message, delivered, *_)] = ledger_rows(con, f"claims/{NAME}")
    assert (status, rule) == ("rejected", "file:line_too_long"), message
    assert f"line {line:,} is" in message and f"{MAX_LINE_BYTES / 1e6:g} MB" in message
    assert delivered == len(rows) - 1
    assert raw_rows(con) == 0
    held = con.execute(
        "select count(*) from quarantine.claims where _source_file = ?", [f"claims/{NAME}"]
    ).fetchone()[0]
    assert held == 0, "nothing waits in quarantine without its key"

    # the department shortens the value and re-delivers the file under the same name
    fixed = [list(r) for r in rows]
    handler = fixed[0].index("handler_id")
    for r in fixed[1:]:
        if len(r[handler]) > 100:
            r[handler] = "H123"
    path.write_bytes(to_csv(fixed).encode())
    load(con, raw, "claims", tmp_path)
    assert [r[0] for r in ledger_rows(con, f"claims/{NAME}")] == ["rejected", "loaded"]
    loaded = con.execute(
        "select count(*) from raw.claims where _source_file = ?", [f"claims/{NAME}"]
    ).fetchone()[0]
    quarantined = con.execute(
        "select count(*) from quarantine.claims where _source_file = ? and _released_at is null",
        [f"claims/{NAME}"],
    ).fetchone()[0]
    assert loaded + quarantined == len(rows) - 1 and loaded > 0


def test_long_record_under_the_limit_is_not_rejected_for_its_length(workspace, tmp_path):
    raw, con, clean = workspace
    data, _ = _with_long_cells(clean, {2: MAX_LINE_BYTES - 10_000}, "OKL")
    deliver(raw, data)
    load(con, raw, "claims", tmp_path)
    [(status, rule, message, *_)] = ledger_rows(con, f"claims/{NAME}")
    assert rule != "file:line_too_long" and status == "loaded", message


def test_sniff_judges_a_file_from_its_scan(tmp_path):
    """sniff_csv reads the scan, not only the first 64 KB: the scan decides."""
    path = tmp_path / "late.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 40_000 + b"\x00\n")
    with pytest.raises(RejectedFile) as rejected:
        sniff_csv(path)
    assert rejected.value.rule == "file:not_csv"
