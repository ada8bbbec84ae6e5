"""The master data the other sources are mapped through: org units, org aliases and centers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from opsgen.context import Context
from opsgen.org import (
    ALIASES,
    CENTER_CODES,
    CENTERS,
    INITIAL_VALID_FROM,
    REORG_CODE,
    REORG_NEW_PARENT,
    reorg_date,
)
from opsgen.table import Table
from opsgen.volumes import NA


def build_org_units(ctx: Context) -> Table:
    units = ctx.org.units
    n = len(units)
    valid_from = min(INITIAL_VALID_FROM, reorg_date(ctx.period) - np.timedelta64(3650, "D"))
    start = int(valid_from.astype("datetime64[s]").astype(np.int64))
    moved = int(units.index[units["code"] == REORG_CODE][0])
    new_parent = int(units.index[units["code"] == REORG_NEW_PARENT][0])
    effective = int(reorg_date(ctx.period).astype("datetime64[s]").astype(np.int64))
    unit = np.r_[np.arange(n), moved]
    order = np.argsort(unit, kind="stable")
    parent_index = {code: i for i, code in enumerate(units["code"])}
    parent = np.array([parent_index.get(p, -1) for p in units["parent"]], dtype=np.int64)
    valid_to = np.full(n + 1, NA)
    valid_to[moved] = effective
    cols = {
        "org_code": unit,
        "org_name": unit,
        "org_level": pd.Categorical(units["level"]).codes.astype(np.int64)[unit],
        "parent_code": np.r_[parent, new_parent],
        "valid_from": np.r_[np.full(n, start), effective],
        "valid_to": valid_to,
    }
    return Table(
        {k: v[order] for k, v in cols.items()},
        np.zeros(n + 1, dtype=np.int64),
        cats={
            "org_code": ctx.org.vocab,
            "org_name": tuple(units["name"]),
            "org_level": tuple(pd.Categorical(units["level"]).categories),
            "parent_code": ctx.org.vocab,
        },
    )


def build_org_aliases(ctx: Context) -> Table:
    n = len(ALIASES)
    alias = np.arange(n) + len(ctx.org.units)
    return Table(
        {"alias_code": alias, "org_code": ctx.org.canonical[alias]},
        np.zeros(n, dtype=np.int64),
        cats={"alias_code": ctx.org.vocab, "org_code": ctx.org.vocab},
    )


def build_centers(ctx: Context) -> Table:
    n = len(CENTERS)
    functions = tuple(dict.fromkeys(c[2] for c in CENTERS))
    unit = {code: i for i, code in enumerate(ctx.org.units["code"])}
    return Table(
        {
            "center_code": np.arange(n),
            "center_name": np.arange(n),
            "function": np.array([functions.index(c[2]) for c in CENTERS]),
            "subsidiary_code": np.array([unit[c[3]] for c in CENTERS]),
        },
        np.zeros(n, dtype=np.int64),
        cats={
            "center_code": CENTER_CODES,
            "center_name": tuple(c[1] for c in CENTERS),
            "function": functions,
            "subsidiary_code": ctx.org.vocab,
        },
    )
