"""The benchmark: what the opsvalue pipeline costs against the least work giving the same KPIs.

    python -m benchmarks.run --scale 0.1 --months 24 [--repeat 3] [--out FILE.json] [--workdir DIR]

Generates the extracts once per scale and months (benchmarks/dataset.py, which also splits off
the last day), then measures, each step in a process of its own under GNU time (wall time, peak
RSS), `--repeat` times, interleaved:

- floor:   benchmarks/floor.sql, the eight spine KPIs at every level straight from the CSVs;
- full:    `opsvalue run` (the refresh job: ingest and gate, dbt build and tests, KPI checks,
           publication, site) from an empty warehouse, work database, site and Dagster home;
- stage.*: the same job one stage per process, in order, on one empty workspace that receives
           every day but the last one;
- refresh: `opsvalue run` on the workspace the stages left, once the last day was delivered;
- record:  `opsvalue run` on that workspace once more, after a single new claim arrived: what any
           run with new data costs, whatever its size (start-up, gate, dbt, publication, site);
- bound.*: with `--bound`, after the floor: benchmarks/bound.py, every row kept (as today's
           contract, and typed once) and copied to a snapshot, with nothing else: what any
           pipeline keeping the rows costs at least (`--only-bound`: the floor and the bounds).

The floor's KPIs are checked against the published `marts.fct_kpi_values` of the full run and of
the refreshed workspace (both hold every day; the refreshed one before its extra record arrives).
Prints a table, writes JSON (medians, every run, input size, environment, ratios full/floor,
refresh/full and record/full) and exits 1 when the floor and the pipeline disagree, 2 when a
measured step failed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import shutil
import stat
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from benchmarks import bound, floor
from benchmarks.dataset import Dataset, prepare
from benchmarks.measure import MeasureError, Run, measure
from benchmarks.stage import STAGES
from dagster_project.cli.args import months, positive_int, scale
from dagster_project.core.settings import PROJECT_ROOT, get_settings

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_WORKDIR = BENCH_DIR / "work"
DEFAULT_RESULTS = BENCH_DIR / "results"
# where dagster-dbt puts each invocation's target folder (the dbt project's target/)
DBT_TARGET_DIR = get_settings().dbt_project_dir / "target"
PYTHON = sys.executable
FLOOR = "floor"
FULL = "full"
REFRESH = "refresh"
RECORD = "record"
STAGE_PREFIX = "stage."
BOUND_PREFIX = "bound."
BOUNDS = tuple(BOUND_PREFIX + d for d in bound.DESIGNS)
MEASUREMENTS = (FLOOR, *BOUNDS, FULL, *(STAGE_PREFIX + s for s in STAGES), REFRESH, RECORD)
DESCRIPTIONS = {
    FLOOR: "hand-written DuckDB SQL: the 8 spine KPIs at every level from the raw CSVs",
    BOUND_PREFIX + "contract": "benchmarks.bound: every row written as text with lineage, then "
    "once more, typed through a view, into a snapshot; nothing else",
    BOUND_PREFIX + "typed": "benchmarks.bound: every row written typed with lineage, copied to a "
    "snapshot; nothing else",
    FULL: "opsvalue run (the refresh job) from an empty workspace",
    **{
        STAGE_PREFIX + s: f"the refresh job's {s} stage alone, after the stages before it"
        for s in STAGES
    },
    REFRESH: "opsvalue run after one more day was delivered to a full load of the others",
    RECORD: "opsvalue run after one more claim (one record, one file) arrived after the refresh",
}
LABELS = {
    FLOOR: "(a) floor",
    **{BOUND_PREFIX + d: f"(a') bound, {d}" for d in bound.DESIGNS},
    FULL: "(b) full pipeline",
    **{STAGE_PREFIX + s: f"(c) stage {s}" for s in STAGES},
    REFRESH: "(d) refresh, one day",
    RECORD: "(e) refresh, one record",
}
VERSIONED = ("duckdb", "dbt-core", "dbt-duckdb", "dagster", "dagster-dbt", "great-expectations")
CONSOLE = Console(stderr=True)


@dataclass(frozen=True)
class Workspace:
    """The folders one pipeline run owns: every path setting points inside `root`."""

    root: Path
    raw_dir: Path

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse" / "opsvalue.duckdb"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            OPSVALUE_RAW_DIR=str(self.raw_dir),
            OPSVALUE_WAREHOUSE=str(self.warehouse),
            # the pipeline's working database, beside the published snapshot
            OPSVALUE_WORK_DB=str(self.root / "warehouse" / "work" / "opsvalue_work.duckdb"),
            OPSVALUE_SITE_DIR=str(self.root / "site"),
            DAGSTER_HOME=str(self.root / "dagster_home"),
        )
        return env


def dbt_invocations() -> set[Path]:
    """The target folders dagster-dbt gave the dbt builds so far (one per invocation)."""
    return set(DBT_TARGET_DIR.glob("dbt_models-*"))


def keep_dbt_results(before: set[Path], keep: Path) -> None:
    """Copy the run results and manifest of the build that ran since `before` into `keep`.

    For `python -m benchmarks.model_costs`: what each model and its tests took in that build.
    """
    new = sorted(dbt_invocations() - before, key=lambda p: p.stat().st_mtime)
    if not new:
        return
    keep.mkdir(parents=True, exist_ok=True)
    for name in ("run_results.json", "manifest.json"):
        if (new[-1] / name).is_file():
            shutil.copyfile(new[-1] / name, keep / name)


def remove_tree(path: Path) -> None:
    """rmtree that also removes read-only entries (the published snapshot is made read-only)."""

    def retry(function: Callable[[str], object], target: str, _exc: object) -> None:
        os.chmod(target, stat.S_IRWXU)
        function(target)

    if path.exists():
        shutil.rmtree(path, onerror=retry)


def empty_workspace(root: Path, raw_dir: Path) -> Workspace:
    remove_tree(root)
    root.mkdir(parents=True)
    return Workspace(root=root, raw_dir=raw_dir)


def link_files(source: Path, target: Path, paths: list[str]) -> None:
    """Deliver files from `source` to `target` by hard link (a copy across file systems)."""
    for relative in paths:
        dst = target / relative
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.unlink(missing_ok=True)
        try:
            os.link(source / relative, dst)
        except OSError:
            shutil.copy2(source / relative, dst)


def delivered_files(raw_dir: Path) -> list[str]:
    return sorted(
        p.relative_to(raw_dir).as_posix()
        for p in raw_dir.rglob("*")
        if p.is_file() and not p.relative_to(raw_dir).as_posix().startswith(("_", "."))
    )


class Bench:
    """One benchmark session over one generated dataset."""

    def __init__(self, workdir: Path, dataset: Dataset) -> None:
        self.workdir = workdir
        self.dataset = dataset
        self.raw_dir = Path(dataset.raw_dir)
        self.runs_dir = workdir / "runs"
        self.logs_dir = workdir / "logs"
        self.floor_result = self.runs_dir / FLOOR / "floor_kpis.parquet"
        self.results: dict[str, list[Run]] = {name: [] for name in MEASUREMENTS}
        self.workspaces: dict[str, Workspace] = {}
        self.verification: dict[str, dict] = {}
        # workspaces and logs belong to one session: none of a previous one is reused
        remove_tree(self.runs_dir)
        remove_tree(self.logs_dir)

    def _measure(self, name: str, repeat: int, command: list[str], ws: Workspace | None) -> Run:
        log = self.logs_dir / f"{name}-{repeat}.log"
        CONSOLE.print(f"  {name} (run {repeat}) ...", end=" ")
        run = measure(command, log, env=ws.env() if ws else None, cwd=PROJECT_ROOT)
        CONSOLE.print(f"{run.wall_s:.1f} s, {run.peak_rss_mb:.0f} MB")
        return run

    def prepare_manifest(self) -> None:
        """Parse the dbt project before any measured run, so none of them pays for it."""
        code = (
            "from dagster_project.defs.transform.project import ensure_manifest; ensure_manifest()"
        )
        subprocess.run([PYTHON, "-c", code], check=True, cwd=PROJECT_ROOT)

    def floor(self, repeat: int) -> None:
        command = [PYTHON, "-m", "benchmarks.floor", "--raw", str(self.raw_dir)]
        command += ["--out", str(self.floor_result)]
        self.results[FLOOR].append(self._measure(FLOOR, repeat, command, None))

    def bounds(self, repeat: int) -> None:
        for design in bound.DESIGNS:
            command = [PYTHON, "-m", "benchmarks.bound", "--raw", str(self.raw_dir)]
            command += ["--design", design, "--tmp", str(self.runs_dir)]
            command += ["--json", str(self.logs_dir / f"{BOUND_PREFIX}{design}-{repeat}.json")]
            name = BOUND_PREFIX + design
            self.results[name].append(self._measure(name, repeat, command, None))

    def full(self, repeat: int) -> None:
        ws = empty_workspace(self.runs_dir / FULL, self.raw_dir)
        command = [PYTHON, "-m", "dagster_project.cli", "run"]
        before = dbt_invocations()
        self.results[FULL].append(self._measure(FULL, repeat, command, ws))
        self.workspaces[FULL] = ws
        keep_dbt_results(before, self.logs_dir / f"{FULL}-{repeat}-dbt")

    def base_raw(self) -> Path:
        """The extracts without the last day (hard links), the day files not yet delivered."""
        raw = self.runs_dir / "base_raw"
        day_files = self.dataset.day_paths
        if not raw.is_dir():
            base = [p for p in delivered_files(self.raw_dir) if p not in day_files]
            link_files(self.raw_dir, raw, base)
        for relative in [*day_files, RECORD_FILE]:  # delivered by the previous repeat
            (raw / relative).unlink(missing_ok=True)
        return raw

    def stages(self, repeat: int) -> None:
        """The stages in order on one empty workspace, over every day but the last one.

        The workspace they leave is the full load the refresh starts from: one full load per
        repeat instead of two. The stages therefore see 1/(days) less of the daily sources than
        the full run (recorded as input.day_rows), which is far below the runs' own spread.
        """
        ws = empty_workspace(self.runs_dir / "stages", self.base_raw())
        for stage in STAGES:
            name = STAGE_PREFIX + stage
            command = [PYTHON, "-m", "benchmarks.stage", stage]
            self.results[name].append(self._measure(name, repeat, command, ws))
        self.workspaces[REFRESH] = ws

    def refresh(self, repeat: int) -> None:
        """Deliver the last day to the stages' full load and time `opsvalue run` on it."""
        ws = self.workspaces[REFRESH]
        link_files(self.raw_dir, ws.raw_dir, sorted(self.dataset.day_paths))
        command = [PYTHON, "-m", "dagster_project.cli", "run"]
        self.results[REFRESH].append(self._measure(REFRESH, repeat, command, ws))

    def record_source(self) -> Path | None:
        """The last day's claims file, the extra record's template (none with a single month)."""
        paths = [d.path for d in self.dataset.day_files if d.source == RECORD_SOURCE]
        return self.raw_dir / paths[0] if paths else None

    def record(self, repeat: int) -> None:
        """Deliver one new claim to the refreshed workspace and time `opsvalue run` on it."""
        source = self.record_source()
        if source is None:
            CONSOLE.print(f"  {RECORD} skipped: no {RECORD_SOURCE} file for the last day")
            return
        ws = self.workspaces[REFRESH]
        write_record_file(source, ws.raw_dir, repeat, self.dataset.last_day or "")
        command = [PYTHON, "-m", "dagster_project.cli", "run"]
        self.results[RECORD].append(self._measure(RECORD, repeat, command, ws))
        # a held or rejected file would have been timed as a run without data
        with duckdb.connect(str(ws.warehouse), read_only=True) as con:
            (loaded,) = con.execute(
                "select count(*) from meta.file_ledger where path = ? and status = 'loaded'",
                [RECORD_FILE],
            ).fetchone() or (0,)
        if loaded != 1:
            raise MeasureError(f"{RECORD}: {RECORD_FILE} was not loaded (see its log)")

    def verify(self, name: str) -> dict:
        """The floor's KPIs against the published KPIs of one pipeline workspace (not timed)."""
        with floor.connect_floor() as con:
            floor.load_result(con, self.floor_result)
            outcome = floor.verify(con, self.workspaces[name].warehouse).to_json()
        report = self.logs_dir / f"verify-{name}.json"
        report.write_text(json.dumps(outcome, indent=2, default=str) + "\n", encoding="utf-8")
        self.verification[name] = outcome
        return outcome


# The extra record: a claim of the last day under a claim id the generator never uses.
RECORD_SOURCE = "claims"
RECORD_FILE = "claims/claims_zz_one_record.csv"


def write_record_file(source: Path, raw_dir: Path, repeat: int, day: str) -> Path:
    """One CSV with the header and a claim reported on `day` from `source`, under a new id.

    Named to sort after every other claims file, with a new id each repeat.
    """
    with source.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        fields = reader.fieldnames or []
    # the day file also holds a few late records of the month before: take one of the day
    of_day = [r for r in rows if (r.get("reported_at") or "").startswith(day)] or rows
    if not of_day:
        raise MeasureError(f"{source}: no claim to copy as the extra record")
    row = dict(of_day[0], claim_id=f"CLM9{repeat:09d}")  # the generator numbers from CLM0...
    target = raw_dir / RECORD_FILE
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerow(row)
    return target


def summarise(runs: list[Run]) -> dict:
    if not runs:
        return {"runs": []}
    return {
        "wall_s_median": round(statistics.median(r.wall_s for r in runs), 3),
        "cpu_s_median": round(statistics.median(r.cpu_s for r in runs), 3),
        "peak_rss_mb_median": round(statistics.median(r.peak_rss_mb for r in runs), 1),
        "tree_peak_rss_mb_median": round(statistics.median(r.tree_peak_rss_mb for r in runs), 1),
        "runs": [r.to_json() for r in runs],
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 4)


def ratios(measurements: dict[str, dict]) -> dict[str, dict]:
    def get(name: str, key: str) -> float | None:
        return measurements.get(name, {}).get(key)

    def over_stages(key: str, combine: Callable[[list[float]], float]) -> float | None:
        values = [get(STAGE_PREFIX + s, key) for s in STAGES]
        return None if None in values else combine([v for v in values if v is not None])

    pairs = {
        "full_over_floor": (FULL, FLOOR),
        **{f"{b}_over_floor".replace(".", "_"): (b, FLOOR) for b in BOUNDS},
        "full_over_bound_contract": (FULL, BOUND_PREFIX + "contract"),
        "refresh_over_full": (REFRESH, FULL),
        "record_over_full": (RECORD, FULL),
    }
    result = {
        label: {
            "wall": ratio(get(a, "wall_s_median"), get(b, "wall_s_median")),
            "cpu": ratio(get(a, "cpu_s_median"), get(b, "cpu_s_median")),
            "peak_rss": ratio(get(a, "peak_rss_mb_median"), get(b, "peak_rss_mb_median")),
        }
        for label, (a, b) in pairs.items()
    }
    # the stages one after another: times add up, the memory peak is the largest stage's
    result["stages_over_full"] = {
        "wall": ratio(over_stages("wall_s_median", sum), get(FULL, "wall_s_median")),
        "cpu": ratio(over_stages("cpu_s_median", sum), get(FULL, "cpu_s_median")),
        "peak_rss": ratio(over_stages("peak_rss_mb_median", max), get(FULL, "peak_rss_mb_median")),
    }
    return result


def _git(*args: str) -> str | None:
    done = subprocess.run(
        ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else None


# The harness's own output: a result written by an earlier session (another scale, say) in the
# same checkout is not a change to the code measured, neither in the fingerprint nor in git_dirty.
RESULTS_NOT_CODE = ":(exclude)benchmarks/results"


def code_fingerprint() -> str | None:
    """A digest of the code being measured: the commit, the diff to it (documentation aside)
    and untracked files.

    Compared at the start and the end of a session: code (or dbt models) edited meanwhile means
    the runs measured different versions, and dbt's own watermark turns an incremental refresh
    into a full rebuild.
    """
    # documentation (*.md) is not what is measured: editing it during a run is harmless
    head = _git("rev-parse", "HEAD")
    diff = _git("diff", "HEAD", "--", ".", ":(exclude)*.md", RESULTS_NOT_CODE)
    untracked = _git(
        "ls-files", "--others", "--exclude-standard", "-z", "--", ".", RESULTS_NOT_CODE
    )
    if head is None or diff is None or untracked is None:
        return None
    digest = hashlib.sha256(f"{head}\n{diff}".encode())
    for name in sorted(filter(None, untracked.split("\0"))):
        path = PROJECT_ROOT / name
        digest.update(name.encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _meminfo_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def environment() -> dict:
    versions = {}
    for package in VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    status = _git("status", "--porcelain", "--", ".", RESULTS_NOT_CODE)
    return {
        "cores": os.cpu_count(),
        "memory_gb": _meminfo_gb(),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "git_commit": _git("rev-parse", "HEAD"),
        # measured code that differs from the commit (other work in progress) is flagged
        "git_dirty": bool(status) if status is not None else None,
        "load_average_start": os.getloadavg(),
        "code_fingerprint_start": code_fingerprint(),
    }


def times(value: float | None, of: str) -> str:
    return "" if value is None else f"{value:.3g}× {of}"


def render_table(measurements: dict[str, dict], result_ratios: dict[str, dict]) -> Table:
    table = Table(title="opsvalue benchmark (median of runs)")
    table.add_column("step", no_wrap=True)
    for column in ("wall s", "cpu s", "peak MB", "tree MB", "wall ratio"):
        table.add_column(column, justify="right")
    full_wall = measurements.get(FULL, {}).get("wall_s_median")
    floor_wall = measurements.get(FLOOR, {}).get("wall_s_median")
    stages = [measurements[STAGE_PREFIX + s] for s in STAGES if STAGE_PREFIX + s in measurements]
    rows: dict[str, tuple[str, dict, str]] = {}
    for name in MEASUREMENTS:
        m = measurements.get(name, {})
        if "wall_s_median" not in m:
            continue
        if name == FLOOR:
            note = "1× floor"
        elif name == FULL or name in BOUNDS:
            note = times(ratio(m["wall_s_median"], floor_wall), "floor")
        elif name in (REFRESH, RECORD):
            note = times(result_ratios[f"{name}_over_full"]["wall"], "full")
        else:
            note = times(ratio(m["wall_s_median"], full_wall), "full")
        rows[name] = (LABELS[name], m, note)
        if name == STAGE_PREFIX + STAGES[-1] and stages:
            together = {
                "wall_s_median": sum(m["wall_s_median"] for m in stages),
                "cpu_s_median": sum(m["cpu_s_median"] for m in stages),
                "peak_rss_mb_median": max(m["peak_rss_mb_median"] for m in stages),
                "tree_peak_rss_mb_median": max(m["tree_peak_rss_mb_median"] for m in stages),
            }
            note = times(result_ratios["stages_over_full"]["wall"], "full")
            rows["stages"] = ("(c) stages together", together, note)
    for label, m, note in rows.values():
        table.add_row(
            label,
            f"{m['wall_s_median']:.2f}",
            f"{m['cpu_s_median']:.2f}",
            f"{m['peak_rss_mb_median']:.0f}",
            f"{m['tree_peak_rss_mb_median']:.0f}",
            note,
        )
    return table


def default_name(scale: float, months: int) -> str:
    return f"scale-{scale:g}_months-{months}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", type=scale, required=True, help="1 = mid-size")
    parser.add_argument("--months", type=months, required=True, help="months of history")
    parser.add_argument("--repeat", type=positive_int, default=3, help="runs per measurement")
    parser.add_argument("--seed", type=int, default=42, help="generator seed")
    parser.add_argument("--out", type=Path, help="JSON result (default benchmarks/results/)")
    parser.add_argument("--workdir", type=Path, help="data and workspaces")
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--only-full",
        action="store_true",
        help="measure the floor and the full build only (no stages, refreshes); e.g. for "
        "benchmarks.model_costs over the full builds' dbt results",
    )
    parser.add_argument(
        "--bound",
        action="store_true",
        help="also measure the bounds (benchmarks/bound.py) after the floor",
    )
    only.add_argument(
        "--only-bound",
        action="store_true",
        help="measure the floor and the bounds only (nothing of the pipeline, nothing verified); "
        "the JSON goes to <scale, months>_bound.json unless --out says otherwise",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    name = default_name(args.scale, args.months)
    workdir = (args.workdir or DEFAULT_WORKDIR / name).resolve()
    suffix = "_bound" if args.only_bound else ""
    out = (args.out or DEFAULT_RESULTS / f"{name}{suffix}.json").resolve()
    started_at = datetime.now().astimezone()
    env = environment()

    CONSOLE.print(f"[bold]dataset[/] scale {args.scale:g}, {args.months} months in {workdir}")
    dataset = prepare(workdir, args.scale, args.months, args.seed)
    bench = Bench(workdir, dataset)
    if not args.only_bound:
        bench.prepare_manifest()
    error = None
    try:
        for repeat in range(1, args.repeat + 1):
            CONSOLE.print(f"[bold]repeat {repeat}/{args.repeat}[/]")
            bench.floor(repeat)
            if args.bound or args.only_bound:
                bench.bounds(repeat)
            if args.only_bound:
                continue
            bench.full(repeat)
            if args.only_full:
                if repeat == args.repeat:
                    bench.verify(FULL)
                continue
            bench.stages(repeat)
            bench.refresh(repeat)
            if repeat == args.repeat:  # before the extra record changes its KPIs
                bench.verify(FULL)
                bench.verify(REFRESH)
            bench.record(repeat)
    except MeasureError as exc:
        error = str(exc)
        CONSOLE.print(f"[bold red]measurement failed[/]: {exc}")
    verification = bench.verification if error is None else {}
    measurements = {n: summarise(runs) for n, runs in bench.results.items() if runs}
    result_ratios = ratios(measurements)
    # the floor and the bounds alone verify nothing: there is no pipeline result to compare
    verified = None if args.only_bound else (
        bool(verification) and all(v.get("ok") for v in verification.values())
    )  # fmt: skip
    env["load_average_end"] = os.getloadavg()
    env["code_fingerprint_end"] = code_fingerprint()
    env["code_changed_during_run"] = env["code_fingerprint_start"] != env["code_fingerprint_end"]
    doc = {
        "benchmark": "opsvalue",
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": ["python", "-m", "benchmarks.run", *(argv or sys.argv[1:])],
        "scale": args.scale,
        "months": args.months,
        "seed": args.seed,
        "repeat": args.repeat,
        "workdir": str(workdir),
        "environment": env,
        "input": dataset.to_json(),
        "descriptions": DESCRIPTIONS,
        "measurements": measurements,
        "ratios": result_ratios,
        "verification": verification,
        "verified": verified,
        "error": error,
        "ok": error is None and verified is not False,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")

    console = Console(soft_wrap=True)
    if measurements:
        console.print(render_table(measurements, result_ratios))
    for ws_name, outcome in verification.items():
        state = "[green]equal[/]" if outcome.get("ok") else "[bold red]DIFFERENT[/]"
        problem = f", {outcome['error']}" if outcome.get("error") else ""
        console.print(
            f"floor vs {ws_name}: {state} ({outcome.get('matched_rows', 0)} rows matched, "
            f"{outcome.get('only_floor', 0)} only in floor, "
            f"{outcome.get('only_pipeline', 0)} only in pipeline, "
            f"{outcome.get('differing', 0)} differing{problem})"
        )
    if env["code_changed_during_run"]:
        console.print(
            "[bold yellow]warning[/]: the code or the dbt project changed during the benchmark; "
            "the runs measured different versions (and a dbt change turns the refresh into a "
            "full rebuild)"
        )
    console.print(f"results: {out}")
    if error:
        return 2
    return 1 if verified is False else 0


if __name__ == "__main__":
    sys.exit(main())
