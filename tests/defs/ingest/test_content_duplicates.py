"""Records equal in every column but their id: quarantined where that means a re-keyed copy,
loaded and flagged where two genuine events can be alike.

The suites' `content_duplicate` rule quarantined every such record. On clean data that held back
legitimate ones, more as volume grows (at scale 10, about 4 a month: NPS responses, unanswered
calls, undecided applications of one unit in the same second). Now `content_duplicate` quarantines
only where the row carries enough detail that a coincidence is implausible (an answered call with
its agent and seconds, a decided application, a claim with its policy and amounts, ...), and
`identical_event` (warning) loads and flags the rest. Each case copies generated rows of the
newest month under new ids, next to the original, as a re-keyed duplicate arrives.
"""

from __future__ import annotations

import csv
import io
import random
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.contract import load_contract
from dagster_project.core.settings import get_settings
from dagster_project.defs.ingest.load import ingest_source
from dagster_project.defs.ingest.outcomes import Gate
from dagster_project.defs.ingest.rules.suite import load_order, load_suites, resolve_parameters

CONTRACT = load_contract()
SUITES = load_suites(get_settings().expectations_dir)
NOW = datetime(2026, 11, 1)
MASTERS = ("org_units", "org_aliases", "centers")

# source, which rows are copied (column: empty or not), the outcome for the copies
CASES = {
    "unanswered_contact": ("contacts", ("answered_at", False), "flagged"),
    "answered_contact": ("contacts", ("answered_at", True), "quarantined"),
    "nps_response": ("nps_responses", None, "flagged"),
    "undecided_application": ("applications", ("decided_at", False), "flagged"),
    "decided_application": ("applications", ("decided_at", True), "quarantined"),
    "claim": ("claims", None, "quarantined"),
    "task": ("tasks", None, "quarantined"),
    "endorsement": ("endorsements", None, "quarantined"),
}


def load(con: duckdb.DuckDBPyConnection, raw: Path, source: str) -> None:
    suite = SUITES[source]
    gate = Gate(
        suite,
        resolve_parameters(con, suite.parameters, NOW),
        CONTRACT[source].key,
        gx_sample_rows=200,
    )
    columns = [c.name for c in CONTRACT[source].columns]
    ingest_source(con, source, raw / source, raw, columns, run_id="t", gate=gate)


def with_copies(
    path: Path, key: str, which: tuple[str, bool] | None, rng: random.Random, copies: int
) -> tuple[str, list[int]]:
    """The file with `copies` chosen rows each followed by a copy under a new id; the data row
    numbers of the copies."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    header, body = rows[0], rows[1:]
    eligible = list(range(len(body)))
    if which is not None:
        column, filled = which
        eligible = [i for i in eligible if bool(body[i][header.index(column)]) is filled]
    assert len(eligible) >= copies, "the generated month has rows of this kind"
    chosen = set(rng.sample(eligible, copies))
    at = header.index(key)
    out, numbers = [header], []
    for i, row in enumerate(body):
        out.append(row)
        if i in chosen:
            out.append([*row[:at], f"{row[at]}R{len(numbers)}", *row[at + 1 :]])
            numbers.append(len(out) - 1)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(out)
    return text.getvalue(), numbers


@pytest.mark.parametrize("case", list(CASES))
def test_records_equal_but_their_id_end_as_documented(case, generated_raw, tmp_path):
    source, which, outcome = CASES[case]
    raw = tmp_path / "raw"
    for master in MASTERS:
        shutil.copytree(generated_raw / master, raw / master)
    original = sorted((generated_raw / source).glob(f"{source}_*.csv"))[-1]
    text, copies = with_copies(
        original, CONTRACT[source].key[0], which, random.Random(case), copies=3
    )
    (raw / source).mkdir()
    (raw / source / original.name).write_text(text, encoding="utf-8")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for name in load_order([*MASTERS, source]):
        load(con, raw, name)
    path = f"{source}/{original.name}"

    held = dict(
        con.execute(
            f"select _row_number, _failed_rules from quarantine.{source} where _source_file = ?",
            [path],
        ).fetchall()
    )
    flags = dict(
        con.execute(
            "select _row_number, rules from meta.row_flags where source = ? and _source_file = ?",
            [source, path],
        ).fetchall()
    )
    loaded = {
        n
        for (n,) in con.execute(
            f"select _row_number from raw.{source} where _source_file = ?", [path]
        ).fetchall()
    }
    originals = {n - 1 for n in copies}
    assert originals <= loaded, "the first occurrence is always loaded"
    if outcome == "flagged":
        assert set(copies) <= loaded and not held
        assert all("identical_event" in flags[n] for n in copies)
    else:
        assert set(held) == set(copies) and not set(copies) & loaded
        assert all("content_duplicate" in held[n] for n in copies)
        assert not any("identical_event" in rules for rules in flags.values())
    # nothing else of the file is touched by either rule
    others = [r for n, r in {**held, **flags}.items() if n not in copies]
    assert not any({"content_duplicate", "identical_event"} & set(r) for r in others)
    con.close()
