"""The ledger says which version of a file was replaced: the old one, never the new one."""

from __future__ import annotations

import duckdb
import pytest

from dagster_project.defs.ingest import gate_state, ledger
from dagster_project.defs.ingest.load import ingest_source
from tests.defs.ingest.test_load import COLUMNS, write

HEADER = "claim_id,org_code,paid_amount\n"
OTHER = "claims/claims_2025-02.csv"


def _version(tag: str) -> str:
    """A delivery of claims_2025-01.csv: `bad` lacks a required column, else `tag` rows."""
    if tag == "bad":
        return "claim_id,paid_amount\nA,1\n"
    rows = int(tag)
    return HEADER + "".join(f"A{n},X,{rows}\n" for n in range(rows))


# the versions delivered one after another under the same name, and what the ledger then says
SEQUENCES = {
    "one_correction": (["2", "3"], ["replaced", "loaded"]),
    "two_corrections": (["1", "4", "2"], ["replaced", "replaced", "loaded"]),
    "rejected_in_between": (["3", "bad", "5"], ["replaced", "rejected", "loaded"]),
    "rejected_last": (["2", "bad"], ["loaded", "rejected"]),
    "rejected_first": (["bad", "6"], ["rejected", "loaded"]),
    "emptied": (["4", "0"], ["replaced", "loaded"]),
}


@pytest.mark.parametrize("case", list(SEQUENCES))
def test_only_the_superseded_version_says_replaced(case, tmp_path):
    versions, expected = SEQUENCES[case]
    raw = tmp_path / "raw"
    write(raw / "claims" / "claims_2025-02.csv", HEADER + "Z,Y,9\n")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for n, tag in enumerate(versions):
        write(raw / "claims" / "claims_2025-01.csv", _version(tag), mtime_ns=(n + 1) * 10**9)
        report = ingest_source(con, "claims", raw / "claims", raw, COLUMNS, run_id=str(n))
        new = next(f for f in report.files if f.path == "claims/claims_2025-01.csv")
        assert new.status != "replaced", "a new version is loaded or rejected, never replaced"
    statuses = [
        r[0]
        for r in con.execute(
            "select status from meta.file_ledger where path = 'claims/claims_2025-01.csv' "
            "order by ledger_id"
        ).fetchall()
    ]
    assert statuses == expected
    # the rows in raw are those of the one version that says loaded
    loaded = [v for v, s in zip(versions, expected, strict=True) if s == "loaded"]
    rows = con.execute(
        "select count(*) from raw.claims where _source_file = 'claims/claims_2025-01.csv'"
    ).fetchone()[0]
    assert rows == (int(loaded[-1]) if loaded else 0)
    # another file is not touched
    other = con.execute("select status from meta.file_ledger where path = ?", [OTHER]).fetchall()
    assert other == [("loaded",)]
    # what reads the statuses still sees the same: data last entered raw with the newest load
    last = ledger.last_loaded_at(con, "claims")
    newest_load = con.execute(
        "select max(loaded_at) from meta.file_ledger where source = 'claims' "
        "and status in ('loaded', 'replaced')"
    ).fetchone()[0]
    assert last == newest_load
    state = gate_state.compute_gate_state(
        con, "claims", "claims", ["claims/claims_2025-01.csv", OTHER], None
    )
    assert state.state == ("held" if expected[-1] == "rejected" else "ok")
    con.close()


@pytest.mark.parametrize("versions", [2, 3, 5])
def test_a_ledger_of_the_earlier_convention_is_put_right_once(versions, tmp_path):
    """Ledgers written before marked the new version `replaced`: the first run settles them, and
    no row count changes."""
    raw = tmp_path / "raw"
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for n in range(versions):
        write(raw / "claims" / "claims_2025-01.csv", _version(str(n + 1)), mtime_ns=n + 1)
        ingest_source(con, "claims", raw / "claims", raw, COLUMNS)
    # as the earlier code wrote them: the first version loaded, every later one replaced
    con.execute(
        "update meta.file_ledger set status = case when ledger_id = "
        "(select min(ledger_id) from meta.file_ledger) then 'loaded' else 'replaced' end"
    )
    sums = "select sum(rows_delivered), sum(rows_loaded), count(*) from meta.file_ledger"
    before = con.execute(sums).fetchone()
    report = ingest_source(con, "claims", raw / "claims", raw, COLUMNS)
    assert not report.changed
    ordered = "select status from meta.file_ledger order by ledger_id"
    statuses = [r[0] for r in con.execute(ordered).fetchall()]
    assert statuses == ["replaced"] * (versions - 1) + ["loaded"]
    assert con.execute(sums).fetchone() == before
    con.close()
