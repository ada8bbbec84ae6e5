"""The writer's SQL: every contract column is produced, or the generator fails loudly."""

from __future__ import annotations

import numpy as np
import pytest

from opsgen.table import DefectTargets, Table
from opsgen.writer import select_sql


def test_select_sql_fails_loudly_on_a_column_the_generator_lacks() -> None:
    table = Table({"a": np.arange(3)}, np.zeros(3, dtype=np.int64), targets=DefectTargets())
    assert "CAST" in select_sql(table, [("a", "integer")], "demo")
    with pytest.raises(KeyError, match="missing_column"):
        select_sql(table, [("a", "integer"), ("missing_column", "varchar")], "demo")
