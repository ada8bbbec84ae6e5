"""A source as builders hand it to the writer: internal columns, file partition, defect targets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from opsgen.volumes import IntArray


@dataclass(frozen=True)
class DefectTargets:
    """Where a source can carry each defect kind."""

    id_col: str | None = None  # a single generated key: re-keyed duplicates possible
    org_cols: tuple[str, ...] = ()
    amount_cols: tuple[str, ...] = ()
    primary_ts: str | None = None  # mixed date formats go here
    order: tuple[str, str] | None = None  # (earlier, later): out_of_order puts later first
    future_col: str | None = None
    handler_col: str | None = None
    late: bool = False


def life_cycle_targets(
    id_col: str, start: str, end: str, future: str | None = None
) -> DefectTargets:
    """Targets of a source whose records start at `start` and end later at `end`.

    Such a record can carry every kind but the amount and handler ones: keyed by `id_col`, sent
    under an org code, out of order between start and end, dated in the future at `future`
    (`end` unless named), and late.
    """
    return DefectTargets(
        id_col=id_col,
        org_cols=("org_code",),
        primary_ts=start,
        order=(start, end),
        future_col=future or end,
        late=True,
    )


@dataclass
class Table:
    """Internal columns of one source, one row per record, rows in file order.

    Timestamps and dates are int64 epoch seconds (NA = empty); `cats` columns hold codes into a
    category list; `exprs` are SQL expressions for contract columns built from internal ones (ids).
    `part` is the file index of each row: a month of the period, or -1 for the initial file.
    """

    cols: dict[str, np.ndarray]
    part: IntArray
    cats: dict[str, Sequence[str]] = field(default_factory=dict)
    exprs: dict[str, str] = field(default_factory=dict)
    targets: DefectTargets = field(default_factory=DefectTargets)

    def __len__(self) -> int:
        return int(self.part.size)

    def take(self, rows: IntArray) -> Table:
        return Table(
            {k: v[rows] for k, v in self.cols.items()},
            self.part[rows],
            self.cats,
            self.exprs,
            self.targets,
        )


@dataclass(frozen=True)
class Stream:
    """A source as the writer receives it: tables in file order, built one at a time.

    `ids` is how many records the source numbers (its next free id: re-keyed duplicates start
    there). A chunk's rows belong to one file, except late-arriving defects (a later file).
    """

    chunks: Iterable[Table]
    ids: int

    @classmethod
    def whole(cls, table: Table) -> Stream:
        """A small source built at once (master data, staffing, costs, complaints)."""
        return cls([table], len(table))


def id_sql(column: str, prefix: str, width: int) -> str:
    """A key written as prefix + zero-padded number; negative numbers are empty."""
    q = f'"{column}"'
    number = f"CAST({q} + 1 AS VARCHAR)"  # numbered from 1
    return f"CASE WHEN {q} >= 0 THEN '{prefix}' || lpad({number}, {width}, '0') END"
