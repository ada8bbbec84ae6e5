"""Every macro of the dbt project is documented in dbt/macros/_macros.yml, with its arguments.

dbt itself (flags: validate_macro_args) only warns when a documented argument list differs from
the macro's, and says nothing about a macro left undocumented; this makes both a failure.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

PACKAGE = "opsvalue"
SIGNATURE = re.compile(r"\{%-?\s*(?:macro|test)\s+\w+\s*\(([^)]*)\)")


def signature_arguments(macro_sql: str) -> list[str]:
    """The argument names of a macro's Jinja signature, in order."""
    match = SIGNATURE.search(macro_sql)
    assert match, macro_sql[:200]
    return [part.split("=")[0].strip() for part in match.group(1).split(",") if part.strip()]


def test_signature_arguments_reads_names_and_skips_defaults():
    sql = "{% macro kpi_observation_select(scan, row_filter='', lineage=false) -%}"
    assert signature_arguments(sql) == ["scan", "row_filter", "lineage"]
    assert signature_arguments("{%- macro lineage_columns() -%}") == []


def test_every_macro_is_documented_with_its_arguments(dbt_manifest: Path) -> None:
    macros = [
        macro
        for macro in json.loads(dbt_manifest.read_text())["macros"].values()
        if macro["package_name"] == PACKAGE
    ]
    assert len(macros) > 30
    undocumented = sorted(m["name"] for m in macros if not m["description"].strip())
    assert not undocumented, f"add them to dbt/macros/_macros.yml: {undocumented}"
    for macro in macros:
        documented = [argument["name"] for argument in macro["arguments"]]
        if macro["name"].startswith("test_"):
            # dbt reads no argument list from a generic test's block: described in prose
            assert not documented, macro["name"]
            continue
        assert documented == signature_arguments(macro["macro_sql"]), macro["name"]
        assert all(argument["description"].strip() for argument in macro["arguments"])
