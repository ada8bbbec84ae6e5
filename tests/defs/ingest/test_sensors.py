"""The delivery sensor asks for exactly one run per new state of data/raw, and none otherwise."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.ingest.sensors import raw_delivery_sensor
from tests.conftest import make_workspace, point_settings_at


def evaluate(cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(cursor=cursor)
    return raw_delivery_sensor(context)


def test_raw_delivery_sensor_requests_one_run_for_a_new_file_and_none_without_change(tmp_path):
    ws = make_workspace(tmp_path)
    point_settings_at(ws)
    folder = ws.raw_dir / "claims"
    folder.mkdir(parents=True)
    (folder / "claims_2026-01.csv").write_text("claim_id\nA\n", encoding="utf-8")

    first = evaluate(None)
    assert len(first.run_requests) == 1
    unchanged = evaluate(first.cursor)
    assert not unchanged.run_requests

    (folder / "claims_2026-02.csv").write_text("claim_id\nB\n", encoding="utf-8")
    (folder / "_notes.csv").write_text("ignored\n", encoding="utf-8")
    second = evaluate(first.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert not evaluate(second.cursor).run_requests


def test_definitions_have_the_sensor_schedule_and_refresh_job(dbt_manifest):
    from dagster_project.definitions import defs

    repo = defs.get_repository_def()
    assert repo.has_sensor_def("raw_delivery_sensor")
    assert repo.has_schedule_def("daily_refresh")
    assert repo.get_job("refresh")
