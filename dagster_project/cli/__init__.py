"""`opsvalue` command line: generate demo extracts and run the pipeline through Dagster.

One module per command family: `pipeline` (demo, run, generate), `catalog`, `site` (site,
serve), `status`, `withdraw` and `rebuild`. The pipeline itself is started through `core.runner`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import traceback
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from dagster_project.cli.catalog import add_catalog_parser
from dagster_project.cli.pipeline import add_pipeline_parsers
from dagster_project.cli.rebuild import add_rebuild_parser
from dagster_project.cli.site import add_site_parsers
from dagster_project.cli.status import add_status_parser
from dagster_project.cli.withdraw import add_withdraw_parser
from dagster_project.core.faults import Fault
from dagster_project.core.settings import get_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opsvalue", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_pipeline_parsers(sub)
    add_catalog_parser(sub)
    add_site_parsers(sub)
    add_status_parser(sub)
    add_withdraw_parser(sub)
    add_rebuild_parser(sub)
    return parser


# a file or folder the command needs is unusable (core/faults.py); nothing was changed
FAULT_EXIT = 4
ERR = Console(stderr=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Fault as fault:
        ERR.print(f"[bold red]opsvalue {args.command}: {escape(fault.what)}[/]")
        ERR.print(f"[bold]What to do[/]: {escape(fault.todo)}")
        return FAULT_EXIT


def _crash_report(exc: BaseException) -> Path:
    """The traceback in a file (the log folder, else the system's temporary folder)."""
    text = "".join(traceback.format_exception(exc))
    name = f"crash-{datetime.now():%Y%m%dT%H%M%S}-{os.getpid()}.log"
    folders = [Path(tempfile.gettempdir())]
    with contextlib.suppress(Exception):  # the settings themselves may be what failed
        folders.insert(0, get_settings().log_dir)
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(f"opsvalue {' '.join(sys.argv[1:])}\n{text}")
            return folder / name
        except OSError:
            continue
    return Path("-")


def run_cli() -> None:
    """The `opsvalue` command: main(), then leave without tearing the interpreter down.

    Every database, lock and subprocess is closed by the time main() returns (GX's process is
    told to end below, and exits on its own); what is left is
    Python freeing the modules of Dagster, dbt and Great Expectations one by one, which takes
    about 1.4 s here, a tenth of a one-day refresh. Output is flushed and logging shut down first;
    os._exit then skips only that teardown. Tests call main() and keep the normal exit.
    """
    try:
        code = main()
    except KeyboardInterrupt:
        ERR.print("[yellow]interrupted[/]: a run stopped here resumes with the next one")
        code = 130
    except Exception as exc:
        # the last line of defence: a sentence on the terminal, the traceback in a file
        report = _crash_report(exc)
        ERR.print(
            f"[bold red]opsvalue failed[/]: {escape(type(exc).__name__)}: "
            f"{escape(str(exc).splitlines()[0] if str(exc) else '')}"
        )
        ERR.print(f"the details are in {escape(str(report))}")
        code = 1
    from dagster_project.defs.ingest.rules import gx_process

    gx_process.stop()  # os._exit runs no atexit handler
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run_cli()
