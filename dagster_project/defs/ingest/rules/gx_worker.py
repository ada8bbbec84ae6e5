"""What runs inside the GX process (`gx_process`, `python -m` this module): suites parsed, frames
judged.

This module imports GX only inside its functions: the pipeline's process imports it to name
them, and must not pay for GX; the GX process has it preloaded (`contract_type`). Everything
crosses the process boundary as plain values: suite documents and expectation lists
as dicts, rows as pandas frames, results as tuples and GX's errors as text (pydantic's errors do
not pickle).
"""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any


def import_gx() -> None:
    """GX imported, with the suites' own expectations registered (`contract_type`).

    With the `spark` extra installed, GX imports pyspark.sql.connect, which takes a `__main__`
    without a file or spec for its own doctests and exits the process (`sys.exit(0)`, silently).
    A forkserver's `__main__` is such a module (it is started with `python -c`), and so is a
    pytest-xdist worker's. A file is lent to `__main__` for that one import; pyspark.sql.connect
    then fails with the ImportError GX expects (no pyarrow) and GX carries on without it.
    """
    import importlib.util
    import sys

    main = sys.modules["__main__"]
    lend = (
        getattr(main, "__spec__", None) is None
        and not hasattr(main, "__file__")
        and importlib.util.find_spec("pyspark") is not None
    )
    if lend:
        main.__file__ = __file__
    try:
        import dagster_project.defs.ingest.rules.contract_type  # noqa: F401
    finally:
        if lend:
            del main.__file__


@cache
def _batch_definition() -> Any:
    """An ephemeral GX context with one pandas datasource: no GX project on disk is needed."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("opsvalue_door").add_dataframe_asset("batch")
    return asset.add_batch_definition_whole_dataframe("whole")


def check_suite(document: dict[str, Any]) -> str | None:
    """Why GX cannot read the suite document (its error as text), None when it can."""
    from dagster_project.defs.ingest.rules.contract_type import gx_suite

    try:
        gx_suite(document)
    except Exception as exc:  # noqa: BLE001 - any GX or pydantic error, reported by the caller
        return str(exc)
    return None


def validate(
    source: str,
    expectations: list[dict[str, Any]],
    frame: Any,
    parameters: dict[str, Any],
) -> list[tuple[str, bool, int, int, str | None]]:
    """GX's validation of `frame` by `expectations`: per expectation its rule, success, element
    and unexpected counts, and the error GX raised evaluating it (None when none)."""
    from dagster_project.defs.ingest.rules.contract_type import gx_suite

    suite = gx_suite({"name": f"{source}_door", "expectations": expectations})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
        # BASIC has the counts read below; SUMMARY would also tally the unexpected values
        outcome = batch.validate(suite, result_format="BASIC", expectation_parameters=parameters)
    out = []
    for item in outcome.results:
        info = item.exception_info or {}
        error = str(info.get("exception_message"))[:500] if info.get("raised_exception") else None
        out.append(
            (
                str(item.expectation_config.meta["rule"]),
                bool(item.success),
                int(item.result.get("element_count") or 0),
                int(item.result.get("unexpected_count") or 0),
                error,
            )
        )
    return out


FUNCTIONS = {"check_suite": check_suite, "validate": validate}


def serve(read_fd: int, write_fd: int) -> None:
    """The GX process's loop: GX imported first, then one pickled call at a time answered with
    (True, result) or (False, the error as text), until the pipeline closes the pipe."""
    import os
    import pickle

    import_gx()
    with os.fdopen(read_fd, "rb") as rx, os.fdopen(write_fd, "wb") as tx:
        while True:
            try:
                name, args = pickle.load(rx)
            except EOFError:
                return
            try:
                answer = (True, FUNCTIONS[name](*args))
            except Exception as exc:  # noqa: BLE001 - reported to the caller, which raises it
                answer = (False, f"{type(exc).__name__}: {exc}")
            pickle.dump(answer, tx, protocol=pickle.HIGHEST_PROTOCOL)
            tx.flush()


if __name__ == "__main__":
    import sys

    serve(int(sys.argv[1]), int(sys.argv[2]))
