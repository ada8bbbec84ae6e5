"""New business and the book: applications, and the policies issued from them or before."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from opsgen.context import Context, sample_sub_branch_events
from opsgen.org import CENTER_CODES, ORG_TREE, Org, center_for
from opsgen.table import DefectTargets, Table, id_sql, life_cycle_targets
from opsgen.volumes import (
    DAY,
    HOUR,
    NA,
    POLICIES_IN_FORCE,
    SUBSIDIARY_MIX,
    BoolArray,
    FloatArray,
    IntArray,
    Period,
    censor,
    later,
    lognormal,
    pick,
)

# Product lines: (name, subsidiary, share within subsidiary, median premium CNY, lapse per year,
# median claim CNY, claim sigma, auto-processing base rate, manual decision-time factor).
PRODUCTS = (
    ("term_life", 0, 0.30, 1_500, 0.06, 300_000, 0.6, 0.25, 1.2),
    ("whole_life", 0, 0.35, 8_000, 0.04, 200_000, 0.7, 0.25, 1.2),
    ("endowment", 0, 0.20, 10_000, 0.05, 50_000, 0.8, 0.90, 1.0),
    ("annuity", 0, 0.15, 20_000, 0.02, 20_000, 0.7, 0.95, 1.0),
    ("motor", 1, 0.65, 4_000, 0.18, 5_000, 1.0, 0.82, 1.5),
    ("property", 1, 0.20, 2_500, 0.15, 15_000, 1.3, 0.45, 2.5),
    ("liability", 1, 0.15, 6_000, 0.15, 20_000, 1.2, 0.20, 2.5),
    ("medical", 2, 0.60, 1_200, 0.20, 3_000, 1.1, 0.90, 0.8),
    ("critical_illness", 2, 0.30, 5_000, 0.06, 150_000, 0.5, 0.35, 1.2),
    ("accident", 2, 0.10, 300, 0.30, 2_000, 1.0, 0.85, 0.8),
)
PRODUCT_NAMES = tuple(p[0] for p in PRODUCTS)
SALES_CHANNELS = ("agency", "bancassurance", "broker", "direct", "online")
CHANNEL_MIX = (  # per subsidiary
    (0.50, 0.30, 0.05, 0.05, 0.10),
    (0.30, 0.00, 0.20, 0.20, 0.30),
    (0.30, 0.10, 0.10, 0.10, 0.40),
)
NIGO_BY_CHANNEL = (0.13, 0.10, 0.08, 0.06, 0.03)
UW_ROUTES = ("auto", "manual")
APP_DECISIONS = ("issued", "declined", "withdrawn")


@dataclass
class Policies:
    """All policies (initial and issued in the period), ids in file order."""

    sb: IntArray
    product: IntArray
    channel: IntArray
    issued: IntArray  # midnight of the issue date
    terminated: IntArray
    premium: FloatArray
    initial: BoolArray


def initial_policies(rng: np.random.Generator, ctx: Context) -> Policies:
    """Policies in force at the start of the period, issued over the years before it."""
    org, period = ctx.org, ctx.period
    n_target = max(int(round(POLICIES_IN_FORCE * ctx.scale)), org.n_sb)
    # Every sub-branch holds at least one policy, so claims always find one to belong to.
    per_sb = rng.multinomial(n_target - org.n_sb, org.shares(SUBSIDIARY_MIX["policies"])) + 1
    sb = np.repeat(np.arange(org.n_sb), per_sb)
    sub = org.sb_subsidiary[sb]
    product = pick_product(rng, sub)
    annual = np.array([p[4] for p in PRODUCTS])[product] > 0.1
    # Annual covers renew every year; long-term policies reach back up to 30 years.
    age_days = rng.exponential(np.where(annual, 180.0, 6 * 365.0)) % (30 * 365)
    issued = period.start - DAY - (age_days * DAY).astype(np.int64)
    issued = issued - issued % DAY
    lapse = np.array([p[4] for p in PRODUCTS])[product]
    terminated = period.start + (rng.exponential(1 / lapse) * 365.25 * DAY).astype(np.int64)
    terminated = censor(terminated - terminated % DAY, period.extraction)
    order = np.lexsort((sb, issued))
    n = sb.size
    return Policies(
        sb=sb[order],
        product=product[order],
        channel=pick(rng, CHANNEL_MIX, sub)[order],
        issued=issued[order],
        terminated=terminated[order],
        premium=premium(rng, product)[order],
        initial=np.ones(n, dtype=bool),
    )


def pick_product(rng: np.random.Generator, subsidiary: IntArray) -> IntArray:
    mix = [[p[2] if p[1] == s else 0.0 for p in PRODUCTS] for s in range(len(ORG_TREE))]
    return pick(rng, mix, subsidiary)


def premium(rng: np.random.Generator, product: IntArray) -> FloatArray:
    median = np.array([p[3] for p in PRODUCTS], dtype=float)[product]
    return np.round(lognormal(rng, median, 0.6, product.size), -1)


def build_applications(rng: np.random.Generator, ctx: Context) -> tuple[Table, Policies]:
    """New-business applications, and the policies issued from them."""
    org, period = ctx.org, ctx.period
    received, sb = sample_sub_branch_events(rng, ctx, "applications", (0.95, 1.1))
    n = received.size
    sub = org.sb_subsidiary[sb]
    t = period.progress(received)
    channel = pick(rng, CHANNEL_MIX, sub)
    nigo = rng.random(n) < np.clip(np.asarray(NIGO_BY_CHANNEL)[channel] * org.quality[sb], 0, 0.5)
    auto_base = np.array([0.55, 0.80, 0.62])[sub] + 0.10 * t
    auto = rng.random(n) < np.clip(auto_base * org.automation[sb] * np.where(nigo, 0.3, 1.0), 0, 1)
    decide = np.where(
        auto,
        lognormal(rng, 5 * 60, 1.0, n),
        lognormal(rng, 1.5 * DAY, 0.8, n) * org.speed[sb],
    )
    decide += np.where(nigo, lognormal(rng, 3 * DAY, 0.7, n), 0.0)
    decided = censor(later(received, decide), period.extraction)
    decision_p = np.array([[0.90, 0.05, 0.05], [0.72, 0.05, 0.23], [0.96, 0.04, 0.0]])
    decision = pick(rng, decision_p, np.where(auto, 2, nigo.astype(np.int64)))
    decision = np.where(decided == NA, -1, decision)
    issue_wait = np.where(auto, lognormal(rng, 20 * 60, 0.8, n), lognormal(rng, 5 * HOUR, 0.9, n))
    issued = np.where(decision == 0, censor(later(decided, issue_wait), period.extraction), NA)
    center = center_for("new_business", sub)
    minutes = np.where(auto, 3.0, 45.0) + np.where(nigo, 20.0, 0.0)
    ctx.workload.add(period.month_of(received), center, sb, minutes / 60)
    table = Table(
        {
            "application_id": np.arange(n),
            "org_code": org.sb_unit[sb],
            "center_code": center,
            "channel": channel,
            "received_at": received,
            "nigo": nigo,
            "uw_route": np.where(auto, 0, 1),
            "decided_at": decided,
            "decision": decision,
            "issued_at": issued,
        },
        period.month_of(received),
        cats={
            "org_code": org.vocab,
            "center_code": CENTER_CODES,
            "channel": SALES_CHANNELS,
            "uw_route": UW_ROUTES,
            "decision": APP_DECISIONS,
        },
        exprs={"application_id": id_sql("application_id", "AP", 10)},
        targets=life_cycle_targets("application_id", "received_at", "decided_at"),
    )
    new = issued != NA
    policies = new_policies(rng, org, sb[new], channel[new], issued[new], period)
    return table, policies


def new_policies(
    rng: np.random.Generator,
    org: Org,
    sb: IntArray,
    channel: IntArray,
    issued_at: IntArray,
    period: Period,
) -> Policies:
    """Policies issued from applications during the period, in issue order."""
    order = np.argsort(issued_at, kind="stable")
    sb, channel, issued = sb[order], channel[order], issued_at[order] - issued_at[order] % DAY
    product = pick_product(rng, org.sb_subsidiary[sb])
    lapse = np.array([p[4] for p in PRODUCTS])[product]
    terminated = issued + (rng.exponential(1 / lapse) * 365.25 * DAY).astype(np.int64)
    return Policies(
        sb=sb,
        product=product,
        channel=channel,
        issued=issued,
        terminated=censor(terminated - terminated % DAY, period.extraction),
        premium=premium(rng, product),
        initial=np.zeros(sb.size, dtype=bool),
    )


def concat_policies(first: Policies, second: Policies) -> Policies:
    return Policies(
        *(
            np.concatenate([getattr(first, f), getattr(second, f)])
            for f in Policies.__dataclass_fields__
        )
    )


def build_policies(ctx: Context, policies: Policies) -> Table:
    n = policies.sb.size
    return Table(
        {
            "policy_id": np.arange(n),
            "org_code": ctx.org.sb_unit[policies.sb],
            "product_line": policies.product,
            "channel": policies.channel,
            "issued_date": policies.issued,
            "terminated_date": policies.terminated,
            "annual_premium": policies.premium,
        },
        np.where(policies.initial, -1, ctx.period.month_of(policies.issued)),
        cats={"org_code": ctx.org.vocab, "product_line": PRODUCT_NAMES, "channel": SALES_CHANNELS},
        exprs={"policy_id": id_sql("policy_id", "P", 10)},
        targets=DefectTargets(
            id_col="policy_id",
            org_cols=("org_code",),
            amount_cols=("annual_premium",),
            primary_ts="issued_date",
            late=True,
        ),
    )


def policy_picker(
    policies: Policies,
) -> Callable[[np.random.Generator, IntArray, IntArray], IntArray]:
    """A function choosing per row a policy of the row's sub-branch issued before the row's time."""
    # Issue dates are after 1995 and before 2286, so sb * 1e10 + issued sorts by (sb, issued).
    keys = policies.sb * 10**10 + policies.issued
    order = np.argsort(keys, kind="stable")
    keys = keys[order]

    def choose(rng: np.random.Generator, sb: IntArray, ts: IntArray) -> IntArray:
        lo = np.searchsorted(keys, sb * 10**10, side="left")
        hi = np.searchsorted(keys, sb * 10**10 + ts, side="right")
        return order[lo + (rng.random(sb.size) * (hi - lo)).astype(np.int64)]

    return choose


def sample_policy_events(
    rng: np.random.Generator, ctx: Context, source: str, policies: Policies
) -> tuple[IntArray, IntArray, IntArray]:
    """Event times, sub-branch and policy of a source's records about policies (claims, ...).

    Each record belongs to a policy of its sub-branch issued before the event.
    """
    ts, sb = sample_sub_branch_events(rng, ctx, source)
    return ts, sb, policy_picker(policies)(rng, sb, ts)


def policies_in_force(policies: Policies, period: Period, n_sb: int) -> FloatArray:
    """Policies in force at each month end per sub-branch, shape (months, sub-branches)."""
    month_ends = period.month_starts[1:] - DAY
    first = np.searchsorted(month_ends, policies.issued, side="left")
    last = np.where(
        policies.terminated == NA,
        period.months,
        np.searchsorted(month_ends, policies.terminated, side="left"),
    )
    keep = first < last
    size = (period.months + 1) * n_sb
    starts = np.bincount(first[keep] * n_sb + policies.sb[keep], minlength=size)
    stops = np.bincount(last[keep] * n_sb + policies.sb[keep], minlength=size)
    return np.cumsum((starts - stops).reshape(period.months + 1, n_sb), axis=0)[:-1].astype(float)
