"""What operations cost and save: staffing, operating costs and transformation milestones.

Staffing and costs follow from the handling hours the other builders added to the workload, so
they are built last.
"""

from __future__ import annotations

import numpy as np

from opsgen.context import Context
from opsgen.org import CENTER_CODES, CENTERS, served
from opsgen.table import DefectTargets, Table, id_sql
from opsgen.volumes import (
    DAY,
    MILESTONES_PER_24_MONTHS,
    NA,
    BoolArray,
    FloatArray,
    censor,
    lognormal,
)

COST_TYPES = ("staff", "it", "premises", "outsourcing", "other")
# Per center function: monthly loaded cost per FTE (CNY), IT and outsourcing shares of staff cost.
COST_PER_FTE = {
    "claims": 21_000,
    "new_business": 19_000,
    "servicing": 17_000,
    "contact_center": 13_000,
    "operations": 15_000,
    "automation": 32_000,
}
IT_SHARE = {
    "claims": 0.15,
    "new_business": 0.18,
    "servicing": 0.14,
    "contact_center": 0.12,
    "operations": 0.10,
    "automation": 0.60,
}
OUTSOURCING_SHARE = {"contact_center": 0.35, "operations": 0.20}
PRODUCTIVE_HOURS_PER_FTE = 126.0
PROJECTS = (
    "理赔自动化二期",
    "智能客服升级",
    "新契约无纸化",
    "RPA规模化推广",
    "保全线上化",
    "运营数据中台",
    "影像识别OCR平台",
    "车险快赔",
    "医疗险直付",
    "核保规则引擎",
    "客户旅程NPS改善",
    "集中作业平台迁移",
    "反欺诈模型上线",
    "投诉闭环管理",
    "精益运营试点",
    "共享中心整合",
    "电子回访",
    "外包管理优化",
    "指标口径统一",
    "移动展业平台",
)


def staffing_arrays(
    rng: np.random.Generator, ctx: Context
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """FTE and productive hours per (month, center, sub-branch), and which pairs exist."""
    hours = ctx.workload.hours
    pairs = served(ctx.org) | (hours.sum(axis=0) > 0)
    efficiency = lognormal(rng, 1.15, 0.15, pairs.size).reshape(pairs.shape)
    productive = hours * efficiency * lognormal(rng, 1.0, 0.05, hours.size).reshape(hours.shape)
    per_fte = PRODUCTIVE_HOURS_PER_FTE * rng.uniform(0.95, 1.05, hours.shape)
    return productive / per_fte, productive, pairs


def build_staffing(
    ctx: Context, fte: FloatArray, productive: FloatArray, pairs: BoolArray
) -> Table:
    month, center, sb = np.nonzero(np.broadcast_to(pairs, fte.shape))
    # HR reports FTE to two decimals. A center serving a sub-branch for minutes a month has an FTE
    # that rounds to 0.00 or 0.01 while its hours stay, so hours per reported FTE reached 900 a
    # month at small scales. Hours follow the FTE as reported, keeping each row's ratio.
    fte_cells, productive_cells = fte[month, center, sb], productive[month, center, sb]
    reported_fte = np.round(fte_cells, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_fte = np.where(fte_cells > 0, productive_cells / fte_cells, 0.0)
    return Table(
        {
            "month": ctx.period.month_starts[month],
            "center_code": center,
            "org_code": ctx.org.sb_unit[sb],
            "fte": reported_fte,
            "productive_hours": np.round(reported_fte * per_fte, 2),
        },
        month,
        cats={"center_code": CENTER_CODES, "org_code": ctx.org.vocab},
        targets=DefectTargets(org_cols=("org_code",), late=True),
    )


def build_op_costs(
    rng: np.random.Generator, ctx: Context, fte: FloatArray, pairs: BoolArray
) -> Table:
    months = ctx.period.months
    functions = [c[2] for c in CENTERS]
    cost = np.array([COST_PER_FTE[f] for f in functions])[None, :, None]
    inflation = (1 + 0.04 * np.arange(months) / 12)[:, None, None]
    staff = fte * cost * inflation * lognormal(rng, 1.0, 0.03, fte.size).reshape(fte.shape)
    it_share = np.array([IT_SHARE[f] for f in functions])[None, :, None]
    out_share = np.array([OUTSOURCING_SHARE.get(f, 0.0) for f in functions])
    noise = lognormal(rng, 1.0, 0.1, 4 * fte.size).reshape(4, *fte.shape)
    amounts = np.stack(
        [
            staff,
            staff * it_share * noise[0],
            staff * 0.11 * noise[1],
            staff * out_share[None, :, None] * noise[2],
            staff * 0.04 * noise[3] ** 2,
        ],
        axis=-1,
    ).transpose(0, 2, 1, 3)  # (month, sub-branch, center, cost type): the order of the key
    applies = np.ones((len(CENTERS), len(COST_TYPES)), dtype=bool)
    applies[:, COST_TYPES.index("outsourcing")] = out_share > 0
    mask = pairs.T[None, :, :, None] & applies[None, None, :, :]
    month, sb, center, cost_type = np.nonzero(np.broadcast_to(mask, amounts.shape))
    return Table(
        {
            "month": ctx.period.month_starts[month],
            "org_code": ctx.org.sb_unit[sb],
            "center_code": center,
            "cost_type": cost_type,
            "amount": np.round(amounts[month, sb, center, cost_type], 2),
        },
        month,
        cats={"org_code": ctx.org.vocab, "center_code": CENTER_CODES, "cost_type": COST_TYPES},
        targets=DefectTargets(org_cols=("org_code",), amount_cols=("amount",), late=True),
    )


def build_project_milestones(rng: np.random.Generator, ctx: Context) -> Table:
    """The transformation portfolio: like the org tree it does not grow with scale."""
    period, units = ctx.period, ctx.org.units
    n = max(10, round(MILESTONES_PER_24_MONTHS * period.months / 24))
    n_projects = int(np.clip(n // 8, 3, len(PROJECTS)))
    project = np.sort(rng.integers(0, n_projects, n))
    horizon = (period.extraction + 90 * DAY - period.start) // DAY
    due = period.start + rng.integers(0, horizon, n) * DAY
    owners = units.index[units["level"] != "sub_branch"].to_numpy()
    level_weight = units.loc[owners, "level"].map({"group": 4.0, "subsidiary": 2.0, "branch": 1.0})
    owner = rng.choice(owners, n, p=(level_weight / level_weight.sum()).to_numpy())
    slip = np.round(rng.normal(-4, 15, n)).astype(np.int64) * DAY
    early = rng.integers(1, 61, n) * DAY
    past_due = due < period.extraction
    done = np.where(past_due, rng.random(n) < 0.82, rng.random(n) < 0.1)
    done_date = np.where(done, np.where(past_due, due + slip, due - early), NA)
    done_date = censor(done_date, period.extraction)
    committed = np.where(rng.random(n) < 0.3, 0.0, np.round(lognormal(rng, 8e5, 0.9, n), -3))
    realised_share = np.where(done_date != NA, rng.beta(6, 2, n), rng.uniform(0, 0.2, n) * past_due)
    order = np.lexsort((due, project))
    cols = {
        "project_id": project,
        "project_name": project,
        "milestone_id": np.arange(n),
        "owner_org_code": owner,
        "due_date": due,
        "done_date": done_date,
        "committed_saving": committed,
        "realised_saving": np.round(committed * realised_share, -3),
    }
    cols = {k: v[order] for k, v in cols.items()}
    cols["milestone_id"] = np.arange(n)
    return Table(
        cols,
        np.zeros(n, dtype=np.int64),
        cats={"project_name": PROJECTS, "owner_org_code": ctx.org.vocab},
        exprs={
            "project_id": id_sql("project_id", "PRJ-", 3),
            "milestone_id": id_sql("milestone_id", "MS-", 4),
        },
        targets=DefectTargets(
            id_col="milestone_id",
            org_cols=("owner_org_code",),
            amount_cols=("realised_saving", "committed_saving"),
        ),
    )
