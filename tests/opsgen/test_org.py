"""The fixed organisation as generated: tree levels, the mid-period reorganisation, aliases."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.opsgen.extracts import read_rows, source_rows


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
