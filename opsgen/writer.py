"""Writing: each source's table to CSV files through DuckDB `COPY`, and the defect manifest.

Columns are selected and cast in the order and types of the input contract
(`contract_columns()`), never listed here a second time: a contract column the generator does
not produce fails loudly.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dagster_project.core.contract import contract_columns, source_meta
from opsgen.context import Context
from opsgen.defects import DEFECT_KINDS, KIND_CODE, Quota, applicable_kinds, inject_defects
from opsgen.org import ALIAS_USE, apply_aliases
from opsgen.table import Stream, Table
from opsgen.volumes import DAY, IntArray, Period, rng_for

if TYPE_CHECKING:  # for the annotation only: opsgen.marker imports MANIFEST_DIR from here
    from opsgen.marker import Marker

MANIFEST_DIR = "_manifest"
MANIFEST_FILE = "defects.csv"
SINGLE_FILE = frozenset({"org_units", "org_aliases", "centers", "project_milestones"})
PART_SUFFIX = ".part"
# Sources with a file of the records from before the period (part -1).
INITIAL_FILE = frozenset({"policies"})
# The org master and the centers stay clean: every other source is mapped through them.
NO_DEFECTS = frozenset({"org_units", "org_aliases", "centers"})
COPY_OPTIONS = "DELIMITER ',', TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S', DATEFORMAT '%Y-%m-%d'"
# Formats 1-3 of the mixed-date-format defect: US style, slashes without seconds, Excel serial.
MIXED_TIMESTAMP = (
    "'%Y-%m-%d %H:%M:%S'",
    "'%m/%d/%Y %H:%M:%S'",
    "'%Y/%-m/%-d %H:%M'",
)
MIXED_DATE = ("'%Y-%m-%d'", "'%m/%d/%Y'", "'%Y/%-m/%-d'")
EXCEL_EPOCH_OFFSET_DAYS = 25_569  # 1970-01-01 as an Excel serial day


def mixed_format_sql(column: str, fmt: str, data_type: str) -> str:
    """A timestamp or date written as text, in the format its `_fmt_` column names."""
    if data_type == "date":
        value = f"CAST({column} AS DATE)"
        excel = (
            f"CAST(CAST(epoch({value}) // {DAY} AS BIGINT) + {EXCEL_EPOCH_OFFSET_DAYS} AS VARCHAR)"
        )
        formats = MIXED_DATE
    else:
        value = f"CAST({column} AS TIMESTAMP)"
        excel = f"printf('%.6f', epoch({value}) / {DAY} + {EXCEL_EPOCH_OFFSET_DAYS})"
        formats = MIXED_TIMESTAMP
    cases = " ".join(f"WHEN {i} THEN strftime({value}, {f})" for i, f in enumerate(formats))
    return f"CASE {fmt} {cases} WHEN 3 THEN {excel} END"


def column_sql(name: str, data_type: str, table: Table, source: str) -> str:
    """SQL for one contract column, cast to the contract's type."""
    if name in table.exprs:
        return table.exprs[name]
    if name not in table.cols:
        raise KeyError(f"{source}: the generator produces no column {name!r} of the contract")
    q = f'"{name}"'
    if data_type in ("timestamp", "date") and f"_fmt_{name}" in table.cols:
        return mixed_format_sql(q, f'"_fmt_{name}"', data_type)
    if data_type == "varchar":
        if name not in table.cats:
            raise TypeError(f"{source}.{name}: text columns need categories or an expression")
        return f"CAST({q} AS VARCHAR)"
    if data_type == "boolean" and table.cols[name].dtype != np.bool_:
        return f"CAST(NULLIF({q}, -1) AS BOOLEAN)"  # -1 = empty
    return f"CAST({q} AS {data_type.upper()})"


def select_sql(table: Table, columns: Sequence[tuple[str, str]], source: str) -> str:
    exprs = [f'{column_sql(n, t, table, source)} AS "{n}"' for n, t in columns]
    return "SELECT " + ", ".join(exprs) + " FROM frame"


def key_sql(
    table: Table, columns: Sequence[tuple[str, str]], key: Sequence[str], source: str
) -> str:
    """The record key as written in the file; composite keys joined with '|'."""
    types = dict(columns)
    parts = [f"CAST({column_sql(k, types[k], table, source)} AS VARCHAR)" for k in key]
    return parts[0] if len(parts) == 1 else f"concat_ws('|', {', '.join(parts)})"


def to_frame(
    table: Table, lo: int, hi: int, types: dict[str, str], first_row: int = 0
) -> pd.DataFrame:
    """Rows lo:hi as a DataFrame DuckDB can scan: categories, datetime64 and plain numbers;
    `_row` numbers them in their file from `first_row`."""
    data: dict[str, object] = {}
    for name, values in table.cols.items():
        part = values[lo:hi]
        if name in table.cats:
            data[name] = pd.Categorical.from_codes(part, categories=list(table.cats[name]))
        elif types.get(name) in ("timestamp", "date"):
            data[name] = part.view("datetime64[s]")
        else:
            data[name] = part
    data["_row"] = first_row + np.arange(hi - lo)
    return pd.DataFrame(data, copy=False)


def file_names(source: str, period: Period) -> dict[int, str]:
    """File of each partition: one per month, plus `<source>_initial.csv` for part -1."""
    if source in SINGLE_FILE:
        return {0: f"{source}.csv"}
    names = {m: f"{source}_{label}.csv" for m, label in enumerate(period.labels)}
    if source in INITIAL_FILE:
        return {-1: f"{source}_initial.csv", **names}
    return names


def sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def part_path(path: Path) -> Path:
    """Where a later chunk of `path` is written before it is added to its end: a hidden file
    beside it, removed once copied. Only a run killed mid-chunk leaves one behind, which the
    marker then counts as the generator's own (marker.sort_files)."""
    return path.with_name(f".{path.name}{PART_SUFFIX}")


def part_runs(part: IntArray) -> list[tuple[int, int, int]]:
    """(part, lo, hi) of each run of equal parts, in row order."""
    cuts = np.flatnonzero(np.diff(part)) + 1
    bounds = np.concatenate([[0], cuts, [part.size]])
    pairs = zip(bounds[:-1], bounds[1:], strict=True)
    return [(int(part[lo]), int(lo), int(hi)) for lo, hi in pairs if hi > lo]


@dataclass
class OpenFile:
    """The file being written: rows go in at its end, chunk by chunk."""

    number: int  # its place among the run's files: the manifest's order
    path: Path
    rows: int = 0
    started: bool = False


class Writer:
    """Writes sources file by file and collects the defect manifest; `marker` lists each file.

    A source arrives as a Stream of chunks in file order; each chunk is given its aliases and
    defects, written at the end of its file and dropped, so the writer holds one chunk at a time
    (plus the late-arriving rows waiting for a later file).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        out: Path,
        ctx: Context,
        progress: Progress,
        rate: float,
        seed: int,
        marker: Marker,
    ) -> None:
        self.con, self.out, self.ctx, self.progress = con, out, ctx, progress
        self.rate, self.seed, self.marker = rate, seed, marker
        self.contract = contract_columns()
        self.keys = {name: meta.key for name, meta in source_meta().items()}
        self.files: list[Path] = []
        self.rows: dict[str, int] = {}
        self.defects = 0
        con.execute(
            "CREATE TABLE manifest (file_no INTEGER, row_no BIGINT, source VARCHAR, "
            "file VARCHAR, record_key VARCHAR, defect_kind VARCHAR)"
        )

    def run(self, source: str, build: Callable[[], Stream]) -> None:
        if source not in self.contract:
            raise KeyError(f"{source!r} is not a source of the input contract")
        names = file_names(source, self.ctx.period)
        task = self.progress.add_task(source, total=len(names), rows=0)
        folder = self.out / source
        folder.mkdir(parents=True, exist_ok=True)
        stale = [p for p in sorted(folder.glob(f"{source}_*.csv")) if p.name not in names.values()]
        # the chunks a killed run left beside its files (check_folder counted them as ours)
        stale += [
            p
            for p in sorted(folder.glob(f".{source}_*{PART_SUFFIX}"))
            if self.marker.name(p) in self.marker.files
        ]
        for path in stale:
            path.unlink()
        self.marker.forget(stale)
        self.marker.start(folder / name for name in names.values())
        self.rows[source] = 0
        stream = build()
        next_id = stream.ids
        parts = iter(names.items())
        current: tuple[int, OpenFile] | None = None
        late: dict[int, list[Table]] = {}
        empty: Table | None = None
        quota: Quota | None = None

        def close() -> None:
            part, file = current  # type: ignore[misc]
            for table in late.pop(part, []):
                self.append(source, table, file)
            if not file.started:
                self.append(source, empty, file)  # type: ignore[arg-type]  # the header only
            self.progress.update(task, advance=1, rows=self.rows[source])

        def advance(to: int) -> OpenFile:
            nonlocal current
            while current is None or current[0] < to:
                if current is not None:
                    close()
                part, name = next(parts)
                current = (part, OpenFile(len(self.files), folder / name))
                self.files.append(current[1].path)
            return current[1]

        for index, table in enumerate(stream.chunks):
            if source in ALIAS_USE:
                rng = rng_for(self.seed, source, "aliases", str(index))
                apply_aliases(rng, table, self.ctx.org, ALIAS_USE[source])
            if self.rate > 0 and source not in NO_DEFECTS:
                if quota is None:
                    kinds = applicable_kinds(table.targets, self.ctx.period.months)
                    quota = Quota(rng_for(self.seed, source, "defects"), kinds, self.rate)
                rng = rng_for(self.seed, source, "defects", str(index))
                table = inject_defects(rng, table, quota, self.ctx.org, self.ctx.period, next_id)
                next_id += int((table.cols["_defect"] == KIND_CODE["rekeyed_duplicate"]).sum())
            if empty is None:
                empty = table.take(np.empty(0, dtype=np.int64))
            is_late = (
                table.cols["_defect"] == KIND_CODE["late_arriving"]
                if "_defect" in table.cols
                else np.zeros(len(table), dtype=bool)
            )
            if is_late.any():
                moved = table.take(np.flatnonzero(is_late))
                for part, lo, hi in part_runs(moved.part):
                    late.setdefault(part, []).append(moved.take(np.arange(lo, hi)))
                table = table.take(np.flatnonzero(~is_late))
            for part, lo, hi in part_runs(table.part):
                self.append(source, table.take(np.arange(lo, hi)), advance(part))
        advance(max(names))  # the files no chunk reached hold the header only
        close()
        self.marker.record(folder / name for name in names.values())

    def append(self, source: str, table: Table, file: OpenFile) -> None:
        """Write `table` at the end of `file`: DuckDB's COPY cannot append, so a later chunk is
        copied to a part file beside it and added to its end."""
        columns = self.contract[source]
        target = file.path if not file.started else part_path(file.path)
        header = "true" if not file.started else "false"
        self.con.register("frame", to_frame(table, 0, len(table), dict(columns), file.rows))
        try:
            self.con.execute(
                f"COPY ({select_sql(table, columns, source)}) TO {sql_path(target)} "
                f"(HEADER {header}, {COPY_OPTIONS})"
            )
            if "_defect" in table.cols and (table.cols["_defect"] >= 0).any():
                kinds = "[" + ", ".join(f"'{k}'" for k in DEFECT_KINDS) + "]"
                key = key_sql(table, columns, self.keys[source], source)
                self.con.execute(
                    f"INSERT INTO manifest SELECT ?, _row, ?, ?, {key}, {kinds}[_defect + 1] "
                    "FROM frame WHERE _defect >= 0",
                    [file.number, source, file.path.relative_to(self.out).as_posix()],
                )
        finally:
            self.con.unregister("frame")
        if target != file.path:
            try:
                with target.open("rb") as part, file.path.open("ab") as whole:
                    shutil.copyfileobj(part, whole, 1 << 20)
            finally:
                target.unlink()
        file.started = True
        file.rows += len(table)
        self.rows[source] += len(table)

    def finish(self) -> Path:
        """Write the manifest (header only when clean) and check every source was written."""
        missing = sorted(set(self.contract) - set(self.rows))
        if missing:
            raise KeyError(f"the generator wrote no files for contract sources {missing}")
        folder = self.out / MANIFEST_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / MANIFEST_FILE
        self.marker.start([path])
        self.con.execute(
            "COPY (SELECT source, file, record_key, defect_kind FROM manifest "
            f"ORDER BY file_no, row_no) TO {sql_path(path)} (HEADER)"
        )
        self.marker.record([path])
        self.defects = int(self.con.execute("SELECT count(*) FROM manifest").fetchone()[0])
        return path


def progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rows]:>12,} rows"),
        TimeElapsedColumn(),
        disable=not enabled,
    )
