"""The customer's voice: contact-center contacts, complaints and NPS survey responses."""

from __future__ import annotations

import numpy as np

from opsgen.context import Context, Events, sub_branch_stream
from opsgen.org import CENTER, CENTER_CODES, CENTERS, center_for
from opsgen.sources.policies import Book
from opsgen.table import DefectTargets, Stream, Table, id_sql, life_cycle_targets
from opsgen.volumes import (
    ANNUAL,
    COMPLAINTS_PER_10K_MONTH,
    CONTACT_HOURS,
    DAY,
    HOUR,
    NA,
    censor,
    later,
    lognormal,
    pick,
    staff_pool,
)

CONTACT_CHANNELS = ("voice", "app", "wechat", "web", "counter")
COMPLAINT_SOURCES = ("internal", "regulator")
COMPLAINT_CATEGORIES = ("claims", "sales", "service", "underwriting", "billing")
COMPLAINT_OUTCOMES = ("upheld", "partially_upheld", "not_upheld")
TOUCHPOINTS = ("claim", "new_business", "endorsement", "contact")


def build_contacts(seed: int, ctx: Context) -> Stream:
    return sub_branch_stream(seed, ctx, "contacts", lambda ev: contacts(ev, ctx), (1.0, 1.05))


def contacts(ev: Events, ctx: Context) -> Table:
    org, period, rng = ctx.org, ctx.period, ev.rng
    arrived, sb = ev.ts, ev.column
    n = arrived.size
    sub = org.sb_subsidiary[sb]
    t = period.progress(arrived)
    # Self-service grows: the voice share falls from 72% to 66% over the period.
    voice = rng.random(n) < 0.72 - 0.06 * t
    channel = np.where(voice, 0, 1 + pick(rng, [[0.35, 0.35, 0.15, 0.15]], np.zeros(n, np.int64)))
    center = center_for("contact_center", sub)
    hour = (arrived % DAY) // HOUR
    monday = (arrived // DAY + 3) % 7 == 0
    load = np.asarray(CONTACT_HOURS)[hour] / max(CONTACT_HOURS)
    center_factor = np.where(center == CENTER["C-CC-PNC"], 1.3, 1.0)
    median_wait = 4.0 * np.exp(1.6 * (load - 0.6)) * center_factor * np.where(monday, 1.3, 1.0)
    voice_wait = lognormal(rng, median_wait * np.sqrt(org.speed[sb]), 1.2, n)
    other_wait = lognormal(rng, np.where(channel == 4, 240.0, 30.0), 0.9, n)
    wait = np.where(voice, voice_wait, other_wait)
    patience = np.where(rng.random(n) < 0.012, rng.uniform(0, 5, n), lognormal(rng, 80.0, 1.0, n))
    abandoned = voice & (patience < wait)
    talk_median = np.array([200.0, 400.0, 400.0, 400.0, 480.0])[channel]
    talk = np.where(abandoned, 0, np.round(lognormal(rng, talk_median, 0.6, n))).astype(np.int64)
    on_hold = voice & ~abandoned & (rng.random(n) < 0.35)
    hold = np.where(on_hold, np.round(lognormal(rng, 45.0, 0.7, n)), 0).astype(np.int64)
    acw = np.where(abandoned, 0, np.round(lognormal(rng, 40.0, 0.5, n))).astype(np.int64)
    answered = np.where(abandoned, NA, later(arrived, wait))
    gave_up = np.where(abandoned, later(arrived, patience), NA)
    ended = np.where(abandoned, gave_up, later(answered, (talk + hold).astype(float)))
    fcr = ~abandoned & (rng.random(n) < np.clip(0.76 + 0.5 * org.service[sb], 0.5, 0.95))
    handled = ANNUAL["contacts"] * ctx.scale * np.array([0.65, 0.35])
    pool = np.zeros(len(CENTERS), dtype=np.int64)
    pool[[CENTER["C-CC"], CENTER["C-CC-PNC"]]] = staff_pool(handled, 6_000)
    agent = np.where(abandoned, -1, center * 10_000 + (rng.random(n) * pool[center]).astype(int))
    ctx.workload.add(period.month_of(arrived), center, sb, (talk + hold + acw) / HOUR / 0.8)
    return Table(
        {
            "contact_id": ev.ids,
            "org_code": org.sb_unit[sb],
            "center_code": center,
            "channel": channel,
            "arrived_at": arrived,
            "answered_at": censor(answered, period.extraction),
            "abandoned_at": censor(gave_up, period.extraction),
            "ended_at": censor(ended, period.extraction),
            "talk_sec": talk,
            "hold_sec": hold,
            "acw_sec": acw,
            "first_contact_resolved": fcr,
            "agent_id": agent,
        },
        period.month_of(arrived),
        cats={"org_code": org.vocab, "center_code": CENTER_CODES, "channel": CONTACT_CHANNELS},
        exprs={
            "contact_id": id_sql("contact_id", "CT", 11),
            "agent_id": id_sql("agent_id", "A", 6),
        },
        targets=life_cycle_targets("contact_id", "arrived_at", "answered_at", "ended_at"),
    )


def build_complaints(rng: np.random.Generator, ctx: Context, book: Book) -> Table:
    """Complaints per month in proportion to the policies in force (a few thousand a month at
    the largest scale: built whole)."""
    org, period = ctx.org, ctx.period
    in_force = book.in_force()
    rate = COMPLAINTS_PER_10K_MONTH / 10_000 * np.array([1.0, 1.3, 0.9])[org.sb_subsidiary]
    counts = rng.poisson(in_force * rate * org.complaints)
    cells = np.repeat(np.arange(counts.size), counts.ravel())
    month, sb = np.divmod(cells, org.n_sb)
    starts = period.month_starts
    received = starts[month] + (
        rng.random(cells.size) * (starts[month + 1] - starts[month])
    ).astype(np.int64)
    order = np.argsort(received, kind="stable")
    received, sb = received[order], sb[order]
    n = received.size
    sub = org.sb_subsidiary[sb]
    categories = [
        [0.25, 0.35, 0.20, 0.10, 0.10],
        [0.50, 0.15, 0.20, 0.05, 0.10],
        [0.45, 0.20, 0.15, 0.10, 0.10],
    ]
    extended = rng.random(n) < 0.1
    close = lognormal(rng, 7 * DAY, 0.6, n) * org.speed[sb] * np.where(extended, 2.0, 1.0)
    closed = censor(later(received, close), period.extraction)
    outcome = np.where(closed == NA, -1, pick(rng, [[0.3, 0.25, 0.45]], np.zeros(n, np.int64)))
    return Table(
        {
            "complaint_id": np.arange(n),
            "org_code": org.sb_unit[sb],
            "source": (rng.random(n) < 0.3).astype(np.int64),
            "category": pick(rng, categories, sub),
            "received_at": received,
            "due_at": received + np.where(extended, 30, 15) * DAY,
            "closed_at": closed,
            "outcome": outcome,
        },
        period.month_of(received),
        cats={
            "org_code": org.vocab,
            "source": COMPLAINT_SOURCES,
            "category": COMPLAINT_CATEGORIES,
            "outcome": COMPLAINT_OUTCOMES,
        },
        exprs={"complaint_id": id_sql("complaint_id", "CP", 8)},
        targets=life_cycle_targets("complaint_id", "received_at", "closed_at"),
    )


def build_nps_responses(seed: int, ctx: Context) -> Stream:
    return sub_branch_stream(seed, ctx, "nps_responses", lambda ev: nps_responses(ev, ctx))


def nps_responses(ev: Events, ctx: Context) -> Table:
    org, period, rng = ctx.org, ctx.period, ev.rng
    responded, sb = ev.ts, ev.column
    n = responded.size
    touchpoint = pick(rng, [[0.3, 0.25, 0.2, 0.25]], np.zeros(n, np.int64))
    shift = np.array([-0.03, 0.05, 0.0, -0.02])[touchpoint] + org.service[sb]
    promoter = np.clip(0.50 + shift, 0.15, 0.85)
    detractor = np.clip(0.19 - 0.6 * shift, 0.04, 0.5)
    u = rng.random(n)
    group = np.where(u < promoter, 2, np.where(u < promoter + detractor, 0, 1))
    scores = [
        [0.08, 0.04, 0.05, 0.08, 0.10, 0.25, 0.40, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0.45, 0.55, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0.4, 0.6],
    ]
    return Table(
        {
            "response_id": ev.ids,
            "org_code": org.sb_unit[sb],
            "touchpoint": touchpoint,
            "score": pick(rng, scores, group),
            "responded_at": responded,
        },
        period.month_of(responded),
        cats={"org_code": org.vocab, "touchpoint": TOUCHPOINTS},
        exprs={"response_id": id_sql("response_id", "NR", 9)},
        targets=DefectTargets(
            id_col="response_id",
            org_cols=("org_code",),
            primary_ts="responded_at",
            future_col="responded_at",
            late=True,
        ),
    )
