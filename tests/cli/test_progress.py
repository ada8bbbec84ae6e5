"""The stage lines of `opsvalue run` and `demo`, from the metadata the run's events carry."""

from __future__ import annotations

from collections import Counter

from dagster_project.cli.progress import Stage, describe


def source(files_loaded=0, unchanged=0, rejected=0, rows=0, quarantined=0, gate="ok") -> dict:
    return {
        "files_loaded": files_loaded,
        "files_replaced": 0,
        "files_unchanged": unchanged,
        "files_rejected": rejected,
        "rows_loaded": rows,
        "rows_quarantined": quarantined,
        "gate_state": gate,
    }


def test_describe_ingest_adds_up_the_sources_and_names_the_held_ones():
    stage = Stage(
        "ingest",
        outcome="done",
        materialized=[
            ("raw/claims", source(files_loaded=2, rows=1200, quarantined=3)),
            ("raw/contacts", source(unchanged=4, rejected=1, gate="held")),
            ("meta/file_ledger", {"rows": 99}),
        ],
        checks=Counter(passed=5, failed=1),
    )
    assert describe(stage) == (
        "2 sources: 2 files loaded (1,200 rows), 4 unchanged, 1 rejected, 3 rows quarantined; "
        "gate holds contacts; gate checks: 5 passed, 1 failed"
    )


def test_describe_dbt_says_when_it_was_skipped_and_what_it_built_otherwise():
    assert describe(Stage("dbt", outcome="done")).startswith("skipped: no new data")
    built = Stage("dbt", outcome="done", materialized=[("marts/a", {}), ("marts/b", {})])
    built.checks.update(passed=7)
    assert describe(built) == "2 models built; tests: 7 passed"


def test_describe_a_failed_stage_keeps_what_it_did_before_failing():
    stage = Stage("dbt", outcome="failed", materialized=[("staging/stg_claims__claims", {})])
    stage.checks.update(passed=3, failed=1)
    assert describe(stage) == "failed after 1 model built; tests: 3 passed, 1 failed"
    assert describe(Stage("site", outcome="failed")) == "failed"


def test_describe_publication_and_site_say_when_nothing_was_new():
    publication = Stage("publication", outcome="done", materialized=[("meta/publication", {})])
    assert describe(publication).startswith("not republished")
    site = Stage(
        "site",
        outcome="done",
        materialized=[("site", {"rebuilt": True, "pages": 9, "pages_written": 2})],
    )
    assert describe(site) == "9 pages, 2 rewritten"
    assert describe(Stage("checks", outcome="skipped")) == "skipped: nothing new to do"
