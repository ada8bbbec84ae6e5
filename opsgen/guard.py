"""What generate() refuses before it writes anything: arguments out of bounds, and runs the
machine has no room for.

The bounds are the documented limits of `opsvalue generate` (README, Commands): scale in
(0, 20], months from 1 to 120. Within them a run can still outgrow the machine (20 x 120 would
write about 190 GB and hold about 2.7 GB in memory), so the disk space and the memory a run
needs are estimated from its arguments and checked against the machine first.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

# Twenty mid-size insurers: about 40M policies in force, 8M claims and 60M contacts a year.
SCALE_MAX = 20.0
MONTHS_MIN = 1
# Ten years; the calendar's holiday table (volumes.SPRING_FESTIVAL) starts in 2015, and ten
# years back from the default end month stay within it.
MONTHS_MAX = 120

# Bytes of CSV, measured on clean runs (seed 42, scale 0.1 x 12 months and 0.05 x 24 months:
# 105.0 and 100.4 MB): 77.1 MB per scale-month for the event sources, 116 MB per unit of scale
# for the policies in force before the period (policies_initial.csv), 82 kB per month for
# staffing and costs (their rows do not grow with scale) and about 22 kB of single files. The
# benchmark's scale 1 x 24 months wrote 1.97 GB (benchmarks/results/scale-1_months-24.json),
# which these predict within 0.2%.
BYTES_PER_SCALE_MONTH = 77_100_000
BYTES_PER_SCALE = 116_000_000
BYTES_PER_MONTH = 82_000
BYTES_FIXED = 22_000
# Peak resident memory, measured with GNU time on the same machine (`opsvalue generate`, seed 42,
# x 24 months: 331, 374, 471, 631 and 969 MB clean at scales 0.1, 0.3, 1, 3 and 10, within about
# 10% from run to run; 413 MB for 0.3 with 5% defects). The generator streams
# (opsgen.volumes.CHUNK_ROWS): the interpreter and its libraries, one chunk of a source (full
# size from about scale 1 on; defect injection copies it) and the compact book of policies the
# sources about policies pick from, which grows with the policies in force (scale) and those
# issued in the period (scale x months), at 9 bytes a policy plus sorting it once.
MEMORY_BASE = 310_000_000
MEMORY_CHUNK = 130_000_000
MEMORY_PER_SCALE = 40_000_000
MEMORY_PER_SCALE_MONTH = 600_000
MEMORY_DEFECT_FACTOR = 2.0
# The estimates are averages of a few runs; keep a tenth more free than they say.
MARGIN = 1.1


class GenerationRefused(Exception):
    """generate() wrote and deleted nothing; the message says why and what to do."""


def scale_problem(scale: float) -> str | None:
    """Why `scale` cannot be generated, or None."""
    if not 0 < scale <= SCALE_MAX:  # also false for nan
        return (
            f"must be more than 0 and at most {SCALE_MAX:g} (1 = a mid-size insurer), got {scale}"
        )
    return None


def months_problem(months: int) -> str | None:
    if not MONTHS_MIN <= months <= MONTHS_MAX:
        return f"must be a whole number from {MONTHS_MIN} to {MONTHS_MAX}, got {months}"
    return None


def defects_problem(defects: float) -> str | None:
    if not 0 <= defects < 1:  # also false for nan
        return f"must be a share of rows, at least 0 and below 1, got {defects}"
    return None


def seed_problem(seed: int) -> str | None:
    if seed < 0:
        return f"must be a whole number of 0 or more, got {seed}"
    return None


def check_arguments(scale: float, months: int, seed: int, defects: float) -> None:
    """ValueError naming the first argument out of bounds."""
    for name, problem in (
        ("scale", scale_problem(scale)),
        ("defects", defects_problem(defects)),
        ("seed", seed_problem(seed)),
        ("months", months_problem(months)),
    ):
        if problem:
            raise ValueError(f"{name} {problem}")


def estimate_bytes(scale: float, months: int, defects: float = 0.0) -> int:
    """Bytes of CSV a run writes (measurements above); defects add at most their share of rows."""
    events = scale * (BYTES_PER_SCALE_MONTH * months + BYTES_PER_SCALE)
    return math.ceil((events + BYTES_PER_MONTH * months + BYTES_FIXED) * (1 + defects))


def estimate_memory(scale: float, months: int, defects: float = 0.0) -> int:
    """Peak bytes of memory a run holds (measurements above)."""
    chunk = MEMORY_CHUNK * min(scale, 1.0) * (MEMORY_DEFECT_FACTOR if defects > 0 else 1.0)
    book = scale * (MEMORY_PER_SCALE + MEMORY_PER_SCALE_MONTH * months)
    return math.ceil(MEMORY_BASE + chunk + book)


def nearest_existing(path: Path) -> Path:
    """`path`, or the closest folder above it that exists (where its files would be stored)."""
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def human(size: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def check_disk(out: Path, needed: int) -> None:
    """GenerationRefused when the file system `out` is on has less than `needed` bytes free."""
    folder = nearest_existing(out)
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise GenerationRefused(
            f"not enough disk space for {out}: the run writes about {human(needed)} more than "
            f"the files it replaces, and the file system of {folder} has {human(free)} free. "
            "Nothing was written; choose a smaller --scale or --months, or another --out."
        )


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo, in bytes; None where the system does not say (not Linux)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_memory(needed: int, available: int | None) -> None:
    """GenerationRefused when `needed` bytes of memory exceed what is `available` (if known)."""
    if available is not None and needed > available:
        raise GenerationRefused(
            f"not enough memory: the run holds up to about {human(needed)}, and "
            f"{human(available)} is available. Nothing was written; choose a smaller --scale "
            "or --months."
        )


def check_resources(
    out: Path, scale: float, months: int, defects: float, reclaimable: int = 0
) -> None:
    """Refuse a run the disk or the memory cannot hold; `reclaimable` bytes of files it replaces."""
    needed = math.ceil(estimate_bytes(scale, months, defects) * MARGIN) - reclaimable
    check_disk(out, needed)
    check_memory(math.ceil(estimate_memory(scale, months, defects) * MARGIN), available_memory())
