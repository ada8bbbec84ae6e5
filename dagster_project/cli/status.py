"""`opsvalue status`: the quality gates as the terminal shows them.

Per source: its owner, last file, when data last entered the warehouse, whether the gate holds new
data back (which rule, since when), open quarantined rows and freshness; then the KPIs a check
holds back (which check, where, since when, why), the stale metrics and the last publication. The
same tables the dashboards read (meta.source_gate_state, meta.kpi_holds, meta.stale_metrics,
meta.publication).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dagster_project.core.settings import get_settings
from dagster_project.core.warehouse import connect, connect_published
from dagster_project.defs.checks import holds
from dagster_project.defs.checks.holds import Hold
from dagster_project.defs.ingest import gate_state
from dagster_project.defs.ingest.gate_state import SourceStatus
from dagster_project.defs.publish import records

OUT = Console(soft_wrap=True, width=None if Console().is_terminal else 200)
ERR = Console(stderr=True)


@dataclass(frozen=True)
class Status:
    sources: list[SourceStatus]
    stale_metrics: list[tuple[str, str]]
    published_at: datetime | None
    held_kpis: list[Hold]


def read_status(con: duckdb.DuckDBPyConnection) -> Status:
    """The gate state, KPI holds, stale metrics and last publication from the meta tables."""
    return Status(
        gate_state.source_statuses(con),
        gate_state.stale_metrics(con),
        records.last_published_at(con),
        holds.current_holds(con),
    )


def hold_line(hold: Hold) -> str:
    """One held KPI in words: which check holds which metric where, since when, and why."""
    return (
        f"{hold.check_name} holds back {hold.metric_name} at {hold.where} since "
        f"{_when(hold.since)} (previously published values kept): {hold.reason}"
    )


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def render(status: Status, console: Console) -> None:
    table = Table(title="Sources", title_justify="left")
    for column in ("source", "owner", "last file", "loaded at", "gate", "stale", "quarantined"):
        table.add_column(column, no_wrap=column in ("source", "loaded at", "gate"))
    for s in status.sources:
        gate = "[green]ok[/]"
        if s.state == "held":
            gate = f"[bold red]held[/] since {_when(s.since)}: {s.check_name}"
        stale = f"[yellow]stale[/] ({s.stale_reason})" if s.is_stale else "no"
        table.add_row(
            s.source,
            s.data_owner or "-",
            s.last_file or "-",
            _when(s.last_loaded_at),
            gate,
            stale,
            f"{s.open_quarantine_rows:,}",
        )
    console.print(table)
    for s in status.sources:
        if s.state == "held":
            console.print(f"[bold red]held[/] {s.source} (owner {s.data_owner}): {s.reason}")
    if status.held_kpis:
        kpis = Table(title="KPIs held back by checks", title_justify="left")
        for column in ("check", "metric", "where", "since", "why"):
            kpis.add_column(column, no_wrap=column != "why")
        for hold in status.held_kpis:
            kpis.add_row(
                hold.check_name,
                hold.metric_name,
                hold.where,
                _when(hold.since),
                escape(hold.reason),
            )
        console.print(kpis)
        console.print("held KPIs keep their previously published values; the rest is current")
    else:
        console.print("KPIs held back by checks: none")
    if status.stale_metrics:
        metrics = Table(title="Stale metrics", title_justify="left")
        metrics.add_column("metric", no_wrap=True)
        metrics.add_column("why")
        for name, reason in status.stale_metrics:
            metrics.add_row(name, reason)
        console.print(metrics)
    else:
        console.print("stale metrics: none")
    console.print(f"last publication: {_when(status.published_at)}")


def cmd_status(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.work_db_path.exists():
        ERR.print(f"no working database at {settings.work_db_path}: run `opsvalue demo` first")
        return 1
    try:
        with connect(settings, read_only=True) as con:
            status = read_status(con)
    except duckdb.IOException:
        # a run holds the working database: show the state as of the last publication
        try:
            with connect_published(settings) as con:
                status = read_status(con)
        except (duckdb.Error, FileNotFoundError) as exc:
            ERR.print(f"a run is writing {settings.work_db_path} and nothing is published: {exc}")
            return 1
        ERR.print("[yellow]a run is in progress[/]: showing the state of the last publication")
    if args.json:
        payload: dict[str, Any] = {
            "sources": [asdict(s) for s in status.sources],
            "held_kpis": [asdict(h) for h in status.held_kpis],
            "stale_metrics": [{"metric_name": m, "reason": r} for m, r in status.stale_metrics],
            "published_at": status.published_at,
        }
        OUT.print_json(json.dumps(payload, default=str))
        return 0
    render(status, OUT)
    return 0


def add_status_parser(sub: argparse._SubParsersAction) -> None:
    status = sub.add_parser(
        "status", help="sources, last file, gate state (held data), held KPIs, stale metrics"
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)


def report_gates(console: Console) -> None:
    """After a run: one line per source whose new data the gate holds back and per KPI a check
    holds back (nothing if none)."""
    settings = get_settings()
    if not settings.work_db_path.exists():
        return
    try:
        with connect(settings, read_only=True) as con:
            status = read_status(con)
    except duckdb.Error:
        return
    for s in status.sources:
        if s.state == "held":
            console.print(
                f"[bold yellow]gate holds back[/] {s.source} (owner {s.data_owner}) since "
                f"{_when(s.since)}: {s.reason}"
            )
    for hold in status.held_kpis:
        console.print(f"[bold yellow]KPI held back[/]: {escape(hold_line(hold))}")
    quarantined = sum(s.open_quarantine_rows for s in status.sources)
    if quarantined:
        console.print(f"{quarantined:,} row(s) in quarantine: `opsvalue status` for the details")
