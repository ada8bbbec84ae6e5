"""The door: one file staged, normalised, judged by every rule and split into raw and quarantine."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import duckdb

from dagster_project.core.sql import ident, literal
from dagster_project.core.warehouse import ensure_text_table
from dagster_project.defs.ingest import quarantine, results
from dagster_project.defs.ingest.files import (
    MAX_LINE_BYTES,
    Sniffed,
    opened_for_duckdb,
    sniff_csv,
    sniff_parquet,
)
from dagster_project.defs.ingest.outcomes import FileOutcome, Gate, Pending, RejectedFile
from dagster_project.defs.ingest.rules.sql import (
    broken_rules_sql,
    failed_rules_sql,
    rejudged_sql,
    typed_select,
    unique_hits_sql,
)
from dagster_project.defs.ingest.rules.suite import Suite
from dagster_project.defs.ingest.rules.types import canonical_sql, trimmed_sql

RAW_SCHEMA = "raw"


RAW_LINEAGE_COLUMNS = (
    ("_source_file", "varchar"),
    ("_row_number", "bigint"),
    ("_batch_id", "varchar"),
    ("_loaded_at", "timestamp"),
)


LINEAGE_COLUMNS = tuple(name for name, _ in RAW_LINEAGE_COLUMNS)


def _reader_sql(readable: str, is_parquet: bool, sniffed: Sniffed) -> str:
    """The table function reading one file as text columns named as the contract expects;
    `readable` names the opened file itself (`files.opened_for_duckdb`), never a glob."""
    file_literal = literal(readable)
    if is_parquet:
        cols = ", ".join(
            f"cast({ident(c)} as varchar) as {ident(n)}"
            for c, n in zip(sniffed.columns, sniffed.names, strict=True)
        )
        return f"(select {cols} from read_parquet({file_literal}))"
    # The contract fixes the dialect, so nothing is sniffed: the header was parsed above, values
    # stay text, and rows DuckDB cannot split land in the rejects table instead of failing the
    # file (no `new_line`: CRLF files read the same).
    columns = "{" + ", ".join(f"{literal(n)}: 'VARCHAR'" for n in sniffed.names) + "}"
    return (
        f"read_csv({file_literal}, columns = {columns}, header = true, auto_detect = false, "
        f"delim = ',', quote = '\"', escape = '\"', max_line_size = {MAX_LINE_BYTES}, "
        "store_rejects = true, "
        "rejects_table = '_rejects', rejects_scan = '_rejects_scan')"
    )


def _stage(
    con: duckdb.DuckDBPyConnection, path: Path, sniffed: Sniffed, readable: str | None = None
) -> tuple[int, int]:
    """Read the file into temp table `_stage_rows`, seen through view `_stage` with the data row
    number `_row_number`; returns (rows staged, malformed rows set aside). `readable` is the
    opened file (`files.opened_for_duckdb`); without it the file is opened here."""
    if readable is None:
        with opened_for_duckdb(path) as opened:
            return _stage(con, path, sniffed, opened)
    con.execute("drop table if exists _rejects; drop table if exists _rejects_scan")
    is_parquet = path.suffix.lower() == ".parquet"
    reader = _reader_sql(readable, is_parquet, sniffed)
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
        detail = str(exc).replace(readable, path.name)
        raise RejectedFile("file:unreadable", f"unreadable as {kind}: {detail}") from exc
    first, last = con.execute("select min(rowid), max(rowid) from _stage_rows").fetchone()
    if not staged or last - first + 1 == staged:
        # rowids of a table made inside a transaction start high, not at 0
        number = f"rowid - {int(first or 0)} + 1"
    else:  # never seen: the rowids have gaps, so they are no row numbers
        number = "row_number() over ()"
    con.execute(
        f"create or replace temp view _stage as select *, {number} as _row_number from _stage_rows"
    )
    if is_parquet:
        return staged, 0
    rejects = con.execute(
        "select line, string_agg(distinct error_type, ', ') from _rejects "
        "group by line order by line"
    ).fetchall()
    _refuse_long_lines(con, staged + len(rejects))
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


def _refuse_long_lines(con: duckdb.DuckDBPyConnection, delivered: int) -> None:
    """A record longer than MAX_LINE_BYTES rejects the file: DuckDB cannot split it, so its key
    would be lost in quarantine (a correction could never release it by key); the department
    re-delivers the file with the value shortened, under the same name."""
    long_lines = con.execute(
        "select line, max(try_cast(regexp_extract(error_message, 'Actual Size:\\s*(\\d+)', 1) "
        "as bigint)) from _rejects where error_type = 'LINE SIZE OVER MAXIMUM' "
        "group by line order by line"
    ).fetchall()
    if not long_lines:
        return
    line, size = long_lines[0]
    more = f" (and {len(long_lines) - 1:,} more)" if len(long_lines) > 1 else ""
    length = f"{size / 1e6:,.1f} MB" if size else "too long"
    raise RejectedFile(
        "file:line_too_long",
        f"line {line:,} is {length}{more}, over the limit of {MAX_LINE_BYTES / 1e6:g} MB per "
        "record; re-deliver the file with the value shortened",
        rows=delivered,
    )


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
        f"list_append(_failed, {literal(quarantine.TRUNCATED_RULE)}) else _failed end "
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


def ensure_raw_table(
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
        ensure_raw_table(con, table, columns, names)
        quarantine.ensure_table(con, source, list(columns) + extra)
    con.execute(f"delete from {table} where _source_file = ?", [rel_path])
    quarantine.release_file(con, source, rel_path, batch_id, loaded_at, release_reason)
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
            f"[{literal(quarantine.MALFORMED_RULE)}] as _failed_rules, ? as _quarantined_at "
            "from _rejects group by line order by line",
            [rel_path, batch_id, loaded_at],
        )
    results.replace_flags(con, source, rel_path, batch_id, "_checked")
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


def _read(
    con: duckdb.DuckDBPyConnection,
    gate: Gate,
    columns: Sequence[str],
    item: Pending,
    readable: str,
) -> tuple[int, int, Sniffed]:
    """The file rules, then the file staged: (rows staged, malformed rows, what the sniff saw)."""
    path = item.path
    if item.twin:
        raise RejectedFile(
            "file:duplicate_delivery",
            f"same content as {item.twin}, which is already loaded (the same file under a new "
            "name); nothing of it is loaded twice",
            rows=item.scan.data_rows if item.scan and path.suffix.lower() == ".csv" else None,
        )
    is_parquet = path.suffix.lower() == ".parquet"
    sniffed = sniff_parquet(con, path, readable) if is_parquet else sniff_csv(path, item.scan)
    problems = _header_problems(gate, sniffed, columns)
    if problems:
        rows = None
        with contextlib.suppress(RejectedFile):
            rows, _ = _stage(con, path, sniffed, readable)
        raise RejectedFile("columns", problems, rows=rows)
    staged, malformed = _stage(con, path, sniffed, readable)
    return staged, malformed, sniffed


def through_door(
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
    if item.refusal is not None:  # a link: refused without reading what it points to
        raise item.refusal
    with opened_for_duckdb(path, item.stat) as readable:
        staged, malformed, sniffed = _read(con, gate, columns, item, readable)
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
    same_bytes = item.previous is not None and item.previous.content_hash == item.digest
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
        "loaded",
        loaded,
        "; ".join(notes),
        rows_delivered=delivered,
        rows_quarantined=failed,
        rows_flagged=int(flagged),
        rows_rejected=0,
        batch_id=batch_id,
        replaces=bool(item.previous and item.previous.is_loaded),
    )
    return outcome, counts
