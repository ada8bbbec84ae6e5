"""The expectation suites: valid GX, in step with the contract, judged alike by DuckDB and GX."""

from __future__ import annotations

import json
import random
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.contract import load_contract
from dagster_project.core.settings import get_settings
from dagster_project.defs.ingest import door as door_sql
from dagster_project.defs.ingest import load as ingest
from dagster_project.defs.ingest.files import sniff_csv
from dagster_project.defs.ingest.outcomes import Gate
from dagster_project.defs.ingest.rules.gx import (
    RuleResult,
    judge_with_gx,
    judged_rows_sql,
    nanosecond_datetimes,
)
from dagster_project.defs.ingest.rules.sql import unique_hits_sql
from dagster_project.defs.ingest.rules.suite import (
    ROW_TYPES,
    load_order,
    load_suite,
    load_suites,
    resolve_parameters,
)
from dagster_project.defs.ingest.rules.types import (
    SuiteError,
    is_numeric_type,
    normalised_sql,
    trimmed_sql,
    type_pattern,
)

CONTRACT = load_contract()
SUITES = load_suites(get_settings().expectations_dir)
NOW = datetime(2026, 11, 1)


def test_every_source_has_a_suite_that_gx_reads():
    assert set(SUITES) == set(CONTRACT)


@pytest.mark.parametrize("source", sorted(CONTRACT))
def test_suite_columns_and_types_match_the_contract(source):
    suite, contract = SUITES[source], CONTRACT[source]
    assert list(suite.required_columns) == [c.name for c in contract.columns]
    typed = {c.name: c.data_type for c in contract.columns if c.data_type != "varchar"}
    assert suite.types == typed


@pytest.mark.parametrize("source", sorted(CONTRACT))
def test_suite_keys_are_unique_and_not_null_across_files(source):
    suite, key = SUITES[source], CONTRACT[source].key
    unique = [r for r in suite.rules if r.is_unique and r.columns == key]
    assert len(unique) == 1 and unique[0].scope == "source"
    not_null = {r.columns[0] for r in suite.rules if r.name.startswith("not_null:")}
    assert set(key) <= not_null


@pytest.mark.parametrize("source", sorted(CONTRACT))
def test_every_number_column_has_a_finite_rule(source):
    suite = SUITES[source]
    numbers = {c for c, t in suite.types.items() if is_numeric_type(t)}
    finite = {r.columns[0] for r in suite.rules if r.name == f"finite:{r.columns[0]}"}
    assert finite == numbers


def test_the_finite_rule_on_a_text_column_is_refused(tmp_path):
    path = tmp_path / "claims.json"
    path.write_text(
        json.dumps(
            {
                "name": "claims",
                "expectations": [
                    {
                        "type": "expect_table_columns_to_match_set",
                        "kwargs": {"column_set": ["org_code"]},
                    },
                    {"type": "expect_column_values_to_be_finite", "kwargs": {"column": "org_code"}},
                ],
            }
        )
    )
    with pytest.raises(SuiteError, match="number columns only"):
        load_suite(path)


def test_masters_load_first():
    order = load_order(CONTRACT)
    assert order[:3] == ["org_units", "org_aliases", "centers"]


def test_unknown_expectation_type_is_refused(tmp_path):
    path = tmp_path / "claims.json"
    path.write_text(
        json.dumps(
            {
                "name": "claims",
                "expectations": [
                    {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "x"}}
                ],
            }
        )
    )
    with pytest.raises(SuiteError, match="cannot apply"):
        load_suite(path)


def test_unknown_parameter_is_refused(tmp_path):
    path = tmp_path / "claims.json"
    rule = {"column": "org_code", "value_set": {"$PARAMETER": "nowhere"}}
    path.write_text(
        json.dumps(
            {
                "name": "claims",
                "expectations": [
                    {
                        "type": "expect_table_columns_to_match_set",
                        "kwargs": {"column_set": ["org_code"]},
                    },
                    {"type": "expect_column_values_to_be_in_set", "kwargs": rule},
                ],
            }
        )
    )
    with pytest.raises(SuiteError, match="unknown parameter"):
        load_suite(path)


@pytest.mark.parametrize(
    ("data_type", "value", "ok"),
    [
        ("timestamp", "2026-03-07 09:05:00", True),
        ("timestamp", "2026-3-7 9:05:00", False),
        ("date", "2026-03-07", True),
        ("decimal(18,2)", "1234.5", True),
        ("decimal(18,2)", "1234.567", False),
        ("integer", "-12", True),
        ("integer", "1e3", False),
        ("boolean", "true", True),
        ("boolean", "yes", False),
    ],
)
def test_type_pattern_is_the_canonical_text(data_type, value, ok):
    import re

    assert bool(re.fullmatch(type_pattern(data_type), value)) is ok


@pytest.mark.parametrize(
    ("data_type", "upper", "delivered", "normalised"),
    [
        ("timestamp", False, " 2026/3/7 9:05 ", "2026-03-07 09:05:00"),
        ("timestamp", False, "2026-03-07T09:05:33", "2026-03-07 09:05:33"),
        ("timestamp", False, "03/07/2026 09:05:00", "03/07/2026 09:05:00"),
        ("timestamp", False, "3/7/26 9:05", "3/7/26 9:05"),  # never read as the year 3
        ("timestamp", False, "45717.4375", "45717.4375"),
        ("timestamp", False, "2026-02-30 10:00:00", "2026-02-30 10:00:00"),
        ("date", False, "2026/3/7", "2026-03-07"),
        ("decimal(18,2)", False, "1,234,567.89", "1234567.89"),
        ("decimal(18,2)", False, "12,34", "12,34"),  # not a thousands grouping: as delivered
        ("integer", False, "+1,200", "1200"),
        ("boolean", False, "TRUE", "true"),
        ("varchar", True, " lif-bj-01  ", "LIF-BJ-01"),
        ("varchar", False, "   ", None),
    ],
)
def test_normalised_sql(data_type, upper, delivered, normalised):
    con = duckdb.connect()
    sql = f"select {normalised_sql('v', data_type, upper)} from (select ?::varchar as v)"
    assert con.execute(sql, [delivered]).fetchone()[0] == normalised


def test_trimmed_sql_is_trim_of_white_space():
    """The fast path (no trim unless an end is white space) gives what trim() gives."""
    rng = random.Random(3)
    pieces = [" ", "\t", "\r", "\n", "\r\n", "a", "é", "\u0301", "😀", "\xa0", "\u3000", "中"]
    values = ["", None] + [
        "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(20_000)
    ]
    con = duckdb.connect()
    con.execute("create table t as select unnest(?::varchar[]) as v", [values])
    differing = con.execute(
        f"select v from t where {trimmed_sql('v')} is distinct from nullif(trim(v, ' \t\r\n'), '')"
    ).fetchall()
    assert differing == []


def test_unique_hits_sql_marks_every_occurrence_of_a_key_but_the_first():
    suite = SUITES["claims"]
    content = next(r for r in suite.rules if r.name == "content_duplicate")
    index = suite.rules.index(content)
    con = duckdb.connect()
    con.execute(
        "create table raw_claims as select * from (values ('CLM1', 'other.csv')) "
        "as t(claim_id, _source_file)"
    )
    columns = ", ".join(f"null::varchar as {c}" for c in content.columns)
    con.execute(
        f"create table batch as select r as _row_number, {columns}, "
        "(['A', 'B', 'A', 'CLM1', 'A', null, null])[r] as claim_id from range(1, 8) as t(r)"
    )
    sql = unique_hits_sql(suite, "batch", "raw_claims", "this.csv")
    key = suite.rules.index(next(r for r in suite.rules if r.name == "unique:claim_id"))
    hits = con.execute(
        f"select _row_number, _later_{key}, _seen_{key}, _later_{index} from ({sql}) "
        "order by _row_number"
    ).fetchall()
    # claim ids A (rows 1, 3, 5) and null (6, 7) repeat; CLM1 is loaded from another file; every
    # row has the same (all null) content, so all but the first repeat it
    assert hits == [
        (2, None, None, True),
        (3, True, None, True),
        (4, None, True, True),
        (5, True, None, True),
        (6, None, None, True),
        (7, True, None, True),
    ]


def test_nanosecond_datetimes_converts_only_what_fits():
    import pandas as pd

    frame = pd.DataFrame(
        {
            "at": pd.Series(["2026-01-01 10:00:00", None], dtype="datetime64[us]"),
            "far": pd.Series(["2026-01-01", "9999-12-31"], dtype="datetime64[us]"),
            "n": [1, 2],
        }
    )
    out = nanosecond_datetimes(frame)
    assert str(out["at"].dtype) == "datetime64[ns]"
    assert str(out["far"].dtype) == "datetime64[us]"
    assert out["at"].isna().tolist() == [False, True]


def _damaged_copy(source_file: Path, target: Path, seed: int) -> None:
    """The file with values knocked out of shape: empty, garbage, negative, far future, swapped."""
    rng = random.Random(seed)
    lines = source_file.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], [line.split(",") for line in lines[1:]]
    junk = ["", "garbage", "-5", "2031-01-01 00:00:00", "1999-12-31", "0", "true", "ZZZ"]
    for row in rows:
        for i in range(len(row)):
            if rng.random() < 0.04:
                row[i] = rng.choice(junk)
        if rng.random() < 0.03 and len(row) > 6:
            row[5], row[6] = row[6], row[5]
    target.write_text("\n".join([header, *(",".join(r) for r in rows)]) + "\n", encoding="utf-8")


@pytest.mark.parametrize("source", sorted(CONTRACT))
def test_door_and_gx_find_the_same_failing_rows(source, generated_raw, tmp_path):
    """Every row rule, translated to DuckDB, fails the same rows as GX does on the same values."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    raw = tmp_path / "raw"
    for master in ("org_units", "org_aliases", "centers"):
        shutil.copytree(generated_raw / master, raw / master)
    for master in load_order(["org_units", "org_aliases", "centers"]):
        suite = SUITES[master]
        gate = Gate(suite, resolve_parameters(con, suite.parameters, NOW), CONTRACT[master].key)
        columns = [c.name for c in CONTRACT[master].columns]
        ingest.ingest_source(con, master, raw / master, raw, columns, gate=gate)
    original = sorted((generated_raw / source).glob("*.csv"))[-1]
    damaged = tmp_path / original.name
    _damaged_copy(original, damaged, seed=len(source))
    suite = SUITES[source]
    gate = Gate(suite, resolve_parameters(con, suite.parameters, NOW), CONTRACT[source].key)
    sniffed = sniff_csv(damaged)
    columns = [c.name for c in CONTRACT[source].columns]
    door_sql.ensure_raw_table(con, f"raw.{source}", columns, [])
    door_sql._stage(con, damaged, sniffed)
    door_sql._check(con, gate, sniffed.names, f"raw.{source}", "x.csv", None)
    counts = door_sql._rule_counts(con, gate, sniffed.names)
    door = {**counts["quarantined"], **counts["flagged"]}
    assert sum(door.values()) > 0, "the damage must break some rules"
    results = {
        r.name: RuleResult(r.name, r.expectation_type, r.severity, door.get(r.name, 0))
        for r in suite.row_rules
    }
    judge_with_gx(con, suite, judged_rows_sql(suite, "_checked", 0), gate.parameters, 500, results)
    judged = [r for r in results.values() if r.gx_evaluated]
    assert judged, "GX judged no rule"
    disagreements = {r.rule: (r.gx_unexpected_count, r.door_failed, r.gx_error) for r in judged}
    assert {k: v for k, v in disagreements.items() if v[0] != v[1] or v[2]} == {}


def test_every_expectation_type_of_the_suites_is_one_the_door_translates():
    used = {r.expectation_type for s in SUITES.values() for r in s.rules}
    assert used - set(ROW_TYPES) <= {"expect_table_columns_to_match_set"}


def test_row_condition_operator_outside_the_allow_list_is_refused(tmp_path):
    path = tmp_path / "claims.json"
    condition = {
        "type": "comparison",
        "column": {"name": "decision"},
        "operator": "= 'x' or 1=1 --",
        "parameter": "paid",
    }
    path.write_text(
        json.dumps(
            {
                "name": "claims",
                "expectations": [
                    {
                        "type": "expect_table_columns_to_match_set",
                        "kwargs": {"column_set": ["decision", "paid_at"]},
                    },
                    {
                        "type": "expect_column_values_to_not_be_null",
                        "kwargs": {"column": "paid_at", "row_condition": condition},
                    },
                ],
            }
        )
    )
    # GX's own model refuses it first; the door's allow-list is the second line
    with pytest.raises(SuiteError, match="claims.json: not a valid GX 1.x suite"):
        load_suite(path)
