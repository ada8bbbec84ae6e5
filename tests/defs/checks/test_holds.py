"""A failed KPI check holds back only what it found: that metric at that unit (a reconciliation
failure: that metric at every unit). The rest publishes; the held pairs keep their previously
published values; the run succeeds, with the check reported failed (WARN), not a stack trace.

The Dagster tests run the real checks and the real publication asset in one `dg.materialize`,
with the marts they read standing in for dbt's (generated KPI tables: two metrics, every tier,
group = the sum of its subsidiaries), so they also show that the publication runs after the
checks and reads this run's holds.
"""

from __future__ import annotations

import random
from datetime import datetime

import dagster as dg
import duckdb
import pytest

from dagster_project.core import state
from dagster_project.core.resources import Warehouse
from dagster_project.core.settings import get_settings
from dagster_project.core.warehouse import connect
from dagster_project.defs.checks import holds
from dagster_project.defs.checks.checks import kpi_value_checks
from dagster_project.defs.checks.kpi_checks import Finding
from dagster_project.defs.publish.assets import PUBLISHED_MARTS, publication
from tests.conftest import make_workspace, point_settings_at

AT = datetime(2026, 11, 2, 6, 30)
# (level, code, parent subsidiary)
UNITS = [
    ("group", "GRP", None),
    ("subsidiary", "LIF", "LIF"),
    ("subsidiary", "PNC", "PNC"),
    ("branch", "LIF-JS", "LIF"),
    ("branch", "PNC-GD", "PNC"),
    ("center", "C-CL", None),
    ("center", "C-CC", None),
]
METRICS = {"claims_auto_rate": "percent", "claims_cycle_time_days": "days"}


# --- holds from findings and their record -----------------------------------------------------


def finding(metric: str, month: str, level: str, code: str, problem: str = "bad") -> Finding:
    return Finding(metric, month, level, code, problem)


def test_holds_from_findings_hold_each_metric_at_each_unit_found():
    found = [
        finding("nps", "2026-01-01", "center", "C-CL", "value 400 outside"),
        finding("nps", "2026-02-01", "center", "C-CL", "value 500 outside"),
        finding("nps", "2026-02-01", "branch", "LIF-JS"),
        finding("claims_auto_rate", "2026-02-01", "center", "C-CL"),
    ]
    held = holds.holds_from_findings("values_within_plausible_bounds", found)
    assert [(h.metric_name, h.org_level, h.org_code, h.findings) for h in held] == [
        ("claims_auto_rate", "center", "C-CL", 1),
        ("nps", "branch", "LIF-JS", 1),
        ("nps", "center", "C-CL", 2),
    ]
    assert held[2].reason == "2026-01: value 400 outside (+1 more)"
    assert held[2].where == "center C-CL"


def test_a_reconciliation_finding_holds_the_metric_at_every_unit():
    found = [
        finding("nps", "2026-01-01", "group", "GRP", "group 61 / 100, subsidiaries sum to 60"),
        finding("nps", "2026-03-01", "group", "GRP"),
    ]
    (held,) = holds.holds_from_findings("group_reconciles_with_subsidiaries", found, True)
    assert (held.metric_name, held.org_level, held.org_code, held.where) == (
        "nps",
        None,
        None,
        "every unit",
    )
    assert held.reason.startswith("2026-01 group GRP: group 61")


def test_record_holds_replaces_a_checks_holds_and_keeps_since(tmp_path):
    con = duckdb.connect(str(tmp_path / "h.duckdb"))
    name = "values_within_plausible_bounds"
    first = holds.holds_from_findings(
        name,
        [finding("nps", "2026-01-01", "center", "C-CL"), finding("nps", "2026-01-01", "b", "X")],
    )
    holds.record_holds(con, name, first, AT)
    rate = finding("claims_auto_rate", "2026-01-01", "branch", "Y")
    other = holds.holds_from_findings("rates_between_0_and_1", [rate])
    holds.record_holds(con, "rates_between_0_and_1", other, AT)
    later = datetime(2026, 11, 3)
    still = [h for h in first if h.org_code == "X"]  # C-CL passes now, X still fails
    again = holds.record_holds(con, name, still, later)
    assert [(h.org_code, h.since) for h in again] == [("X", AT)], "held since it was first found"
    now = holds.current_holds(con)
    assert {(h.check_name, h.org_code, h.since) for h in now} == {
        (name, "X", AT),
        ("rates_between_0_and_1", "Y", AT),
    }
    holds.record_holds(con, name, [], later)  # the check passes: its holds go, no other's
    assert [h.check_name for h in holds.current_holds(con)] == ["rates_between_0_and_1"]


# --- the checks and the publication in one Dagster run ---------------------------------------


def kpi_rows(rng: random.Random, months: int) -> list[tuple]:
    """A consistent KPI table: every metric, month and unit; group = sum of subsidiaries."""
    rows = []
    for month in range(1, months + 1):
        period = f"2026-{month:02d}-01"
        for metric, unit in METRICS.items():
            by_sub = {}
            for level, code, _ in UNITS[1:]:
                den = float(rng.randint(50, 500))
                share = rng.uniform(0.2, 0.9) if unit == "percent" else rng.uniform(2, 30)
                num = round(den * share, 1)
                if level == "subsidiary":
                    by_sub[code] = (num, den)
                rows.append((metric, period, level, code, num, den, num / den))
            num = sum(n for n, _ in by_sub.values())
            den = sum(d for _, d in by_sub.values())
            rows.append((metric, period, "group", "GRP", num, den, num / den))
    return rows


def fault(rows: list[tuple], kind: str) -> tuple[list[tuple], set[tuple[str, str | None]]]:
    """The rows with one bad value, and the (metric, unit code or None) it should hold."""
    rows = list(rows)
    last = max(r[1] for r in rows)
    for i, (metric, period, level, code, num, den, _) in enumerate(rows):
        if period != last:
            continue
        if kind == "bounds" and (metric, code) == ("claims_cycle_time_days", "C-CL"):
            rows[i] = (metric, period, level, code, 400 * den, den, 400.0)
            return rows, {(metric, code)}
        if kind == "rate" and (metric, code) == ("claims_auto_rate", "LIF-JS"):
            rows[i] = (metric, period, level, code, num, den, 1.2)
            return rows, {(metric, code)}
        if kind == "reconciliation" and (metric, code) == ("claims_auto_rate", "GRP"):
            rows[i] = (metric, period, level, code, num + 7, den, (num + 7) / den)
            return rows, {(metric, None)}
    assert kind == "none"
    return rows, set()


@pytest.fixture
def settings(tmp_path):
    point_settings_at(make_workspace(tmp_path))
    settings = get_settings()
    with connect(settings) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_kpi_values (metric_name varchar, period_start date, "
            "org_level varchar, org_code varchar, numerator double, denominator double, "
            "value double)"
        )
        con.execute(
            "create table marts.dim_metric_catalog as select * from (values "
            "('claims_auto_rate', 'percent', 'claims', 'ratio'), "
            "('claims_cycle_time_days', 'days', 'claims', 'ratio')) "
            "t(metric_name, unit, source_systems, rollup_kind)"
        )
        con.execute("create table marts.dim_org as select 'GRP' as org_code")
        con.execute("create table marts.data_quality_scorecard as select 'claims' as source")
    return settings


def build(settings, rows: list[tuple], watermark: str) -> None:
    """What dbt would leave: the KPI table and the build watermark."""
    with connect(settings) as con:
        con.execute("delete from marts.fct_kpi_values")
        con.executemany("insert into marts.fct_kpi_values values (?, ?, ?, ?, ?, ?, ?)", rows)
        state.write_state(con, state.BUILD_WATERMARK, watermark)


def run(settings) -> dg.ExecuteInProcessResult:
    """The KPI checks and the publication, after stand-ins for the marts dbt builds."""
    stand_ins = [dg.AssetSpec(key) for key in PUBLISHED_MARTS]

    @dg.multi_asset(specs=stand_ins)
    def marts():
        for spec in stand_ins:
            yield dg.MaterializeResult(asset_key=spec.key)

    return dg.materialize(
        [marts, kpi_value_checks, publication],
        resources={"warehouse": Warehouse()},
        raise_on_error=False,
    )


def published(settings) -> tuple[set[tuple], list[tuple]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select metric_name, strftime(period_start, '%Y-%m-%d'), org_level, org_code, "
            "numerator, denominator, value from marts.fct_kpi_values"
        ).fetchall()
        held = con.execute(
            "select check_name, metric_name, org_code from meta.kpi_holds order by all"
        ).fetchall()
    return set(rows), held


def belongs(row: tuple, pairs: set[tuple[str, str | None]]) -> bool:
    return (row[0], row[3]) in pairs or (row[0], None) in pairs


CHECKS_OF = {
    "bounds": {"values_within_plausible_bounds"},
    # a rate outside [0, 1] is also outside its unit's plausible bounds: both checks hold it
    "rate": {"rates_between_0_and_1", "values_within_plausible_bounds"},
    "reconciliation": {"group_reconciles_with_subsidiaries"},
}
HOLDING = set().union(*CHECKS_OF.values())


@pytest.mark.parametrize(("kind", "seed"), [("bounds", 1), ("rate", 2), ("reconciliation", 5)])
def test_a_failed_check_holds_back_only_what_it_found(kind, seed, settings):
    rng = random.Random(seed)
    before = kpi_rows(rng, 3)
    build(settings, before, "w1")
    assert run(settings).success
    assert published(settings) == ({*before}, [])

    # the next build: every value moves, a month is added, and one value is wrong
    after, pairs = fault(kpi_rows(rng, 4), kind)
    build(settings, after, "w2")
    result = run(settings)

    assert result.success, "a failed check is an ordinary day, not a failed run"
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    for name in HOLDING:
        failed = name in CHECKS_OF[kind]
        assert evaluations[name].passed is not failed, name
        assert evaluations[name].severity == dg.AssetCheckSeverity.WARN
    rows, held = published(settings)
    assert held == sorted((c, m, u) for c in CHECKS_OF[kind] for m, u in pairs)
    # the held pairs keep exactly what was published before, the rest is this build's
    assert {r for r in rows if belongs(r, pairs)} == {r for r in before if belongs(r, pairs)}
    assert {r for r in rows if not belongs(r, pairs)} == {r for r in after if not belongs(r, pairs)}
    assert any(r[1] == "2026-04-01" for r in rows), "the other KPIs publish their new month"

    # the data is corrected: the check passes, its hold goes and the pair is current again
    clean, _ = fault(kpi_rows(random.Random(seed + 100), 4), "none")
    build(settings, clean, "w3")
    assert run(settings).success
    assert published(settings) == ({*clean}, [])


def test_a_pair_held_at_the_first_publication_is_not_published(settings):
    rows, pairs = fault(kpi_rows(random.Random(3), 2), "bounds")
    build(settings, rows, "w1")
    assert run(settings).success
    published_rows, held = published(settings)
    assert held == [("values_within_plausible_bounds", "claims_cycle_time_days", "C-CL")]
    assert published_rows == {r for r in rows if not belongs(r, pairs)}


def test_a_held_kpi_keeps_its_rows_when_the_snapshot_is_written_whole(settings, monkeypatch):
    """The held rows come from the snapshot being replaced, whichever way the new one is made."""
    from dagster_project.defs.publish import snapshot

    rng = random.Random(4)
    before = kpi_rows(rng, 3)
    build(settings, before, "w1")
    assert run(settings).success
    monkeypatch.setattr(snapshot, "COMPACT_GROWTH", 0.0)  # every snapshot "grew": written whole
    after, pairs = fault(kpi_rows(rng, 4), "bounds")
    build(settings, after, "w2")
    assert run(settings).success
    rows, _ = published(settings)
    assert {r for r in rows if belongs(r, pairs)} == {r for r in before if belongs(r, pairs)}
