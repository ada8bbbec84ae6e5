"""The README's benchmark table from result files, one column per file.

    python -m benchmarks.table benchmarks/results/scale-0.1_months-24.json ...

Prints a Markdown table (wall s / peak GB of the largest process, medians of each file's runs)
with the input, the floor, the full build and its process tree's peak, each stage, the one-day
and one-record refreshes, their ratios and the verification against the floor. The numbers
are copied from the JSON that `python -m benchmarks.run` wrote, never computed again, so the
README cannot say what a run did not measure: a step a file lacks is an empty cell.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.run import FLOOR, FULL, LABELS, RECORD, REFRESH, STAGE_PREFIX
from benchmarks.stage import STAGES

Result = dict[str, Any]


def _step(name: str) -> Callable[[Result], str]:
    def cell(result: Result) -> str:
        m = result["measurements"].get(name, {})
        if m.get("wall_s_median") is None:
            return ""
        if m.get("peak_rss_mb_median") is None:
            return f"{m['wall_s_median']:.1f}"
        return f"{m['wall_s_median']:.1f} / {m['peak_rss_mb_median'] / 1000:.2f}"

    return cell


def _tree_peak(result: Result) -> str:
    m = result["measurements"].get(FULL, {})
    value = m.get("tree_peak_rss_mb_median")
    return "" if value is None else f"{value / 1000:.2f}"


def _ratio(key: str, digits: int) -> Callable[[Result], str]:
    def cell(result: Result) -> str:
        value = ((result.get("ratios") or {}).get(key) or {}).get("wall")
        return "" if value is None else f"{value:.{digits}f}"

    return cell


def _input(result: Result) -> str:
    data = result["input"]
    return f"{data['rows_total'] / 1e6:.1f}M / {data['bytes_total'] / 1e9:.2f}"


def _verified(result: Result) -> str:
    """Each verified workspace: its rows equal to the floor's, and any that are not, by count."""
    parts = []
    for name, outcome in (result.get("verification") or {}).items():
        if outcome.get("error"):
            # one line, no cell separators: the message is the JSON's, the table is Markdown
            error = " ".join(str(outcome["error"]).split()).replace("|", "/")
            parts.append(f"{name}: error ({error})")
            continue
        # matched_rows counts the keys both hold, equal or not (benchmarks/floor.py)
        equal = outcome["matched_rows"] - outcome["differing"]
        text = f"{equal:,} of {outcome['floor_rows']:,} equal"
        unequal = {
            "only in the floor": outcome["only_floor"],
            "only published": outcome["only_pipeline"],
            "differing": outcome["differing"],
        }
        text += "".join(f", {n} {what}" for what, n in unequal.items() if n)
        parts.append(f"{name}: {text}")
    return "; ".join(parts) if parts else "not verified"


def _run(result: Result) -> str:
    env = result["environment"]
    commit = (env.get("git_commit") or "?")[:7] + (" (dirty)" if env.get("git_dirty") else "")
    return f"`{commit}`, {result['started_at'][:10]}, {result['repeat']} run(s)"


ROWS: list[tuple[str, Callable[[Result], str]]] = [
    ("commit, day, runs (medians)", _run),
    ("input: rows / GB of CSV", _input),
    (LABELS[FLOOR], _step(FLOOR)),
    (LABELS[FULL], _step(FULL)),
    ("(b) peak GB of the whole process tree", _tree_peak),
    *((LABELS[STAGE_PREFIX + s], _step(STAGE_PREFIX + s)) for s in STAGES),
    (LABELS[REFRESH], _step(REFRESH)),
    (LABELS[RECORD], _step(RECORD)),
    ("ratio (b)/(a)", _ratio("full_over_floor", 1)),
    ("ratio (d)/(b)", _ratio("refresh_over_full", 3)),
    ("ratio (e)/(b)", _ratio("record_over_full", 3)),
    ("KPI rows against the floor (full, refreshed)", _verified),
]


def render(results: Sequence[Result]) -> str:
    header = ["step (wall s / peak GB)", *(f"scale {r['scale']:g}" for r in results)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, cell in ROWS:
        lines.append("| " + " | ".join([label, *(cell(r) for r in results)]) + " |")
    return "\n".join(lines)


def load(path: Path) -> Result:
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable result file ({exc})") from exc
    needed = ("scale", "started_at", "repeat", "measurements", "environment", "input")
    missing = [k for k in needed if not isinstance(result, dict) or k not in result]
    if missing:
        raise ValueError(f"{path}: not a result of benchmarks.run (no {', '.join(missing)})")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.table", description=__doc__)
    parser.add_argument("results", nargs="+", type=Path, help="JSON written by benchmarks.run")
    args = parser.parse_args(argv)
    try:
        results = [load(p) for p in args.results]
    except ValueError as exc:
        print(f"benchmarks.table: {exc}", file=sys.stderr)
        return 2
    print(render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
