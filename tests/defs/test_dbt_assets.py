"""When the dbt asset builds incrementally and when it rebuilds from scratch."""

from __future__ import annotations

import json

from dagster_project.lib.dbt_project import REBUILD, build_args


def watermark(ledger: int, mapping: int | None, dbt: str) -> str:
    return json.dumps({"ledger_max_id": ledger, "mapping_max_id": mapping, "dbt": dbt})


def test_build_args_is_incremental_for_new_data_only():
    assert build_args(watermark(5, 1, "a"), watermark(9, 1, "a")) == ["build"]


def test_build_args_rebuilds_when_the_project_or_the_alias_list_changed_or_on_first_build():
    assert build_args(watermark(5, 1, "a"), watermark(5, 1, "b")) == ["build", *REBUILD]
    assert build_args(watermark(5, 1, "a"), watermark(9, 7, "a")) == ["build", *REBUILD]
    assert build_args(None, watermark(9, 7, "a")) == ["build", *REBUILD]
