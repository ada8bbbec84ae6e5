"""Back-office work: policy endorsements, workflow tasks and RPA bot runs."""

from __future__ import annotations

import numpy as np

from opsgen.context import Context, Events, event_stream, sub_branch_stream
from opsgen.org import CENTER, CENTER_CODES, ORG_TREE, center_for, served_sub_branch
from opsgen.sources.policies import Book
from opsgen.table import DefectTargets, Stream, Table, id_sql, life_cycle_targets
from opsgen.volumes import (
    ANNUAL,
    HOUR,
    NA,
    censor,
    later,
    lognormal,
    pick,
)

# (type, share, SLA hours, auto rate, subsidiaries with this type: LIF, PNC, HLT)
ENDORSEMENT_TYPES = (
    ("address", 0.25, 24, 0.80, (1, 1, 1)),
    ("beneficiary", 0.12, 48, 0.30, (1, 0, 1)),
    ("payment_method", 0.25, 24, 0.75, (1, 1, 1)),
    ("sum_insured", 0.13, 72, 0.20, (1, 1, 1)),
    ("surrender", 0.15, 72, 0.35, (1, 1, 1)),
    ("reinstatement", 0.10, 120, 0.10, (1, 0, 1)),
)
# (type, SLA hours, standard handling minutes)
TASK_TYPES = (
    ("data_entry", 8, 12),
    ("verification", 24, 20),
    ("payment", 24, 15),
    ("underwriting_review", 48, 40),
    ("servicing", 48, 30),
    ("filing", 72, 8),
)
TASK_MIX_BY_FUNCTION = {
    "operations": (0.35, 0.25, 0.20, 0.0, 0.0, 0.20),
    "claims": (0.0, 0.5, 0.5, 0.0, 0.0, 0.0),
    "new_business": (0.4, 0.0, 0.0, 0.6, 0.0, 0.0),
    "servicing": (0.0, 0.2, 0.0, 0.0, 0.8, 0.0),
}
# (process, center, weight, exception rate, median items per run, median minutes per run)
RPA_PROCESSES = (
    ("claim_registration_ocr", "C-CLM-PNC", 3.0, 0.08, 40, 12),
    ("motor_damage_triage", "C-CLM-PNC", 2.0, 0.12, 25, 8),
    ("medical_invoice_ocr", "C-CLM-HLT", 3.0, 0.10, 60, 15),
    ("life_claim_document_check", "C-CLM-LIF", 1.0, 0.15, 15, 10),
    ("application_data_entry", "C-NB-LIF", 2.0, 0.07, 30, 10),
    ("id_verification", "C-NB-PNC", 1.5, 0.05, 50, 6),
    ("health_declaration_check", "C-NB-HLT", 1.0, 0.09, 20, 8),
    ("address_change", "C-SVC", 2.0, 0.04, 35, 7),
    ("bank_account_update", "C-SVC", 1.5, 0.06, 25, 7),
    ("callback_scheduling", "C-CC", 1.5, 0.03, 80, 5),
    ("premium_reconciliation", "C-OPS", 1.0, 0.11, 120, 25),
    ("report_distribution", "C-OPS", 1.0, 0.02, 20, 4),
    ("bot_health_check", "C-RPA", 0.5, 0.01, 10, 2),
)


def build_endorsements(seed: int, ctx: Context, book: Book) -> Stream:
    """Endorsements, each of a policy of its sub-branch issued before the request."""
    return sub_branch_stream(seed, ctx, "endorsements", lambda ev: endorsements(ev, ctx, book))


def endorsements(ev: Events, ctx: Context, book: Book) -> Table:
    org, period, rng = ctx.org, ctx.period, ev.rng
    requested, sb = ev.ts, ev.column
    policy = book.pick(rng, sb, requested)
    n = requested.size
    sub = org.sb_subsidiary[sb]
    t = period.progress(requested)
    mix = [[e[1] * e[4][s] for e in ENDORSEMENT_TYPES] for s in range(len(ORG_TREE))]
    kind = pick(rng, mix, sub)
    sla = np.array([e[2] for e in ENDORSEMENT_TYPES], dtype=np.int64)[kind]
    auto_base = np.array([e[3] for e in ENDORSEMENT_TYPES])[kind]
    auto = rng.random(n) < np.clip(auto_base * (1 + 0.15 * t) * org.automation[sb], 0, 0.97)
    rework = np.where(auto, 0, rng.poisson(0.08 * org.quality[sb]))
    manual = lognormal(rng, 0.35 * sla * HOUR, 0.7, n) * org.speed[sb]
    turnaround = np.where(auto, lognormal(rng, 0.2 * HOUR, 0.8, n), manual)
    turnaround += rework * lognormal(rng, 0.25 * sla * HOUR, 0.6, n)
    center = np.full(n, CENTER["C-SVC"])
    ctx.workload.add(
        period.month_of(requested), center, sb, (np.where(auto, 2.0, 35.0) + 20.0 * rework) / 60
    )
    return Table(
        {
            "endorsement_id": ev.ids,
            "policy_id": policy,
            "org_code": org.sb_unit[sb],
            "center_code": center,
            "endorsement_type": kind,
            "requested_at": requested,
            "completed_at": censor(later(requested, turnaround), period.extraction),
            "sla_hours": sla,
            "auto_processed": auto,
            "rework_count": rework,
        },
        period.month_of(requested),
        cats={
            "org_code": org.vocab,
            "center_code": CENTER_CODES,
            "endorsement_type": tuple(e[0] for e in ENDORSEMENT_TYPES),
        },
        exprs={
            "endorsement_id": id_sql("endorsement_id", "EN", 10),
            "policy_id": id_sql("policy_id", "P", 10),
        },
        targets=life_cycle_targets("endorsement_id", "requested_at", "completed_at"),
    )


def build_tasks(seed: int, ctx: Context) -> Stream:
    return sub_branch_stream(seed, ctx, "tasks", lambda ev: tasks(ev, ctx))


def tasks(ev: Events, ctx: Context) -> Table:
    org, period, rng = ctx.org, ctx.period, ev.rng
    created, sb = ev.ts, ev.column
    n = created.size
    sub = org.sb_subsidiary[sb]
    functions = tuple(TASK_MIX_BY_FUNCTION)
    function = pick(rng, [[0.55, 0.15, 0.15, 0.15]], np.zeros(n, np.int64))
    center = np.select(
        [function == 1, function == 2, function == 3],
        [center_for("claims", sub), center_for("new_business", sub), CENTER["C-SVC"]],
        CENTER["C-OPS"],
    )
    kind = pick(rng, [TASK_MIX_BY_FUNCTION[f] for f in functions], function)
    sla = np.array([k[1] for k in TASK_TYPES], dtype=float)[kind] * HOUR
    dispatch = lognormal(rng, 20 * 60, 1.2, n) * np.sqrt(org.speed[sb])
    returned = rng.poisson(0.07 * org.quality[sb])
    work = lognormal(rng, 0.28 * sla, 0.75, n) * org.speed[sb]
    work += returned * lognormal(rng, 0.2 * sla, 0.6, n)
    assigned = censor(later(created, dispatch), period.extraction)
    completed = censor(later(created, dispatch + work), period.extraction)
    sampled = (completed != NA) & (rng.random(n) < 0.05)
    passed = rng.random(n) < np.clip(1 - 0.06 * org.quality[sb], 0.5, 1.0)
    minutes = np.array([k[2] for k in TASK_TYPES], dtype=float)[kind] * (1 + 0.5 * returned)
    ctx.workload.add(period.month_of(created), center, sb, minutes / 60)
    return Table(
        {
            "task_id": ev.ids,
            "org_code": org.sb_unit[sb],
            "center_code": center,
            "task_type": kind,
            "created_at": created,
            "assigned_at": assigned,
            "completed_at": completed,
            "sla_due_at": later(created, sla),
            "returned_count": returned,
            "qa_sampled": sampled,
            "qa_passed": np.where(sampled, passed, -1).astype(np.int8),
        },
        period.month_of(created),
        cats={
            "org_code": org.vocab,
            "center_code": CENTER_CODES,
            "task_type": tuple(k[0] for k in TASK_TYPES),
        },
        exprs={"task_id": id_sql("task_id", "TK", 11)},
        targets=life_cycle_targets("task_id", "created_at", "completed_at"),
    )


def build_rpa_runs(seed: int, ctx: Context) -> Stream:
    """Bot runs, by process (the columns of the volumes), not by sub-branch."""
    weights = np.array([p[2] for p in RPA_PROCESSES])
    annual = ANNUAL["rpa_runs"] * ctx.scale * weights / weights.sum()
    zeros = np.zeros(len(RPA_PROCESSES), dtype=np.int64)
    return event_stream(
        seed, ctx, "rpa_runs", annual, zeros, lambda ev: rpa_runs(ev, ctx), trend=(0.7, 1.3)
    )


def rpa_runs(ev: Events, ctx: Context) -> Table:
    org, period, rng = ctx.org, ctx.period, ev.rng
    started, process = ev.ts, ev.column
    n = started.size
    t = period.progress(started)
    median_items = np.array([p[4] for p in RPA_PROCESSES], dtype=float)[process]
    items = np.maximum(np.round(lognormal(rng, median_items, 0.6, n)), 1).astype(np.int64)
    rate = np.array([p[3] for p in RPA_PROCESSES])[process] * (1.2 - 0.4 * t)
    failed = rng.random(n) < 0.01
    exceptions = np.where(failed, items, rng.binomial(items, np.clip(rate, 0, 1)))
    minutes = np.array([p[5] for p in RPA_PROCESSES], dtype=float)[process]
    duration = minutes * 60 * (items / median_items) * lognormal(rng, 1.0, 0.3, n)
    duration = np.where(failed, duration * rng.uniform(0.05, 0.5, n), duration) + 5
    center = np.array([CENTER[p[1]] for p in RPA_PROCESSES])[process]
    # People support the bots (C-RPA) and take over their exceptions (the process's center); the
    # hours serve the sub-branches the center works for, in proportion to their size.
    month = period.month_of(started)
    support = np.full(n, CENTER["C-RPA"])
    ctx.workload.add(month, support, served_sub_branch(rng, org, support), np.full(n, 0.25))
    ctx.workload.add(month, center, served_sub_branch(rng, org, center), exceptions * 6.0 / 60)
    return Table(
        {
            "run_id": ev.ids,
            "center_code": center,
            "process": process,
            "started_at": started,
            "ended_at": censor(later(started, duration), period.extraction),
            "items_in": items,
            "items_ok": items - exceptions,
            "items_exception": exceptions,
        },
        month,
        cats={"center_code": CENTER_CODES, "process": tuple(p[0] for p in RPA_PROCESSES)},
        exprs={"run_id": id_sql("run_id", "RR", 9)},
        targets=DefectTargets(
            id_col="run_id",
            primary_ts="started_at",
            order=("started_at", "ended_at"),
            future_col="ended_at",
            late=True,
        ),
    )
