"""The ingestion asset on generated extracts with defects: every defect ends as documented.

`opsvalue generate --defects 0.02` writes the defects it injected to `_manifest/defects.csv`;
each one must end as expectations/README.md says for its kind (quarantined by the named rule,
normalised and loaded, flagged, or loaded as a legitimate record), and every file must balance:
rows delivered = loaded + quarantined.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.core.contract import load_contract
from dagster_project.core.resources import WAREHOUSE, Warehouse
from dagster_project.core.settings import get_settings
from dagster_project.defs.ingest.rules.suite import load_suites
from tests.conftest import make_workspace, point_settings_at

CONTRACT = load_contract()
SUITES = load_suites(get_settings().expectations_dir)
EXTRACTED = "2026-11-01 00:00:00"  # the generator's extraction moment for end_month 2026-10
# Where the generator can put each kind (opsgen/table.py DefectTargets), as the rules name it.
AMOUNT_RULES = ("range:", "plausible_", "order:paid_amount", "order:realised_saving")

RESOURCES = {WAREHOUSE: Warehouse()}


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory):
    """Generated extracts with 2% defects, loaded by a real Dagster materialisation."""
    import os

    from dagster_project.defs.ingest.assets import raw_extracts
    from opsgen import generate

    ws = make_workspace(tmp_path_factory.mktemp("defects"))
    generate(out=ws.raw_dir, scale=0.01, months=6, seed=11, defects=0.02, progress=False)
    saved = dict(os.environ)
    point_settings_at(ws)
    os.environ["OPSVALUE_NOW"] = EXTRACTED
    try:
        result = dg.materialize([raw_extracts], resources=RESOURCES, raise_on_error=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert result.success
    con = duckdb.connect(str(ws.work_db), read_only=True)
    yield ws, con, result
    con.close()


def _file_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


@pytest.fixture(scope="module")
def outcomes(gated) -> list[dict]:
    """Each manifest row with where its row ended: raw, quarantine (rules), flags."""
    ws, con, _ = gated
    manifest = _file_rows(ws.raw_dir / "_manifest" / "defects.csv")
    files: dict[str, list[list[str]]] = {}
    seen: Counter = Counter()
    out = []
    for source, file, key, kind in manifest[1:]:
        rows = files.setdefault(file, _file_rows(ws.raw_dir / file))
        header = rows[0]
        key_cols = [header.index(k) for k in CONTRACT[source].key]
        matches = [i for i, r in enumerate(rows[1:], 1) if "|".join(r[c] for c in key_cols) == key]
        # an exact duplicate shares its key with the original: the copy is the later row
        row_number = matches[-1] if kind == "duplicate" else matches[seen[(file, key)]]
        seen[(file, key)] += kind != "duplicate"
        loaded = con.execute(
            f"select * from raw.{source} where _source_file = ? and _row_number = ?",
            [file, row_number],
        ).fetchdf()
        held = con.execute(
            f"select _failed_rules from quarantine.{source} where _source_file = ? "
            "and _row_number = ?",
            [file, row_number],
        ).fetchall()
        flags = con.execute(
            "select rules from meta.row_flags where _source_file = ? and _row_number = ?",
            [file, row_number],
        ).fetchall()
        out.append(
            {
                "source": source,
                "file": file,
                "kind": kind,
                "delivered": dict(zip(header, rows[row_number], strict=True)),
                "loaded": loaded.to_dict("records")[0] if len(loaded) else None,
                "rules": list(held[0][0]) if held else [],
                "flags": list(flags[0][0]) if flags else [],
            }
        )
    return out


def by_kind(outcomes: list[dict], kind: str) -> list[dict]:
    found = [o for o in outcomes if o["kind"] == kind]
    assert found, f"the generator injected no {kind}"
    return found


def test_every_defect_row_is_loaded_or_quarantined_never_both(outcomes):
    for o in outcomes:
        assert (o["loaded"] is None) == bool(o["rules"]), o


def test_duplicates_are_quarantined_by_the_key_rule(outcomes):
    for o in by_kind(outcomes, "duplicate"):
        key = "+".join(CONTRACT[o["source"]].key)
        assert f"unique:{key}" in o["rules"], o


def identical_events_are_plausible(o: dict) -> bool:
    """Where two genuine records can be equal in every column but the id (expectations/README):
    every NPS response, an unanswered contact, an undecided application."""
    delivered = o["delivered"]
    return (
        o["source"] == "nps_responses"
        or (o["source"] == "contacts" and not delivered["answered_at"])
        or (o["source"] == "applications" and not delivered["decided_at"])
    )


def test_rekeyed_duplicates_are_quarantined_or_flagged_as_documented(outcomes):
    found = Counter()
    for o in by_kind(outcomes, "rekeyed_duplicate"):
        if o["source"] == "policies":
            # documented: a policy has no attribute telling a re-keyed copy from a second
            # policy sold the same day at the same premium, so it is loaded
            assert o["loaded"] is not None
        elif identical_events_are_plausible(o):
            # a genuine second event can look the same: loaded and flagged, never lost
            assert o["loaded"] is not None and "identical_event" in o["flags"], o
            found["flagged"] += 1
        else:
            assert "content_duplicate" in o["rules"], o
            found["quarantined"] += 1
    assert found["flagged"] and found["quarantined"] > found["flagged"], found


def test_out_of_order_timestamps_are_quarantined(outcomes):
    for o in by_kind(outcomes, "out_of_order"):
        assert any(r.startswith("order:") for r in o["rules"]), o


def test_negative_amounts_are_quarantined(outcomes):
    for o in by_kind(outcomes, "negative_amount"):
        assert any(r.startswith(AMOUNT_RULES) for r in o["rules"]), o


def test_unit_scaled_amounts_are_quarantined_when_implausible(outcomes):
    found = by_kind(outcomes, "unit_scaled_amount")
    held = [o for o in found if o["rules"]]
    for o in held:
        assert any(r.startswith(AMOUNT_RULES) for r in o["rules"]), o
    # documented limit: op_costs lines have no range valid at every size of sub-branch
    loaded_sources = {o["source"] for o in found if o["loaded"] is not None}
    assert loaded_sources <= {"op_costs", "claims", "policies", "project_milestones"}
    policies = [o for o in found if o["source"] == "policies"]
    assert sum(bool(o["rules"]) for o in policies) >= 0.8 * len(policies)


def test_unknown_org_codes_are_quarantined(outcomes):
    for o in by_kind(outcomes, "unknown_org_code"):
        assert any(r.startswith("known_org:") for r in o["rules"]), o


def test_variant_org_codes_are_normalised_and_loaded(outcomes):
    for o in by_kind(outcomes, "variant_org_code"):
        assert o["loaded"] is not None, o
        column = next(c for c in ("org_code", "owner_org_code") if c in o["delivered"])
        assert o["loaded"][column] == o["delivered"][column].strip().upper()
        assert o["loaded"][column] != o["delivered"][column]


def test_missing_handlers_are_loaded_and_flagged(outcomes):
    for o in by_kind(outcomes, "missing_handler"):
        assert o["loaded"] is not None
        assert set(o["flags"]) & {"handler_missing", "handler_placeholder"}, o


def test_mixed_date_formats_are_normalised_or_quarantined(outcomes):
    kinds = Counter()
    for o in by_kind(outcomes, "mixed_date_format"):
        if o["loaded"] is not None:
            kinds["normalised"] += 1
            changed = [c for c, v in o["delivered"].items() if v and o["loaded"].get(c) != v]
            assert changed, o  # the year-first form was rewritten to the canonical one
        else:
            kinds["quarantined"] += 1
            assert any(r.startswith("type:") for r in o["rules"]), o
    assert kinds["normalised"] and kinds["quarantined"]


def test_late_arriving_rows_are_loaded_into_their_own_month(outcomes):
    for o in by_kind(outcomes, "late_arriving"):
        assert o["loaded"] is not None, o
        event = o["loaded"][SUITES[o["source"]].event_time_column]
        file_month = o["file"].rsplit("_", 1)[-1].removesuffix(".csv")
        assert str(event)[:7] < file_month, "a late row carries its own (earlier) month"


def test_future_dates_are_quarantined(outcomes):
    for o in by_kind(outcomes, "future_date"):
        assert any(r.startswith("not_future:") for r in o["rules"]), o


def test_every_file_balances(gated):
    """Rows delivered (counted here from the file) = loaded + quarantined, table by table."""
    ws, con, _ = gated
    ledger = con.execute(
        "select source, path, batch_id, status, rows_delivered, rows_loaded, rows_quarantined "
        "from meta.file_ledger"
    ).fetchall()
    assert len(ledger) == sum(
        1 for p in ws.raw_dir.glob("*/*.csv") if not p.parent.name.startswith("_")
    )
    for source, path, batch_id, status, delivered, loaded, quarantined in ledger:
        assert status == "loaded", (path, status)
        assert delivered == len(_file_rows(ws.raw_dir / path)) - 1
        assert delivered == loaded + quarantined
        in_raw = con.execute(
            f"select count(*) from raw.{source} where _batch_id = ?", [batch_id]
        ).fetchone()[0]
        in_quarantine = con.execute(
            f"select count(*) from quarantine.{source} where _batch_id = ?", [batch_id]
        ).fetchone()[0]
        assert (in_raw, in_quarantine) == (loaded, quarantined), path


def test_checks_warn_about_quarantine_and_the_accounting_passes(gated):
    _, _, result = gated
    evaluations = defaultdict(dict)
    for e in result.get_asset_check_evaluations():
        evaluations[e.check_name][e.asset_key.path[-1]] = e
    assert all(e.passed for e in evaluations["accounting"].values())
    claims = evaluations["expectation_suite"]["claims"]
    assert not claims.passed and claims.severity == dg.AssetCheckSeverity.WARN
    metadata = claims.metadata
    assert metadata["gx_rules_judged"].value == metadata["gx_rules_agreeing_with_door"].value > 0
    assert evaluations["expectation_suite"]["centers"].passed


def test_accounting_check_finds_a_lost_row(gated, tmp_path):
    """The blocking accounting check is not a formality: a row gone from raw is reported."""
    import shutil

    from dagster_project.defs.ingest.checks import accounting_problems
    from dagster_project.defs.ingest.outcomes import FileOutcome, SourceLoadReport

    ws, con, _ = gated
    copy = tmp_path / "w.duckdb"
    shutil.copy(ws.work_db, copy)
    with duckdb.connect(str(copy)) as tampered:
        batch = tampered.execute(
            "select path, batch_id from meta.file_ledger where source = 'claims' limit 1"
        ).fetchone()
        report = SourceLoadReport("claims", "raw.claims", [FileOutcome(batch[0], "loaded")])
        report.files[0].batch_id = batch[1]
        assert accounting_problems(tampered, CONTRACT["claims"], report) == []
        tampered.execute(
            "delete from raw.claims where _batch_id = ? and _row_number = 1", [batch[1]]
        )
        problems = accounting_problems(tampered, CONTRACT["claims"], report)
    assert len(problems) == 1 and "tables hold" in problems[0]


@pytest.mark.parametrize("run_brought", ["one batch", "every batch"])
def test_accounting_check_finds_a_new_row_repeating_an_old_key(gated, tmp_path, run_brought):
    """Only this run's keys are looked at, but against every row: an old key coming back fails.

    A run that brought most of the table (every batch, as a first load) is checked by grouping
    the whole table once (checks.WHOLE_TABLE_SHARE), a day's batch by its keys alone."""
    import shutil

    from dagster_project.defs.ingest import checks
    from dagster_project.defs.ingest.checks import accounting_problems
    from dagster_project.defs.ingest.outcomes import FileOutcome, SourceLoadReport

    ws, con, _ = gated
    copy = tmp_path / "w.duckdb"
    shutil.copy(ws.work_db, copy)
    with duckdb.connect(str(copy)) as tampered:
        batches = tampered.execute(
            "select path, batch_id from meta.file_ledger where source = 'claims' "
            "and status = 'loaded' order by ledger_id"
        ).fetchall()
        old, new = batches[:2]
        brought = [new] if run_brought == "one batch" else batches
        report = SourceLoadReport(
            "claims", "raw.claims", [FileOutcome(p, "loaded") for p, _ in brought]
        )
        for outcome, (_, batch_id) in zip(report.files, brought, strict=True):
            outcome.batch_id = batch_id
        rows = tampered.execute("select count(*) from raw.claims").fetchone()[0]
        new_rows = tampered.execute(
            "select count(*) from raw.claims where _batch_id in (select unnest(?))",
            [[b for _, b in brought]],
        ).fetchone()[0]
        whole = new_rows >= checks.WHOLE_TABLE_SHARE * rows
        assert whole == (run_brought == "every batch") and len(batches) > 4
        assert accounting_problems(tampered, CONTRACT["claims"], report) == []
        # one of the new batch's rows takes the key of a row of the older batch
        tampered.execute(
            "update raw.claims set claim_id = (select min(claim_id) from raw.claims "
            "where _batch_id = ?) where _batch_id = ? and _row_number = 1",
            [old[1], new[1]],
        )
        problems = accounting_problems(tampered, CONTRACT["claims"], report)
    assert len(problems) == 1 and "appear more than once" in problems[0]


def test_a_late_source_is_stale_and_so_are_its_metrics(gated, tmp_path):
    """Claims stop delivering while the others go on: claims and the claims metrics are stale."""
    import os
    import shutil
    import time

    from dagster_project.defs.ingest.assets import raw_extracts

    ws, _, _ = gated
    late = make_workspace(tmp_path)
    shutil.copytree(ws.raw_dir, late.raw_dir)
    late.work_db.parent.mkdir(parents=True)
    shutil.copy(ws.work_db, late.work_db)
    with duckdb.connect(str(late.work_db)) as con:  # the catalog dbt would have built
        con.execute("create schema if not exists marts")
        con.execute(
            "create table marts.dim_metric_catalog as select * from (values "
            "('claims_auto_rate', 'claims'), ('service_level_20s', 'contacts')) "
            "as t(metric_name, source_systems)"
        )
    week_ago = time.time() - 7 * 86_400
    for path in (late.raw_dir / "claims").glob("*.csv"):
        os.utime(path, (week_ago, week_ago))
    saved = dict(os.environ)
    point_settings_at(late)
    try:
        result = dg.materialize([raw_extracts], resources=RESOURCES, raise_on_error=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert result.success
    fresh = {
        e.asset_key.path[-1]: e.passed
        for e in result.get_asset_check_evaluations()
        if e.check_name == "freshness"
    }
    assert fresh["claims"] is False and fresh["contacts"] is True
    with duckdb.connect(str(late.work_db), read_only=True) as con:
        stale = dict(con.execute("select source, is_stale from meta.source_gate_state").fetchall())
        metrics = dict(con.execute("select * from meta.stale_metrics").fetchall())
        ledger = con.execute("select count(*) from meta.file_ledger").fetchone()[0]
    assert stale["claims"] and not stale["contacts"]
    assert "claims_auto_rate" in metrics and "expected daily" in metrics["claims_auto_rate"]
    assert ledger == len(list(ws.raw_dir.glob("[!_]*/*.csv"))), "touched files are not reloaded"
