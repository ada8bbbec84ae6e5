"""Argument types shared by the commands (and the benchmark harness).

The generator's bounds live in `opsgen.guard`, its one place; these types only parse the text
and hold it against them, so `--help`, argparse's errors and the library agree.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from opsgen import guard

T = TypeVar("T", int, float)


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a whole number > 0, got {text}")
    return value


def _checked(
    text: str, parse: Callable[[str], T], kind: str, problem: Callable[[T], str | None]
) -> T:
    """`text` parsed, then held against the generator's bounds (opsgen.guard)."""
    try:
        value = parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
    message = problem(value)
    if message:
        raise argparse.ArgumentTypeError(message)
    return value


def scale(text: str) -> float:
    return _checked(text, float, "a number", guard.scale_problem)


def months(text: str) -> int:
    return _checked(text, int, "a whole number", guard.months_problem)


def seed(text: str) -> int:
    return _checked(text, int, "a whole number", guard.seed_problem)


def defects(text: str) -> float:
    return _checked(text, float, "a number", guard.defects_problem)
