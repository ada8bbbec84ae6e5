"""Records equal in every column but their id, in generated extracts: what the suites' rules do.

    python -m benchmarks.content_duplicates --raw DIR [--raw DIR ...] [--json OUT]

For every source whose suite has a content rule (`expect_compound_columns_to_be_unique` over
every contract column but the key, within a file: `content_duplicate`, `identical_event`), finds
each row equal in those columns to an earlier row of its file, as the door does (the first
occurrence passes, the later ones fail), and says what happens to it: quarantined (a critical
rule whose row_condition holds), flagged (a warning rule's), or quarantined under the single
rule the suites had before (every later occurrence). With the generator's defect manifest
(`<raw>/_manifest/defects.csv`), each such row is a re-keyed duplicate, an exact duplicate (also
the key rule's), or a genuine record.

The extracts are read as text with DuckDB and compared as delivered: the generator writes the
contract's canonical text, so this is what the door compares after normalisation. Several
`--raw` folders (one scale run cut into runs of fewer months) are added up.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.core.contract import load_contract
from dagster_project.core.settings import get_settings
from dagster_project.core.sql import ident, literal
from dagster_project.defs.ingest.rules.suite import Rule, load_suites

OUTCOMES = ("quarantined", "flagged")


@dataclass
class Counts:
    """Later occurrences of one source, by what they are and what the rules do to them."""

    rows: int = 0
    repeats: int = 0  # rows equal to an earlier row of their file in every content column
    before_quarantined: int = 0
    now: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    # with a manifest: (kind, outcome now) -> rows; kind: rekeyed_duplicate | duplicate | genuine
    by_kind: dict[str, int] = field(default_factory=dict)
    rekeyed_in_manifest: int = 0

    def add(self, other: Counts) -> None:
        self.rows += other.rows
        self.repeats += other.repeats
        self.before_quarantined += other.before_quarantined
        self.rekeyed_in_manifest += other.rekeyed_in_manifest
        for key, value in other.now.items():
            self.now[key] = self.now.get(key, 0) + value
        for key, value in other.by_kind.items():
            self.by_kind[key] = self.by_kind.get(key, 0) + value


def content_rules(key: tuple[str, ...], columns: list[str], rules: tuple[Rule, ...]) -> list[Rule]:
    """The suite's rules on every column but the key, within a file."""
    wanted = sorted(c for c in columns if c not in key)
    return [r for r in rules if r.is_unique and r.scope == "file" and sorted(r.columns) == wanted]


def condition_sql(condition: Mapping[str, Any] | None) -> str:
    """A rule's row_condition on the delivered text (the suites' content rules use nullity)."""
    if not condition:
        return "true"
    kind = condition.get("type")
    if kind in ("and", "or"):
        return "(" + f" {kind} ".join(condition_sql(c) for c in condition["conditions"]) + ")"
    if kind != "nullity":
        raise ValueError(f"only nullity conditions are measured, not {kind!r}")
    column = ident(str(condition["column"]["name"]))
    return f"({column} is {'' if condition['is_null'] else 'not '}null)"


def measure_source(
    con: duckdb.DuckDBPyConnection, raw: Path, source: str, key: str, rules: list[Rule]
) -> Counts:
    files = sorted(str(p) for p in (raw / source).glob("*.csv"))
    counts = Counts()
    if not files:
        return counts
    columns = ", ".join(ident(c) for c in rules[0].columns)
    paths = "[" + ", ".join(literal(f) for f in files) + "]"
    con.execute(
        "create or replace temp table src as select * from "
        f"read_csv({paths}, all_varchar = true, filename = true, header = true)"
    )
    counts.rows = con.execute("select count(*) from src").fetchone()[0]
    # the rows whose content hash repeats in their file, numbered as the door numbers them
    outcome = " ".join(
        f"when {condition_sql(r.kwargs.get('row_condition'))} then "
        f"{literal('quarantined' if r.severity == 'critical' else 'flagged')}"
        for r in rules
    )
    con.execute(
        f"""
        create or replace temp table repeats as
        select {ident(key)} as record_key, case {outcome} end as outcome
        from (
            select *, row_number() over (partition by filename, {columns} order by rowid) as n
            from src
            where hash(filename, {columns}) in (
                select hash(filename, {columns}) from src group by 1 having count(*) > 1
            )
        )
        where n > 1
        """
    )
    counts.repeats = con.execute("select count(*) from repeats").fetchone()[0]
    counts.before_quarantined = counts.repeats
    for name, rows in con.execute(
        "select outcome, count(*) from repeats where outcome is not null group by 1"
    ).fetchall():
        counts.now[name] = rows
    manifest = raw / "_manifest" / "defects.csv"
    if manifest.is_file():
        con.execute(
            "create or replace temp table defects as select record_key, defect_kind from "
            f"read_csv({literal(str(manifest))}, all_varchar = true) where source = ?",
            [source],
        )
        counts.rekeyed_in_manifest = con.execute(
            "select count(*) from defects where defect_kind = 'rekeyed_duplicate'"
        ).fetchone()[0]
        for kind, name, rows in con.execute(
            "select coalesce(d.defect_kind, 'genuine'), r.outcome, count(*) from repeats r "
            "left join (select distinct record_key, defect_kind from defects "
            "where defect_kind in ('rekeyed_duplicate', 'duplicate')) d using (record_key) "
            "group by all"
        ).fetchall():
            counts.by_kind[f"{kind}:{name}"] = rows
    return counts


def measure(raw_dirs: list[Path]) -> dict[str, Counts]:
    contract = load_contract()
    suites = load_suites(get_settings().expectations_dir)
    out: dict[str, Counts] = {}
    con = duckdb.connect()
    con.execute("set enable_progress_bar = false")  # the counts go to stderr, not bars
    for source, suite in sorted(suites.items()):
        columns = [c.name for c in contract[source].columns]
        rules = content_rules(contract[source].key, columns, suite.rules)
        if not rules:
            continue
        total = Counts()
        for raw in raw_dirs:
            total.add(measure_source(con, raw, source, contract[source].key[0], rules))
        out[source] = total
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.content_duplicates")
    parser.add_argument("--raw", type=Path, action="append", required=True)
    parser.add_argument("--json", type=Path, help="write the counts here")
    args = parser.parse_args(argv)
    found = measure(args.raw)
    total = Counts()
    for source, counts in found.items():
        total.add(counts)
        print(
            f"{source:20} {counts.rows:>11,} rows, {counts.repeats:>6,} equal but the id: "
            f"before {counts.before_quarantined:,} quarantined; now "
            f"{counts.now['quarantined']:,} quarantined, {counts.now['flagged']:,} flagged"
            + (f"; {counts.by_kind}" if counts.by_kind else ""),
            file=sys.stderr,
        )
    print(json.dumps({"total": asdict(total), **{s: asdict(c) for s, c in found.items()}}))
    if args.json:
        args.json.write_text(
            json.dumps({"total": asdict(total), **{s: asdict(c) for s, c in found.items()}}) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
