"""Claims: reported against a policy of the sub-branch, handled automatically or by people."""

from __future__ import annotations

import numpy as np

from opsgen.context import Context, Events, sub_branch_stream
from opsgen.org import CENTER_CODES, CENTERS, center_for
from opsgen.sources.policies import PRODUCT_NAMES, PRODUCTS, Book
from opsgen.table import DefectTargets, Stream, Table, id_sql
from opsgen.volumes import (
    ANNUAL,
    DAY,
    HOUR,
    NA,
    SUBSIDIARY_MIX,
    BoolArray,
    FloatArray,
    IntArray,
    censor,
    later,
    lognormal,
    pick,
    staff_pool,
)

CLAIM_DECISIONS = ("paid", "partial", "declined", "withdrawn")
# The least a claim asks for: 10 CNY (the suite's least payment) over the least share paid (30%).
MIN_CLAIMED = 34.0


def build_claims(seed: int, ctx: Context, book: Book) -> Stream:
    """Claims, each against a policy of its sub-branch issued before it was reported."""
    return sub_branch_stream(seed, ctx, "claims", lambda ev: claims(ev, ctx, book))


def claims(ev: Events, ctx: Context, book: Book) -> Table:
    org, period, rng = ctx.org, ctx.period, ev.rng
    reported, sb = ev.ts, ev.column
    policy = book.pick(rng, sb, reported)
    n = reported.size
    product = book.product[policy].astype(np.int64)
    sub = org.sb_subsidiary[sb]
    t = period.progress(reported)
    params = np.array([p[5:] for p in PRODUCTS], dtype=float)
    claimed = claimed_amounts(rng, params, product)
    benefit = np.isin(product, [PRODUCT_NAMES.index("endowment"), PRODUCT_NAMES.index("annuity")])
    large = (claimed > 100_000) & ~benefit
    p_auto = np.clip((params[product, 2] + 0.06 * t) * org.automation[sb], 0, 0.97)
    auto = (rng.random(n) < p_auto) & ~large
    fraud = rng.random(n) < np.where(auto, 0.002, 0.03)
    confirmed = fraud & (rng.random(n) < 0.18)
    register = np.where(auto, lognormal(rng, 0.15 * HOUR, 1.0, n), lognormal(rng, 5 * HOUR, 1.0, n))
    manual_decide = lognormal(rng, 4 * DAY, 0.85, n) * org.speed[sb] * params[product, 3]
    decide = np.where(auto, lognormal(rng, 6 * HOUR, 0.9, n), manual_decide * (1 + 2 * fraud))
    pay = np.where(auto, lognormal(rng, HOUR, 0.8, n), lognormal(rng, DAY, 0.7, n))
    close = np.where(auto, lognormal(rng, 600, 0.5, n), lognormal(rng, DAY / 2, 1.0, n))
    decision_p = [[0.96, 0.03, 0.01, 0.0], [0.88, 0.09, 0.015, 0.015], [0.1, 0.1, 0.8, 0.0]]
    decision = pick(rng, decision_p, np.where(confirmed, 2, np.where(auto, 0, 1)))
    paying = decision <= 1
    registered = later(reported, register)
    approved = later(registered, decide)
    paid = np.where(paying, later(approved, pay), NA)
    closed = later(np.where(paying, paid, approved), close)
    reopen = rng.random(n) < np.where(auto, 0.005, 0.025)
    reopened = np.where(reopen, later(closed, lognormal(rng, 15 * DAY, 0.9, n)), NA)
    registered, approved, paid, closed, reopened = (
        censor(x, period.extraction) for x in (registered, approved, paid, closed, reopened)
    )
    decision = np.where(approved == NA, -1, decision)
    # Not decided, or decided to pay but not paid yet: the amount is not known.
    unknown = (decision == -1) | (paying & (paid == NA))
    paid_amount = paid_amounts(rng, product, claimed, decision, unknown)
    center = center_for("claims", sub)
    handler = handlers(rng, ctx, center, auto)
    minutes = np.where(auto, 4.0, 120.0) + 240.0 * fraud
    ctx.workload.add(period.month_of(reported), center, sb, minutes / 60)
    cols = {
        "claim_id": ev.ids,
        "policy_id": policy,
        "org_code": org.sb_unit[sb],
        "center_code": center,
        "product_line": product,
        "reported_at": reported,
        "registered_at": registered,
        "approved_at": approved,
        "paid_at": paid,
        "closed_at": closed,
        "claimed_amount": claimed,
        "paid_amount": paid_amount,
        "decision": decision,
        "auto_processed": auto,
        "fraud_flag": fraud,
        "fraud_confirmed": confirmed,
        "reopened_at": reopened,
        "handler_id": handler,
    }
    return claims_table(cols, period.month_of(reported), org.vocab)


def claimed_amounts(rng: np.random.Generator, params: FloatArray, product: IntArray) -> FloatArray:
    """What each claim asks for: lognormal around the product's typical claim, never less than
    MIN_CLAIMED, so that every payment of it, whole (less at most 15% deductible) or partial
    (at least 30%), is at least the 10 CNY the claims suite requires (`plausible_payment`,
    `range:claimed_amount`). Unbounded, the lognormal's tail gave 2 claims under 10 CNY in 7.8
    million at scale 10, which the gate rightly quarantined from extracts meant to be clean."""
    drawn = params[product, 0] * np.exp(params[product, 1] * rng.standard_normal(product.size))
    return np.round(np.maximum(drawn, MIN_CLAIMED), 2)


def paid_amounts(
    rng: np.random.Generator,
    product: IntArray,
    claimed: FloatArray,
    decision: IntArray,
    unknown: BoolArray,
) -> FloatArray:
    """What each claim paid: the claim less a deductible, a part of it, nothing, or not known."""
    n = claimed.size
    deductible = np.isin(product, [PRODUCT_NAMES.index("motor"), PRODUCT_NAMES.index("property")])
    full = claimed * np.where(deductible, rng.uniform(0.85, 1.0, n), 1.0)
    paid_amount = np.select(
        [decision == 0, decision == 1], [full, claimed * rng.uniform(0.3, 0.9, n)], 0.0
    )
    return np.where(unknown, np.nan, np.round(paid_amount, 2))


def handlers(rng: np.random.Generator, ctx: Context, center: IntArray, auto: BoolArray) -> IntArray:
    """A handler of the claim's center for each manual claim, -1 for automatic ones."""
    manual_per_year = ANNUAL["claims"] * ctx.scale * np.asarray(SUBSIDIARY_MIX["claims"]) * 0.35
    pool = np.zeros(len(CENTERS), dtype=np.int64)
    pool[center_for("claims", np.arange(3))] = staff_pool(manual_per_year, 1_200)
    n = center.size
    return np.where(auto, -1, center * 10_000 + (rng.random(n) * pool[center]).astype(np.int64))


def claims_table(cols: dict[str, np.ndarray], part: IntArray, vocab: tuple[str, ...]) -> Table:
    """The claims' columns with their categories, key expressions and defect targets."""
    return Table(
        cols,
        part,
        cats={
            "org_code": vocab,
            "center_code": CENTER_CODES,
            "product_line": PRODUCT_NAMES,
            "decision": CLAIM_DECISIONS,
        },
        exprs={
            "claim_id": id_sql("claim_id", "CLM", 10),
            "policy_id": id_sql("policy_id", "P", 10),
            # Negative handler codes are the missing-handler defects: "", "?" and "0".
            "handler_id": (
                "CASE WHEN handler_id >= 0 THEN 'H' || lpad(CAST(handler_id AS VARCHAR), 6, '0') "
                "WHEN handler_id = -2 THEN '' WHEN handler_id = -3 THEN '?' "
                "WHEN handler_id = -4 THEN '0' END"
            ),
        },
        targets=DefectTargets(
            id_col="claim_id",
            org_cols=("org_code",),
            amount_cols=("paid_amount", "claimed_amount"),
            primary_ts="reported_at",
            order=("reported_at", "paid_at"),
            future_col="closed_at",
            handler_col="handler_id",
            late=True,
        ),
    )
