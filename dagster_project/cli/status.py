"""`opsvalue status`: the quality gates as the terminal shows them.

Per source: its owner, last file, when data last entered the warehouse, whether the gate holds new
data back (which rule, since when), open quarantined rows and freshness; then the KPIs a check
holds back (which check, where, since when, why); what data/raw holds that the door does not read
(stray, compressed or linked files, unknown folders), the stale metrics and the last publication
(meta.source_gate_state, meta.kpi_holds, meta.unread_files, meta.stale_metrics, meta.publication).
Then what needs a decision about deliveries: published files missing from the delivery folder, and
withdrawals waiting for the next run.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dagster_project.core.settings import Settings, get_settings
from dagster_project.core.warehouse import connect, connect_published
from dagster_project.defs.checks import holds
from dagster_project.defs.checks.holds import Hold
from dagster_project.defs.ingest import gate_state, unread, withdrawals
from dagster_project.defs.ingest.gate_state import SourceStatus
from dagster_project.defs.ingest.unread import UnreadFile
from dagster_project.defs.ingest.withdrawals import MissingFile, Withdrawal
from dagster_project.defs.publish import records

OUT = Console(soft_wrap=True, width=None if Console().is_terminal else 200)
ERR = Console(stderr=True)


@dataclass(frozen=True)
class Status:
    sources: list[SourceStatus]
    stale_metrics: list[tuple[str, str]]
    published_at: datetime | None
    missing_files: list[MissingFile]
    pending_withdrawals: list[Withdrawal]
    held_kpis: list[Hold] = field(default_factory=list)
    unread: list[UnreadFile] = field(default_factory=list)


def read_status(con: duckdb.DuckDBPyConnection, raw_dir: Path) -> Status:
    """The gate state, KPI holds, stale metrics and last publication from the warehouse's meta
    tables, and the published files no longer in `raw_dir`."""
    return Status(
        gate_state.source_statuses(con),
        gate_state.stale_metrics(con),
        records.last_published_at(con),
        withdrawals.missing_files(con, raw_dir),
        withdrawals.pending(con),
        holds.current_holds(con),
        unread.unread_files(con),
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
    render_unread(status.unread, console)
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
    render_deliveries(status, console)


def render_deliveries(status: Status, console: Console) -> None:
    """Published files gone from the delivery folder, and withdrawals waiting (nothing if none)."""
    if status.missing_files:
        missing = Table(
            title="Missing from the delivery folder, still published", title_justify="left"
        )
        for column in ("file", "rows", "loaded at"):
            missing.add_column(column, no_wrap=True)
        for m in status.missing_files:
            missing.add_row(escape(m.path), f"{m.rows_loaded or 0:,}", _when(m.loaded_at))
        console.print(missing)
        console.print(
            "[bold yellow]missing, still published[/]: restore each file to the delivery folder, "
            'or withdraw it: `opsvalue withdraw <source>/<file> --reason "..."`'
        )
    for w in status.pending_withdrawals:
        console.print(
            f"[yellow]withdrawal waiting for the next run[/]: {escape(w.path)}, asked by "
            f"{escape(w.requested_by)} at {_when(w.requested_at)}: {escape(w.reason)}"
        )


def _published_status(settings: Settings, why: str) -> Status | None:
    """The state as of the last publication, when the working database cannot be read."""
    try:
        with connect_published(settings) as con:
            status = read_status(con, settings.raw_dir)
    except (duckdb.Error, FileNotFoundError) as exc:
        ERR.print(f"{why} and nothing is published: {exc}")
        return None
    ERR.print(f"{why}: showing the state of the last publication")
    return status


def render_unread(files: list[UnreadFile], console: Console) -> None:
    """What data/raw holds that the door does not read: a table, then a line for what is skipped
    by name on purpose."""
    unexpected = [f for f in files if not f.by_design]
    if unexpected:
        table = Table(title="Not read from data/raw", title_justify="left")
        for column in ("path", "why", "since"):
            table.add_column(column, no_wrap=column != "why")
        for f in unexpected:
            table.add_row(f.path, f.reason, _when(f.first_seen_at))
        console.print(table)
    else:
        console.print("not read from data/raw: nothing")
    skipped = [f.path for f in files if f.by_design]
    if skipped:
        console.print(f"skipped by name ('_' or '.'): {', '.join(skipped)}")


def cmd_status(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.work_db_path.exists():
        if not settings.warehouse_path.exists():
            ERR.print(f"no working database at {settings.work_db_path}: run `opsvalue demo` first")
            return 1
        # runs refuse until it is rebuilt: say so, and show what readers see meanwhile
        why = (
            f"[bold red]the working database {settings.work_db_path} is missing[/] "
            "(`opsvalue rebuild` restores it)"
        )
        status = _published_status(settings, why)
    else:
        try:
            with connect(settings, read_only=True) as con:
                status = read_status(con, settings.raw_dir)
        except duckdb.IOException:
            status = _published_status(settings, "[yellow]a run is in progress[/]")
    if status is None:
        return 1
    if args.json:
        payload: dict[str, Any] = {
            "sources": [asdict(s) for s in status.sources],
            "held_kpis": [asdict(h) for h in status.held_kpis],
            "stale_metrics": [{"metric_name": m, "reason": r} for m, r in status.stale_metrics],
            "published_at": status.published_at,
            "unread_files": [asdict(f) for f in status.unread],
            "missing_files": [asdict(m) for m in status.missing_files],
            "pending_withdrawals": [asdict(w) for w in status.pending_withdrawals],
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
            status = read_status(con, settings.raw_dir)
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
    unexpected = [f for f in status.unread if not f.by_design]
    if unexpected:
        console.print(
            f"[bold yellow]{len(unexpected):,} item(s) in data/raw not read[/] (e.g. "
            f"{unexpected[0].path}: {unexpected[0].reason}): `opsvalue status` lists them"
        )
    render_deliveries(status, console)
