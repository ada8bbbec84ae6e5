"""Load one source's extract folder into DuckDB schema `raw` through the quality gate, by file.

DuckDB reads the files itself (read_csv / read_parquet); Python only decides which files to load
and sniffs their first bytes. Each new or changed file is one batch, handled in one transaction,
so a crash never leaves half a file:

1. file rules: an empty file, a non-CSV file, a file that is not UTF-8, a file whose header lacks
   a required column, or the same bytes already loaded under another name is rejected whole;
2. the file is staged as text (`_stage`), rows DuckDB cannot split are set aside as malformed;
3. values are normalised and every rule of the source's expectation suite is applied as a SQL
   predicate (`_checked`, see lib/validation.py);
4. too many failing rows (the suite's `max_failed_share`) rejects the batch whole;
5. GX re-judges the failing rows and a sample of the passing ones; it must agree with the door;
6. passing rows go to `raw.<source>`, failing rows to `quarantine.<source>` (lib/quarantine.py),
   and `meta.file_ledger` records the file with rows delivered = loaded + quarantined (+ rows of
   a rejected file, which is kept whole under the rejected-files folder).

Every value lands as text: typing happens in dbt staging. Each row carries lineage columns.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import logging
import secrets
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.lib import quarantine
from dagster_project.lib.validation import (
    RuleResult,
    Suite,
    broken_rules_sql,
    canonical_sql,
    failed_rules_sql,
    ident,
    judge_with_gx,
    judged_rows_sql,
    rejudged_sql,
    sql_str,
    trimmed_sql,
    typed_select,
    unique_hits_sql,
)
from dagster_project.lib.warehouse import ensure_text_table

LOG = logging.getLogger(__name__)

RAW_SCHEMA = "raw"
LEDGER_TABLE = "meta.file_ledger"
RULE_COUNTS_TABLE = "meta.batch_rule_counts"
RESULTS_TABLE = "meta.validation_results"
FLAGS_TABLE = "meta.row_flags"
RAW_LINEAGE_COLUMNS = (
    ("_source_file", "varchar"),
    ("_row_number", "bigint"),
    ("_batch_id", "varchar"),
    ("_loaded_at", "timestamp"),
)
LINEAGE_COLUMNS = tuple(name for name, _ in RAW_LINEAGE_COLUMNS)
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

LEDGER_DDL = f"""
create schema if not exists meta;
create sequence if not exists meta.file_ledger_seq;
create table if not exists {LEDGER_TABLE} (
    ledger_id bigint primary key default nextval('meta.file_ledger_seq'),
    source varchar not null,
    path varchar not null,
    content_hash varchar not null,
    size_bytes bigint not null,
    mtime_ns bigint not null,
    row_count bigint,
    status varchar not null,
    message varchar,
    batch_id varchar not null,
    run_id varchar,
    loaded_at timestamp not null
);
-- the quality gate's accounting: delivered = loaded + quarantined + rejected, per file version
alter table {LEDGER_TABLE} add column if not exists rows_delivered bigint;
alter table {LEDGER_TABLE} add column if not exists rows_loaded bigint;
alter table {LEDGER_TABLE} add column if not exists rows_quarantined bigint;
alter table {LEDGER_TABLE} add column if not exists rows_rejected bigint;
alter table {LEDGER_TABLE} add column if not exists rows_flagged bigint;
alter table {LEDGER_TABLE} add column if not exists rejection_rule varchar;
alter table {LEDGER_TABLE} add column if not exists kept_copy varchar;
alter table {LEDGER_TABLE} add column if not exists suite_fingerprint varchar;
create table if not exists {RULE_COUNTS_TABLE} (
    batch_id varchar not null,
    source varchar not null,
    path varchar not null,
    rule varchar not null,
    -- quarantined | flagged | normalised | rejected | rejected_evidence:<quarantined|flagged|...>
    outcome varchar not null,
    rows bigint not null,
    recorded_at timestamp not null
);
-- GX's official result, one validation per source and run (the new files together)
create table if not exists {RESULTS_TABLE} (
    validation_id varchar not null,
    source varchar not null,
    batch_ids varchar[] not null,
    rule varchar not null,
    expectation_type varchar not null,
    severity varchar not null,
    door_failed bigint not null,
    gx_evaluated boolean not null,
    gx_success boolean,
    gx_element_count bigint,
    gx_unexpected_count bigint,
    gx_error varchar,
    rows_judged_by_gx bigint,
    validated_at timestamp not null
);
alter table {RESULTS_TABLE} add column if not exists gx_seconds double;
create table if not exists {FLAGS_TABLE} (
    source varchar not null,
    _source_file varchar not null,
    _row_number bigint not null,
    _batch_id varchar not null,
    rules varchar[] not null
);
"""

# A ledger row is the current version of a file when it is the newest row for that path.
CURRENT_LEDGER_SQL = f"""
select path, content_hash, size_bytes, mtime_ns, status, suite_fingerprint
from {LEDGER_TABLE}
where source = ?
qualify row_number() over (partition by path order by ledger_id desc) = 1
"""


class RejectedFile(Exception):
    """A batch the gate holds back whole: the rule it broke and how many rows it had."""

    def __init__(
        self,
        rule: str,
        message: str,
        rows: int | None = None,
        evidence: dict[str, dict[str, int]] | None = None,
    ) -> None:
        super().__init__(message)
        self.rule = rule
        self.rows = rows
        self.evidence = evidence or {}


class DeliveryFailed(Exception):
    """The new files of a source cannot be committed together (a database error inside the
    transaction, or GX disagreeing with the door): each file is then loaded on its own."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass
class FileOutcome:
    path: str
    status: str  # loaded | replaced | unchanged | rejected
    rows: int = 0  # rows loaded into raw
    message: str = ""
    rows_delivered: int | None = 0
    rows_quarantined: int = 0
    rows_flagged: int = 0
    rows_rejected: int | None = 0
    rule: str | None = None  # the rule that rejected the batch
    batch_id: str = ""
    rule_counts: dict[str, int] = field(default_factory=dict)


@dataclass
class SourceLoadReport:
    source: str
    table: str
    files: list[FileOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows for f in self.files if f.status in ("loaded", "replaced"))

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files if f.status in ("loaded", "replaced"))

    @property
    def changed(self) -> bool:
        return any(f.status in ("loaded", "replaced") for f in self.files)

    @property
    def batches(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status != "unchanged"]


@dataclass(frozen=True)
class Gate:
    """What the door needs besides the files: the suite, its parameters, where rejects are kept."""

    suite: Suite | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    key: tuple[str, ...] = ()
    rejected_dir: Path | None = None
    gx_sample_rows: int = 2_000
    gx_chunk_rows: int = 200_000


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


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(LEDGER_DDL)


# --- File rules: what can be told from the bytes ------------------------------------------------


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes say: the header's column names and whether the last line ends."""

    columns: tuple[str, ...]  # as delivered
    names: tuple[str, ...]  # trimmed, lower-cased: matched against the contract
    ends_with_newline: bool
    has_bom: bool


def _line_count(path: Path) -> int:
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
        raise RejectedFile("file:encoding", problem, rows=max(_line_count(path) - 1, 0))
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
            for r in con.execute(f"describe select * from read_parquet({sql_str(path)})").fetchall()
        )
    except duckdb.Error as exc:
        raise RejectedFile("file:unreadable", f"unreadable Parquet file: {exc}") from exc
    names = tuple(c.strip().lower() for c in columns)
    return Sniffed(columns, names, True, False)


# --- The door -------------------------------------------------------------------------------


def _reader_sql(path: Path, sniffed: Sniffed) -> str:
    """The table function reading one file as text columns named as the contract expects."""
    literal = sql_str(str(path))
    if path.suffix.lower() == ".parquet":
        cols = ", ".join(
            f"cast({ident(c)} as varchar) as {ident(n)}"
            for c, n in zip(sniffed.columns, sniffed.names, strict=True)
        )
        return f"(select {cols} from read_parquet({literal}))"
    # The contract fixes the dialect, so nothing is sniffed: the header was parsed above, values
    # stay text, and rows DuckDB cannot split land in the rejects table instead of failing the
    # file (no `new_line`: CRLF files read the same).
    columns = "{" + ", ".join(f"{sql_str(n)}: 'VARCHAR'" for n in sniffed.names) + "}"
    return (
        f"read_csv({literal}, columns = {columns}, header = true, auto_detect = false, "
        "delim = ',', quote = '\"', escape = '\"', store_rejects = true, "
        "rejects_table = '_rejects', rejects_scan = '_rejects_scan')"
    )


def _stage(con: duckdb.DuckDBPyConnection, path: Path, sniffed: Sniffed) -> tuple[int, int]:
    """Read the file into temp table `_stage_rows`, seen through view `_stage` with the data row
    number `_row_number`; returns (rows staged, malformed rows set aside)."""
    con.execute("drop table if exists _rejects; drop table if exists _rejects_scan")
    reader = _reader_sql(path, sniffed)
    try:
        # DuckDB reads the file in parallel and, with preserve_insertion_order (its default),
        # stores the rows in file order, numbered by consecutive rowids; a row_number() over ()
        # would number them too, but forces a single-threaded scan of the file.
        staged = int(
            con.execute(
                f"create or replace temp table _stage_rows as select * from {reader}"
            ).fetchone()[0]
        )
    except duckdb.Error as exc:
        kind = path.suffix.lstrip(".")
        raise RejectedFile("file:unreadable", f"unreadable as {kind}: {exc}") from exc
    first, last = con.execute("select min(rowid), max(rowid) from _stage_rows").fetchone()
    if not staged or last - first + 1 == staged:
        # rowids of a table made inside a transaction start high, not at 0
        number = f"rowid - {int(first or 0)} + 1"
    else:  # never seen: the rowids have gaps, so they are no row numbers
        number = "row_number() over ()"
    con.execute(
        f"create or replace temp view _stage as select *, {number} as _row_number from _stage_rows"
    )
    if path.suffix.lower() == ".parquet":
        return staged, 0
    rejects = con.execute(
        "select line, string_agg(distinct error_type, ', ') from _rejects "
        "group by line order by line"
    ).fetchall()
    if any("ENCODING" in (r[1] or "") for r in rejects):
        raise RejectedFile(
            "file:encoding",
            f"not UTF-8: {len(rejects)} line(s) hold bytes that are not UTF-8 "
            f"(first at line {rejects[0][0]}); re-export the file as UTF-8",
            rows=staged + len(rejects),
        )
    if rejects:
        # renumber the good rows around the malformed ones (line 1 is the header)
        bad = ", ".join(str(int(r[0]) - 1) for r in rejects)
        total = staged + len(rejects)
        con.execute(
            "create or replace temp table _renumber as select row_number() over (order by r) "
            f"as ordinal, r from range(1, {total + 1}) as t(r) where r not in ({bad})"
        )
        # kept in file order: the door's later steps rely on it
        con.execute(
            "create or replace temp table _stage_numbered as select s.* exclude (_ordinal), "
            f"_renumber.r as _row_number from (select *, {number} as _ordinal from _stage_rows) "
            "as s join _renumber on _renumber.ordinal = s._ordinal order by _row_number"
        )
        con.execute("create or replace temp view _stage as select * from _stage_numbered")
    return staged, len(rejects)


def _normalised_select(suite: Suite | None, names: Sequence[str]) -> str:
    """The staged batch in canonical text, plus `_normalised_cols`: the columns of each row whose
    value normalisation changed beyond trimming (counted for the ledger, in the same pass)."""
    uppercase = set(suite.uppercase_columns) if suite else set()
    types = {n: suite.data_type(n) if suite else "varchar" for n in names}
    changing = [n for n in names if types[n] != "varchar" or n in uppercase]
    # trimmed once, in its own projection: the canonical forms repeat their input several times
    trimmed = ", ".join(f"{trimmed_sql(ident(n))} as {ident(n)}" for n in names)
    exprs = [
        f"{canonical_sql(f'upper({ident(n)})' if n in uppercase else ident(n), types[n])} "
        f"as {ident(n)}"
        for n in names
    ]
    exprs += [f"{ident(n)} as {ident(n + '__delivered')}" for n in changing]
    changed = broken_rules_sql(
        [(f"{ident(n)} is distinct from {ident(n + '__delivered')}", n) for n in changing]
    )
    inner = (
        f"select {', '.join(exprs)}, _row_number from (select {trimmed}, _row_number from _stage)"
    )
    if not changing:
        return f"select *, {changed} as _normalised_cols from ({inner})"
    delivered = ", ".join(ident(n + "__delivered") for n in changing)
    return f"select * exclude ({delivered}), {changed} as _normalised_cols from ({inner})"


def _check(
    con: duckdb.DuckDBPyConnection,
    gate: Gate,
    names: Sequence[str],
    raw_table: str,
    rel_path: str,
    truncated_row: int | None,
) -> bool:
    """Temp table `_checked`: the batch in canonical text, with the typed values, the columns
    normalisation changed (`_normalised_cols`) and the rules each row breaks.

    One pass over the staged rows, in file order, judges every rule but uniqueness. The rows a
    uniqueness rule may fail are then found on the key columns (`_unique_hits`, few) and judged
    again; their new judgement replaces the first one at the end of the table. Returns whether
    the rows that pass are still in file order (they are unless one of those passes)."""
    suite = gate.suite
    normalised = _normalised_select(suite, names)
    if suite is None:
        select = (
            f"select n.*, []::varchar[] as _failed, []::varchar[] as _flagged from ({normalised}) n"
        )
        con.execute(f"create or replace temp table _checked as {_truncated(select, truncated_row)}")
        return True
    select = failed_rules_sql(suite, gate.parameters, f"({typed_select(suite, normalised)})")
    con.execute(f"create or replace temp table _checked as {_truncated(select, truncated_row)}")
    hits = unique_hits_sql(suite, "_checked", raw_table, rel_path)
    if hits is None:
        return True
    if not con.execute(f"create or replace temp table _unique_hits as {hits}").fetchone()[0]:
        return True
    select = rejudged_sql(suite, gate.parameters, "_checked", "_unique_hits")
    con.execute(f"create or replace temp table _rechecked as {select}")
    con.execute("delete from _checked where _row_number in (select _row_number from _rechecked)")
    con.execute("insert into _checked by name select * from _rechecked")
    passing = con.execute("select count(*) from _rechecked where len(_failed) = 0").fetchone()[0]
    return not passing


def _truncated(select: str, truncated_row: int | None) -> str:
    """`select` with the truncated last line, if any, failing its own rule too."""
    if truncated_row is None:
        return select
    return (
        f"select * replace (case when _row_number = {truncated_row} then "
        f"list_append(_failed, {sql_str(quarantine.TRUNCATED_RULE)}) else _failed end "
        f"as _failed) from ({select})"
    )


def _rule_counts(con: duckdb.DuckDBPyConnection, gate: Gate, names: Sequence[str]) -> dict:
    counts: dict[str, dict[str, int]] = {"quarantined": {}, "flagged": {}, "normalised": {}}
    for column, outcome in (("_failed", "quarantined"), ("_flagged", "flagged")):
        for rule, rows in con.execute(
            f"select rule, count(*) from (select unnest({column}) as rule from _checked) "
            "group by rule order by rule"
        ).fetchall():
            counts[outcome][rule] = int(rows)
    for column, rows in con.execute(
        "select col, count(*) from (select unnest(_normalised_cols) as col from _checked) "
        "group by col order by col"
    ).fetchall():
        counts["normalised"][f"normalised:{column}"] = int(rows)
    return counts


def _duplicate_sources(
    con: duckdb.DuckDBPyConnection, gate: Gate, raw_table: str, rel_path: str
) -> list[str]:
    """Other files that already hold the keys of this batch (for the rejection message)."""
    if not gate.key:
        return []
    on = " and ".join(f"r.{ident(k)} = c.{ident(k)}" for k in gate.key)
    rows = con.execute(
        f"select r._source_file, count(*) from {raw_table} r join _checked c on {on} "
        f"where r._source_file <> ? group by 1 order by 2 desc limit 3",
        [rel_path],
    ).fetchall()
    return [r[0] for r in rows]


def _decide(
    con: duckdb.DuckDBPyConnection,
    gate: Gate,
    delivered: int,
    failed: int,
    counts: dict[str, int],
    raw_table: str,
    rel_path: str,
) -> None:
    """Reject the batch whole when too many of its rows fail (the suite's threshold)."""
    suite = gate.suite
    if not suite or not delivered:
        return
    share = failed / delivered
    if share <= suite.max_failed_share or failed < suite.min_failed_rows:
        return
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:4]
    detail = "; ".join(f"{rule}: {rows:,}" for rule, rows in top)
    message = (
        f"{failed:,} of {delivered:,} rows ({share:.1%}) break the rules "
        f"(the threshold is {suite.max_failed_share:.0%}): {detail}"
    )
    if top and top[0][0].startswith("unique:"):
        others = _duplicate_sources(con, gate, raw_table, rel_path)
        if others:
            message += f"; the rows were already loaded from {', '.join(others)}"
    raise RejectedFile(f"rows:{top[0][0]}" if top else "rows", message, rows=delivered)


def _ensure_raw_table(
    con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], file_columns: Sequence[str]
) -> None:
    """Create the raw table on first sight; add any extra column a file brings, so none is lost."""
    wanted = list(columns) + [c for c in file_columns if c not in columns]
    schema, name = (part.strip('"') for part in table.split("."))
    ensure_text_table(con, schema, name, wanted, RAW_LINEAGE_COLUMNS)


def _commit_rows(
    con: duckdb.DuckDBPyConnection,
    source: str,
    gate: Gate,
    table: str,
    names: Sequence[str],
    columns: Sequence[str],
    rel_path: str,
    batch_id: str,
    loaded_at: datetime,
    malformed: int,
    release_reason: str,
    in_file_order: bool = True,
) -> int:
    """Passing rows to raw, failing rows to quarantine, flags to meta; returns rows loaded.

    Raw keeps the rows in file order; `in_file_order` says whether `_checked` has its passing
    rows so already (see `_check`), else they are sorted."""
    extra = [n for n in names if n not in columns]
    if extra:  # ingest_source made both tables with the contract's columns
        _ensure_raw_table(con, table, columns, names)
        quarantine.ensure_table(con, source, list(columns) + extra)
    con.execute(f"delete from {table} where _source_file = ?", [rel_path])
    quarantine.release_file(con, source, rel_path, batch_id, loaded_at, release_reason)
    con.execute(
        f"delete from {FLAGS_TABLE} where source = ? and _source_file = ?", [source, rel_path]
    )
    cols = ", ".join(ident(n) for n in names)
    # a scan with a filter keeps the table's order: a sort only when it is not the file's
    order = "" if in_file_order else " order by _row_number"
    row = con.execute(
        f"insert into {table} by name select {cols}, ? as _source_file, _row_number, "
        f"? as _batch_id, ? as _loaded_at from _checked where len(_failed) = 0{order}",
        [rel_path, batch_id, loaded_at],
    ).fetchone()
    loaded = int(row[0]) if row else 0
    originals = ", ".join(f"s.{ident(n)}" for n in names)
    con.execute(
        f"insert into {quarantine.table_name(source)} by name select {originals}, "
        "? as _source_file, s._row_number, ? as _batch_id, c._failed as _failed_rules, "
        "? as _quarantined_at from _stage s join _checked c using (_row_number) "
        "where len(c._failed) > 0 order by s._row_number",
        [rel_path, batch_id, loaded_at],
    )
    if malformed:
        con.execute(
            f"insert into {quarantine.table_name(source)} by name select any_value(csv_line) "
            "as _raw_line, ? as _source_file, line - 1 as _row_number, ? as _batch_id, "
            f"[{sql_str(quarantine.MALFORMED_RULE)}] as _failed_rules, ? as _quarantined_at "
            "from _rejects group by line order by line",
            [rel_path, batch_id, loaded_at],
        )
    con.execute(
        f"insert into {FLAGS_TABLE} select ?, ?, _row_number, ?, _flagged from _checked "
        "where len(_flagged) > 0",
        [source, rel_path, batch_id],
    )
    if gate.key and all(k in names for k in gate.key):
        quarantine.release_loaded_keys(
            con,
            source,
            gate.key,
            gate.suite.types if gate.suite else {},
            gate.suite.uppercase_columns if gate.suite else (),
            "(select * from _checked where len(_failed) = 0)",
            batch_id,
            loaded_at,
        )
    return loaded


def _header_problems(gate: Gate, sniffed: Sniffed, columns: Sequence[str]) -> str:
    """The table-level rules, judged on the header (names trimmed and lower-cased)."""
    if gate.suite:
        problems = gate.suite.header_problems(sniffed.names)
    else:
        missing = [c for c in columns if c not in sniffed.names]
        problems = [f"missing required column(s) {', '.join(missing)}"] if missing else []
    if not problems:
        return ""
    unknown = [n for n in sniffed.names if n not in columns]
    if unknown:
        problems.append(f"the file has column(s) {', '.join(unknown)} the contract does not know")
    return "; ".join(problems)


def _rejected_copy(gate: Gate, source: str, path: Path, batch_id: str) -> Path | None:
    """Where a rejected file is kept: a later delivery under the same name must not erase it."""
    if gate.rejected_dir is None:
        return None
    return gate.rejected_dir / source / f"{batch_id}__{path.name}"


def _keep(path: Path, target: Path | None) -> None:
    if target is None:
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    except OSError as exc:
        LOG.warning("could not keep a copy of rejected %s: %s", path, exc)


@dataclass(frozen=True)
class Pending:
    """A new or changed file waiting for the door."""

    path: Path
    rel_path: str
    digest: str
    stat: Any
    previous: tuple | None
    twin: str | None  # an already loaded file of the source with the same bytes


def ingest_source(
    con: duckdb.DuckDBPyConnection,
    source: str,
    folder: Path,
    raw_root: Path,
    columns: Sequence[str],
    run_id: str = "",
    on_file: Callable[[FileOutcome], None] | None = None,
    gate: Gate | None = None,
) -> SourceLoadReport:
    """Load every new or changed file of one source through the gate; unchanged files are skipped.

    A file is unchanged when its size and modification time match the ledger (no read at all),
    or when its content hash matches (then only the ledger's mtime is refreshed). A rejected file
    is judged again when its suite changed since.

    The new files are committed together, in one transaction, after GX confirmed the door on
    them (one GX validation per source and run, not per file). When that fails, each file is
    loaded in a transaction of its own, so one file's trouble is that file's rejection only.
    """
    gate = gate or Gate()
    ensure_ledger(con)
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    table = f"{RAW_SCHEMA}.{ident(source)}"
    report = SourceLoadReport(source=source, table=table)
    # the tables exist even before the first delivery, so staging views always compile
    _ensure_raw_table(con, table, columns, [])
    quarantine.ensure_table(con, source, columns)
    known = {row[0]: row for row in con.execute(CURRENT_LEDGER_SQL, [source]).fetchall()}
    fingerprint = gate.suite.fingerprint if gate.suite else None
    open_files = {
        r[0]
        for r in con.execute(
            f"select distinct _source_file from {quarantine.table_name(source)} "
            "where _released_at is null"
        ).fetchall()
    }
    listing: list[tuple[str, FileOutcome | None]] = []
    todo: list[Pending] = []
    new_digests: dict[str, str] = {}  # content hash -> first new file with it, this delivery
    for path in list_extract_files(folder):
        rel_path = path.relative_to(raw_root).as_posix()
        stat = path.stat()
        previous = known.get(rel_path)
        # a changed suite judges again the files it held back, whole or in part
        rejudge = bool(
            previous
            and previous[5] != fingerprint
            and (previous[4] == "rejected" or rel_path in open_files)
        )
        same_stat = previous and (previous[2], previous[3]) == (stat.st_size, stat.st_mtime_ns)
        if same_stat and not rejudge:
            listing.append((rel_path, FileOutcome(rel_path, "unchanged")))
            continue
        digest = file_hash(path)
        if previous and not rejudge and previous[1] == digest:
            con.execute(
                f"update {LEDGER_TABLE} set mtime_ns = ? where path = ? and content_hash = ?",
                [stat.st_mtime_ns, rel_path, digest],
            )
            listing.append((rel_path, FileOutcome(rel_path, "unchanged")))
            continue
        twin = next(
            (
                p
                for p, row in known.items()
                if p != rel_path and row[1] == digest and row[4] in ("loaded", "replaced")
            ),
            # the same bytes twice in one delivery: the later file is the duplicate
            new_digests.get(digest),
        )
        new_digests.setdefault(digest, rel_path)
        todo.append(Pending(path, rel_path, digest, stat, previous, twin))
        listing.append((rel_path, None))
    outcomes: dict[str, FileOutcome] = {}
    if todo:
        try:
            outcomes = _load_delivery(con, gate, source, table, columns, run_id, todo)
        except DeliveryFailed as exc:
            LOG.warning(
                "%s: loading the new files together failed (%s); one by one now", source, exc
            )
            for item in todo:
                try:
                    outcomes.update(
                        _load_delivery(con, gate, source, table, columns, run_id, [item])
                    )
                except DeliveryFailed as single:
                    outcomes[item.rel_path] = _hold(con, gate, source, run_id, item, single)
    for rel_path, outcome in listing:
        outcome = outcome or outcomes[rel_path]
        report.files.append(outcome)
        if on_file:
            on_file(outcome)
    return report


def _batch_id(item: Pending, at: datetime) -> str:
    """When, which bytes, and a nonce: the same bytes judged twice are two batches."""
    return f"{at:%Y%m%dT%H%M%S}-{item.digest[:12]}-{secrets.token_hex(2)}"


def _door(
    con: duckdb.DuckDBPyConnection,
    gate: Gate,
    source: str,
    table: str,
    columns: Sequence[str],
    item: Pending,
    batch_id: str,
    loaded_at: datetime,
) -> tuple[FileOutcome, dict[str, dict[str, int]]]:
    """One file through the door, inside the caller's transaction: raises RejectedFile, or
    writes its rows to raw and quarantine and returns the outcome and the rule counts."""
    path, rel_path = item.path, item.rel_path
    if item.twin:
        raise RejectedFile(
            "file:duplicate_delivery",
            f"same content as {item.twin}, which is already loaded (the same file under a new "
            "name); nothing of it is loaded twice",
            rows=max(_line_count(path) - 1, 0),
        )
    is_parquet = path.suffix.lower() == ".parquet"
    sniffed = sniff_parquet(con, path) if is_parquet else sniff_csv(path)
    problems = _header_problems(gate, sniffed, columns)
    if problems:
        rows = None
        with contextlib.suppress(RejectedFile):
            rows, _ = _stage(con, path, sniffed)
        raise RejectedFile("columns", problems, rows=rows)
    staged, malformed = _stage(con, path, sniffed)
    delivered = staged + malformed
    truncated_row = None
    if not sniffed.ends_with_newline and staged:
        last_row = con.execute("select max(_row_number) from _stage").fetchone()[0]
        if last_row == delivered:  # the cut line split into columns after all
            truncated_row = int(last_row)
    in_file_order = _check(con, gate, sniffed.names, table, rel_path, truncated_row)
    failed, flagged = con.execute(
        "select count(*) filter (where len(_failed) > 0), "
        "count(*) filter (where len(_flagged) > 0) from _checked"
    ).fetchone()
    counts = _rule_counts(con, gate, sniffed.names)
    if malformed:
        counts["quarantined"][quarantine.MALFORMED_RULE] = malformed
    failed = int(failed) + malformed
    try:
        _decide(con, gate, delivered, failed, counts["quarantined"], table, rel_path)
    except RejectedFile as exc:
        exc.evidence = counts
        raise
    status = (
        "replaced" if item.previous and item.previous[4] in ("loaded", "replaced") else "loaded"
    )
    same_bytes = item.previous is not None and item.previous[1] == item.digest
    loaded = _commit_rows(
        con, source, gate, table, sniffed.names, columns, rel_path, batch_id, loaded_at,
        malformed, "suite changed" if same_bytes else "file re-delivered", in_file_order,
    )  # fmt: skip
    notes = []
    if failed:
        notes.append(f"{failed:,} row(s) quarantined")
    if flagged:
        notes.append(f"{int(flagged):,} row(s) flagged")
    if sniffed.has_bom:
        notes.append("UTF-8 byte order mark ignored")
    if not delivered:
        notes.append("header only: no data rows")
    normalised = sum(counts["normalised"].values())
    if normalised:
        notes.append(f"{normalised:,} value(s) normalised")
    outcome = FileOutcome(
        rel_path,
        status,
        loaded,
        "; ".join(notes),
        rows_delivered=delivered,
        rows_quarantined=failed,
        rows_flagged=int(flagged),
        rows_rejected=0,
        batch_id=batch_id,
    )
    return outcome, counts


def _rejected_outcome(
    item: Pending, batch_id: str, exc: RejectedFile | DeliveryFailed
) -> FileOutcome:
    rows = exc.rows if isinstance(exc, RejectedFile) else None
    if rows is None and isinstance(exc, DeliveryFailed) and item.path.suffix.lower() == ".csv":
        rows = max(_line_count(item.path) - 1, 0)
    return FileOutcome(
        item.rel_path,
        "rejected",
        0,
        f"{item.rel_path}: {exc}",
        rows_delivered=rows,
        rows_rejected=rows,
        rule=exc.rule,
        batch_id=batch_id,
    )


def _load_delivery(
    con: duckdb.DuckDBPyConnection,
    gate: Gate,
    source: str,
    table: str,
    columns: Sequence[str],
    run_id: str,
    items: Sequence[Pending],
) -> dict[str, FileOutcome]:
    """The files of `items` through the door in one transaction, confirmed by one GX run."""
    suite = gate.suite
    outcomes: dict[str, FileOutcome] = {}
    keep: list[tuple[Path, Path | None]] = []
    door_failed: dict[str, int] = {}
    judged = False
    con.execute("begin transaction")
    try:
        for item in items:
            loaded_at = datetime.now().replace(microsecond=0)
            batch_id = _batch_id(item, loaded_at)
            try:
                outcome, counts = _door(
                    con, gate, source, table, columns, item, batch_id, loaded_at
                )
            except RejectedFile as exc:
                if isinstance(exc.__cause__, duckdb.Error):
                    # the failed statement aborted the transaction: start over file by file
                    raise DeliveryFailed(exc.rule, str(exc)) from exc
                outcome = _rejected_outcome(item, batch_id, exc)
                counts = {"rejected": {exc.rule: exc.rows or 0}}
                counts.update({f"evidence:{k}": v for k, v in exc.evidence.items()})
                LOG.warning("rejected %s", outcome.message)
            kept = (
                _rejected_copy(gate, source, item.path, batch_id)
                if outcome.status == "rejected"
                else None
            )
            if kept is not None:
                keep.append((item.path, kept))
            _record(con, gate, source, run_id, item, outcome, counts, loaded_at, kept)
            if outcome.status != "rejected" and suite is not None:
                rows = judged_rows_sql(suite, "_checked", gate.gx_sample_rows)
                con.execute(
                    f"insert into _judged {rows}"
                    if judged
                    else f"create temp table _judged as {rows}"
                )
                judged = True
                for group in ("quarantined", "flagged"):
                    for rule, n in counts[group].items():
                        door_failed[rule] = door_failed.get(rule, 0) + n
            con.execute(
                "drop view if exists _stage; drop table if exists _stage_rows; "
                "drop table if exists _stage_numbered; drop table if exists _checked; "
                "drop table if exists _unique_hits; drop table if exists _rechecked"
            )
            outcomes[item.rel_path] = outcome
        if judged and suite is not None:
            _confirm_with_gx(con, gate, suite, source, outcomes, door_failed)
        con.execute("commit")
    except DeliveryFailed:
        con.execute("rollback")
        raise
    except Exception as exc:  # noqa: BLE001 - a database or GX failure holds these files back
        con.execute("rollback")
        LOG.exception("the door failed on %s", ", ".join(i.rel_path for i in items))
        raise DeliveryFailed("gate:error", f"the gate failed: {exc}") from exc
    finally:
        con.execute("drop table if exists _judged")
    for path, target in keep:
        _keep(path, target)
    return outcomes


def _confirm_with_gx(
    con: duckdb.DuckDBPyConnection,
    gate: Gate,
    suite: Suite,
    source: str,
    outcomes: Mapping[str, FileOutcome],
    door_failed: Mapping[str, int],
) -> None:
    """GX re-judges the sampled rows of the delivery; it must find what the door found."""
    results = {
        rule.name: RuleResult(
            rule.name, rule.expectation_type, rule.severity, door_failed.get(rule.name, 0)
        )
        for rule in suite.row_rules
    }
    started = time.perf_counter()
    rows = judge_with_gx(
        con, suite, "select * from _judged", gate.parameters, gate.gx_chunk_rows, results
    )
    seconds = time.perf_counter() - started
    disagreements = [r for r in results.values() if not r.agrees]
    if disagreements:
        detail = "; ".join(
            f"{r.rule}: GX {r.gx_unexpected_count}, door {r.door_failed}"
            + (f" ({r.gx_error})" if r.gx_error else "")
            for r in disagreements
        )
        raise DeliveryFailed(
            "gate:self_check",
            f"GX and the door disagree on the rows that break {detail}: held until the data "
            "platform team checks the rule",
        )
    batches = [o for o in outcomes.values() if o.status != "rejected"]
    _record_results(con, source, batches, results, rows, seconds)


def _hold(
    con: duckdb.DuckDBPyConnection,
    gate: Gate,
    source: str,
    run_id: str,
    item: Pending,
    exc: DeliveryFailed,
) -> FileOutcome:
    """Record a file the gate could not load on its own as rejected, in its own transaction."""
    loaded_at = datetime.now().replace(microsecond=0)
    batch_id = _batch_id(item, loaded_at)
    outcome = _rejected_outcome(item, batch_id, exc)
    kept = _rejected_copy(gate, source, item.path, batch_id)
    con.execute("begin transaction")
    _record(
        con,
        gate,
        source,
        run_id,
        item,
        outcome,
        {"rejected": {exc.rule: outcome.rows_delivered or 0}},
        loaded_at,
        kept,
    )
    con.execute("commit")
    _keep(item.path, kept)
    LOG.warning("rejected %s", outcome.message)
    return outcome


def _record(
    con: duckdb.DuckDBPyConnection,
    gate: Gate,
    source: str,
    run_id: str,
    item: Pending,
    outcome: FileOutcome,
    counts: Mapping[str, Mapping[str, int]],
    at: datetime,
    kept: Path | None,
) -> None:
    """The ledger row of a file version and its rows per rule and outcome."""
    con.execute(
        f"insert into {LEDGER_TABLE} (source, path, content_hash, size_bytes, mtime_ns, "
        "row_count, status, message, batch_id, run_id, loaded_at, rows_delivered, rows_loaded, "
        "rows_quarantined, rows_rejected, rows_flagged, rejection_rule, kept_copy, "
        "suite_fingerprint) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            source,
            item.rel_path,
            item.digest,
            item.stat.st_size,
            item.stat.st_mtime_ns,
            outcome.rows,
            outcome.status,
            outcome.message or None,
            outcome.batch_id,
            run_id or None,
            at,
            outcome.rows_delivered,
            outcome.rows,
            outcome.rows_quarantined,
            outcome.rows_rejected,
            outcome.rows_flagged,
            outcome.rule,
            str(kept) if kept else None,
            gate.suite.fingerprint if gate.suite else None,
        ],
    )
    rows = [
        (
            outcome.batch_id,
            source,
            item.rel_path,
            rule,
            kind.replace("evidence:", "rejected_evidence:"),
            n,
            at,
        )
        for kind, group in counts.items()
        for rule, n in group.items()
        if n or kind == "rejected"
    ]
    if rows:
        con.executemany(f"insert into {RULE_COUNTS_TABLE} values (?, ?, ?, ?, ?, ?, ?)", rows)
    outcome.rule_counts = {
        rule: n
        for kind, group in counts.items()
        if kind in ("quarantined", "flagged", "rejected")
        for rule, n in group.items()
    }


def _record_results(
    con: duckdb.DuckDBPyConnection,
    source: str,
    batches: Sequence[FileOutcome],
    results: Mapping[str, RuleResult],
    judged: int,
    seconds: float,
) -> None:
    """GX's official result of one delivery, rule by rule, beside the door's counts."""
    at = datetime.now().replace(microsecond=0)
    batch_ids = [b.batch_id for b in batches]
    validation_id = (
        f"{at:%Y%m%dT%H%M%S}-{source}-{hashlib.sha256(''.join(batch_ids).encode()).hexdigest()[:8]}"
    )
    rows = [
        (
            validation_id,
            source,
            batch_ids,
            r.rule,
            r.expectation_type,
            r.severity,
            r.door_failed,
            r.gx_evaluated,
            r.gx_success,
            r.gx_element_count,
            r.gx_unexpected_count,
            r.gx_error,
            judged,
            at,
            round(seconds, 3),
        )
        for r in results.values()
    ]
    if rows:
        con.executemany(
            f"insert into {RESULTS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
