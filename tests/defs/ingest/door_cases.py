"""Helpers shared by the door's hostile-input tests: a loaded workspace and what the gate wrote."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dagster_project.defs.ingest.rules.suite import load_order
from tests.defs.ingest.test_gate import MASTERS, load, rows_of, to_csv


@contextmanager
def loaded_workspace(
    tmp_path: Path, generated_raw: Path
) -> Iterator[tuple[Path, duckdb.DuckDBPyConnection, Path]]:
    """Masters and one clean claims month, loaded; yields (raw dir, connection, clean month)."""
    clean_month = sorted((generated_raw / "claims").glob("claims_*.csv"))[0]
    raw = tmp_path / "raw"
    for source in MASTERS:
        shutil.copytree(generated_raw / source, raw / source)
    (raw / "claims").mkdir(parents=True)
    shutil.copy2(clean_month, raw / "claims" / clean_month.name)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        for source in load_order([*MASTERS, "claims"]):
            load(con, raw, source, tmp_path)
        yield raw, con, raw / "claims" / clean_month.name
    finally:
        con.close()


def fresh_rows(clean_month: Path, prefix: str) -> list[list[str]]:
    """The clean month's rows under new claim and policy ids starting with `prefix`."""
    header, *body = rows_of(clean_month)
    claim, policy = header.index("claim_id"), header.index("policy_id")
    out = [header]
    for n, row in enumerate(body):
        row = list(row)
        row[claim], row[policy] = f"{prefix}C{n:06d}", f"{prefix}P{n:06d}"
        out.append(row)
    return out


def fresh_csv(clean_month: Path, prefix: str) -> bytes:
    return to_csv(fresh_rows(clean_month, prefix)).encode()


def everything_written(con: duckdb.DuckDBPyConnection, *folders: Path) -> str:
    """Every value of every table the gate writes, and every file name and byte under `folders`,
    as one text to search for what must not be there."""
    parts = []
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() "
        "where schema_name in ('meta', 'raw', 'quarantine') order by all"
    ).fetchall()
    for schema, table in tables:
        parts.append(repr(con.execute(f'select * from "{schema}"."{table}"').fetchall()))
    for folder in folders:
        if folder.exists():
            for path in sorted(folder.rglob("*")):
                parts.append(str(path))
                if path.is_file() and not path.is_symlink():
                    parts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)


def ledger_rows(con: duckdb.DuckDBPyConnection, rel_path: str) -> list[tuple]:
    """(status, rule, message, rows_delivered, kept_copy) of every version of a path, in order."""
    return con.execute(
        "select status, rejection_rule, message, rows_delivered, kept_copy "
        "from meta.file_ledger where path = ? order by ledger_id",
        [rel_path],
    ).fetchall()
