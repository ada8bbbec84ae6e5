"""GX in a process of its own (`rules.gx_process`): the same judgement, off the critical path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from dagster_project.defs.ingest.rules import gx_process, gx_worker

EXPECTATIONS = [
    {
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {"column": "amount"},
        "meta": {"rule": "not_null:amount"},
    },
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "amount", "min_value": 0, "max_value": 100},
        "meta": {"rule": "range:amount"},
    },
    {
        "type": "expect_column_values_to_match_contract_type",
        "kwargs": {"column": "day__text", "data_type": "date"},
        "meta": {"rule": "type:day"},
    },
]


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [1.0, None, 250.0, 50.0, -3.0],
            "day__text": ["2026-01-31", "2026-02-30", None, "2026-13-01", "2026-03-01"],
        }
    )


def test_the_child_judges_as_gx_does_in_this_process() -> None:
    in_child = gx_process.validate("claims", EXPECTATIONS, _frame(), {})
    here = gx_worker.validate("claims", EXPECTATIONS, _frame(), {})
    assert in_child == here
    # counted by hand: one null amount; 250 and -3 out of range; 02-30 and 13-01 not dates
    assert {rule: (elements, unexpected) for rule, _, elements, unexpected, _ in here} == {
        "not_null:amount": (5, 1),
        "range:amount": (5, 2),
        "type:day": (5, 2),
    }
    assert gx_process._CHILD is not None and gx_process._CHILD.process.pid != os.getpid()


def test_suite_problems_come_back_as_text() -> None:
    problem = gx_process.check_suite(
        {
            "name": "x",
            "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {}}],
        }
    )
    assert problem and "column" in problem
    assert gx_process.check_suite({"name": "x", "expectations": EXPECTATIONS}) is None


def test_a_child_that_died_is_a_clear_error_and_the_next_call_starts_another() -> None:
    gx_process.warm()
    child = gx_process._CHILD
    assert child is not None
    os.kill(child.process.pid, signal.SIGKILL)
    child.process.wait(timeout=10)
    # a call it was to answer
    with pytest.raises(gx_process.GXProcessError, match=r"the GX process ended \(exit code -9\)"):
        child.call("validate", ("claims", EXPECTATIONS, _frame(), {}))
    # the next call finds it gone and starts another
    assert gx_process.validate("claims", EXPECTATIONS, _frame(), {})
    assert gx_process._CHILD is not child


def test_the_pipeline_process_never_imports_gx() -> None:
    """What the CLI does: warm first, then suites and validations, with no GX imported here."""
    script = textwrap.dedent(
        """
        import sys
        from dagster_project.core.settings import get_settings
        from dagster_project.defs.ingest.rules import gx_process
        from dagster_project.defs.ingest.rules.suite import load_suites
        gx_process.warm()
        suites = load_suites(get_settings().expectations_dir)
        assert len(suites) >= 10, suites
        assert "great_expectations" not in sys.modules
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


def test_a_call_cut_halfway_ends_that_child_and_the_next_call_gets_a_fresh_one() -> None:
    """A frame that cannot be pickled fails while the request is being written: the child may
    hold half a request, so it is never asked again."""
    gx_process.warm()
    child = gx_process._CHILD
    assert child is not None
    unpicklable = pd.DataFrame({"amount": [1.0], "f": [lambda: None]})
    with pytest.raises(gx_process.GXProcessError, match="a call to the GX process failed"):
        gx_process.validate("claims", EXPECTATIONS, unpicklable, {})
    assert child.process.poll() is not None  # ended, not left waiting for the rest
    assert gx_process.validate("claims", EXPECTATIONS, _frame(), {}) == gx_worker.validate(
        "claims", EXPECTATIONS, _frame(), {}
    )
    assert gx_process._CHILD is not child
