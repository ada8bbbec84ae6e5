"""generate(): every contract source of the demo, built in dependency order and written."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from opsgen.context import Context, Workload
from opsgen.guard import check_arguments, check_resources
from opsgen.marker import Marker, check_folder
from opsgen.org import CENTERS, build_org
from opsgen.sources.claims import build_claims
from opsgen.sources.contacts import build_complaints, build_contacts, build_nps_responses
from opsgen.sources.finance import (
    build_op_costs,
    build_project_milestones,
    build_staffing,
    staffing_arrays,
)
from opsgen.sources.master_data import build_centers, build_org_aliases, build_org_units
from opsgen.sources.operations import build_endorsements, build_rpa_runs, build_tasks
from opsgen.sources.policies import Book, Issued, build_applications, build_policies
from opsgen.table import Stream
from opsgen.volumes import Period, rng_for
from opsgen.writer import Writer, progress_bar


@dataclass(frozen=True)
class GenerateResult:
    """What one generate() run wrote."""

    files: tuple[Path, ...]
    rows: dict[str, int]
    defects: int
    seconds: float
    bytes_written: int = 0


def generate(
    out: Path,
    scale: float = 0.01,
    months: int = 24,
    seed: int = 42,
    defects: float = 0.0,
    end_month: str = "2026-10",
    progress: bool = True,
    force: bool = False,
) -> GenerateResult:
    """Write demo extracts of every contract source under `out` (see the package docstring).

    `scale` 1 is a mid-size insurer (about 2M policies in force, 400k claims a year); `defects` is
    the share of rows per source that carry one of DEFECT_KINDS (0 = clean). ValueError for
    arguments outside the bounds of opsgen.guard (SCALE_MAX, MONTHS_MAX).

    `out` must be empty, missing, or hold only files an earlier run wrote there and nobody has
    changed since (listed in `_manifest/generated.json`, opsgen.marker); anything else, or a run
    the disk or the memory cannot hold, raises GenerationRefused before anything is written or
    deleted. `force` writes over a folder with other files: files this run writes are
    overwritten, and other `<source>_*.csv` files in those folders are deleted.
    """
    check_arguments(scale, months, seed, defects)
    started = time.perf_counter()
    period = Period.ending(end_month, months)
    out = Path(out)
    owned = check_folder(out, force)
    check_resources(out, scale, months, defects, sum(r.bytes for r in owned.values()))
    out.mkdir(parents=True, exist_ok=True)
    run = {
        "seed": seed,
        "scale": scale,
        "months": months,
        "defects": defects,
        "end_month": end_month,
    }
    marker = Marker(out, owned, run)
    org = build_org(rng_for(seed, "org"))
    ctx = Context(period, org, scale, Workload(np.zeros((months, len(CENTERS), org.n_sb))))
    with duckdb.connect() as con, progress_bar(progress) as bar:
        writer = Writer(con, out, ctx, bar, defects, seed, marker)
        write_sources(writer, ctx, seed)
        manifest = writer.finish()
    files = (*writer.files, manifest)
    return GenerateResult(
        files=files,
        rows=dict(writer.rows),
        defects=writer.defects,
        seconds=time.perf_counter() - started,
        bytes_written=sum(p.stat().st_size for p in files),
    )


def write_sources(writer: Writer, ctx: Context, seed: int) -> None:
    """Build and write every source, each from its own random streams, in dependency order: the
    policies come from the applications, claims, endorsements and complaints from the policies'
    compact index (`Book`), and staffing and costs from everyone's workload."""
    writer.run("org_units", lambda: Stream.whole(build_org_units(ctx)))
    writer.run("org_aliases", lambda: Stream.whole(build_org_aliases(ctx)))
    writer.run("centers", lambda: Stream.whole(build_centers(ctx)))
    issued = Issued()
    writer.run("applications", lambda: build_applications(seed, ctx, issued))
    book = Book(ctx.period, ctx.org.n_sb)
    writer.run("policies", lambda: build_policies(seed, ctx, issued, book))
    book.seal()
    writer.run("claims", lambda: build_claims(seed, ctx, book))
    writer.run("endorsements", lambda: build_endorsements(seed, ctx, book))
    writer.run(
        "complaints",
        lambda: Stream.whole(build_complaints(rng_for(seed, "complaints"), ctx, book)),
    )
    writer.run("contacts", lambda: build_contacts(seed, ctx))
    writer.run("tasks", lambda: build_tasks(seed, ctx))
    writer.run("nps_responses", lambda: build_nps_responses(seed, ctx))
    writer.run("rpa_runs", lambda: build_rpa_runs(seed, ctx))
    fte, productive, pairs = staffing_arrays(rng_for(seed, "staffing"), ctx)
    writer.run("staffing", lambda: Stream.whole(build_staffing(ctx, fte, productive, pairs)))
    writer.run(
        "op_costs",
        lambda: Stream.whole(build_op_costs(rng_for(seed, "op_costs"), ctx, fte, pairs)),
    )
    writer.run(
        "project_milestones",
        lambda: Stream.whole(build_project_milestones(rng_for(seed, "project_milestones"), ctx)),
    )
