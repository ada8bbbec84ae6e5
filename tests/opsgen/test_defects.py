"""Defect injection: none in a clean run; with a rate, every kind, recorded and findable."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from dagster_project.core.contract import contract_columns, source_meta
from opsgen.defects import DEFECT_KINDS
from tests.opsgen.extracts import (
    DEADLINES,
    EXTRACTION,
    ORDERED,
    TIMESTAMP,
    read_rows,
    record_key,
    source_rows,
)


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
