"""The README's "What opsvalue promises" names tests that exist: files, and functions in them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMISES = ("No delivery is lost", "Nothing outside", "A pack holds only", "One bad value holds")


def section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## What opsvalue promises", 1)[1].split("\n## ", 1)[0]


def cited(text: str) -> list[tuple[str, list[str]]]:
    """(test file, [test functions cited after it]) in the order the text names them."""
    out: list[tuple[str, list[str]]] = []
    for name in re.findall(r"`([^`]+)`", text):
        if name.startswith("tests/"):
            out.append((name, []))
        elif name.startswith("test_"):
            out[-1][1].append(name)
    return out


def functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_each_promise_is_stated_and_names_tests():
    promises = re.split(r"\n- \*\*", section())[1:]
    assert len(promises) == len(PROMISES)
    for promise, start in zip(promises, PROMISES, strict=True):
        assert promise.startswith(start)
        assert cited(promise), f"{start}: no test named"


def test_every_named_test_file_and_function_exists():
    named = cited(section())
    assert len(named) >= 10
    for file, names in named:
        path = ROOT / file
        assert path.is_file(), file
        missing = set(names) - functions(path)
        assert not missing, f"{file} has no {sorted(missing)}"
