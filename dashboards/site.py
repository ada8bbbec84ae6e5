"""Static dashboard site built from the published marts.

`build_site` reads every mart once (read-only), shapes the pages in memory and writes:

- `index.html`: the group page (or, for a scoped build, the scoped unit's page) with the
  directory of every unit; `<level>/<code>.html` for every subsidiary, branch, sub-branch and
  center; `catalog.html` and `quality.html`;
- `assets/`: plotly.min.js (one local copy shared by all pages), site.css and site.js (copied
  from dashboards/static/) and units.js (the search box's list of units). No page loads
  anything from the network.

A page whose content is unchanged since the last build is not rewritten (its content hash is
in a meta tag), and every write is atomic, so a web server never serves a half-written page.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import re
import shutil
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path, PurePosixPath

import plotly.offline

from dashboards.attribution import shape_attribution, shape_drivers, shape_standardised
from dashboards.governance_pages import render_catalog_page, render_quality_page
from dashboards.layout import (
    ASSETS_DIR,
    BUILT_AT_SLOT,
    HASH_SLOT,
    INDEX_PAGE,
    PLOTLY_JS,
    SITE_CSS_FILE,
    SITE_JS_FILE,
    UNITS_JS_FILE,
    RenderedPage,
    SiteContext,
    slug,
    units_script,
)
from dashboards.marts import Marts, read_marts
from dashboards.model import (
    history_by_metric,
    metric_infos,
    metric_latest_months,
    targets_by_metric,
    values_by_unit,
)
from dashboards.notices import pack_gate_rows, pack_publication, publication, quality_rows
from dashboards.org_pages import render_org_page
from dashboards.org_tree import CENTER, GROUP, OrgTree, OrgUnit, build_org_tree, scope_tree
from dashboards.scorecard_model import build_scorecards
from dashboards.scorecard_pages import render_league_pages
from dashboards.site_folder import (
    FULL,
    PACK,
    SiteFolderError,
    SiteMark,
    claim,
    read_mark,
    stale_pages,
    write_atomic,
    write_mark,
)
from dashboards.templates import static_bytes

log = logging.getLogger(__name__)

BUILT_AT_FORMAT = "%Y-%m-%d %H:%M %Z"
HASH_PATTERN = re.compile(rb'<meta name="opsvalue-content-hash" content="([0-9a-f]+)">')
MAX_PAGE_BYTES = 2 * 1024 * 1024  # the page-weight limit, plotly.js excluded


@dataclass(frozen=True)
class SiteResult:
    """What one `build_site` run wrote."""

    pages: list[Path]  # every page of the site, written or already up to date
    bytes: int  # total size of the pages (assets excluded)
    seconds: float
    assets_written: list[Path] = field(default_factory=list)  # empty when already up to date
    pages_written: list[Path] = field(default_factory=list)  # pages whose content changed
    removed: list[Path] = field(default_factory=list)  # pages no longer part of the site
    largest_page: Path | None = None
    largest_page_bytes: int = 0
    assets_bytes: int = 0  # shared assets, plotly.js included


# --- page paths -------------------------------------------------------------------------------


def page_relpath(org_level: str, org_code: str) -> PurePosixPath:
    """Where an org's page lives in the site: the group is the index, other tiers in folders."""
    if org_level == GROUP:
        return INDEX_PAGE
    return PurePosixPath(org_level) / f"{slug(org_code)}.html"


def assets_href_for(relpath: PurePosixPath) -> str:
    """Relative link from a page to the assets folder, so the site works from any location."""
    depth = len(relpath.parts) - 1
    return "/".join([".."] * depth + [ASSETS_DIR])


def site_paths(tree: OrgTree) -> dict[str, PurePosixPath]:
    """The page of every unit; the site's root unit (group, or scoped unit) is index.html."""
    paths: dict[str, PurePosixPath] = {}
    taken: set[PurePosixPath] = set()
    for unit in tree.ordered():
        path = INDEX_PAGE if unit.code == tree.root else page_relpath(unit.level, unit.code)
        stem, n = path.stem, 2
        while path in taken:  # two codes with one slug ("B 12", "b-12") get distinct pages
            path, n = path.with_name(f"{stem}-{n}.html"), n + 1
        paths[unit.code] = path
        taken.add(path)
    return paths


# --- shaping ----------------------------------------------------------------------------------


def org_tree(marts: Marts) -> OrgTree:
    """The current org tree; a group known only from fct_kpi_values still gets the index."""
    fct = marts.rows("marts.fct_kpi_values")
    centers = sorted({str(r["org_code"]) for r in fct if r.get("org_level") == CENTER})
    tree = build_org_tree(marts.rows("marts.dim_org"), marts.rows("marts.dim_centers"), centers)
    if tree.root is not None:
        return tree
    groups = sorted({str(r["org_code"]) for r in fct if r.get("org_level") == GROUP})
    code = groups[0] if groups else GROUP
    top = OrgUnit(code, code if groups else "Group", GROUP)
    units = [top, *(OrgUnit(u.code, u.name, u.level, code, u.detail) for u in tree.units.values())]
    return OrgTree.of(units, code)


def site_context(marts: Marts, org: str | None = None) -> SiteContext:
    """Everything the pages show, scoped to `org`'s subtree when given."""
    full = org_tree(marts)
    tree = scope_tree(full, org.strip()) if org is not None else full
    keys = {(u.level, u.code) for u in tree.units.values()}
    # Only the scoped units' rows: no other unit's values can reach any page or JSON.
    fct = [
        r
        for r in marts.rows("marts.fct_kpi_values")
        if (r.get("org_level"), r.get("org_code")) in keys
    ]
    values = values_by_unit(fct)
    scoped = tree.root != full.root
    # Scoped like the values: rows of parents outside the pack dropped, and children outside it
    # summed into one nameless part before anything reaches a page (dashboards.attribution).
    attribution = shape_attribution(marts.rows("marts.fct_kpi_attribution"), tree, scoped=scoped)
    return SiteContext(
        tree=tree,
        values=values,
        metric_months=metric_latest_months(values),
        infos=metric_infos(marts.rows("marts.dim_metric_catalog")),
        # a scoped pack names the KPI holds of its own units only (see notices.held_kpis)
        publication=pack_publication(publication(marts, keys)) if scoped else publication(marts),
        paths=site_paths(tree),
        scoped=scoped,
        attribution=attribution,
        has_attribution=marts.has("marts.fct_kpi_attribution"),
        drivers=shape_drivers(marts.rows("marts.fct_driver_attribution"), tree),
        standardised=shape_standardised(marts.rows("marts.fct_kpi_standardised"), tree),
        # cut to the same units; only counts and anonymous statistics span the whole tier
        scorecards=build_scorecards(
            marts.rows("marts.fct_unit_scores"),
            marts.rows("marts.fct_score_contributions"),
            marts.rows("marts.dim_score_profiles"),
            marts.rows("marts.fct_value_created"),
            marts.rows("marts.dim_indicator_tree"),
            keys,
        ),
    )


# The units' pages are pure Python and most of a build, and every refresh renders them all (each
# shows the newest day). They are rendered in shares, one per core: this process renders the
# first, workers forked from it (multiprocessing's fork context) the others. Forked, a worker
# inherits the shaped context instead of receiving it pickled; it touches no database and no
# file, and sends back only its pages. A share has at least this many units, so that a machine
# with many cores forks only as many workers as the pages keep busy (each costs a fork).
PARALLEL_MIN_UNITS = 16
_INHERITED: tuple[SiteContext, tuple[str, ...]] | None = None  # set in a worker only


class SiteWorkerDied(RuntimeError):
    """A worker rendering pages died (killed, or out of memory) before sending them back."""


def _worker_start(ctx: SiteContext, codes: tuple[str, ...]) -> None:
    """In a forked worker: keep the context, and exit when the parent process is gone.

    Without the watch, a worker whose parent was killed would wait on the pipe to it forever,
    holding copies of the parent's file descriptors (the pipeline lock's among them).
    """
    global _INHERITED
    _INHERITED = (ctx, codes)
    parent = multiprocessing.parent_process()
    if parent is not None:

        def exit_with_parent() -> None:
            multiprocessing.connection.wait([parent.sentinel])
            os._exit(1)

        threading.Thread(target=exit_with_parent, daemon=True).start()


def _share(ctx: SiteContext, codes: Sequence[str], share: int, shares: int) -> list[RenderedPage]:
    """Pages `share`, `share + shares`, ... of the units `codes`."""
    return [render_org_page(ctx, code) for code in codes[share::shares]]


def _worker_share(share: int, shares: int) -> list[RenderedPage]:
    if _INHERITED is None:
        raise RuntimeError("no site context: only a worker started by render_org_pages renders")
    return _share(*_INHERITED, share, shares)


def render_org_pages(
    ctx: SiteContext, codes: Sequence[str], workers: int | None = None
) -> list[RenderedPage]:
    """The pages of the units `codes`, in that order, rendered on up to `workers` cores
    (default: every core), with at least PARALLEL_MIN_UNITS units per share; the same pages
    as one after another (tests/dashboards/test_site.py). Raises SiteWorkerDied when a worker
    dies, ValueError when `workers` is below 1."""
    if workers is not None and workers < 1:
        raise ValueError(f"the site needs at least one worker to render its pages, not {workers}")
    shares = min(workers or os.cpu_count() or 1, len(codes) // PARALLEL_MIN_UNITS)
    if shares < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return _share(ctx, codes, 0, 1)
    codes = tuple(codes)
    try:
        with ProcessPoolExecutor(
            max_workers=shares - 1,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_worker_start,
            initargs=(ctx, codes),  # inherited by the fork, not pickled
        ) as pool:
            theirs = [pool.submit(_worker_share, share, shares) for share in range(1, shares)]
            rendered = [_share(ctx, codes, 0, shares), *(future.result() for future in theirs)]
    except BrokenProcessPool as exc:
        raise SiteWorkerDied(
            "a worker rendering the site's pages died (killed, or out of memory?); nothing was "
            "written: build the site again"
        ) from exc
    return [rendered[i % shares][i // shares] for i in range(len(codes))]


def render_pages(marts: Marts, ctx: SiteContext, workers: int | None = None) -> list[RenderedPage]:
    """Every page of the site, in memory (the units' pages on `workers` cores)."""
    pages = render_org_pages(ctx, [unit.code for unit in ctx.tree.ordered()], workers)
    pages += render_league_pages(ctx)
    pages.append(
        render_catalog_page(
            ctx,
            targets_by_metric(marts.rows("marts.dim_metric_targets")),
            history_by_metric(marts.rows("marts.metric_definition_history")),
        )
    )
    gates = marts.rows("meta.source_gate_state") if marts.has("meta.source_gate_state") else None
    quality = quality_rows(marts.rows("marts.data_quality_scorecard"))
    if ctx.scoped:
        # The scorecard counts the whole group's deliveries and has no org: a pack shows no
        # figure of it (render_quality_page says why), and no gate reason or file name.
        gates = pack_gate_rows(gates) if gates is not None else None
        quality = []
    pages.append(render_quality_page(ctx, quality, gates))
    return pages


def finish_page(page: RenderedPage, built_at: datetime) -> tuple[str, bytes]:
    """(content hash, final bytes): the hash covers everything but the build time."""
    digest = hashlib.sha256(page.html.encode("utf-8")).hexdigest()[:32]
    stamp = built_at.strftime(BUILT_AT_FORMAT).strip()
    final = page.html.replace(HASH_SLOT, digest).replace(BUILT_AT_SLOT, stamp)
    return digest, final.encode("utf-8")


# --- writing ----------------------------------------------------------------------------------


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` unless the file already holds exactly it; True when written."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    write_atomic(path, data)
    return True


def stored_hash(path: Path) -> str | None:
    """The content hash in an existing page's head, if any."""
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        match = HASH_PATTERN.search(handle.read(4096))
    return match.group(1).decode() if match else None


def write_page(path: Path, digest: str, data: bytes) -> bool:
    """Write a page unless the file holds the same content (by hash); True when written."""
    if stored_hash(path) == digest:
        return False
    write_atomic(path, data)
    return True


def write_plotlyjs(site_dir: Path) -> Path | None:
    """Copy plotly.js from the installed plotly package into assets/; the path if written."""
    path = site_dir / ASSETS_DIR / PLOTLY_JS
    written = write_if_changed(path, plotly.offline.get_plotlyjs().encode("utf-8"))
    return path if written else None


def write_assets(site_dir: Path, ctx: SiteContext) -> tuple[list[Path], int]:
    """The shared assets; (those written, total bytes of all of them)."""
    written = [p for p in [write_plotlyjs(site_dir)] if p]
    for name, data in (
        (SITE_CSS_FILE, static_bytes(SITE_CSS_FILE)),
        (SITE_JS_FILE, static_bytes(SITE_JS_FILE)),
        (UNITS_JS_FILE, units_script(ctx).encode("utf-8")),
    ):
        path = site_dir / ASSETS_DIR / name
        if write_if_changed(path, data):
            written.append(path)
    total = sum(p.stat().st_size for p in (site_dir / ASSETS_DIR).iterdir() if p.is_file())
    return written, total


def largest(pages: Sequence[tuple[Path, int]]) -> tuple[Path | None, int]:
    return max(pages, key=lambda item: item[1], default=(None, 0))


def build_site(
    warehouse: Path,
    site_dir: Path,
    *,
    org: str | None = None,
    built_at: datetime | None = None,
    workers: int | None = None,
) -> SiteResult:
    """Build the dashboard site from the warehouse's marts into `site_dir`.

    With `org`, the site holds only that unit and its subtree (a manager's pack): no other
    unit's code, name or values in any file. Raises ValueError when `org` is unknown, and
    SiteFolderError (a ValueError) when `site_dir` is not a folder this build may write into
    (dashboards.site_folder): nothing is written then. `workers`: the cores the units' pages
    are rendered on (`render_org_pages`; default every core).
    """
    started = time.perf_counter()
    built_at = built_at or datetime.now().astimezone()
    marts = read_marts(Path(warehouse))
    ctx = site_context(marts, org)
    rendered = render_pages(marts, ctx, workers)
    scope = SiteMark(PACK, ctx.tree.root) if ctx.scoped else SiteMark(FULL)
    previous = claim(site_dir, scope)
    relpaths = [page.path.as_posix() for page in rendered]
    site_dir.mkdir(parents=True, exist_ok=True)
    # Listed before any page is written, so a build that dies half-way leaves no page of ours
    # unlisted: the next build may still delete it.
    earlier = previous.pages if previous is not None and previous.pages is not None else ()
    write_mark(site_dir, replace(scope, pages=tuple(sorted({*earlier, *relpaths}))))
    assets_written, assets_bytes = write_assets(site_dir, ctx)
    pages, written, sizes = [], [], []
    for page in rendered:
        path = site_dir / page.path
        digest, data = finish_page(page, built_at)
        if write_page(path, digest, data):
            written.append(path)
        pages.append(path)
        sizes.append((path, path.stat().st_size))
    removed = stale_pages(site_dir, previous, relpaths)
    for path in removed:
        path.unlink()
    write_mark(site_dir, replace(scope, pages=tuple(relpaths)))
    biggest, biggest_bytes = largest(sizes)
    if biggest_bytes > MAX_PAGE_BYTES:
        log.warning("site: %s is %.1f MB, over the 2 MB page budget", biggest, biggest_bytes / 1e6)
    total = sum(size for _, size in sizes)
    seconds = time.perf_counter() - started
    log.info(
        "site: %d pages (%d rewritten, %d removed), %.1f MB, largest %s %.0f kB, in %.2fs",
        len(pages),
        len(written),
        len(removed),
        total / 1e6,
        biggest,
        biggest_bytes / 1e3,
        seconds,
    )
    return SiteResult(
        pages=pages,
        bytes=total,
        seconds=seconds,
        assets_written=assets_written,
        pages_written=written,
        removed=removed,
        largest_page=biggest,
        largest_page_bytes=biggest_bytes,
        assets_bytes=assets_bytes,
    )


# --- atomic publication of the site ------------------------------------------------------------
# The site folder readers open (data/site) is a symbolic link to one complete build under
# `<site>.versions/`. A new build starts as a hard-linked copy of the current one (unchanged pages
# cost nothing; every write replaces a file, so the linked original is never modified), and the
# link is swapped in one rename. A crash mid-build leaves the dashboards exactly as they were.
VERSION_FILE = ".publication"


def site_version(site_dir: Path) -> str | None:
    """The publication the site at `site_dir` shows; None when it is not a full site build.

    A folder without the full site's marker (a build from before markers, or one a pack was
    built into) shows no known publication, so the pipeline's next run rebuilds it.
    """
    try:
        mark = read_mark(site_dir)
    except SiteFolderError:
        return None
    marker = site_dir / VERSION_FILE
    if mark is None or mark.kind != FULL or not marker.is_file():
        return None
    return marker.read_text().strip()


def versions_dir(site_dir: Path) -> Path:
    """Where the builds behind the live site's link are kept: `<site>.versions/`."""
    return site_dir.with_name(site_dir.name + ".versions")


def live_site_role(path: Path, site_dir: Path) -> str | None:
    """ "live" when `path` is the live site (its link, or any path resolving to the build it
    shows), "versions" when it is in the kept builds behind the link, else None."""
    target = Path(os.path.realpath(path))
    if Path(os.path.abspath(path)) == Path(os.path.abspath(site_dir)):
        return "live"
    if site_dir.exists() and target == Path(os.path.realpath(site_dir)):
        return "live"
    versions = Path(os.path.realpath(versions_dir(site_dir)))
    if target == versions or versions in target.parents:
        return "versions"
    return None


def publish_site(warehouse: Path, site_dir: Path, version: str) -> SiteResult:
    """Build the site for publication `version` beside the live one, then swap it in."""
    versions = versions_dir(site_dir)
    versions.mkdir(parents=True, exist_ok=True)
    for leftover in site_dir.parent.glob(f".{site_dir.name}.*.swap"):
        leftover.unlink(missing_ok=True)
    if site_dir.is_dir() and not site_dir.is_symlink():
        # a plain folder from before atomic builds: it becomes the first version
        site_dir.rename(versions / "initial")
        _swap_link(site_dir, versions / "initial")
    live = site_dir.resolve() if site_dir.is_dir() else None
    build = versions / f"{datetime.now():%Y%m%dT%H%M%S}-{os.urandom(3).hex()}"
    if live:
        shutil.copytree(live, build, copy_function=os.link, symlinks=True)
        adopt_live_copy(build)
    else:
        build.mkdir()
    result = build_site(warehouse, build)
    write_atomic(build / VERSION_FILE, (version + "\n").encode())
    _swap_link(site_dir, build)
    # keep the new build and the one before it (a browser may still be on one of its pages);
    # anything else is an older build or one a crash left half-written
    for path in versions.iterdir():
        if path.is_dir() and path not in (build, live):
            shutil.rmtree(path, ignore_errors=True)
    return result


def adopt_live_copy(build: Path) -> None:
    """Mark a copy of the live site as the full site, whatever its marker said.

    Only publish_site writes the builds behind the live link. One from before markers has
    none, and one an older version built a pack into may say anything: its pages are all
    replaced or removed by this build (stale_pages' fallback for a mark without pages).
    """
    try:
        mark = read_mark(build)
    except SiteFolderError:
        mark = None
    if mark is None or mark.kind != FULL:
        write_mark(build, SiteMark(FULL))


def _swap_link(link: Path, target: Path) -> None:
    tmp = link.with_name(f".{link.name}.{os.urandom(3).hex()}.swap")
    tmp.symlink_to(os.path.relpath(target, link.parent), target_is_directory=True)
    os.replace(tmp, link)
