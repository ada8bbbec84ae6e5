"""Nothing outside data/raw gets in: links are refused unread, and a name is never a glob.

Each case delivers into data/raw/claims/ next to a loaded clean month. A link's target carries a
random marker; the marker must appear nowhere the gate writes (raw, quarantine, every meta table,
the rejected-files folder), whatever the target holds and wherever it is.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from dagster_project.defs.ingest import gate_state
from dagster_project.defs.ingest.files import (
    LINK_RULE,
    OUTSIDE_RAW_RULE,
    glob_escaped,
    list_extract_files,
    opened_for_duckdb,
)
from dagster_project.defs.ingest.outcomes import RejectedFile
from tests.defs.ingest.door_cases import (
    everything_written,
    fresh_csv,
    fresh_rows,
    ledger_rows,
    loaded_workspace,
)
from tests.defs.ingest.test_gate import load, to_csv


@pytest.fixture
def workspace(tmp_path: Path, generated_raw: Path):
    with loaded_workspace(tmp_path, generated_raw) as ws:
        yield ws


def _valid_rows(marker: str, clean: Path, outside: Path) -> Path:
    """A CSV the contract would load, its ids carrying the marker."""
    path = outside / "claims_elsewhere.csv"
    path.write_bytes(fresh_csv(clean, marker))
    return path


def _passwd(marker: str, clean: Path, outside: Path) -> Path:
    """A system file that is no CSV at all."""
    path = outside / "passwd"
    path.write_text(f"root:x:0:0:{marker}:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/bin/sh\n")
    return path


def _gbk(marker: str, clean: Path, outside: Path) -> Path:
    """Text the encoding rule would quote ('it reads as GBK ...')."""
    path = outside / "notes.csv"
    path.write_bytes(f"claim_id,备注\n{marker},机密客户资料张三李四\n".encode("gbk"))
    return path


def _named_header(marker: str, clean: Path, outside: Path) -> Path:
    """A header the header rules would name (duplicate and unknown columns)."""
    path = outside / "export.csv"
    path.write_text(f"{marker},{marker},secret_{marker}\n1,2,3\n", encoding="utf-8")
    return path


def _parquet(marker: str, clean: Path, outside: Path) -> Path:
    """A Parquet file whose column and value carry the marker."""
    path = outside / "data.parquet"
    con = duckdb.connect()
    con.execute(f"copy (select '{marker}' as col_{marker}) to '{path}' (format parquet)")
    con.close()
    return path


def _inside_raw(marker: str, clean: Path, outside: Path) -> Path:
    """Another source's file inside data/raw: still a link, still not read."""
    return next((clean.parents[1] / "org_units").glob("*.csv"))


def _dangling(marker: str, clean: Path, outside: Path) -> Path:
    return outside / f"gone_{marker}.csv"


LINK_CASES: dict[str, tuple[Callable[[str, Path, Path], Path], str, str]] = {
    # case: (target builder, link name, rule)
    "valid_csv_outside": (_valid_rows, "claims_2099-01.csv", OUTSIDE_RAW_RULE),
    "system_file_outside": (_passwd, "x.csv", OUTSIDE_RAW_RULE),
    "gbk_text_outside": (_gbk, "claims [gbk].csv", OUTSIDE_RAW_RULE),
    "named_header_outside": (_named_header, "claims_链接.csv", OUTSIDE_RAW_RULE),
    "parquet_outside": (_parquet, "claims_*.parquet", OUTSIDE_RAW_RULE),
    "file_inside_raw": (_inside_raw, "claims_units.csv", LINK_RULE),
    "dangling": (_dangling, "claims_dangling.csv", LINK_RULE),
}


@pytest.mark.parametrize("case", list(LINK_CASES))
def test_link_is_refused_and_nothing_of_its_target_is_written(case, workspace, tmp_path):
    raw, con, clean = workspace
    build, name, rule = LINK_CASES[case]
    marker = f"LEAK{secrets.token_hex(6)}"
    outside = tmp_path / "outside"
    outside.mkdir()
    target = build(marker, clean, outside)
    (raw / "claims" / name).symlink_to(target)
    before = con.execute("select count(*) from raw.claims").fetchone()[0]

    report = load(con, raw, "claims", tmp_path)

    outcome = next(f for f in report.files if f.path == f"claims/{name}")
    assert (outcome.status, outcome.rule) == ("rejected", rule)
    [(status, ledger_rule, message, delivered, kept)] = ledger_rows(con, f"claims/{name}")
    assert (status, ledger_rule, delivered, kept) == ("rejected", rule, None, None)
    assert message.startswith(f"claims/{name}: a symbolic link")
    assert con.execute("select count(*) from raw.claims").fetchone()[0] == before
    written = everything_written(con, tmp_path / "rejected")
    assert marker not in written
    assert "张三" not in written and "机密" not in written
    assert str(outside) not in written, "the target's location is not published either"
    assert not list((tmp_path / "rejected").rglob(f"*{name}")), "a refused link is not copied"
    # the source shows the refusal, and the same link is not judged again
    present = [f.path for f in report.files]
    state = gate_state.compute_gate_state(con, "claims", "claims", present, None)
    assert (state.state, state.check_name) == ("held", rule)
    assert marker not in (state.reason or "")
    again = load(con, raw, "claims", tmp_path)
    assert {f.path: f.status for f in again.files}[f"claims/{name}"] == "unchanged"


def test_link_replaced_by_the_real_file_is_loaded(workspace, tmp_path):
    raw, con, clean = workspace
    outside = tmp_path / "outside"
    outside.mkdir()
    target = _valid_rows("OUT", clean, outside)
    link = raw / "claims" / "claims_2099-02.csv"
    link.symlink_to(target)
    load(con, raw, "claims", tmp_path)
    link.unlink()
    link.write_bytes(fresh_csv(clean, "REAL"))
    load(con, raw, "claims", tmp_path)
    assert [r[0] for r in ledger_rows(con, "claims/claims_2099-02.csv")] == ["rejected", "loaded"]
    ids = con.execute(
        "select distinct left(claim_id, 4) from raw.claims where _source_file = ?",
        ["claims/claims_2099-02.csv"],
    ).fetchall()
    assert ids == [("REAL",)]


def test_source_folder_that_is_a_link_is_not_read(tmp_path, generated_raw):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    marker = f"LEAK{secrets.token_hex(6)}"
    clean = sorted((generated_raw / "claims").glob("claims_*.csv"))[0]
    (outside / "claims_2025-01.csv").write_bytes(fresh_csv(clean, marker))
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "claims").symlink_to(outside, target_is_directory=True)
    assert list_extract_files(raw / "claims") == []
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    report = load(con, raw, "claims", tmp_path)
    assert report.files == []
    assert marker not in everything_written(con, tmp_path / "rejected")
    con.close()


# --- a name is a name, never a glob --------------------------------------------------------------

# (name the department chose, a sibling a glob of that name would match)
GLOB_NAMES = [
    ("claims_[1].csv", "claims_1.csv"),
    ("claims_?.csv", "claims_a.csv"),
    ("claims_*.csv", "claims_b.csv"),
    ("claims_{a,b}.csv", "claims_c.csv"),
    ("claims_**.csv", "claims_d.csv"),
    ("claims_[x].parquet", "claims_x.parquet"),
    ("claims_[!q]?.parquet", "claims_pp.parquet"),
]


def _write_extract(path: Path, rows: list[list[str]]) -> None:
    if path.suffix == ".csv":
        path.write_bytes(to_csv(rows).encode())
        return
    staging = path.with_name("staging.tmp")
    staging.with_suffix(".csv").write_bytes(to_csv(rows).encode())
    con = duckdb.connect()
    con.execute(
        f"copy (select * from read_csv('{staging.with_suffix('.csv')}', all_varchar = true)) "
        f"to '{staging}' (format parquet)"
    )
    con.close()
    staging.with_suffix(".csv").unlink()
    os.rename(staging, path)


@pytest.mark.parametrize(("name", "sibling"), GLOB_NAMES, ids=[n for n, _ in GLOB_NAMES])
def test_glob_characters_in_a_name_read_that_file_only(name, sibling, workspace, tmp_path):
    raw, con, clean = workspace
    _write_extract(raw / "claims" / sibling, fresh_rows(clean, "SIB"))
    _write_extract(raw / "claims" / name, fresh_rows(clean, "OWN"))
    report = load(con, raw, "claims", tmp_path)
    statuses = {f.path: (f.status, f.message) for f in report.batches}
    assert statuses[f"claims/{name}"][0] == "loaded", statuses
    assert statuses[f"claims/{sibling}"][0] == "loaded", statuses
    for path, prefix in ((name, "OWN"), (sibling, "SIB")):
        prefixes = con.execute(
            "select distinct left(claim_id, 3) from raw.claims where _source_file = ?",
            [f"claims/{path}"],
        ).fetchall()
        assert prefixes == [(prefix,)], path
    rows = len(fresh_rows(clean, "OWN")) - 1
    assert (
        con.execute(
            "select count(*) from raw.claims where _source_file = ?", [f"claims/{name}"]
        ).fetchone()[0]
        == rows
    )


@pytest.mark.parametrize("name", ["a[1].csv", "a*.csv", "a?.csv", "a[[]].csv", "[*?].csv"])
def test_glob_escaped_names_only_its_file(name, tmp_path):
    """The fallback where /proc/self/fd is missing: the escaped name matches itself only."""
    for sibling in ("a1.csv", "ab.csv", "a.csv", "a[.csv", "x.csv"):
        (tmp_path / sibling).write_text("v\nsibling\n")
    (tmp_path / name).write_text("v\nown\n")
    con = duckdb.connect()
    pattern = glob_escaped(str(tmp_path / name))
    rows = con.execute(
        "select v from read_csv(?, header = true, auto_detect = false, columns = {'v': 'VARCHAR'})",
        [pattern],
    ).fetchall()
    assert rows == [("own",)]


def test_opened_for_duckdb_refuses_a_link(tmp_path):
    (tmp_path / "real.csv").write_text("a\n1\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    with pytest.raises(RejectedFile) as refused, opened_for_duckdb(tmp_path / "link.csv"):
        pass
    assert refused.value.rule == LINK_RULE
    with opened_for_duckdb(tmp_path / "real.csv") as readable:
        assert "real" not in readable  # DuckDB gets the open file, not the name
        rows = duckdb.sql(f"select * from read_csv('{readable}')").fetchall()
        assert rows == [(1,)]
