"""Unit tests of the demo data generator, on tiny extracts written to temporary folders."""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dagster_project.core.contract import contract_columns, source_meta
from dagster_project.lib.generate import (
    DEFECT_KINDS,
    DefectTargets,
    Table,
    generate,
    select_sql,
)

SCALE = 0.002
MONTHS = 3
END_MONTH = "2026-10"
LABELS = ["2026-08", "2026-09", "2026-10"]
EXTRACTION = "2026-11-01 00:00:00"
DEFECT_RATE = 0.1
SINGLE_FILE = {"org_units", "org_aliases", "centers", "project_milestones"}
# The timestamp each monthly file is partitioned by.
PRIMARY = {
    "applications": "received_at",
    "claims": "reported_at",
    "complaints": "received_at",
    "contacts": "arrived_at",
    "endorsements": "requested_at",
    "nps_responses": "responded_at",
    "op_costs": "month",
    "policies": "issued_date",
    "rpa_runs": "started_at",
    "staffing": "month",
    "tasks": "created_at",
}
# (earlier, later) life-cycle pairs that clean data never reverses.
ORDERED = {
    "claims": [
        ("reported_at", "registered_at"),
        ("registered_at", "approved_at"),
        ("approved_at", "paid_at"),
        ("paid_at", "closed_at"),
        ("approved_at", "closed_at"),
        ("closed_at", "reopened_at"),
    ],
    "contacts": [("arrived_at", "answered_at"), ("arrived_at", "abandoned_at")],
    "applications": [("received_at", "decided_at"), ("decided_at", "issued_at")],
    "endorsements": [("requested_at", "completed_at")],
    "tasks": [("created_at", "assigned_at"), ("assigned_at", "completed_at")],
    "complaints": [("received_at", "closed_at")],
    "rpa_runs": [("started_at", "ended_at")],
    "policies": [("issued_date", "terminated_date")],
}
# Deadlines and plans may lie after the extraction; events may not.
DEADLINES = {"due_at", "sla_due_at", "due_date"}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def read_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as f:
        return next(csv.reader(f))


def source_rows(out: Path, source: str) -> list[dict[str, str]]:
    return [row for path in sorted((out / source).glob("*.csv")) for row in read_rows(path)]


def file_hashes(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*.csv"))
    }


def record_key(row: dict[str, str], key: tuple[str, ...]) -> str:
    return "|".join(row[k] for k in key)


def run(out: Path, seed: int = 42, defects: float = 0.0, months: int = MONTHS) -> Path:
    generate(
        out=out,
        scale=SCALE,
        months=months,
        seed=seed,
        defects=defects,
        end_month=END_MONTH,
        progress=False,
    )
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(tmp_path_factory.mktemp("clean") / "raw")


@pytest.fixture(scope="module")
def defective(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(tmp_path_factory.mktemp("defective") / "raw", defects=DEFECT_RATE)


def test_generate_is_deterministic_for_same_seed(clean: Path, tmp_path: Path) -> None:
    again = run(tmp_path / "raw")
    assert file_hashes(again) == file_hashes(clean)


def test_generate_differs_for_other_seed(clean: Path, tmp_path: Path) -> None:
    other = file_hashes(run(tmp_path / "raw", seed=43))
    same = file_hashes(clean)
    assert other.keys() == same.keys()
    assert other["claims/claims_2026-09.csv"] != same["claims/claims_2026-09.csv"]
    assert other["contacts/contacts_2026-09.csv"] != same["contacts/contacts_2026-09.csv"]


def test_generate_writes_exactly_the_contract_columns(clean: Path) -> None:
    for source, columns in contract_columns().items():
        files = sorted((clean / source).glob("*.csv"))
        assert files, f"no files for {source}"
        for path in files:
            assert read_header(path) == [name for name, _ in columns], path


def test_generate_file_layout_follows_the_period(clean: Path) -> None:
    for source in contract_columns():
        names = sorted(p.name for p in (clean / source).glob("*.csv"))
        if source in SINGLE_FILE:
            assert names == [f"{source}.csv"]
        else:
            monthly = [f"{source}_{label}.csv" for label in LABELS]
            extra = [f"{source}_initial.csv"] if source == "policies" else []
            assert names == sorted(monthly + extra)
    assert read_header(clean / "_manifest" / "defects.csv") == [
        "source",
        "file",
        "record_key",
        "defect_kind",
    ]


def test_generate_rows_sit_in_the_file_of_their_primary_month(clean: Path) -> None:
    for source, column in PRIMARY.items():
        for label in LABELS:
            rows = read_rows(clean / source / f"{source}_{label}.csv")
            assert all(row[column][:7] == label for row in rows), (source, label)
    initial = read_rows(clean / "policies" / "policies_initial.csv")
    assert initial and max(row["issued_date"] for row in initial) < f"{LABELS[0]}-01"


def test_generate_formats_timestamps_dates_and_booleans(clean: Path) -> None:
    patterns = {"timestamp": TIMESTAMP, "date": DATE, "boolean": re.compile(r"^(true|false)$")}
    for source, columns in contract_columns().items():
        rows = source_rows(clean, source)
        for name, data_type in columns:
            pattern = patterns.get(data_type)
            if pattern is None:
                continue
            values = {row[name] for row in rows} - {""}
            bad = [v for v in values if not pattern.match(v)]
            assert not bad, (source, name, bad[:3])


def test_generate_reorganises_one_sub_branch_mid_period(clean: Path) -> None:
    units = read_rows(clean / "org_units" / "org_units.csv")
    versions = Counter(u["org_code"] for u in units)
    moved = [code for code, n in versions.items() if n > 1]
    assert len(moved) == 1
    old, new = sorted(
        (u for u in units if u["org_code"] == moved[0]), key=lambda u: u["valid_from"]
    )
    assert old["org_level"] == new["org_level"] == "sub_branch"
    assert old["valid_to"] == new["valid_from"] == "2026-09-01"
    assert new["valid_to"] == ""
    assert old["parent_code"] != new["parent_code"]
    parent_of = {u["org_code"]: u["parent_code"] for u in units if u["org_level"] == "branch"}
    assert parent_of[old["parent_code"]] == parent_of[new["parent_code"]]


def test_generate_org_tree_levels(clean: Path) -> None:
    units = read_rows(clean / "org_units" / "org_units.csv")
    levels = Counter(u["org_level"] for u in units if u["valid_to"] == "")
    assert levels["group"] == 1
    assert levels["subsidiary"] == 3
    assert 12 <= levels["branch"] <= 18
    assert levels["sub_branch"] >= 3 * levels["branch"]
    centers = read_rows(clean / "centers" / "centers.csv")
    assert len(centers) >= 6
    subsidiaries = {u["org_code"] for u in units if u["org_level"] == "subsidiary"}
    assert {c["subsidiary_code"] for c in centers} <= subsidiaries


def test_generate_uses_aliases_of_sub_branches_in_operational_data(clean: Path) -> None:
    units = read_rows(clean / "org_units" / "org_units.csv")
    sub_branches = {u["org_code"] for u in units if u["org_level"] == "sub_branch"}
    aliases = {
        a["alias_code"]: a["org_code"] for a in read_rows(clean / "org_aliases" / "org_aliases.csv")
    }
    assert aliases and set(aliases.values()) <= sub_branches
    used = {row["org_code"] for row in source_rows(clean, "policies")} & aliases.keys()
    used |= {row["org_code"] for row in source_rows(clean, "claims")} & aliases.keys()
    assert used


def test_generate_clean_run_has_no_defects(clean: Path) -> None:
    assert read_rows(clean / "_manifest" / "defects.csv") == []
    units = read_rows(clean / "org_units" / "org_units.csv")
    sub_branches = {u["org_code"] for u in units if u["org_level"] == "sub_branch"}
    aliases = {a["alias_code"] for a in read_rows(clean / "org_aliases" / "org_aliases.csv")}
    keys = {name: meta.key for name, meta in source_meta().items()}
    for source, columns in contract_columns().items():
        rows = source_rows(clean, source)
        counts = Counter(record_key(row, keys[source]) for row in rows)
        assert max(counts.values(), default=1) == 1, f"duplicate keys in {source}"
        for earlier, later in ORDERED.get(source, []):
            reversed_ = [r for r in rows if r[earlier] and r[later] and r[later] < r[earlier]]
            assert not reversed_, (source, earlier, later, reversed_[:1])
        for name, data_type in columns:
            if data_type == "timestamp" and name not in DEADLINES:
                assert all(row[name] < EXTRACTION for row in rows), (source, name)
            if data_type.startswith("decimal"):
                assert all(not row[name] or float(row[name]) >= 0 for row in rows), (source, name)
        if "org_code" in dict(columns) and source not in {"org_units", "org_aliases"}:
            assert {row["org_code"] for row in rows} <= sub_branches | aliases, source
    claims = source_rows(clean, "claims")
    manual = [c for c in claims if c["auto_processed"] == "false"]
    assert manual and all(re.match(r"^H\d+$", c["handler_id"]) for c in manual)
    assert all(c["paid_at"] == "" for c in claims if c["decision"] in ("declined", "withdrawn"))


def test_generate_defects_manifest_covers_every_kind(defective: Path) -> None:
    manifest = read_rows(defective / "_manifest" / "defects.csv")
    assert {m["defect_kind"] for m in manifest} == set(DEFECT_KINDS)
    assert {m["source"] for m in manifest} <= set(contract_columns())


def test_generate_defects_are_findable_by_key(defective: Path) -> None:
    keys = {name: meta.key for name, meta in source_meta().items()}
    manifest = read_rows(defective / "_manifest" / "defects.csv")
    files: dict[str, Counter[str]] = {}
    for entry in manifest:
        if entry["file"] not in files:
            rows = read_rows(defective / entry["file"])
            files[entry["file"]] = Counter(record_key(r, keys[entry["source"]]) for r in rows)
        found = files[entry["file"]][entry["record_key"]]
        expected = 2 if entry["defect_kind"] == "duplicate" else 1
        assert found == expected, entry


def test_generate_defects_look_like_their_kind(defective: Path) -> None:
    manifest = read_rows(defective / "_manifest" / "defects.csv")
    claims = {r["claim_id"]: r for r in source_rows(defective, "claims")}
    for entry in (m for m in manifest if m["source"] == "claims"):
        claim = claims[entry["record_key"]]
        kind = entry["defect_kind"]
        if kind == "out_of_order":
            assert claim["paid_at"] < claim["reported_at"]
        elif kind == "missing_handler":
            assert claim["auto_processed"] == "false" and claim["handler_id"] in ("", "?", "0")
        elif kind == "variant_org_code":
            assert claim["org_code"] != claim["org_code"].strip().upper()
        elif kind == "mixed_date_format":
            assert not TIMESTAMP.match(claim["reported_at"])
        elif kind == "future_date":
            assert claim["closed_at"] > EXTRACTION
        elif kind == "late_arriving":
            assert claim["reported_at"][:7] < entry["file"][-11:-4]
        elif kind == "negative_amount":
            assert min(float(claim["claimed_amount"]), float(claim["paid_amount"])) < 0


def test_generate_removes_stale_months(tmp_path: Path) -> None:
    out = run(tmp_path / "raw", months=3)
    (out / "claims" / "notes.txt").write_text("kept", encoding="utf-8")
    run(out, months=2)
    assert sorted(p.name for p in (out / "claims").glob("*.csv")) == [
        "claims_2026-09.csv",
        "claims_2026-10.csv",
    ]
    assert (out / "claims" / "notes.txt").exists()


@pytest.mark.parametrize(
    "kwargs",
    [{"scale": 0}, {"defects": 1.0}, {"months": 0}, {"end_month": "October"}, {"seed": -1}],
)
def test_generate_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        generate(out=tmp_path / "raw", progress=False, **kwargs)  # type: ignore[arg-type]


def test_select_sql_fails_loudly_on_a_column_the_generator_lacks() -> None:
    table = Table({"a": np.arange(3)}, np.zeros(3, dtype=np.int64), targets=DefectTargets())
    assert "CAST" in select_sql(table, [("a", "integer")], "demo")
    with pytest.raises(KeyError, match="missing_column"):
        select_sql(table, [("a", "integer"), ("missing_column", "varchar")], "demo")


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_split_last_day_cuts_one_days_delivery_and_loses_no_row(generated_raw, tmp_path):
    from dagster_project.lib.generate import daily_event_columns, split_last_day

    raw = tmp_path / "raw"
    shutil.copytree(generated_raw, raw)
    before = {p.relative_to(raw): _rows(p) for p in raw.rglob("*.csv")}

    delivery = split_last_day(raw, tmp_path / "day", late_rows=3)

    columns = daily_event_columns()
    assert "claims" in columns and set(delivery.files) == set(columns)
    newest = max(
        row[rows[0].index(columns[relative.parts[0]])][:10]
        for relative, rows in before.items()
        if relative.parts[0] in columns
        for row in rows[1:]
    )
    assert delivery.day == newest, "the day is the newest event day of the daily sources"
    changed = set()
    for source, path in delivery.files.items():
        moved = _rows(path)
        month_files = sorted(p for p in before if p.parts[0] == source and p.stem[-3] == "-")
        originals = [before[p] for p in month_files[-2:]]
        kept = [_rows(raw / p) for p in month_files[-2:]]
        header = originals[0][0]
        assert moved[0] == header and all(k[0] == header for k in kept)
        index = header.index(columns[source])
        late = [r for r in moved[1:] if not r[index].startswith(delivery.day)]
        if source in ("claims", "contacts"):  # busy enough to have records every day
            assert len(moved) - 1 > len(late), "the day itself has records"
        assert len(late) == delivery.late_rows[source] == 3
        assert len(moved) - 1 == delivery.rows[source]
        assert all(r[index][:7] < delivery.day[:7] for r in late), "late rows are from before"
        assert not any(r[index].startswith(delivery.day) for r in kept[1][1:])
        everything = sorted(originals[0][1:] + originals[1][1:])
        assert sorted(kept[0][1:] + kept[1][1:] + moved[1:]) == everything, "no row lost or added"
        changed.update(month_files[-2:])
    for relative, rows in before.items():
        if relative not in changed:
            assert _rows(raw / relative) == rows, f"{relative} must stay as generated"
