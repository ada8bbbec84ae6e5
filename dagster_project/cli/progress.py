"""What `opsvalue run` and `demo` show while the pipeline runs, and the summary after it.

The terminal gets one line per stage (ingest, dbt, checks, publication, site) as it ends, a
spinner while it runs, and, when a step fails, its error; the full log (Dagster's log lines and
dbt's node by node) goes to a file the summary names (core.runner.run_pipeline's `log_path`).
Everything shown comes from the run's event log as Dagster writes it: the steps' start, success,
failure and skip, the materialisations' metadata (files loaded, rows quarantined, ...) and the
asset checks' results. The same events are in the Dagster UI.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import DagsterEventType, EventLogEntry
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner

# The refresh job's steps, in the order a run meets them, by the name people know them by
STAGES = {
    "raw_extracts": "ingest",
    "dbt_models": "dbt",
    "kpi_checks": "checks",
    "meta__publication": "publication",
    "site": "site",
}
ERROR_LINES = 6  # of a failed step's error, on the terminal; the rest is in the log


@dataclass
class Stage:
    """What one step of the run did, from its events."""

    name: str
    started: float | None = None
    seconds: float | None = None
    outcome: str = "not run"  # done, failed, skipped, not run
    materialized: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    checks: Counter = field(default_factory=Counter)  # passed, failed, warned
    failed_checks: list[str] = field(default_factory=list)
    error: str | None = None


def _metadata(entry: EventLogEntry) -> tuple[str, dict[str, Any]]:
    mat = entry.asset_materialization
    values = {key: getattr(value, "value", value) for key, value in mat.metadata.items()}
    return "/".join(mat.asset_key.path), values


def _check(stage: Stage, entry: EventLogEntry) -> None:
    evaluation = entry.dagster_event.event_specific_data
    if evaluation.passed:
        stage.checks["passed"] += 1
    elif evaluation.severity.value == "WARN":
        stage.checks["warned"] += 1
    else:
        stage.checks["failed"] += 1
        stage.failed_checks.append(
            f"{'/'.join(evaluation.asset_key.path)}: {evaluation.check_name}"
        )


def _error(entry: EventLogEntry) -> str:
    data = entry.dagster_event.step_failure_data
    if data.user_failure_data and data.user_failure_data.description:
        return data.user_failure_data.description
    error = data.error
    while error and error.cause and not error.message.strip():
        error = error.cause
    return error.message.strip() if error else "unknown error"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def describe(stage: Stage) -> str:
    """The one line a stage gets in the summary: what it did, in the units people count."""
    did_something = stage.materialized or sum(stage.checks.values())
    if stage.outcome == "failed":
        return f"failed after {_detail(stage)}" if did_something else "failed"
    if stage.outcome in ("skipped", "not run") and not did_something:
        return "skipped: nothing new to do" if stage.outcome == "skipped" else "not run"
    return _detail(stage)


def _detail(stage: Stage) -> str:
    metas = [meta for _, meta in stage.materialized]
    checks = stage.checks
    tested = f"{checks['passed']:,} passed" + (
        f", {checks['failed']:,} failed" if checks["failed"] else ""
    )
    if stage.name == "ingest":
        sources = [m for key, m in stage.materialized if key.startswith("raw/")]
        total = Counter()
        for meta in sources:
            total.update({k: v for k, v in meta.items() if isinstance(v, int)})
        held = [k.split("/", 1)[1] for k, m in stage.materialized if m.get("gate_state") == "held"]
        return (
            f"{_count(len(sources), 'source')}: "
            f"{_count(total['files_loaded'] + total['files_replaced'], 'file')} loaded "
            f"({total['rows_loaded']:,} rows), {total['files_unchanged']:,} unchanged, "
            f"{total['files_rejected']:,} rejected, {total['rows_quarantined']:,} rows quarantined"
            + (f"; gate holds {', '.join(held)}" if held else "")
            + f"; gate checks: {tested}"
        )
    if stage.name == "dbt":
        if not metas and not sum(checks.values()):
            return "skipped: no new data and no change to the dbt project"
        return f"{_count(len(metas), 'model')} built; tests: {tested}"
    if stage.name == "checks":
        warned = f", {_count(checks['warned'], 'warning')}" if checks["warned"] else ""
        return f"KPI checks: {tested}{warned}"
    if stage.name == "publication" and metas:
        meta = metas[0]
        if not meta.get("republished"):
            return "not republished: the snapshot already shows this build"
        return (
            f"{meta.get('path')} ({meta.get('tables')} tables, {meta.get('method')}); "
            f"{meta.get('sources_held')} source(s) held, "
            f"{meta.get('stale_metrics')} stale metric(s)"
        )
    if stage.name == "site" and metas:
        meta = metas[0]
        if not meta.get("rebuilt"):
            return "not rebuilt: it already shows the snapshot"
        return f"{meta.get('pages')} pages, {meta.get('pages_written')} rewritten"
    return stage.outcome


def terminal_console() -> Console:
    """A console on the terminal as it is now: it stays there while the run's output is sent
    to its log file (core.runner.output_to moves file descriptors 1 and 2 and sys.std*)."""
    stream = sys.stderr
    # a stream without a descriptor (pytest's capture) is not touched by the redirection
    with contextlib.suppress(AttributeError, OSError, ValueError):
        stream = os.fdopen(os.dup(stream.fileno()), "w", buffering=1, encoding="utf-8")
    # piped or redirected: whole lines, not wrapped at 80 columns
    return Console(file=stream, soft_wrap=True)


class Progress:
    """Receives the run's events (core.runner's `on_event`) and keeps the terminal informed."""

    def __init__(self, console: Console, log_path: Path) -> None:
        self.console = console
        self.log_path = log_path
        self.stages = {step: Stage(name) for step, name in STAGES.items()}
        self.status: Live | None = None
        self.failed_run: str | None = None

    def _stage(self, entry: EventLogEntry) -> Stage | None:
        step = entry.step_key
        if step is None:
            return None
        if step not in self.stages:  # a step this module does not know: shown under its name
            self.stages[step] = Stage(step)
        return self.stages[step]

    def __call__(self, entry: EventLogEntry) -> None:
        event = entry.dagster_event
        if event is None:
            return
        kind = event.event_type
        stage = self._stage(entry)
        if kind == DagsterEventType.RUN_FAILURE:
            self.failed_run = event.message
        if stage is None:
            return
        if kind == DagsterEventType.STEP_START:
            stage.started = time.perf_counter()
            self._spin(f"{stage.name}…")
        elif kind == DagsterEventType.ASSET_MATERIALIZATION:
            stage.materialized.append(_metadata(entry))
            if stage.name == "ingest":
                self._spin(f"ingest… {stage.materialized[-1][0]}")
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            _check(stage, entry)
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            stage.outcome = "done" if kind == DagsterEventType.STEP_SUCCESS else "failed"
            if stage.started is not None:
                stage.seconds = time.perf_counter() - stage.started
            if kind == DagsterEventType.STEP_FAILURE:
                stage.error = _error(entry)
            self._line(stage)
        elif kind == DagsterEventType.STEP_SKIPPED:
            stage.outcome = "skipped"
            self._line(stage)

    def _spin(self, text: str) -> None:
        spinner = Spinner("dots", text=escape(text), style="green")
        if self.status is None:
            # rich would otherwise take over sys.stdout and sys.stderr, which the run has sent
            # to its log file, and bring the log back onto the terminal
            self.status = Live(
                spinner,
                console=self.console,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
                refresh_per_second=8,
            )
            self.status.start()
        else:
            self.status.update(spinner)

    def _line(self, stage: Stage) -> None:
        mark = {"done": "[green]✓[/]", "failed": "[bold red]✗[/]"}.get(stage.outcome, "[dim]-[/]")
        took = f" [dim]{stage.seconds:.1f} s[/]" if stage.seconds is not None else ""
        self.console.print(f"{mark} {stage.name:<12} {escape(describe(stage))}{took}")
        if stage.failed_checks:
            shown = ", ".join(stage.failed_checks[:5])
            more = (
                f" and {len(stage.failed_checks) - 5} more" if len(stage.failed_checks) > 5 else ""
            )
            self.console.print(f"  [red]failed[/]: {escape(shown)}{more}")
        if stage.error:
            lines = stage.error.splitlines()
            for line in lines[:ERROR_LINES]:
                self.console.print(f"  [red]{escape(line)}[/]")
            if len(lines) > ERROR_LINES:
                self.console.print(
                    f"  [dim]… {len(lines) - ERROR_LINES} more line(s) in the log[/]"
                )

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None

    def finish(self, success: bool) -> None:
        """After the run: stages that never reported, and where the full log is."""
        self.stop()
        if not success:
            for stage in self.stages.values():
                if stage.outcome == "not run" and stage.started is None:
                    self._line(stage)
            failed = [s.name for s in self.stages.values() if s.outcome == "failed"]
            reason = f" at {', '.join(failed)}" if failed else ""
            published = any(
                meta.get("republished")
                for _, meta in self.stages.get("meta__publication", Stage("")).materialized
            )
            kept = (
                "the new snapshot was published, the dashboards still show the one before"
                if published
                else "nothing new was published: readers keep the last publication"
            )
            self.console.print(f"[bold red]run failed{reason}[/]: {kept}")
            if not failed and self.failed_run:  # the run failed outside any step
                self.console.print(f"  [red]{escape(self.failed_run)}[/]")
        self.console.print(f"full log: {escape(str(self.log_path))}")
