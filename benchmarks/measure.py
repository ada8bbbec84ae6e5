"""Run one command as its own process under GNU time and report wall time and peak memory.

`/usr/bin/time -v` gives the wall time and the peak resident set size. Linux reports the largest
RSS any single process of the tree reached (the command or one of its waited-for children, such
as the dbt subprocess), not the sum of processes alive at the same time, so the process tree's
total RSS is also sampled from /proc every SAMPLE_SECONDS while the command runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GNU_TIME = "/usr/bin/time"
SAMPLE_SECONDS = 0.2
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
ELAPSED = re.compile(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)")
MAX_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")
EXIT_STATUS = re.compile(r"Exit status: (\d+)")
USER_TIME = re.compile(r"User time \(seconds\): ([\d.]+)")
SYSTEM_TIME = re.compile(r"System time \(seconds\): ([\d.]+)")


class MeasureError(RuntimeError):
    """The measured command failed or GNU time's report could not be read."""


@dataclass(frozen=True)
class Run:
    """One measured run: GNU time's wall time, CPU time (user + system, the whole tree) and peak
    RSS, and the sampled tree peak. CPU time moves less than wall time on a busy machine."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    tree_peak_rss_mb: float
    exit_code: int
    log: str

    def to_json(self) -> dict:
        return {
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "tree_peak_rss_mb": round(self.tree_peak_rss_mb, 1),
            "exit_code": self.exit_code,
            "log": self.log,
        }


def parse_elapsed(text: str) -> float:
    """GNU time's wall clock, `h:mm:ss` or `m:ss.ss`, in seconds."""
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


@dataclass(frozen=True)
class TimeReport:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    exit_status: int


def parse_time_report(report: str) -> TimeReport:
    """Wall and CPU seconds, peak RSS and exit status from the output of `/usr/bin/time -v`."""
    found = [p.search(report) for p in (ELAPSED, USER_TIME, SYSTEM_TIME, MAX_RSS, EXIT_STATUS)]
    if not all(found):
        raise MeasureError(f"not a GNU time -v report:\n{report[-2000:]}")
    elapsed, user, system, rss, status = (m.group(1) for m in found if m)
    return TimeReport(
        wall_s=parse_elapsed(elapsed),
        cpu_s=float(user) + float(system),
        peak_rss_mb=int(rss) / 1024,
        exit_status=int(status),
    )


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids of every process visible in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:  # gone meanwhile
            continue
        # the command name (field 2) may hold spaces and parentheses: parse after its last ')'
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def tree_rss_bytes(root: int) -> int:
    """Summed resident set size of `root`'s descendants (GNU time itself left out)."""
    children = _children()
    total, stack = 0, list(children.get(root, []))
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * PAGE_BYTES
        except (OSError, IndexError, ValueError):
            continue
    return total


def measure(
    command: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Run:
    """Run `command` under GNU time, its output to `log_path`; raises MeasureError on failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    report_path = log_path.with_suffix(".time")
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [GNU_TIME, "-v", "-o", str(report_path), *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
        tree_peak = 0
        while process.poll() is None:
            tree_peak = max(tree_peak, tree_rss_bytes(process.pid))
            time.sleep(SAMPLE_SECONDS)
    report = parse_time_report(report_path.read_text(encoding="utf-8"))
    if report.exit_status != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise MeasureError(
            f"{' '.join(command)} exited {report.exit_status} (log {log_path}):\n{tail}"
        )
    return Run(
        wall_s=report.wall_s,
        cpu_s=report.cpu_s,
        peak_rss_mb=report.peak_rss_mb,
        # a run shorter than one sample still has GNU time's peak
        tree_peak_rss_mb=max(tree_peak / 2**20, report.peak_rss_mb),
        exit_code=report.exit_status,
        log=str(log_path),
    )
