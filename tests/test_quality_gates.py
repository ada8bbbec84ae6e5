"""A bad batch for one source on an otherwise ordinary day, through the whole pipeline twice.

Run 1 publishes everything but the last month of claims and contacts. Then both owners deliver
that month: contacts a good file, claims a file with a renamed column. Run 2 still succeeds: the
claims batch is held back at the door, so the claims KPIs stay as published, contacts publish
their new month, and the meta tables the dashboards read say which source is held, by which
check, since when and who owns it.
"""

from __future__ import annotations

import shutil

import duckdb
import pytest

from dagster_project import cli
from tests.conftest import make_workspace, point_settings_at

LAST_MONTH = "2026-10"


def kpis(con: duckdb.DuckDBPyConnection, source: str) -> list[tuple]:
    """The published KPI rows of the metrics computed from `source` alone (numbers to 12
    significant digits: a rebuild may sum the same values in another order)."""
    rows = con.execute(
        "select k.metric_name, k.period_start, k.org_level, k.org_code, k.numerator, "
        "k.denominator, k.value from marts.fct_kpi_values k "
        "join marts.dim_metric_catalog c using (metric_name) "
        "where c.source_systems = ? order by all",
        [source],
    ).fetchall()
    return [tuple(float(f"{v:.12g}") if isinstance(v, float) else v for v in row) for row in rows]


@pytest.mark.slow
def test_bad_batch_holds_its_source_back_and_the_others_publish(
    tmp_path, generated_raw, dbt_manifest, capsys
):
    ws = make_workspace(tmp_path)
    shutil.copytree(generated_raw, ws.raw_dir)
    held_back = tmp_path / "later"
    held_back.mkdir()
    for source in ("claims", "contacts"):
        name = f"{source}_{LAST_MONTH}.csv"
        shutil.move(ws.raw_dir / source / name, held_back / name)
    point_settings_at(ws)

    assert cli.main(["run"]) == 0
    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
        claims_before = kpis(con, "claims")
        contacts_before = kpis(con, "contacts")
        published_before = con.execute("select max(published_at) from meta.publication").fetchone()
    assert claims_before and contacts_before

    shutil.move(held_back / f"contacts_{LAST_MONTH}.csv", ws.raw_dir / "contacts")
    bad = held_back / f"claims_{LAST_MONTH}.csv"
    lines = bad.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = lines[0].replace("org_code", "org")  # the claims system renamed a column
    (ws.raw_dir / "claims" / bad.name).write_text("".join(lines), encoding="utf-8")
    capsys.readouterr()

    assert cli.main(["run"]) == 0, "a held batch is an ordinary day, not a failed run"
    assert "gate holds back" in capsys.readouterr().err

    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
        assert kpis(con, "claims") == claims_before, "claims KPIs keep their published values"
        contacts_after = kpis(con, "contacts")
        assert contacts_after != contacts_before
        assert max(r[1] for r in contacts_after) > max(r[1] for r in contacts_before)
        assert (
            con.execute(
                "select count(*) from marts.fct_claims where _source_file = ?",
                [f"claims/{bad.name}"],
            ).fetchone()[0]
            == 0
        )
        gate = dict(
            con.execute(
                "select source, (state, check_name, reason, since, last_file, data_owner) "
                "from meta.source_gate_state"
            ).fetchall()
        )
        state, check, reason, since, last_file, owner = gate["claims"]
        assert (state, check, last_file, owner) == (
            "held",
            "columns",
            f"claims/{bad.name}",
            "claims",
        )
        assert "missing required column(s) org_code" in reason and since is not None
        assert gate["contacts"][0] == "ok"
        stale = dict(con.execute("select metric_name, reason from meta.stale_metrics").fetchall())
        assert "claims_auto_rate" in stale and "held source claims" in stale["claims_auto_rate"]
        assert not any("contacts" in reason for reason in stale.values())
        published = con.execute("select max(published_at) from meta.publication").fetchone()
        assert published > published_before
        scorecard = con.execute(
            "select sum(rejected_batches), sum(rows_rejected) from marts.data_quality_scorecard "
            "where source = 'claims'"
        ).fetchone()
        assert scorecard == (1, len(lines) - 1)

    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "held" in out and "claims" in out and "claims_auto_rate" in out
