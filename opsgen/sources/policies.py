"""New business and the book: applications, and the policies issued from them or before."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from opsgen import volumes
from opsgen.context import Context, Events, sub_branch_stream
from opsgen.org import CENTER_CODES, ORG_TREE, Org, center_for
from opsgen.table import DefectTargets, Stream, Table, id_sql, life_cycle_targets
from opsgen.volumes import (
    DAY,
    HOUR,
    NA,
    POLICIES_IN_FORCE,
    SUBSIDIARY_MIX,
    FloatArray,
    IntArray,
    Period,
    censor,
    later,
    lognormal,
    pick,
    rng_for,
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


class Book:
    """What later sources need of the policies, held compactly (9 bytes a policy) instead of
    the policies themselves: sub-branch, issue day and product to pick a claim's or an
    endorsement's policy, and the changes of the in-force count for the complaints.

    The policies' builder adds each chunk it writes; `seal()` then sorts the index once.
    """

    def __init__(self, period: Period, n_sb: int) -> None:
        self.period, self.n_sb = period, n_sb
        self.added: list[tuple[IntArray, IntArray]] = []
        self.changes = np.zeros((period.months + 1) * n_sb, dtype=np.int64)
        self.keys = np.empty(0, dtype=np.int32)
        self.order = np.empty(0, dtype=np.int32)
        self.product = np.empty(0, dtype=np.int8)

    def add(self, sb: IntArray, product: IntArray, issued: IntArray, terminated: IntArray) -> None:
        """Policies numbered next, in file order; `issued` at midnight."""
        # Issue days since 1970 stay below 2**16 until 2149, and there are far fewer than 2**15
        # sub-branches: (sb, day) packs into one int32 that sorts by sub-branch, then day.
        key = (sb.astype(np.int32) << 16) | (issued // DAY).astype(np.int32)
        self.added.append((key, product.astype(np.int8)))
        month_ends = self.period.month_starts[1:] - DAY
        first = np.searchsorted(month_ends, issued, side="left")
        last = np.where(
            terminated == NA,
            self.period.months,
            np.searchsorted(month_ends, terminated, side="left"),
        )
        keep = first < last
        size = self.changes.size
        self.changes += np.bincount(first[keep] * self.n_sb + sb[keep], minlength=size)
        self.changes -= np.bincount(last[keep] * self.n_sb + sb[keep], minlength=size)

    def seal(self) -> None:
        keys = np.concatenate([k for k, _p in self.added])
        self.product = np.concatenate([p for _k, p in self.added])
        self.added = []
        self.order = np.argsort(keys, kind="stable").astype(np.int32)
        self.keys = keys[self.order]

    def pick(self, rng: np.random.Generator, sb: IntArray, ts: IntArray) -> IntArray:
        """Per row, a policy of the row's sub-branch issued before the row's time."""
        base = sb.astype(np.int32) << 16
        lo = np.searchsorted(self.keys, base, side="left")
        hi = np.searchsorted(self.keys, base | (ts // DAY).astype(np.int32), side="right")
        return self.order[lo + (rng.random(sb.size) * (hi - lo)).astype(np.int64)].astype(np.int64)

    def in_force(self) -> FloatArray:
        """Policies in force at each month end per sub-branch, shape (months, sub-branches)."""
        steps = self.changes.reshape(self.period.months + 1, self.n_sb)
        return np.cumsum(steps, axis=0)[:-1].astype(float)


@dataclass
class Issued:
    """Policies issued from applications in the period, as the applications' chunks find them:
    sub-branch, channel and issue day, compactly, until the policies' builder numbers them."""

    sb: list[IntArray] = field(default_factory=list)
    channel: list[IntArray] = field(default_factory=list)
    day: list[IntArray] = field(default_factory=list)

    def add(self, sb: IntArray, channel: IntArray, issued_at: IntArray) -> None:
        self.sb.append(sb.astype(np.int16))
        self.channel.append(channel.astype(np.int8))
        self.day.append((issued_at // DAY).astype(np.int32))

    def take_in_issue_order(self) -> tuple[IntArray, IntArray, IntArray]:
        """(sb, channel, issue day) of every policy, sorted by issue day, as compact as they
        were collected; the collector is emptied (the policies' builder holds them from then
        on)."""
        day = np.concatenate([np.empty(0, np.int32), *self.day])
        order = np.argsort(day, kind="stable")
        sb = np.concatenate([np.empty(0, np.int16), *self.sb])[order]
        channel = np.concatenate([np.empty(0, np.int8), *self.channel])[order]
        self.sb, self.channel, self.day = [], [], []
        return sb, channel, day[order]


def initial_counts(rng: np.random.Generator, ctx: Context) -> IntArray:
    """Policies in force at the start of the period per sub-branch."""
    org = ctx.org
    n_target = max(int(round(POLICIES_IN_FORCE * ctx.scale)), org.n_sb)
    # Every sub-branch holds at least one policy, so claims always find one to belong to.
    return rng.multinomial(n_target - org.n_sb, org.shares(SUBSIDIARY_MIX["policies"])) + 1


def initial_policies(rng: np.random.Generator, ctx: Context, sb: IntArray) -> dict[str, IntArray]:
    """Policies of sub-branches `sb` in force at the start of the period, issued over the years
    before it, sorted by issue date."""
    period = ctx.period
    sub = ctx.org.sb_subsidiary[sb]
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
    return {
        "sb": sb[order],
        "product": product[order],
        "channel": pick(rng, CHANNEL_MIX, sub)[order],
        "issued": issued[order],
        "terminated": terminated[order],
        "premium": premium(rng, product)[order],
    }


def pick_product(rng: np.random.Generator, subsidiary: IntArray) -> IntArray:
    mix = [[p[2] if p[1] == s else 0.0 for p in PRODUCTS] for s in range(len(ORG_TREE))]
    return pick(rng, mix, subsidiary)


def premium(rng: np.random.Generator, product: IntArray) -> FloatArray:
    median = np.array([p[3] for p in PRODUCTS], dtype=float)[product]
    return np.round(lognormal(rng, median, 0.6, product.size), -1)


def build_applications(seed: int, ctx: Context, issued: Issued) -> Stream:
    """New-business applications; the policies issued from them are added to `issued`."""
    return sub_branch_stream(
        seed, ctx, "applications", lambda ev: applications(ev, ctx, issued), (0.95, 1.1)
    )


def applications(ev: Events, ctx: Context, new_policies: Issued) -> Table:
    org, period, rng = ctx.org, ctx.period, ev.rng
    received, sb = ev.ts, ev.column
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
            "application_id": ev.ids,
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
    new_policies.add(sb[new], channel[new], issued[new])
    return table


def build_policies(seed: int, ctx: Context, issued: Issued, book: Book) -> Stream:
    """The book: first the policies in force before the period (`policies_initial.csv`) by
    blocks of sub-branches, then those issued from applications, month by month; each chunk is
    added to `book` for the sources about policies."""
    org, period = ctx.org, ctx.period
    per_sb = initial_counts(rng_for(seed, "policies"), ctx)
    ends = np.cumsum(per_sb)
    n_initial = int(ends[-1])
    sb_new, channel_new, day_new = issued.take_in_issue_order()
    bounds = np.searchsorted(day_new, period.month_starts // DAY, side="left")

    def chunks() -> Iterator[Table]:
        size = volumes.CHUNK_ROWS  # read at each run: the memory test lowers it
        for lo in range(0, n_initial, size):
            rows = np.arange(lo, min(lo + size, n_initial))
            sb = np.searchsorted(ends, rows, side="right")
            rng = rng_for(seed, "policies", "initial", str(lo))
            yield policies_table(ctx, book, lo, initial_policies(rng, ctx, sb), initial=True)
        for m in range(period.months):
            for lo in range(int(bounds[m]), int(bounds[m + 1]), size):
                hi = min(lo + size, int(bounds[m + 1]))
                rng = rng_for(seed, "policies", "issued", str(lo))
                sb, channel = sb_new[lo:hi].astype(np.int64), channel_new[lo:hi].astype(np.int64)
                cols = new_policies(rng, org, sb, channel, day_new[lo:hi].astype(np.int64) * DAY)
                yield policies_table(ctx, book, n_initial + lo, cols, initial=False)

    return Stream(chunks(), n_initial + int(sb_new.size))


def new_policies(
    rng: np.random.Generator, org: Org, sb: IntArray, channel: IntArray, issued: IntArray
) -> dict[str, IntArray]:
    """Policies issued from applications during the period, in issue order."""
    product = pick_product(rng, org.sb_subsidiary[sb])
    lapse = np.array([p[4] for p in PRODUCTS])[product]
    terminated = issued + (rng.exponential(1 / lapse) * 365.25 * DAY).astype(np.int64)
    return {
        "sb": sb,
        "product": product,
        "channel": channel,
        "issued": issued,
        "terminated": terminated - terminated % DAY,
        "premium": premium(rng, product),
    }


def policies_table(
    ctx: Context, book: Book, first_id: int, cols: dict[str, IntArray], initial: bool
) -> Table:
    """One chunk of the policies' file(s), added to `book` as it is built."""
    period = ctx.period
    terminated = censor(cols["terminated"], period.extraction)
    book.add(cols["sb"], cols["product"], cols["issued"], terminated)
    n = cols["sb"].size
    return Table(
        {
            "policy_id": first_id + np.arange(n),
            "org_code": ctx.org.sb_unit[cols["sb"]],
            "product_line": cols["product"],
            "channel": cols["channel"],
            "issued_date": cols["issued"],
            "terminated_date": terminated,
            "annual_premium": cols["premium"],
        },
        np.full(n, -1) if initial else period.month_of(cols["issued"]),
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
