"""The README's "For analysts" command, typed as written, on a snapshot the pipeline published."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb

README = Path(__file__).resolve().parents[1] / "README.md"
SNAPSHOT = "data/warehouse/opsvalue.duckdb"


def analyst_command() -> list[str]:
    """The first command of the README's "For analysts" section, split as a shell would."""
    section = README.read_text(encoding="utf-8").split("## For analysts", 1)[1]
    block = re.search(r"```bash\n(.+?)\n```", section, re.S)
    assert block, "the analysts' section shows a command"
    return shlex.split(block.group(1).strip())


def run_as_analyst(root: Path, sql: str) -> subprocess.CompletedProcess:
    """The README's command from a repository root holding `root`'s snapshot and this venv."""
    return subprocess.run(
        analyst_command(), cwd=root, input=sql, capture_output=True, text=True, timeout=120
    )


def analyst_root(tmp_path: Path, snapshot: Path) -> Path:
    """A folder laid out like the repository after the set-up: .venv and the published file."""
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    (tmp_path / SNAPSHOT).parent.mkdir(parents=True)
    (tmp_path / SNAPSHOT).symlink_to(snapshot)
    return tmp_path


def test_readme_analyst_command_names_the_published_snapshot():
    command = analyst_command()
    assert command == [".venv/bin/duckdb", "-readonly", SNAPSHOT]


def test_readme_analyst_command_reads_every_published_table(built, tmp_path):
    root = analyst_root(tmp_path, built.warehouse)
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() order by all"
        ).fetchall()
        counts = {
            f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0]
            for s, t in tables
        }
        kpis = con.execute(
            "select count(*), sum(value)::decimal(38, 6) from marts.fct_kpi_values"
        ).fetchone()
    assert counts["marts.fct_kpi_values"] > 0
    # every table whole (every column type the pipeline writes), then the KPI table's values
    sql = "".join(
        f"select '{name}' as t, count(*) as n from (select * from {name});\n" for name in counts
    )
    result = run_as_analyst(
        root,
        ".mode csv\n.headers off\n" + sql + "select count(*), sum(value)::decimal(38, 6) "
        "from marts.fct_kpi_values;\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Error" not in result.stderr, result.stderr
    lines = result.stdout.strip().splitlines()
    seen = dict(line.rsplit(",", 1) for line in lines[:-1])
    assert {name: int(n) for name, n in seen.items()} == counts
    assert lines[-1] == f"{kpis[0]},{kpis[1]}"


def test_readme_analyst_command_cannot_write_the_snapshot(built, tmp_path):
    root = analyst_root(tmp_path, built.warehouse)
    before = built.warehouse.read_bytes()
    result = run_as_analyst(root, "create table marts.scratch as select 1 as x;\n")
    assert "read-only" in (result.stdout + result.stderr).lower()
    assert built.warehouse.read_bytes() == before


def analyst_queries() -> list[str]:
    """Every SQL block of the README's "For analysts" section (up to the next section)."""
    section = README.read_text(encoding="utf-8").split("## For analysts", 1)[1]
    section = re.split(r"\n## ", section, maxsplit=1)[0]
    return re.findall(r"```sql\n(.+?)\n```", section, re.S)


def test_readme_analyst_queries_run_on_the_published_snapshot(built):
    queries = analyst_queries()
    assert len(queries) >= 6
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        for sql in queries:
            rows = con.execute(sql).fetchall()
            # the attribution queries read the latest month or every month: never empty
            if "fct_driver_attribution" in sql or "fct_kpi_standardised" in sql:
                assert rows, sql
