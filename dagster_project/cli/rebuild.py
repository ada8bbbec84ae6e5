"""`opsvalue rebuild`: a new working database from the deliveries and the last publication, proven
to publish what was published before it replaces anything.

1. take the pipeline lock (a run in progress: exit 3, nothing touched);
2. check that the delivery folder still holds every published file version, byte for byte;
3. build the new database beside the working one (`.rebuilding-<name>`): the ledger, then raw
   replayed through the door, then the other records, all from the snapshot
   (`defs/publish/restore.py`); then dbt and the KPI checks, loading and publishing nothing;
4. prove it: its KPIs, definition versions, ledger and batches against the snapshot
   (`defs/publish/compare.py`); a difference stops here, nothing replaced (exit 1);
5. move the old working database aside (`<name>.before-rebuild-<time>`, never deleted) and the
   new one into its place; run the pipeline (new deliveries load, the snapshot is written whole
   from the new database, the site follows); prove the new publication against the old one.

Every file it removes is one it made: the `.rebuilding-` database and the `.rebuild-previous`
link of an interrupted rebuild.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
from rich.console import Console
from rich.markup import escape

from dagster_project.core.contract import load_contract
from dagster_project.core.runner import run_pipeline
from dagster_project.core.settings import Settings, get_settings
from dagster_project.core.warehouse import PipelineBusy, connect, pipeline_lock

OUT = Console(stderr=True, soft_wrap=True)

REBUILDING = ".rebuilding-"  # the new database while it is built and proven
PREVIOUS_LINK = ".rebuild-previous-"  # the snapshot published before, kept to compare with
SHOWN = 10  # differences listed per kind

DESCRIPTION = """\
Rebuild the pipeline's working database from the delivery folder (data/raw) and the last
published snapshot, then publish from it. What data/raw cannot give back (the file ledger with
rejected, replaced and withdrawn files, quarantined rows and their releases, the metric definition
history, withdrawals, gate state, publications) is restored from the snapshot; raw is replayed
from the delivered files under the batch ids the ledger recorded.

Before anything is replaced, the rebuilt database must reproduce the publication: the same KPI
values per metric, month and unit, the same definition versions, the same ledger, the same rows
per batch (a metric never published, added by an upgrade, is listed as new: nothing published
differs; so are the moves it causes in the KPIs computed from the catalog itself). The old
working database, if any (a damaged one too: nothing of it is read), is then
moved aside (never deleted).

Exit codes: 0 rebuilt and published, 1 refused or a difference found (nothing replaced), 3 a run
holds the working database."""


class RebuildRefused(RuntimeError):
    """The rebuild stops; the message says why and what to do."""


def _say(step: str, text: str) -> None:
    OUT.print(f"[bold]rebuild[/] {step}: {text}")


@contextmanager
def _working_database(path: Path) -> Iterator[None]:
    """This process's runs and connections on `path` for the body (the new database)."""
    saved = os.environ.get("OPSVALUE_WORK_DB")
    os.environ["OPSVALUE_WORK_DB"] = str(path)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("OPSVALUE_WORK_DB", None)
        else:
            os.environ["OPSVALUE_WORK_DB"] = saved


def _remove_own_leftovers(work_dir: Path) -> list[Path]:
    """What an interrupted rebuild left: only files named as this command names its own."""
    removed = []
    for pattern in (f"{REBUILDING}*", f"{PREVIOUS_LINK}*"):
        for path in work_dir.glob(pattern):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _check_snapshot(settings: Settings) -> None:
    from dagster_project.core.state import published_fingerprint

    if published_fingerprint(settings.warehouse_path) is None:
        raise RebuildRefused(
            f"no published snapshot at {settings.warehouse_path} to rebuild from: without one, "
            "`opsvalue run` builds everything from data/raw"
        )


def _check_deliveries(settings: Settings, accept: bool) -> tuple[int, list]:
    """Every published file version still delivered as it was loaded: how many there are, and
    the ones that are not (refused unless accepted)."""
    from dagster_project.defs.ingest import ledger, replay

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        files = ledger.published_files(con)
        newest = {}
        for source in {f.source for f in files}:
            newest.update(ledger.current_versions(con, source))
    problems = replay.check_deliveries(files, newest, settings.raw_dir)
    for problem in problems[:SHOWN]:
        OUT.print(f"  [yellow]{problem.kind}[/] {escape(problem.path)}: {escape(problem.detail)}")
    if len(problems) > SHOWN:
        OUT.print(f"  ... and {len(problems) - SHOWN} more")
    if problems and not accept:
        raise RebuildRefused(
            f"{len(problems)} published file version(s) are not in {settings.raw_dir} as they "
            "were loaded, so their rows cannot be rebuilt: put them back and rebuild again. "
            "--accept-differences rebuilds without them: a missing or held-back file is then "
            "recorded as withdrawn by the rebuild, a changed one loaded as a new version"
        )
    return len(files), problems


def _withdraw_lost(con: duckdb.DuckDBPyConnection, problems: list) -> int:
    """Record as withdrawn the published versions whose rows the rebuild could not give back,
    so the ledger says what raw holds (accepted with --accept-differences)."""
    from dagster_project.defs.ingest import withdrawals

    at = datetime.now().replace(microsecond=0)
    lost = [p for p in problems if p.kind in ("missing", "held")]
    for problem in lost:
        source = problem.path.split("/", 1)[0]
        withdrawals.request(
            con,
            source,
            problem.path,
            f"rebuilt without it: {problem.detail}",
            "opsvalue rebuild --accept-differences",
            at,
        )
        withdrawals.apply_pending(con, source, "", at)
    return len(lost)


def _build(settings: Settings, new_db: Path, problems: list, log_path: Path) -> None:
    """Step 3: the new database, restored, replayed and built, not published."""
    from dagster_project.defs.ingest.replay import replay_published
    from dagster_project.defs.ingest.rules.suite import load_suites
    from dagster_project.defs.publish.restore import restore_ledger, restore_records

    with _working_database(new_db):
        inner = get_settings()
        with connect(inner) as con:
            entries = restore_ledger(con, settings.warehouse_path)
            _say("3/5", f"{entries:,} ledger entries restored; replaying the delivered files")
            replayed = replay_published(
                con, load_contract(), load_suites(settings.expectations_dir), settings.raw_dir
            )
            disagree = [r for r in replayed if not r.agrees]
            for r in disagree[:SHOWN]:
                OUT.print(
                    f"  [yellow]replayed[/] {escape(r.path)}: {r.rows:,} rows where the ledger "
                    f"says {r.expected or 0:,} {escape(r.problem)}"
                )
            restored = restore_records(con, settings.warehouse_path)
            withdrawn = _withdraw_lost(con, problems)
            con.execute("checkpoint")
        _say(
            "3/5",
            f"{len(replayed)} file(s) replayed into raw ({len(disagree)} differ from the ledger); "
            f"{restored.definition_versions} definition version(s), "
            f"{restored.quarantined_rows:,} quarantined row(s), {restored.withdrawals} "
            f"withdrawal(s), {restored.publications} publication(s) restored"
            + (f"; {withdrawn} lost file(s) recorded as withdrawn" if withdrawn else "")
            + "; dbt builds",
        )
        if not run_pipeline(inner, build_only=True, log_path=log_path).success:
            raise RebuildRefused(
                "the dbt build or a blocking KPI check failed on the rebuilt database (see "
                f"{log_path}); nothing replaced, it is kept at {new_db}"
            )


def _prove(db: Path, snapshot: Path, strict: bool) -> dict[str, list[str]]:
    from dagster_project.defs.publish.compare import prove
    from dagster_project.defs.publish.restore import attached

    with duckdb.connect(str(db), read_only=True) as con, attached(con, snapshot) as alias:
        proof = prove(con, alias)
    problems = proof.problems(strict)
    OUT.print(
        f"  compared {proof.kpis_compared:,} KPI values, {proof.versions_compared} definition "
        f"versions, {proof.ledger_compared:,} ledger entries"
        + (f"; {len(proof.ledger_new)} new ledger entries" if proof.ledger_new else "")
        + ("" if problems else ": [green]nothing published moved[/]")
    )
    if proof.metrics_new:
        # an upgrade's new metrics: nothing published to differ from, so no difference
        OUT.print(
            f"  {len(proof.metrics_new)} metric(s) new in the dbt project, never published: "
            + ", ".join(f"{m} ({n:,} KPI rows)" for m, n in sorted(proof.metrics_new.items()))
        )
    if proof.kpis_moved_by_catalog:
        OUT.print(
            f"  {len(proof.kpis_moved_by_catalog)} KPI value(s) computed from the catalog itself "
            "moved with the new metric(s): " + "; ".join(proof.kpis_moved_by_catalog[:SHOWN])
        )
    for kind, items in problems.items():
        OUT.print(f"  [red]{kind}[/]: {len(items):,}")
        for item in items[:SHOWN]:
            OUT.print(f"    {escape(item)}")
    return problems


def _swap(settings: Settings, new_db: Path) -> Path | None:
    """The old working database aside (with its write-ahead log), the new one in its place."""
    old = settings.work_db_path
    aside = None
    if old.exists():
        aside = old.with_name(f"{old.name}.before-rebuild-{datetime.now():%Y%m%dT%H%M%S}")
        os.replace(old, aside)
        wal = old.with_name(old.name + ".wal")
        if wal.exists():
            os.replace(wal, aside.with_name(aside.name + ".wal"))
    os.replace(new_db, old)
    return aside


def _keep_previous(snapshot: Path, work_dir: Path) -> Path:
    """A second name for the published file, so the comparison outlives its replacement."""
    link = work_dir / f"{PREVIOUS_LINK}{snapshot.name}"
    try:
        os.link(snapshot, link)
    except OSError:  # another file system: a copy
        shutil.copyfile(snapshot, link)
    return link


def rebuild(settings: Settings, accept: bool) -> None:
    """The whole rebuild under the pipeline lock; RebuildRefused or PipelineBusy stop it."""
    started = time.perf_counter()
    work_dir = settings.work_db_path.parent
    with pipeline_lock(settings):
        _check_snapshot(settings)
        for path in _remove_own_leftovers(work_dir):
            _say("1/5", f"removed {path.name}, left by an interrupted rebuild")
        _say("1/5", f"restoring from the publication {settings.warehouse_path}")
        count, problems = _check_deliveries(settings, accept)
        _say("2/5", f"{count:,} published file version(s) checked in {settings.raw_dir}")
        new_db = work_dir / f"{REBUILDING}{settings.work_db_path.name}"
        # the build's and the run's full output go to one file, as a run's do: the terminal
        # keeps a line per step
        log_path = settings.log_dir / f"{datetime.now():%Y%m%d-%H%M%S}-rebuild.log"
        _say("3/5", f"full log in {log_path}")
        _build(settings, new_db, problems, log_path)
        _say("4/5", "proving the rebuilt database against the publication")
        differences = _prove(new_db, settings.warehouse_path, strict=True)
        if differences and not accept:
            raise RebuildRefused(
                "the rebuilt database would not publish what was published; nothing replaced "
                f"(the rebuilt database is kept at {new_db}; --accept-differences publishes it)"
            )
        previous = _keep_previous(settings.warehouse_path, work_dir)
        aside = _swap(settings, new_db)
        if aside:
            _say("5/5", f"the old working database moved aside to {aside}")
        _say("5/5", "running the pipeline on the rebuilt database")
        if not run_pipeline(settings, log_path=log_path).success:
            previous.unlink()
            raise RebuildRefused(
                f"the run on the rebuilt database failed (see {log_path}); the working "
                "database is the rebuilt one, the publication is as it was"
            )
        _say("5/5", "proving the new publication against the previous one")
        differences = _prove(settings.warehouse_path, previous, strict=False)
        if differences and not accept:
            kept = settings.warehouse_path.with_name(
                f"{settings.warehouse_path.name}.before-rebuild-{datetime.now():%Y%m%dT%H%M%S}"
            )
            os.replace(previous, kept)
            raise RebuildRefused(
                f"the new publication moved what was published before (listed above); the "
                f"previous snapshot is kept at {kept}"
            )
        previous.unlink()
    _say("done", f"rebuilt and published in {time.perf_counter() - started:.0f} s")


def cmd_rebuild(args: argparse.Namespace) -> int:
    return rebuild_and_report(get_settings(), args.accept_differences)


def rebuild_and_report(settings: Settings, accept: bool) -> int:
    """The rebuild with its outcome on the terminal; the exit code (also for `run
    --set-aside-damaged`, which hands a damaged working database over to it)."""
    try:
        rebuild(settings, accept)
    except PipelineBusy as exc:
        OUT.print(f"[bold yellow]not rebuilt[/]: {escape(str(exc))}")
        return 3
    except RebuildRefused as exc:
        OUT.print(f"[bold red]not rebuilt[/]: {escape(str(exc))}")
        return 1
    return 0


def add_rebuild_parser(sub: argparse._SubParsersAction) -> None:
    rebuild_cmd = sub.add_parser(
        "rebuild",
        help="rebuild the working database from data/raw and the last publication, proven",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rebuild_cmd.add_argument(
        "--accept-differences",
        action="store_true",
        help="publish even when the rebuilt database differs from the publication (the "
        "differences are listed first)",
    )
    rebuild_cmd.set_defaults(func=cmd_rebuild)
