"""The package's shape: no import cycles, and each `meta` table queried only by its owner.

Run alone as the check the layout promises: `python -m pytest tests/test_architecture.py`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dagster_project"
ROOT = PACKAGE.parent

# The one module that holds each table's DDL and every query on it.
META_OWNERS = {
    "meta.file_ledger": "dagster_project.defs.ingest.ledger",
    "meta.batch_rule_counts": "dagster_project.defs.ingest.results",
    "meta.validation_results": "dagster_project.defs.ingest.results",
    "meta.row_flags": "dagster_project.defs.ingest.results",
    "meta.source_gate_state": "dagster_project.defs.ingest.gate_state",
    "meta.withdrawals": "dagster_project.defs.ingest.withdrawals",
    "meta.stale_metrics": "dagster_project.defs.ingest.gate_state",
    "meta.unread_files": "dagster_project.defs.ingest.unread",
    "meta.kpi_holds": "dagster_project.defs.checks.holds",
    "meta.publication": "dagster_project.defs.publish.records",
    "meta.pipeline_state": "dagster_project.core.state",
}
# The owners' names for their tables: importing one elsewhere is writing SQL against it.
TABLE_CONSTANTS = {
    "LEDGER_TABLE": "dagster_project.defs.ingest.ledger",
    "RULE_COUNTS_TABLE": "dagster_project.defs.ingest.results",
    "RESULTS_TABLE": "dagster_project.defs.ingest.results",
    "FLAGS_TABLE": "dagster_project.defs.ingest.results",
    "GATE_STATE_TABLE": "dagster_project.defs.ingest.gate_state",
    "WITHDRAWALS_TABLE": "dagster_project.defs.ingest.withdrawals",
    "STALE_METRICS_VIEW": "dagster_project.defs.ingest.gate_state",
    "UNREAD_TABLE": "dagster_project.defs.ingest.unread",
    "HOLDS_TABLE": "dagster_project.defs.checks.holds",
    "PUBLICATION_TABLE": "dagster_project.defs.publish.records",
    "STATE_TABLE": "dagster_project.core.state",
}
SQL_WORDS = re.compile(r"\b(select|insert|update|delete|create|alter|from|join|into)\b", re.I)


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:` (imports for annotations only)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            continue
        yield node
        yield from _runtime_nodes(node)


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules a module imports at run time, at any depth in its code."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                target = f"{base}.{alias.name}"
                out.add(target if target in known else base)
    return {m for m in out if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def meta_sql_outside_owners() -> list[str]:
    """`module: table` for every SQL text naming a meta table outside the table's owner, and
    every import of an owner's table-name constant by another module."""
    problems = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
            ):
                text = node.value
                for table, owner in META_OWNERS.items():
                    if table in text and SQL_WORDS.search(text) and name != owner:
                        problems.append(f"{name}: SQL on {table} (owner {owner})")
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    owner = TABLE_CONSTANTS.get(alias.name)
                    if owner and node.module == owner and name != owner:
                        problems.append(f"{name}: imports {alias.name} from {owner}")
            if isinstance(node, ast.Attribute) and node.attr in TABLE_CONSTANTS:
                owner = TABLE_CONSTANTS[node.attr]
                if name != owner:
                    problems.append(f"{name}: uses {node.attr} of {owner}")
    return problems


def test_import_graph_has_no_cycles():
    graph = import_graph()
    assert len(graph) > 30, "the scan found the package's modules"
    assert cycles(graph) == []


def test_cycles_finds_a_cycle():
    """The check itself can fail: a two-module loop is reported."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


def test_no_module_writes_sql_against_a_meta_table_it_does_not_own():
    assert meta_sql_outside_owners() == []


def test_every_meta_owner_exists_and_defines_its_table():
    found = modules()
    for table, owner in META_OWNERS.items():
        assert owner in found, owner
        assert table in found[owner].read_text(encoding="utf-8"), (owner, table)


def test_upstream_concerns_do_not_import_downstream_ones():
    """Data flows one way in the code too: ingest -> transform -> checks -> publish -> site."""
    order = ["ingest", "transform", "checks", "publish", "site"]
    graph = import_graph()
    for name, targets in graph.items():
        parts = name.split(".")
        if parts[:2] != ["dagster_project", "defs"] or len(parts) < 3:
            continue
        here = order.index(parts[2])
        for target in targets:
            tparts = target.split(".")
            if tparts[:2] == ["dagster_project", "defs"] and len(tparts) > 2:
                assert order.index(tparts[2]) <= here, f"{name} imports downstream {target}"
        assert not any(t.startswith("dagster_project.cli") for t in targets), name
