"""A number that is not finite (NaN, inf, -Infinity, 1e400) is a row rule like any other.

DuckDB reads `NaN` as a number above every other, pandas (which GX judges on) as a missing value:
before the finite rule, one such value made GX and the door count the other rules of its row
apart, and the whole file was held back as `gate:self_check`. Now the row is quarantined under
`finite:<column>`, GX agrees with the door rule by rule, and the rest of the file loads. Every
number column of every suite is damaged with generated spellings (case, sign, white space,
overflowing exponents and digit strings), as CSV and as Parquet with real float NaN and infinity.
"""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.contract import load_contract
from dagster_project.core.settings import get_settings
from dagster_project.defs.ingest.load import ingest_source
from dagster_project.defs.ingest.outcomes import Gate, SourceLoadReport
from dagster_project.defs.ingest.rules.suite import (
    Suite,
    load_order,
    load_suite,
    load_suites,
    resolve_parameters,
)
from dagster_project.defs.ingest.rules.types import (
    is_non_finite,
    is_numeric_type,
    non_finite_sql,
    typed_sql,
)

CONTRACT = load_contract()
SUITES = load_suites(get_settings().expectations_dir)
NOW = datetime(2026, 11, 1)
MASTERS = ("org_units", "org_aliases", "centers")
NUMBER_COLUMNS = {
    source: [c for c, t in suite.types.items() if is_numeric_type(t)]
    for source, suite in SUITES.items()
}
DAMAGED_SOURCES = sorted(s for s, cols in NUMBER_COLUMNS.items() if cols)


def _case(rng: random.Random, word: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in word)


def non_finite_spelling(rng: random.Random) -> str:
    """One way an export writes a number that is not finite."""
    sign = rng.choice(["", "+", "-"])
    kind = rng.randrange(5)
    if kind == 0:
        return sign + _case(rng, rng.choice(["nan", "inf", "infinity"]))
    if kind == 1:  # an exponent beyond a double's range
        mantissa = rng.choice(["1", "9.99", "2.5", ".5", "17"])
        return f"{sign}{mantissa}{rng.choice('eE')}{rng.choice(['', '+'])}{rng.randint(309, 9999)}"
    if kind == 2:  # a digit string longer than any double
        return sign + "9" * rng.randint(310, 400)
    if kind == 3:  # padded: trimmed by normalisation, quarantined as delivered
        return f" {rng.choice(['NaN', 'Infinity', '-inf'])} "
    return rng.choice(["NaN", "nan", "inf", "-Infinity", "1e400"])  # the issue's own spellings


def _load(con: duckdb.DuckDBPyConnection, raw: Path, source: str, suite: Suite) -> SourceLoadReport:
    gate = Gate(
        suite=suite,
        parameters=resolve_parameters(con, suite.parameters, NOW),
        key=CONTRACT[source].key,
        gx_sample_rows=200,
        gx_chunk_rows=5_000,
    )
    columns = [c.name for c in CONTRACT[source].columns]
    return ingest_source(con, source, raw / source, raw, columns, run_id="t", gate=gate)


def _workspace(tmp_path: Path, generated_raw: Path) -> tuple[Path, duckdb.DuckDBPyConnection]:
    raw = tmp_path / "raw"
    for master in MASTERS:
        shutil.copytree(generated_raw / master, raw / master)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for master in load_order(MASTERS):
        _load(con, raw, master, SUITES[master])
    return raw, con


def _damage(
    source_file: Path, columns: list[str], rng: random.Random, per_column: int
) -> tuple[list[list[str]], dict[int, tuple[str, str]]]:
    """The file's rows with `per_column` rows per number column holding a non-finite spelling;
    and data row number -> (column, spelling) of each damaged row (one damaged value a row)."""
    rows = list(csv.reader(io.StringIO(source_file.read_text(encoding="utf-8"))))
    header, body = rows[0], rows[1:]
    picked = rng.sample(range(len(body)), min(len(body), per_column * len(columns)))
    damaged = {}
    for i, index in enumerate(picked):
        column = columns[i % len(columns)]
        value = non_finite_spelling(rng)
        body[index][header.index(column)] = value
        damaged[index + 1] = (column, value)
    return [header, *body], damaged


def _write_csv(rows: list[list[str]], path: Path) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def _assert_quarantined_and_agreed(
    con: duckdb.DuckDBPyConnection,
    report: SourceLoadReport,
    source: str,
    rel_path: str,
    damaged: dict[int, tuple[str, str]],
) -> None:
    outcome = next(f for f in report.files if f.path == rel_path)
    assert outcome.status == "loaded", outcome.message  # not rejected as gate:self_check
    assert outcome.rows_quarantined == len(damaged)
    assert outcome.rows == outcome.rows_delivered - len(damaged), "the rest of the file loads"
    held = dict(
        con.execute(
            f"select _row_number, _failed_rules from quarantine.{source} "
            "where _source_file = ? and _released_at is null",
            [rel_path],
        ).fetchall()
    )
    assert set(held) == set(damaged)
    for row, (column, _) in damaged.items():
        assert f"finite:{column}" in held[row], (row, held[row])
    # GX's official result: the finite rule found the same rows as the door, and so did every
    # other rule (the disagreement this test guards against held the file back whole)
    results = con.execute(
        "select rule, door_failed, gx_unexpected_count, gx_error from meta.validation_results "
        "where source = ? and gx_evaluated",
        [source],
    ).fetchall()
    assert results and all(door == gx and error is None for _, door, gx, error in results)
    per_column = {f"finite:{c}": 0 for c, _ in damaged.values()}
    for column, _ in damaged.values():
        per_column[f"finite:{column}"] += 1
    found = {rule: door for rule, door, _, _ in results if rule.startswith("finite:")}
    assert {rule: found.get(rule) for rule in per_column} == per_column


@pytest.mark.parametrize("source", DAMAGED_SOURCES)
def test_non_finite_numbers_are_quarantined_and_gx_agrees(source, generated_raw, tmp_path):
    raw, con = _workspace(tmp_path, generated_raw)
    original = sorted((generated_raw / source).glob("*.csv"))[-1]
    rows, damaged = _damage(original, NUMBER_COLUMNS[source], random.Random(source), 3)
    (raw / source).mkdir()
    _write_csv(rows, raw / source / original.name)

    report = _load(con, raw, source, SUITES[source])

    _assert_quarantined_and_agreed(con, report, source, f"{source}/{original.name}", damaged)
    for row, (column, value) in damaged.items():
        kept = con.execute(
            f"select {column} from quarantine.{source} where _row_number = ?", [row]
        ).fetchone()
        assert kept == (value,), "quarantined as delivered"
    con.close()


def test_non_finite_numbers_in_a_bigint_column(generated_raw, tmp_path):
    """No contract column is bigint today; a suite that types one so judges it the same way."""
    raw, con = _workspace(tmp_path, generated_raw)
    document = json.loads(SUITES["contacts"].path.read_text(encoding="utf-8"))
    for expectation in document["expectations"]:
        if expectation["kwargs"].get("data_type") == "integer":
            expectation["kwargs"]["data_type"] = "bigint"
    path = tmp_path / "suites" / "contacts.json"
    path.parent.mkdir()
    path.write_text(json.dumps(document), encoding="utf-8")
    suite = load_suite(path)
    columns = [c for c, t in suite.types.items() if t == "bigint"]
    assert columns == ["talk_sec", "hold_sec", "acw_sec"]
    original = sorted((generated_raw / "contacts").glob("*.csv"))[-1]
    rows, damaged = _damage(original, columns, random.Random(64), 4)
    (raw / "contacts").mkdir()
    _write_csv(rows, raw / "contacts" / original.name)

    report = _load(con, raw, "contacts", suite)

    _assert_quarantined_and_agreed(con, report, "contacts", f"contacts/{original.name}", damaged)
    con.close()


def test_float_nan_and_infinity_in_a_parquet_extract(generated_raw, tmp_path):
    """A Parquet extract with real float NaN and infinities in a double column."""
    raw, con = _workspace(tmp_path, generated_raw)
    original = sorted((generated_raw / "claims").glob("*.csv"))[-1]
    (raw / "claims").mkdir()
    target = raw / "claims" / original.with_suffix(".parquet").name
    specials = {3: "nan", 8: "inf", 13: "-inf", 21: "nan"}
    cases = " ".join(
        f"when {row} then cast('{value}' as double)" for row, value in specials.items()
    )
    con.execute(
        f"copy (select * exclude (_n) replace (case _n {cases} else cast(claimed_amount as "
        "double) end as claimed_amount) from (select *, row_number() over () as _n "
        f"from read_csv('{original}', all_varchar = true))) to '{target}' (format parquet)"
    )
    assert con.execute(
        f"select count(*) from read_parquet('{target}') where not isfinite(claimed_amount)"
    ).fetchone()[0] == len(specials)

    report = _load(con, raw, "claims", SUITES["claims"])

    damaged = {row: ("claimed_amount", value) for row, value in specials.items()}
    _assert_quarantined_and_agreed(con, report, "claims", f"claims/{target.name}", damaged)
    con.close()


def test_is_non_finite_and_non_finite_sql_agree_on_generated_text():
    """GX's and the door's halves of the finite rule, on spellings, numbers and junk alike."""
    rng = random.Random(7)
    spellings = [non_finite_spelling(rng).strip() for _ in range(400)]
    texts = list(spellings)
    texts += [f"{rng.uniform(-1e6, 1e6):.{rng.randint(0, 4)}f}" for _ in range(200)]
    texts += [f"{rng.randint(1, 9)}e{rng.randint(-400, 308)}" for _ in range(200)]
    texts += ["nan(1)", "infinit", "in", "NaNa", "1e", "e5", "0x10", "1_000", "--inf", "abc", ""]
    texts += ["1.7976931348623157e308", "1.7976931348623159e308", "1e-400", "-0", "1."]
    con = duckdb.connect()
    door = dict(
        con.execute(
            f"select t, {non_finite_sql('t')} from (select unnest(?::varchar[]) as t)", [texts]
        ).fetchall()
    )
    gx = {t: is_non_finite(t) for t in texts}
    assert door == gx
    assert all(gx[t] for t in spellings)
    assert not gx["1.7976931348623157e308"] and gx["1.7976931348623159e308"]


@pytest.mark.parametrize("data_type", ["decimal(18,2)", "decimal(10,2)"])
def test_a_non_finite_number_has_no_typed_value(data_type):
    """The other rules of the row see null, in DuckDB as in pandas, never NaN or infinity."""
    values = ["NaN", "-inf", "Infinity", "1e400", "12.5"]
    typed = duckdb.connect().execute(
        f"select {typed_sql('t', data_type)} from (select unnest(?::varchar[]) as t)", [values]
    )
    assert [r[0] for r in typed.fetchall()] == [None, None, None, None, 12.5]
