"""opsgen: demo extracts in the input contract's shape (a mid-size Chinese insurance group).

A client of the input contract, as a departmental system is: no asset of the pipeline imports it;
the `opsvalue generate` and `opsvalue demo` commands, the benchmarks and the tests call it.
`generate()` writes one folder per source under `out`, in the layout of `data/raw/README.md`:

- `<source>/<source>_<YYYY-MM>.csv`, one file per month of the period, for the monthly partitioned
  sources (claims by reported_at, contacts by arrived_at, ..., staffing and op_costs by month);
- `policies/policies_initial.csv` for the policies issued before the period, then monthly files;
- `org_units/org_units.csv`, `org_aliases/org_aliases.csv`, `centers/centers.csv`,
  `project_milestones/project_milestones.csv` as single files;
- `_manifest/defects.csv` (source, file, record_key, defect_kind): one row per injected defect. It
  is always written; with `defects=0` it holds the header only.

The period is the `months` months ending with `end_month`; the extraction moment is the first
second of the following month, and life-cycle timestamps after it are empty (open work).

Everything is vectorised with numpy and written by DuckDB `COPY` (`opsgen.writer`), chunk by
chunk: a source is a stream of chunks of at most `volumes.CHUNK_ROWS` records, each from a random
generator derived from the seed and the chunk's first day, so the output is byte-identical for a
given seed and memory does not grow with the scale (issue 18).

Modules: `org` (the fixed organisation), `volumes` (calendar, rhythms, volumes, sampling, chunks),
`context` (what builders receive; a source as a stream of chunks), `sources/` (one builder per
source, by family), `defects`, `writer`, `generator` (generate()),
`split` (cut the last day off generated extracts, for refresh tests and benchmarks).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what __getattr__ below returns, for editors and type checkers
    from opsgen.defects import DEFECT_KINDS as DEFECT_KINDS
    from opsgen.generator import GenerateResult as GenerateResult
    from opsgen.generator import generate as generate
    from opsgen.split import DayDelivery as DayDelivery
    from opsgen.split import daily_event_columns as daily_event_columns
    from opsgen.split import split_last_day as split_last_day
    from opsgen.table import DefectTargets as DefectTargets
    from opsgen.table import Table as Table
    from opsgen.writer import select_sql as select_sql

# Loaded on first use (PEP 562): the `opsvalue` command reads the generator's bounds
# (opsgen.guard) at every start, and the generator itself loads pandas and DuckDB (0.4 s).
_HOMES = {
    "DEFECT_KINDS": "opsgen.defects",
    "DayDelivery": "opsgen.split",
    "DefectTargets": "opsgen.table",
    "GenerateResult": "opsgen.generator",
    "Table": "opsgen.table",
    "daily_event_columns": "opsgen.split",
    "generate": "opsgen.generator",
    "select_sql": "opsgen.writer",
    "split_last_day": "opsgen.split",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'opsgen' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
