"""Quoting for the few names and values that must be pasted into SQL text.

Values are bound as parameters wherever DuckDB allows it. Identifiers (schema, table and column
names from the contract and the suites) and the odd literal that cannot be bound (a path in
ATTACH, a pattern in a generated expression) go through these two functions and nowhere else.
"""

from __future__ import annotations


def ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def qualified(schema: str, table: str) -> str:
    """`"schema"."table"`."""
    return f"{ident(schema)}.{ident(table)}"
