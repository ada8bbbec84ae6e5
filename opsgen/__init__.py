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

Everything is vectorised with numpy (one generator per source, derived from the seed, so the
output is byte-identical for a given seed) and written by DuckDB `COPY` (`opsgen.writer`).

Modules: `org` (the fixed organisation), `volumes` (calendar, rhythms, volumes, sampling),
`sources/` (one builder per source, by family), `defects`, `writer`, `generator` (generate()),
`split` (cut the last day off generated extracts, for refresh tests and benchmarks).
"""

from opsgen.defects import DEFECT_KINDS
from opsgen.generator import GenerateResult, generate
from opsgen.split import DayDelivery, daily_event_columns, split_last_day
from opsgen.table import DefectTargets, Table
from opsgen.writer import select_sql

__all__ = [
    "DEFECT_KINDS",
    "DayDelivery",
    "DefectTargets",
    "GenerateResult",
    "Table",
    "daily_event_columns",
    "generate",
    "select_sql",
    "split_last_day",
]
