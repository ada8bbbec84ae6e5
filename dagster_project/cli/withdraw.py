"""`opsvalue withdraw`: ask for a delivered file's rows to leave the warehouse at the next run."""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime

from rich.console import Console
from rich.markup import escape

from dagster_project.core.contract import load_contract
from dagster_project.core.settings import get_settings
from dagster_project.core.warehouse import PipelineBusy, connect, pipeline_lock
from dagster_project.defs.ingest import withdrawals

OUT = Console(soft_wrap=True)
ERR = Console(stderr=True, soft_wrap=True)

DESCRIPTION = """\
Withdraw a delivered file: its rows leave raw, the detail facts and the KPIs at the next run
(`opsvalue run`, or the daily schedule), its open quarantined rows are released ('file
withdrawn'), and the file ledger records the withdrawal with who asked, when and why (status
`withdrawn`). The file may stay in the delivery folder: the bytes withdrawn are not loaded again,
a new version delivered under the same name is.

Deleting a loaded file from data/raw is not a withdrawal: its rows stay published and
`opsvalue status` lists it as missing until it is restored or withdrawn.

Exit codes: 0 requested, 1 no working database, 2 refused (unknown file, nothing published,
already requested; nothing written), 3 a run holds the working database."""


def cmd_withdraw(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.work_db_path.exists():
        ERR.print(
            f"[red]not withdrawn[/]: no working database at {settings.work_db_path} "
            "(if it was lost, `opsvalue rebuild` restores it first)"
        )
        return 1
    by = args.by or getpass.getuser()
    try:
        source, path = withdrawals.split_path(args.file, load_contract())
        with pipeline_lock(settings), connect(settings) as con:
            request, published = withdrawals.request(
                con, source, path, args.reason, by, datetime.now().replace(microsecond=0)
            )
    except PipelineBusy as exc:
        ERR.print(f"[bold yellow]not withdrawn[/]: {escape(str(exc))}")
        return 3
    except withdrawals.WithdrawalRefused as exc:
        ERR.print(f"[red]not withdrawn[/]: {escape(str(exc))}")
        return 2
    OUT.print(
        f"[green]withdrawal requested[/]: {escape(path)} ({published.rows_loaded or 0:,} row(s), "
        f"loaded {published.loaded_at:%Y-%m-%d %H:%M}), by {escape(by)}: {escape(request.reason)}"
    )
    OUT.print("  its rows leave the warehouse at the next run: `opsvalue run`")
    if (settings.raw_dir / path).is_file():
        OUT.print(
            "  the file may stay in the delivery folder: these bytes are not loaded again "
            "(a new version under the same name is)"
        )
    return 0


def add_withdraw_parser(sub: argparse._SubParsersAction) -> None:
    withdraw = sub.add_parser(
        "withdraw",
        help="take a delivered file's rows out of the warehouse at the next run",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    withdraw.add_argument("file", help="<source>/<file> as under data/raw, e.g. claims/x.csv")
    withdraw.add_argument("--reason", required=True, help="why; kept in the ledger")
    withdraw.add_argument("--by", help="who asks (default: the user running the command)")
    withdraw.set_defaults(func=cmd_withdraw)
