"""split_last_day: one day's delivery cut from generated extracts, losing no row."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from opsgen.split import daily_event_columns, split_last_day


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_split_last_day_cuts_one_days_delivery_and_loses_no_row(generated_raw, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(generated_raw, raw)
    before = {p.relative_to(raw): _rows(p) for p in raw.rglob("*.csv")}

    delivery = split_last_day(raw, tmp_path / "day", late_rows=3)

    columns = daily_event_columns()
    assert "claims" in columns and set(delivery.files) == set(columns)
    newest = max(
        row[rows[0].index(columns[relative.parts[0]])][:10]
        for relative, rows in before.items()
        if relative.parts[0] in columns
        for row in rows[1:]
    )
    assert delivery.day == newest, "the day is the newest event day of the daily sources"
    changed = set()
    for source, path in delivery.files.items():
        moved = _rows(path)
        month_files = sorted(p for p in before if p.parts[0] == source and p.stem[-3] == "-")
        originals = [before[p] for p in month_files[-2:]]
        kept = [_rows(raw / p) for p in month_files[-2:]]
        header = originals[0][0]
        assert moved[0] == header and all(k[0] == header for k in kept)
        index = header.index(columns[source])
        late = [r for r in moved[1:] if not r[index].startswith(delivery.day)]
        if source in ("claims", "contacts"):  # busy enough to have records every day
            assert len(moved) - 1 > len(late), "the day itself has records"
        assert len(late) == delivery.late_rows[source] == 3
        assert len(moved) - 1 == delivery.rows[source]
        assert all(r[index][:7] < delivery.day[:7] for r in late), "late rows are from before"
        assert not any(r[index].startswith(delivery.day) for r in kept[1][1:])
        everything = sorted(originals[0][1:] + originals[1][1:])
        assert sorted(kept[0][1:] + kept[1][1:] + moved[1:]) == everything, "no row lost or added"
        changed.update(month_files[-2:])
    for relative, rows in before.items():
        if relative not in changed:
            assert _rows(raw / relative) == rows, f"{relative} must stay as generated"
