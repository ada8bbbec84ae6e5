"""Defect injection: a share of each source's rows damaged in the ways real extracts are.

Every defect is recorded (internal `_defect` column, then `_manifest/defects.csv`), so tests can
check that the pipeline ends each one as expectations/README.md documents.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from opsgen.org import Org
from opsgen.table import DefectTargets, Table
from opsgen.volumes import DAY, NA, BoolArray, IntArray, Period

DEFECT_KINDS = (
    "duplicate",
    "rekeyed_duplicate",
    "out_of_order",
    "negative_amount",
    "unit_scaled_amount",
    "unknown_org_code",
    "variant_org_code",
    "missing_handler",
    "mixed_date_format",
    "late_arriving",
    "future_date",
)
KIND_CODE = {kind: code for code, kind in enumerate(DEFECT_KINDS)}


def applicable_kinds(targets: DefectTargets, n_parts: int) -> list[str]:
    wanted = {
        "duplicate": True,
        "rekeyed_duplicate": targets.id_col is not None,
        "out_of_order": targets.order is not None,
        "negative_amount": bool(targets.amount_cols),
        "unit_scaled_amount": bool(targets.amount_cols),
        "unknown_org_code": bool(targets.org_cols),
        "variant_org_code": bool(targets.org_cols),
        "missing_handler": targets.handler_col is not None,
        "mixed_date_format": targets.primary_ts is not None,
        "late_arriving": targets.late and n_parts > 1,
        "future_date": targets.future_col is not None,
    }
    return [kind for kind in DEFECT_KINDS if wanted[kind]]


def eligible_rows(kind: str, table: Table, n_parts: int) -> BoolArray:
    cols, targets, n = table.cols, table.targets, len(table)
    if kind == "out_of_order" and targets.order:
        return (cols[targets.order[0]] != NA) & (cols[targets.order[1]] != NA)
    if kind in ("negative_amount", "unit_scaled_amount"):
        return cols[targets.amount_cols[-1]] > 0
    if kind == "missing_handler" and targets.handler_col:
        return cols[targets.handler_col] >= 0
    if kind == "mixed_date_format" and targets.primary_ts:
        return cols[targets.primary_ts] != NA
    if kind == "late_arriving":
        return (table.part >= 0) & (table.part < n_parts - 1)
    return np.ones(n, dtype=bool)


def damage(
    kind: str, rng: np.random.Generator, rows: IntArray, table: Table, org: Org, period: Period
) -> None:
    """Turn the chosen rows into defects of one kind, in place."""
    cols, targets, k = table.cols, table.targets, rows.size
    if kind == "out_of_order" and targets.order:
        earlier, late_col = targets.order
        cols[late_col][rows] = cols[earlier][rows] - rng.integers(60, 2 * DAY, k)
    elif kind in ("negative_amount", "unit_scaled_amount"):
        # The chosen column, or the always-filled last one where the chosen is empty or zero.
        last = len(targets.amount_cols) - 1
        which = rng.integers(0, last + 1, k)
        usable = np.zeros(k, dtype=bool)
        for j, col in enumerate(targets.amount_cols):
            usable |= (which == j) & (cols[col][rows] > 0)
        which = np.where(usable, which, last)
        if kind == "negative_amount":
            factor = np.full(k, -1.0)
        else:  # in fen (x100) or in 10k yuan (/10 000)
            factor = np.where(rng.random(k) < 0.5, 100.0, 1e-4)
        for j, col in enumerate(targets.amount_cols):
            hit = rows[which == j]
            cols[col][hit] = np.round(cols[col][hit] * factor[which == j], 2)
    elif kind in ("unknown_org_code", "variant_org_code"):
        col = targets.org_cols[0]
        unit = org.canonical[cols[col][rows]]
        forms = org.unknowns if kind == "unknown_org_code" else org.variants
        cols[col][rows] = forms[unit, rng.integers(0, forms.shape[1], k)]
    elif kind == "missing_handler" and targets.handler_col:
        cols[targets.handler_col][rows] = rng.choice([-2, -3, -4], k)
    elif kind == "mixed_date_format" and targets.primary_ts:
        fmt = cols.setdefault(f"_fmt_{targets.primary_ts}", np.zeros(len(table), dtype=np.int8))
        fmt[rows] = rng.integers(1, 4, k)
    elif kind == "late_arriving":
        two = (table.part[rows] + 2 < period.months) & (rng.random(k) < 0.3)
        table.part[rows] += np.where(two, 2, 1)
    elif kind == "future_date" and targets.future_col:
        cols[targets.future_col][rows] = period.extraction + rng.integers(DAY, 730 * DAY, k)


def with_copies(
    table: Table, defect: npt.NDArray[np.int8], dup: IntArray, rekey: IntArray, next_id: int
) -> Table:
    """Append the duplicate rows next to their originals and move late rows to their new file.

    Late rows go to the end of the later file (appended by a later extraction); re-keyed copies
    are numbered from `next_id`, the source's first unused id.
    """
    n = len(table)
    rows = np.arange(n)
    late = defect == KIND_CODE["late_arriving"]
    position = np.concatenate(
        [np.where(late, 2 * (n + rows), 2 * rows), 2 * dup + 1, 2 * rekey + 1]
    )
    out = table.take(np.concatenate([rows, dup, rekey]))
    out.cols["_defect"] = np.concatenate(
        [
            defect,
            np.full(dup.size, KIND_CODE["duplicate"], dtype=np.int8),
            np.full(rekey.size, KIND_CODE["rekeyed_duplicate"], dtype=np.int8),
        ]
    )
    if rekey.size and table.targets.id_col:
        ids = out.cols[table.targets.id_col]
        ids[n + dup.size :] = next_id + np.arange(rekey.size)
    return out.take(np.lexsort((position, out.part)))


class Quota:
    """How many defects of each kind a source's next chunk gets.

    A source gets about `rate` of its rows as defects, split evenly over the kinds that fit it,
    at least one in all: the count due to each kind grows with the rows seen so far, and each
    kind's fraction of a defect is rounded at a random point drawn once per source (so small
    sources do not always get the same kinds), whatever the number of chunks.
    """

    def __init__(self, rng: np.random.Generator, kinds: list[str], rate: float) -> None:
        self.kinds, self.rate = kinds, rate
        self.offset = rng.random(len(kinds))
        self.given = np.zeros(len(kinds), dtype=np.int64)
        self.rows = 0

    def next(self, rows: int) -> IntArray:
        self.rows += rows
        due = np.floor(self.rate * self.rows / len(self.kinds) + self.offset).astype(np.int64)
        if rows and not due.any() and not self.given.any():
            due[np.argmax(self.offset)] = 1  # at least one defect per source
        return np.maximum(due - self.given, 0)

    def record(self, defect: npt.NDArray[np.int8]) -> None:
        """Count what a chunk got (a chunk can hold fewer eligible rows than were due)."""
        codes = np.bincount(defect[defect >= 0], minlength=len(DEFECT_KINDS))
        self.given += codes[[KIND_CODE[k] for k in self.kinds]]


def inject_defects(
    rng: np.random.Generator,
    table: Table,
    quota: Quota,
    org: Org,
    period: Period,
    next_id: int,
) -> Table:
    """Defects in a chunk of a source, as many of each kind as `quota` says are due.

    Each row carries at most one. The kind is kept in the internal `_defect` column for the
    manifest. Re-keyed duplicates are numbered from `next_id`.
    """
    n = len(table)
    table = Table(
        {k: v.copy() for k, v in table.cols.items()},
        table.part.copy(),
        table.cats,
        table.exprs,
        table.targets,
    )
    per_kind = quota.next(n)
    taken = np.zeros(n, dtype=bool)
    defect = np.full(n, -1, dtype=np.int8)
    copies = {"duplicate": np.empty(0, np.int64), "rekeyed_duplicate": np.empty(0, np.int64)}
    for kind, wanted in zip(quota.kinds, per_kind, strict=True):
        pool = np.flatnonzero(eligible_rows(kind, table, period.months) & ~taken)
        rows = np.sort(rng.choice(pool, min(wanted, pool.size), replace=False))
        taken[rows] = True
        if kind in copies:
            copies[kind] = rows
            continue
        defect[rows] = KIND_CODE[kind]
        damage(kind, rng, rows, table, org, period)
    out = with_copies(table, defect, copies["duplicate"], copies["rekeyed_duplicate"], next_id)
    quota.record(out.cols["_defect"])
    return out
