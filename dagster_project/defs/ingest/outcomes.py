"""What the door decides about a file, and what it needs besides the files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_project.defs.ingest.ledger import FileVersion
from dagster_project.defs.ingest.rules.suite import Suite


class RejectedFile(Exception):
    """A batch the gate holds back whole: the rule it broke and how many rows it had."""

    def __init__(
        self,
        rule: str,
        message: str,
        rows: int | None = None,
        evidence: dict[str, dict[str, int]] | None = None,
    ) -> None:
        super().__init__(message)
        self.rule = rule
        self.rows = rows
        self.evidence = evidence or {}


class DeliveryFailed(Exception):
    """The new files of a source cannot be committed together (a database error inside the
    transaction, or GX disagreeing with the door): each file is then loaded on its own."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass
class FileOutcome:
    path: str
    status: str  # loaded | unchanged | rejected
    rows: int = 0  # rows loaded into raw
    message: str = ""
    rows_delivered: int | None = 0
    rows_quarantined: int = 0
    rows_flagged: int = 0
    rows_rejected: int | None = 0
    rule: str | None = None  # the rule that rejected the batch
    batch_id: str = ""
    rule_counts: dict[str, int] = field(default_factory=dict)
    replaces: bool = False  # loaded over an earlier loaded version of the same path


@dataclass
class SourceLoadReport:
    source: str
    table: str
    files: list[FileOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def replaced(self) -> int:
        """Files loaded over an earlier version of themselves."""
        return sum(1 for f in self.files if f.status == "loaded" and f.replaces)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows for f in self.files if f.status == "loaded")

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files if f.status == "loaded")

    @property
    def changed(self) -> bool:
        return any(f.status == "loaded" for f in self.files)

    @property
    def batches(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status != "unchanged"]


@dataclass(frozen=True)
class Gate:
    """What the door needs besides the files: the suite, its parameters, where rejects are kept."""

    suite: Suite | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    key: tuple[str, ...] = ()
    rejected_dir: Path | None = None
    gx_sample_rows: int = 2_000
    gx_chunk_rows: int = 200_000


@dataclass(frozen=True)
class Pending:
    """A new or changed file waiting for the door."""

    path: Path
    rel_path: str
    digest: str
    stat: Any
    previous: FileVersion | None  # the ledger's newest version of the same path
    twin: str | None  # an already loaded file of the source with the same bytes
    refusal: RejectedFile | None = None  # a link: refused without reading what it points to
    scan: Any = None  # files.Scan of the whole file (hash, NUL, UTF-8); None for a link
