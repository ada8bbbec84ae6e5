"""The benchmark's input: generated once per scale and months, with its last day split off.

`opsvalue generate` writes one file per month per source (`claims/claims_2026-10.csv`), so "one
more day" has to be cut out of the newest month. For every source delivered daily (contract
`delivery_cadence: daily`), the rows of the newest month file whose event time (the suite's
`event_time_column`, the time the generator partitions by: claims by reported_at, contacts by
arrived_at, ...) falls on the last day of the data move to a file of their own,
`<source>_<YYYY-MM-DD>.csv`, and the month file is rewritten without them. Together the files
hold exactly the generated rows, so the floor and the full pipeline read all of them; the
incremental refresh starts from a full load without the day files and then receives them, as a
department delivering the day's new records. Sources delivered monthly (policies, org master,
staffing, costs) are not split. The day's life-cycle updates to older records (a claim reported
earlier and paid on the last day) stay in the full load: the contract delivers a record once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import opsgen
from dagster_project.defs.ingest.files import list_extract_files, source_folders

DATASET_FILE = "dataset.json"
LATE_ROWS = 3  # records of the month before that arrive with the day (late arrivals)


@dataclass
class DayFile:
    source: str
    path: str  # relative to the raw folder
    month_file: str
    rows: int
    bytes: int


@dataclass
class Dataset:
    """What was generated, and how the last day was split off."""

    scale: float
    months: int
    seed: int
    raw_dir: str
    last_day: str | None
    day_files: list[DayFile] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    files: int = 0
    generate_seconds: float | None = None

    @property
    def day_paths(self) -> set[str]:
        return {d.path for d in self.day_files}

    def to_json(self) -> dict:
        return {
            **asdict(self),
            "rows_total": sum(self.rows.values()),
            "bytes_total": sum(self.bytes.values()),
            "day_rows": sum(d.rows for d in self.day_files),
            "day_bytes": sum(d.bytes for d in self.day_files),
        }

    @classmethod
    def from_json(cls, doc: dict) -> Dataset:
        fields = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        fields["day_files"] = [DayFile(**d) for d in doc.get("day_files", [])]
        return cls(**fields)


def split_last_day(raw_dir: Path) -> tuple[str | None, list[DayFile]]:
    """Cut the last day (plus a few late records of the month before) out of the extracts, into
    `<source>/<source>_<day>.csv` beside the month files (opsgen.split_last_day)."""
    delivery = opsgen.split_last_day(raw_dir, raw_dir, late_rows=LATE_ROWS)
    day_files = [
        DayFile(
            source=source,
            path=path.relative_to(raw_dir).as_posix(),
            month_file=delivery.month_files[source].relative_to(raw_dir).as_posix(),
            rows=delivery.rows[source],
            bytes=path.stat().st_size,
        )
        for source, path in sorted(delivery.files.items())
    ]
    return delivery.day or None, day_files


def count_input(raw_dir: Path) -> tuple[dict[str, int], dict[str, int], int]:
    """Rows (lines after the header) and bytes per source, and the number of files."""
    rows: dict[str, int] = {}
    sizes: dict[str, int] = {}
    files = 0
    for folder in source_folders(raw_dir):
        for path in list_extract_files(folder):
            files += 1
            sizes[folder.name] = sizes.get(folder.name, 0) + path.stat().st_size
            with path.open("rb") as fh:
                lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
            rows[folder.name] = rows.get(folder.name, 0) + max(lines - 1, 0)
    return rows, sizes, files


def prepare(workdir: Path, scale: float, months: int, seed: int) -> Dataset:
    """The dataset under `workdir/raw`: reused when it was made with these arguments."""
    raw_dir = workdir / "raw"
    record = workdir / DATASET_FILE
    if record.exists() and raw_dir.is_dir():
        dataset = Dataset.from_json(json.loads(record.read_text(encoding="utf-8")))
        if (dataset.scale, dataset.months, dataset.seed) == (scale, months, seed):
            return dataset
    record.unlink(missing_ok=True)
    shutil.rmtree(raw_dir, ignore_errors=True)
    command = [sys.executable, "-m", "dagster_project.cli", "generate", "--out", str(raw_dir)]
    command += ["--scale", str(scale), "--months", str(months), "--seed", str(seed)]
    command += ["--defects", "0"]  # the floor reads clean extracts only
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    seconds = time.perf_counter() - started
    day, day_files = split_last_day(raw_dir)
    rows, sizes, files = count_input(raw_dir)
    dataset = Dataset(
        scale=scale,
        months=months,
        seed=seed,
        raw_dir=str(raw_dir),
        last_day=day,
        day_files=day_files,
        rows=rows,
        bytes=sizes,
        files=files,
        generate_seconds=round(seconds, 2),
    )
    # written last: a dataset without its record is regenerated, never half reused
    record.write_text(json.dumps(dataset.to_json(), indent=2) + "\n", encoding="utf-8")
    return dataset
