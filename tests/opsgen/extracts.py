"""Tiny generated extracts for the opsgen tests: the settings they are written with, and readers."""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

from opsgen import generate

SCALE = 0.002
MONTHS = 3
END_MONTH = "2026-10"
LABELS = ["2026-08", "2026-09", "2026-10"]
EXTRACTION = "2026-11-01 00:00:00"
DEFECT_RATE = 0.1
SINGLE_FILE = {"org_units", "org_aliases", "centers", "project_milestones"}
# The timestamp each monthly file is partitioned by.
PRIMARY = {
    "applications": "received_at",
    "claims": "reported_at",
    "complaints": "received_at",
    "contacts": "arrived_at",
    "endorsements": "requested_at",
    "nps_responses": "responded_at",
    "op_costs": "month",
    "policies": "issued_date",
    "rpa_runs": "started_at",
    "staffing": "month",
    "tasks": "created_at",
}
# (earlier, later) life-cycle pairs that clean data never reverses.
ORDERED = {
    "claims": [
        ("reported_at", "registered_at"),
        ("registered_at", "approved_at"),
        ("approved_at", "paid_at"),
        ("paid_at", "closed_at"),
        ("approved_at", "closed_at"),
        ("closed_at", "reopened_at"),
    ],
    "contacts": [("arrived_at", "answered_at"), ("arrived_at", "abandoned_at")],
    "applications": [("received_at", "decided_at"), ("decided_at", "issued_at")],
    "endorsements": [("requested_at", "completed_at")],
    "tasks": [("created_at", "assigned_at"), ("assigned_at", "completed_at")],
    "complaints": [("received_at", "closed_at")],
    "rpa_runs": [("started_at", "ended_at")],
    "policies": [("issued_date", "terminated_date")],
}
# Deadlines and plans may lie after the extraction; events may not.
DEADLINES = {"due_at", "sla_due_at", "due_date"}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def read_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as f:
        return next(csv.reader(f))


def source_rows(out: Path, source: str) -> list[dict[str, str]]:
    return [row for path in sorted((out / source).glob("*.csv")) for row in read_rows(path)]


def file_hashes(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*.csv"))
    }


def record_key(row: dict[str, str], key: tuple[str, ...]) -> str:
    return "|".join(row[k] for k in key)


def run(
    out: Path, seed: int = 42, defects: float = 0.0, months: int = MONTHS, force: bool = False
) -> Path:
    generate(
        out=out,
        scale=SCALE,
        months=months,
        seed=seed,
        defects=defects,
        end_month=END_MONTH,
        progress=False,
        force=force,
    )
    return out
