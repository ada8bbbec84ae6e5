"""Demo extracts in the input contract's shape: a mid-size Chinese insurance group's operations.

`generate()` writes one folder per source under `out`, in the layout of `data/raw/README.md`:

- `<source>/<source>_<YYYY-MM>.csv`, one file per month of the period, for the monthly partitioned
  sources (claims by reported_at, contacts by arrived_at, ..., staffing and op_costs by month);
- `policies/policies_initial.csv` for the policies issued before the period, then monthly files;
- `org_units/org_units.csv`, `org_aliases/org_aliases.csv`, `centers/centers.csv`,
  `project_milestones/project_milestones.csv` as single files;
- `_manifest/defects.csv` (source, file, record_key, defect_kind): one row per injected defect. It
  is always written; with `defects=0` it holds the header only.

The period is the `months` months ending with `end_month`; the extraction moment is the first
second of the following month, and life-cycle timestamps after it are empty (open work).

Everything is vectorised with numpy (one generator per source, derived from the seed, so the
output is byte-identical for a given seed) and written by DuckDB `COPY`. Columns are selected and
cast in the order and types of the contract (`contract_columns()`), never listed here a second
time: a contract column the generator does not produce fails loudly.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dagster_project.core.contract import contract_columns, load_contract, source_meta

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Timestamps are held as int64 epoch seconds; NA is numpy's NaT bit pattern, so a view as
# datetime64[s] turns it into NaT and DuckDB reads it as NULL.
NA = np.iinfo(np.int64).min
DAY = 86_400
HOUR = 3_600
MANIFEST_DIR = "_manifest"
MANIFEST_FILE = "defects.csv"
DEFECT_KINDS = (
    "duplicate",
    "rekeyed_duplicate",
    "out_of_order",
    "negative_amount",
    "unit_scaled_amount",
    "unknown_org_code",
    "variant_org_code",
    "missing_handler",
    "mixed_date_format",
    "late_arriving",
    "future_date",
)
KIND_CODE = {kind: code for code, kind in enumerate(DEFECT_KINDS)}

# --- The fixed organisation -----------------------------------------------------------------------

GROUP_CODE = "GRP"
GROUP_NAME = "中瑞保险集团"
# (code, short name, legal name, branches); branch = (province code, province, size, places).
# Municipality branches (BJ, SH) have district sub-branches; provinces have city-level central
# sub-branches (中心支公司), except county-level cities.
ORG_TREE: tuple[tuple[str, str, str, tuple[tuple[str, str, float, tuple[str, ...]], ...]], ...] = (
    (
        "LIF",
        "人寿",
        "中瑞人寿保险有限公司",
        (
            ("BJ", "北京", 1.4, ("朝阳", "海淀", "东城", "西城", "丰台")),
            ("SH", "上海", 1.4, ("浦东", "黄浦", "徐汇", "静安")),
            ("GD", "广东", 1.5, ("广州", "深圳", "佛山", "东莞", "珠海", "汕头")),
            ("JS", "江苏", 1.2, ("南京", "苏州", "无锡", "常州", "南通", "昆山")),
            ("ZJ", "浙江", 1.1, ("杭州", "宁波", "温州")),
            ("SC", "四川", 0.9, ("成都", "绵阳", "德阳", "宜宾")),
        ),
    ),
    (
        "PNC",
        "财险",
        "中瑞财产保险有限公司",
        (
            ("BJ", "北京", 1.3, ("朝阳", "海淀", "通州")),
            ("SH", "上海", 1.3, ("浦东", "闵行", "嘉定", "松江")),
            ("GD", "广东", 1.5, ("广州", "深圳", "佛山", "惠州", "中山")),
            ("SD", "山东", 1.1, ("济南", "青岛", "烟台", "潍坊", "临沂")),
            ("HB", "湖北", 0.8, ("武汉", "宜昌", "襄阳")),
        ),
    ),
    (
        "HLT",
        "健康",
        "中瑞健康保险有限公司",
        (
            ("BJ", "北京", 1.3, ("朝阳", "海淀", "西城")),
            ("SH", "上海", 1.3, ("浦东", "徐汇", "长宁")),
            ("GD", "广东", 1.4, ("广州", "深圳", "东莞", "佛山")),
            ("HN", "河南", 0.9, ("郑州", "洛阳", "新乡", "南阳")),
        ),
    ),
)
MUNICIPALITIES = frozenset({"BJ", "SH"})
COUNTY_LEVEL = frozenset({"昆山"})
INITIAL_VALID_FROM = np.datetime64("2015-01-01")
# Kunshan sits next to Shanghai; the life company hands it to the Shanghai branch mid-period.
REORG_CODE = "LIF-JS-06"
REORG_NEW_PARENT = "LIF-SH"
# Legacy codes some systems still send (the pre-merger core systems); each maps to a sub-branch.
ALIASES = (
    ("BJ001", "LIF-BJ-01"),
    ("BJ002", "LIF-BJ-02"),
    ("SH001", "LIF-SH-01"),
    ("GZ001", "LIF-GD-01"),
    ("KS001", "LIF-JS-06"),
    ("3701", "PNC-SD-01"),
    ("3702", "PNC-SD-02"),
    ("4201", "PNC-HB-01"),
    ("4403", "PNC-GD-02"),
    ("HN-ZZ", "HLT-HN-01"),
    ("HN-LY", "HLT-HN-02"),
)
# (code, name, function, subsidiary). The group's shared-service centers are legally part of the
# life company, which hosts them for all three subsidiaries.
CENTERS = (
    ("C-CLM-LIF", "人寿理赔中心", "claims", "LIF"),
    ("C-CLM-PNC", "财险理赔中心", "claims", "PNC"),
    ("C-CLM-HLT", "健康理赔中心", "claims", "HLT"),
    ("C-NB-LIF", "人寿新契约中心", "new_business", "LIF"),
    ("C-NB-PNC", "财险承保中心", "new_business", "PNC"),
    ("C-NB-HLT", "健康核保中心", "new_business", "HLT"),
    ("C-SVC", "集团保全服务中心", "servicing", "LIF"),
    ("C-CC", "集团客户服务中心", "contact_center", "LIF"),
    ("C-CC-PNC", "财险客服中心", "contact_center", "PNC"),
    ("C-OPS", "集团运营共享中心", "operations", "LIF"),
    ("C-RPA", "集团自动化中心", "automation", "LIF"),
)
CENTER_CODES = tuple(c[0] for c in CENTERS)
CENTER = {code: i for i, code in enumerate(CENTER_CODES)}
SUBSIDIARY_CODES = tuple(s[0] for s in ORG_TREE)

# --- Volumes at scale 1 (a mid-size insurer), per year --------------------------------------------

POLICIES_IN_FORCE = 1_900_000
ANNUAL = {
    "claims": 400_000,
    "contacts": 3_000_000,
    "applications": 500_000,
    "endorsements": 800_000,
    "tasks": 2_500_000,
    "nps_responses": 150_000,
    "rpa_runs": 60_000,
}
MILESTONES_PER_24_MONTHS = 200
COMPLAINTS_PER_10K_MONTH = 1.2
# Share of each source's volume by subsidiary (LIF, PNC, HLT).
SUBSIDIARY_MIX = {
    "policies": (0.45, 0.35, 0.20),
    "claims": (0.12, 0.55, 0.33),
    "contacts": (0.45, 0.35, 0.20),
    "applications": (0.35, 0.45, 0.20),
    "endorsements": (0.55, 0.25, 0.20),
    "tasks": (0.40, 0.38, 0.22),
    "nps_responses": (0.45, 0.35, 0.20),
}

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
CLAIM_DECISIONS = ("paid", "partial", "declined", "withdrawn")
CONTACT_CHANNELS = ("voice", "app", "wechat", "web", "counter")
UW_ROUTES = ("auto", "manual")
APP_DECISIONS = ("issued", "declined", "withdrawn")
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
COMPLAINT_SOURCES = ("internal", "regulator")
COMPLAINT_CATEGORIES = ("claims", "sales", "service", "underwriting", "billing")
COMPLAINT_OUTCOMES = ("upheld", "partially_upheld", "not_upheld")
TOUCHPOINTS = ("claim", "new_business", "endorsement", "contact")
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

# --- Rhythms: weekday, season, holiday and hour-of-day profiles -----------------------------------

OFFICE_HOURS = (
    0.02, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.2, 0.6, 1.0, 1.0, 1.0,
    0.5, 0.8, 1.0, 1.0, 0.9, 0.7, 0.35, 0.2, 0.12, 0.08, 0.05, 0.03,
)  # fmt: skip
CONTACT_HOURS = (
    0.03, 0.02, 0.01, 0.01, 0.01, 0.02, 0.05, 0.2, 0.6, 1.2, 1.3, 1.1,
    0.8, 0.9, 1.1, 1.1, 1.0, 0.8, 0.5, 0.4, 0.35, 0.25, 0.1, 0.05,
)  # fmt: skip
EVENT_HOURS = (
    0.1, 0.06, 0.04, 0.03, 0.03, 0.05, 0.15, 0.45, 0.9, 1.0, 1.0, 1.0,
    0.8, 0.9, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2,
)  # fmt: skip
FLAT_SEASON = (1.0,) * 12
# Lunar new year's day; the holiday runs from its eve for eight days.
SPRING_FESTIVAL = (
    "2015-02-19", "2016-02-08", "2017-01-28", "2018-02-16", "2019-02-05", "2020-01-25",
    "2021-02-12", "2022-02-01", "2023-01-22", "2024-02-10", "2025-01-29", "2026-02-17",
    "2027-02-06", "2028-01-26", "2029-02-13", "2030-02-03", "2031-01-23", "2032-02-11",
)  # fmt: skip


@dataclass(frozen=True)
class Rhythm:
    """How a source's volume moves over the week, the year, holidays and the day."""

    weekday: tuple[float, ...]
    season: tuple[tuple[float, ...], ...]  # per subsidiary, January first
    holiday: float
    hours: tuple[float, ...]


RHYTHMS = {
    "claims": Rhythm(
        (1.2, 1.05, 1.0, 1.0, 1.0, 0.7, 0.6),
        (
            FLAT_SEASON,
            (1.1, 0.9, 0.95, 0.95, 1.0, 1.05, 1.25, 1.25, 1.15, 0.95, 0.9, 1.0),
            (1.15, 1.05, 1.1, 1.0, 0.95, 0.9, 0.9, 0.9, 0.95, 1.0, 1.0, 1.15),
        ),
        0.6,
        EVENT_HOURS,
    ),
    "contacts": Rhythm(
        (1.25, 1.05, 1.0, 1.0, 0.95, 0.6, 0.5),
        ((1.1, 0.9, 1.05, 1.0, 0.95, 0.95, 1.0, 1.0, 1.0, 0.95, 1.0, 1.1),) * 3,
        0.5,
        CONTACT_HOURS,
    ),
    "applications": Rhythm(
        (1.1, 1.05, 1.0, 1.0, 1.05, 0.4, 0.25),
        (
            (1.9, 1.0, 1.4, 0.9, 0.85, 0.9, 0.8, 0.8, 0.85, 0.8, 0.85, 1.15),
            (1.0, 0.85, 1.0, 1.0, 1.0, 1.0, 0.95, 0.95, 1.0, 0.95, 1.05, 1.25),
            (1.3, 0.9, 1.1, 1.0, 0.95, 0.95, 0.95, 0.95, 1.0, 0.95, 0.95, 1.05),
        ),
        0.2,
        OFFICE_HOURS,
    ),
    "endorsements": Rhythm(
        (1.1, 1.05, 1.0, 1.0, 1.0, 0.4, 0.3),
        ((1.1, 0.85, 1.05, 1.0, 1.0, 1.0, 0.95, 0.95, 1.0, 0.95, 1.0, 1.15),) * 3,
        0.2,
        OFFICE_HOURS,
    ),
    "tasks": Rhythm(
        (1.05, 1.0, 1.0, 1.0, 0.98, 0.35, 0.2),
        ((1.25, 0.85, 1.1, 0.95, 0.95, 1.0, 0.95, 0.95, 1.0, 0.9, 0.95, 1.15),) * 3,
        0.15,
        OFFICE_HOURS,
    ),
    "nps_responses": Rhythm(
        (1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.7), (FLAT_SEASON,) * 3, 0.6, CONTACT_HOURS
    ),
    "rpa_runs": Rhythm((1.0, 1.0, 1.0, 1.0, 1.0, 0.3, 0.3), (FLAT_SEASON,) * 3, 0.3, OFFICE_HOURS),
}

# Share of rows from an aliased sub-branch that a source sends under the legacy code.
ALIAS_USE = {
    "policies": 0.15,
    "claims": 0.08,
    "applications": 0.05,
    "endorsements": 0.05,
    "contacts": 0.04,
    "tasks": 0.04,
    "complaints": 0.10,
    "nps_responses": 0.04,
}


# --- Result ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerateResult:
    """What one generate() run wrote."""

    files: tuple[Path, ...]
    rows: dict[str, int]
    defects: int
    seconds: float
    bytes_written: int = 0


# --- Period ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """The months of the demo; times are int64 epoch seconds (local time, no zone)."""

    first_month: np.datetime64
    months: int

    @classmethod
    def ending(cls, end_month: str, months: int) -> Period:
        if months < 1:
            raise ValueError(f"months must be at least 1, got {months}")
        try:
            end = np.datetime64(end_month, "M")
        except ValueError as exc:
            raise ValueError(f"end_month must look like 2026-10, got {end_month!r}") from exc
        return cls(end - np.timedelta64(months - 1, "M"), months)

    @property
    def month_starts(self) -> IntArray:
        """Start second of each month, plus the extraction moment (months + 1 values)."""
        months = self.first_month + np.arange(self.months + 1).astype("timedelta64[M]")
        return months.astype("datetime64[s]").astype(np.int64)

    @property
    def start(self) -> int:
        return int(self.month_starts[0])

    @property
    def extraction(self) -> int:
        """The first second after the period: nothing later has happened yet."""
        return int(self.month_starts[-1])

    @property
    def labels(self) -> list[str]:
        months = self.first_month + np.arange(self.months).astype("timedelta64[M]")
        return [str(m) for m in months]

    @property
    def n_days(self) -> int:
        return (self.extraction - self.start) // DAY

    def month_of(self, ts: IntArray) -> IntArray:
        return np.searchsorted(self.month_starts, ts, side="right").astype(np.int64) - 1

    def progress(self, ts: IntArray) -> FloatArray:
        """0 at the start of the period, 1 at the extraction moment (for trends)."""
        return (ts - self.start) / (self.extraction - self.start)


def holiday_mask(days: npt.NDArray[np.datetime64]) -> BoolArray:
    """Chinese public holidays: spring festival week, labour day and national day golden weeks."""
    eves = np.array(SPRING_FESTIVAL, dtype="datetime64[D]") - 1
    festival = (eves[:, None] + np.arange(8)).ravel()
    month_day = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    golden = ((month == 5) & (month_day <= 5)) | ((month == 10) & (month_day <= 7))
    return np.isin(days, festival) | golden


def day_weights(period: Period, rhythm: Rhythm) -> FloatArray:
    """Relative volume of each day per subsidiary, shape (days, 3); a plain weekday averages 1."""
    days = np.datetime64(period.start, "s").astype("datetime64[D]") + np.arange(period.n_days)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    month = days.astype("datetime64[M]").astype(np.int64) % 12
    week = np.asarray(rhythm.weekday) / np.mean(rhythm.weekday)
    season = np.asarray(rhythm.season) / np.mean(rhythm.season, axis=1, keepdims=True)
    weights = week[weekday][:, None] * season[:, month].T
    return np.where(holiday_mask(days)[:, None], weights * rhythm.holiday, weights)


def sample_events(
    rng: np.random.Generator,
    period: Period,
    rhythm: Rhythm,
    annual: FloatArray,
    subsidiary: IntArray,
    trend: tuple[float, float] = (1.0, 1.0),
) -> tuple[IntArray, IntArray]:
    """Event times and column index for Poisson volumes per day and column, sorted by time.

    `annual[j]` is the yearly volume of column j (a sub-branch or a process) and `subsidiary[j]`
    picks its seasonal curve; `trend` multiplies volume linearly from the first to the last day.
    """
    weights = day_weights(period, rhythm)[:, subsidiary]
    growth = np.linspace(trend[0], trend[1], period.n_days)[:, None]
    counts = rng.poisson(weights * growth * (annual / 365.25)[None, :])
    cells = np.repeat(np.arange(counts.size), counts.ravel())
    day, column = np.divmod(cells, counts.shape[1])
    hours = np.asarray(rhythm.hours) / np.sum(rhythm.hours)
    hour = rng.choice(24, size=cells.size, p=hours)
    ts = period.start + day * DAY + hour * HOUR + rng.integers(0, HOUR, size=cells.size)
    order = np.argsort(ts, kind="stable")
    return ts[order], column[order]


def lognormal(
    rng: np.random.Generator, median: FloatArray | float, sigma: float, n: int
) -> FloatArray:
    """Long-tailed positive durations or amounts with the given median."""
    return np.asarray(median) * np.exp(sigma * rng.standard_normal(n))


def pick(rng: np.random.Generator, probabilities: npt.ArrayLike, rows: IntArray) -> IntArray:
    """One category per row from per-group probabilities: probabilities[group] sums to 1."""
    table = np.cumsum(np.asarray(probabilities, dtype=float), axis=1)
    table /= table[:, -1:]
    u = rng.random(rows.size)
    return (u[:, None] > table[rows]).sum(axis=1).astype(np.int64)


def later(base: IntArray, seconds: FloatArray) -> IntArray:
    """base + seconds, NA where base is NA."""
    out = base + np.maximum(seconds, 0).astype(np.int64)
    return np.where(base == NA, NA, out)


def censor(ts: IntArray, extraction: int) -> IntArray:
    """Times at or after the extraction moment have not happened yet: empty."""
    return np.where(ts >= extraction, NA, ts)


# --- Organisation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Org:
    """The org tree, the code vocabulary written to the files and each sub-branch's profile."""

    units: pd.DataFrame  # one row per unit (first version): code, name, level, parent
    vocab: tuple[str, ...]  # canonical codes, aliases, variant spellings, unknown codes
    canonical: IntArray  # vocab index -> unit index
    variants: IntArray  # (units, 3) vocab indexes of lower-case / padded spellings
    unknowns: IntArray  # (units, 2) vocab indexes of codes missing from the master
    alias_of_unit: IntArray  # unit index -> vocab index of its alias, -1 if none
    sb_unit: IntArray  # sub-branch -> unit index (= vocab index of its canonical code)
    sb_subsidiary: IntArray  # sub-branch -> 0 LIF, 1 PNC, 2 HLT
    size: FloatArray  # relative size within the subsidiary
    speed: FloatArray  # > 1 slower processing
    quality: FloatArray  # > 1 more errors, NIGO, returns
    automation: FloatArray  # multiplies auto-processing rates
    service: FloatArray  # shift of the NPS promoter share
    complaints: FloatArray  # multiplies the complaint rate

    @property
    def n_sb(self) -> int:
        return int(self.sb_unit.size)

    def shares(self, mix: Sequence[float]) -> FloatArray:
        """Share of a volume per sub-branch for a subsidiary mix: sums to 1."""
        within = self.size / np.bincount(self.sb_subsidiary, weights=self.size)[self.sb_subsidiary]
        return within * np.asarray(mix)[self.sb_subsidiary]


def org_unit_rows() -> pd.DataFrame:
    """The fixed tree as one row per unit: code, name, level, parent, subsidiary, size factor."""
    rows = [(GROUP_CODE, GROUP_NAME, "group", None, -1, 1.0)]
    for s, (sub, _short, legal, _branches) in enumerate(ORG_TREE):
        rows.append((sub, legal, "subsidiary", GROUP_CODE, s, 1.0))
    for s, (sub, short, _legal, branches) in enumerate(ORG_TREE):
        for prov, prov_name, size, _places in branches:
            rows.append((f"{sub}-{prov}", f"{short}{prov_name}分公司", "branch", sub, s, size))
    for s, (sub, short, _legal, branches) in enumerate(ORG_TREE):
        for prov, prov_name, size, places in branches:
            for k, place in enumerate(places, start=1):
                if prov in MUNICIPALITIES:
                    name = f"{short}{prov_name}{place}支公司"
                elif place in COUNTY_LEVEL:
                    name = f"{short}{place}支公司"
                else:
                    name = f"{short}{place}中心支公司"
                rows.append((f"{sub}-{prov}-{k:02d}", name, "sub_branch", f"{sub}-{prov}", s, size))
    return pd.DataFrame(rows, columns=["code", "name", "level", "parent", "subsidiary", "size"])


def build_org(rng: np.random.Generator) -> Org:
    units = org_unit_rows()
    codes = units["code"].tolist()
    index = {code: i for i, code in enumerate(codes)}
    n = len(codes)
    vocab = [*codes, *(alias for alias, _ in ALIASES)]
    canonical = [*range(n), *(index[target] for _, target in ALIASES)]
    variants = np.empty((n, 3), dtype=np.int64)
    unknowns = np.empty((n, 2), dtype=np.int64)
    for i, (code, name) in enumerate(zip(codes, units["name"], strict=True)):
        spellings = (code.lower(), f" {code}", f" {code.lower()}  ")
        # A sub-branch not yet in the master (…-9k) or the unit's name typed instead of its code.
        missing = f"{code[:-2]}9{code[-1]}" if code.count("-") == 2 else f"{code}-X"
        for j, text in enumerate(spellings):
            variants[i, j] = len(vocab)
            vocab.append(text)
            canonical.append(i)
        for j, text in enumerate((missing, name)):
            unknowns[i, j] = len(vocab)
            vocab.append(text)
            canonical.append(i)
    alias_of_unit = np.full(n, -1, dtype=np.int64)
    for k, (_, target) in enumerate(ALIASES):
        alias_of_unit[index[target]] = n + k
    sb = units.index[units["level"] == "sub_branch"].to_numpy()
    n_sb = sb.size
    return Org(
        units=units,
        vocab=tuple(vocab),
        canonical=np.asarray(canonical, dtype=np.int64),
        variants=variants,
        unknowns=unknowns,
        alias_of_unit=alias_of_unit,
        sb_unit=sb.astype(np.int64),
        sb_subsidiary=units.loc[sb, "subsidiary"].to_numpy(np.int64),
        size=units.loc[sb, "size"].to_numpy(float) * lognormal(rng, 1.0, 0.45, n_sb),
        speed=lognormal(rng, 1.0, 0.25, n_sb),
        quality=lognormal(rng, 1.0, 0.3, n_sb),
        automation=lognormal(rng, 1.0, 0.07, n_sb),
        service=rng.normal(0.0, 0.05, n_sb),
        complaints=lognormal(rng, 1.0, 0.4, n_sb),
    )


def reorg_date(period: Period) -> np.datetime64:
    """First day of the month in the middle of the period."""
    return (period.first_month + np.timedelta64(period.months // 2, "M")).astype("datetime64[D]")


def center_for(function: str, subsidiary: IntArray) -> IntArray:
    """The center of a function serving each row's subsidiary."""
    options = [c for c in CENTERS if c[2] == function]
    table = np.array(
        [
            CENTER[next((c[0] for c in options if c[3] == sub), options[0][0])]
            for sub in SUBSIDIARY_CODES
        ]
    )
    return table[subsidiary]


def served(org: Org) -> BoolArray:
    """(centers, sub-branches): which center works for which sub-branch."""
    contact = center_for("contact_center", org.sb_subsidiary)
    rows = []
    for code, _name, function, sub in CENTERS:
        if function in ("claims", "new_business"):
            rows.append(org.sb_subsidiary == SUBSIDIARY_CODES.index(sub))
        elif function == "contact_center":
            rows.append(contact == CENTER[code])
        else:
            rows.append(np.ones(org.n_sb, dtype=bool))
    return np.array(rows)


def served_sub_branch(rng: np.random.Generator, org: Org, center: IntArray) -> IntArray:
    """Per row, a sub-branch among those the row's center serves, in proportion to size."""
    serves = served(org)
    sb = np.zeros(center.size, dtype=np.int64)
    for c in np.unique(center):
        rows = np.flatnonzero(center == c)
        weight = org.size * serves[c]
        sb[rows] = rng.choice(org.n_sb, rows.size, p=weight / weight.sum())
    return sb


# --- Tables: internal columns, file partition and defect targets ----------------------------------


@dataclass(frozen=True)
class DefectTargets:
    """Where a source can carry each defect kind."""

    id_col: str | None = None  # a single generated key: re-keyed duplicates possible
    org_cols: tuple[str, ...] = ()
    amount_cols: tuple[str, ...] = ()
    primary_ts: str | None = None  # mixed date formats go here
    order: tuple[str, str] | None = None  # (earlier, later): out_of_order puts later first
    future_col: str | None = None
    handler_col: str | None = None
    late: bool = False


@dataclass
class Table:
    """Internal columns of one source, one row per record, rows in file order.

    Timestamps and dates are int64 epoch seconds (NA = empty); `cats` columns hold codes into a
    category list; `exprs` are SQL expressions for contract columns built from internal ones (ids).
    `part` is the file index of each row: a month of the period, or -1 for the initial file.
    """

    cols: dict[str, np.ndarray]
    part: IntArray
    cats: dict[str, Sequence[str]] = field(default_factory=dict)
    exprs: dict[str, str] = field(default_factory=dict)
    targets: DefectTargets = field(default_factory=DefectTargets)

    def __len__(self) -> int:
        return int(self.part.size)

    def take(self, rows: IntArray) -> Table:
        return Table(
            {k: v[rows] for k, v in self.cols.items()},
            self.part[rows],
            self.cats,
            self.exprs,
            self.targets,
        )


def id_sql(column: str, prefix: str, width: int) -> str:
    """A key written as prefix + zero-padded number; negative numbers are empty."""
    q = f'"{column}"'
    number = f"CAST({q} + 1 AS VARCHAR)"  # numbered from 1
    return f"CASE WHEN {q} >= 0 THEN '{prefix}' || lpad({number}, {width}, '0') END"


@dataclass
class Workload:
    """Handling hours per (month, center, sub-branch), from which staffing and costs follow."""

    hours: FloatArray

    def add(self, month: IntArray, center: IntArray, sb: IntArray, hours: FloatArray) -> None:
        months, n_centers, n_sb = self.hours.shape
        keep = (month >= 0) & (month < months)
        flat = (month[keep] * n_centers + center[keep]) * n_sb + sb[keep]
        self.hours += np.bincount(flat, weights=hours[keep], minlength=self.hours.size).reshape(
            self.hours.shape
        )


@dataclass(frozen=True)
class Context:
    """Everything a source builder needs."""

    period: Period
    org: Org
    scale: float
    workload: Workload


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


# --- Source builders ------------------------------------------------------------------------------


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
    annual = ANNUAL["applications"] * ctx.scale * org.shares(SUBSIDIARY_MIX["applications"])
    received, sb = sample_events(
        rng, period, RHYTHMS["applications"], annual, org.sb_subsidiary, (0.95, 1.1)
    )
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
        targets=DefectTargets(
            id_col="application_id",
            org_cols=("org_code",),
            primary_ts="received_at",
            order=("received_at", "decided_at"),
            future_col="decided_at",
            late=True,
        ),
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


def staff_pool(annual_items: FloatArray, items_per_person: float) -> IntArray:
    """Employees per center: enough to handle the yearly items, at least three."""
    return np.maximum(np.round(annual_items / items_per_person), 3).astype(np.int64)


def build_claims(rng: np.random.Generator, ctx: Context, policies: Policies) -> Table:
    org, period = ctx.org, ctx.period
    annual = ANNUAL["claims"] * ctx.scale * org.shares(SUBSIDIARY_MIX["claims"])
    reported, sb = sample_events(rng, period, RHYTHMS["claims"], annual, org.sb_subsidiary)
    n = reported.size
    policy = policy_picker(policies)(rng, sb, reported)
    product = policies.product[policy]
    sub = org.sb_subsidiary[sb]
    t = period.progress(reported)
    params = np.array([p[5:] for p in PRODUCTS], dtype=float)
    claimed = np.round(params[product, 0] * np.exp(params[product, 1] * rng.standard_normal(n)), 2)
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
    deductible = np.isin(product, [PRODUCT_NAMES.index("motor"), PRODUCT_NAMES.index("property")])
    full = claimed * np.where(deductible, rng.uniform(0.85, 1.0, n), 1.0)
    paid_amount = np.select(
        [decision == 0, decision == 1], [full, claimed * rng.uniform(0.3, 0.9, n)], 0.0
    )
    # Not decided, or decided to pay but not paid yet: the amount is not known.
    unknown = (decision == -1) | (paying & (paid == NA))
    paid_amount = np.where(unknown, np.nan, np.round(paid_amount, 2))
    center = center_for("claims", sub)
    manual_per_year = ANNUAL["claims"] * ctx.scale * np.asarray(SUBSIDIARY_MIX["claims"]) * 0.35
    pool = np.zeros(len(CENTERS), dtype=np.int64)
    pool[center_for("claims", np.arange(3))] = staff_pool(manual_per_year, 1_200)
    handler = np.where(auto, -1, center * 10_000 + (rng.random(n) * pool[center]).astype(np.int64))
    minutes = np.where(auto, 4.0, 120.0) + 240.0 * fraud
    ctx.workload.add(period.month_of(reported), center, sb, minutes / 60)
    return Table(
        {
            "claim_id": np.arange(n),
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
        },
        period.month_of(reported),
        cats={
            "org_code": org.vocab,
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


def build_contacts(rng: np.random.Generator, ctx: Context) -> Table:
    org, period = ctx.org, ctx.period
    annual = ANNUAL["contacts"] * ctx.scale * org.shares(SUBSIDIARY_MIX["contacts"])
    arrived, sb = sample_events(
        rng, period, RHYTHMS["contacts"], annual, org.sb_subsidiary, (1.0, 1.05)
    )
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
            "contact_id": np.arange(n),
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
        targets=DefectTargets(
            id_col="contact_id",
            org_cols=("org_code",),
            primary_ts="arrived_at",
            order=("arrived_at", "answered_at"),
            future_col="ended_at",
            late=True,
        ),
    )


def build_endorsements(rng: np.random.Generator, ctx: Context, policies: Policies) -> Table:
    org, period = ctx.org, ctx.period
    annual = ANNUAL["endorsements"] * ctx.scale * org.shares(SUBSIDIARY_MIX["endorsements"])
    requested, sb = sample_events(rng, period, RHYTHMS["endorsements"], annual, org.sb_subsidiary)
    n = requested.size
    policy = policy_picker(policies)(rng, sb, requested)
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
            "endorsement_id": np.arange(n),
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
        targets=DefectTargets(
            id_col="endorsement_id",
            org_cols=("org_code",),
            primary_ts="requested_at",
            order=("requested_at", "completed_at"),
            future_col="completed_at",
            late=True,
        ),
    )


def build_tasks(rng: np.random.Generator, ctx: Context) -> Table:
    org, period = ctx.org, ctx.period
    annual = ANNUAL["tasks"] * ctx.scale * org.shares(SUBSIDIARY_MIX["tasks"])
    created, sb = sample_events(rng, period, RHYTHMS["tasks"], annual, org.sb_subsidiary)
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
            "task_id": np.arange(n),
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
        targets=DefectTargets(
            id_col="task_id",
            org_cols=("org_code",),
            primary_ts="created_at",
            order=("created_at", "completed_at"),
            future_col="completed_at",
            late=True,
        ),
    )


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


def build_complaints(rng: np.random.Generator, ctx: Context, policies: Policies) -> Table:
    org, period = ctx.org, ctx.period
    in_force = policies_in_force(policies, period, org.n_sb)
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
        targets=DefectTargets(
            id_col="complaint_id",
            org_cols=("org_code",),
            primary_ts="received_at",
            order=("received_at", "closed_at"),
            future_col="closed_at",
            late=True,
        ),
    )


def build_nps_responses(rng: np.random.Generator, ctx: Context) -> Table:
    org, period = ctx.org, ctx.period
    annual = ANNUAL["nps_responses"] * ctx.scale * org.shares(SUBSIDIARY_MIX["nps_responses"])
    responded, sb = sample_events(rng, period, RHYTHMS["nps_responses"], annual, org.sb_subsidiary)
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
            "response_id": np.arange(n),
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


def build_rpa_runs(rng: np.random.Generator, ctx: Context) -> Table:
    org, period = ctx.org, ctx.period
    weights = np.array([p[2] for p in RPA_PROCESSES])
    annual = ANNUAL["rpa_runs"] * ctx.scale * weights / weights.sum()
    zeros = np.zeros(len(RPA_PROCESSES), dtype=np.int64)
    started, process = sample_events(
        rng, period, RHYTHMS["rpa_runs"], annual, zeros, trend=(0.7, 1.3)
    )
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
            "run_id": np.arange(n),
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
    return Table(
        {
            "month": ctx.period.month_starts[month],
            "center_code": center,
            "org_code": ctx.org.sb_unit[sb],
            "fte": np.round(fte[month, center, sb], 2),
            "productive_hours": np.round(productive[month, center, sb], 2),
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


# --- Aliases and defects --------------------------------------------------------------------------


def apply_aliases(rng: np.random.Generator, table: Table, org: Org, share: float) -> None:
    """Some systems still send the legacy code of an aliased sub-branch (not a defect)."""
    for col in table.targets.org_cols:
        alias = org.alias_of_unit[org.canonical[table.cols[col]]]
        use = (alias >= 0) & (rng.random(len(table)) < share)
        table.cols[col] = np.where(use, alias, table.cols[col])


def applicable_kinds(targets: DefectTargets, n_parts: int) -> list[str]:
    wanted = {
        "duplicate": True,
        "rekeyed_duplicate": targets.id_col is not None,
        "out_of_order": targets.order is not None,
        "negative_amount": bool(targets.amount_cols),
        "unit_scaled_amount": bool(targets.amount_cols),
        "unknown_org_code": bool(targets.org_cols),
        "variant_org_code": bool(targets.org_cols),
        "missing_handler": targets.handler_col is not None,
        "mixed_date_format": targets.primary_ts is not None,
        "late_arriving": targets.late and n_parts > 1,
        "future_date": targets.future_col is not None,
    }
    return [kind for kind in DEFECT_KINDS if wanted[kind]]


def eligible_rows(kind: str, table: Table, n_parts: int) -> BoolArray:
    cols, targets, n = table.cols, table.targets, len(table)
    if kind == "out_of_order" and targets.order:
        return (cols[targets.order[0]] != NA) & (cols[targets.order[1]] != NA)
    if kind in ("negative_amount", "unit_scaled_amount"):
        return cols[targets.amount_cols[-1]] > 0
    if kind == "missing_handler" and targets.handler_col:
        return cols[targets.handler_col] >= 0
    if kind == "mixed_date_format" and targets.primary_ts:
        return cols[targets.primary_ts] != NA
    if kind == "late_arriving":
        return (table.part >= 0) & (table.part < n_parts - 1)
    return np.ones(n, dtype=bool)


def damage(
    kind: str, rng: np.random.Generator, rows: IntArray, table: Table, org: Org, period: Period
) -> None:
    """Turn the chosen rows into defects of one kind, in place."""
    cols, targets, k = table.cols, table.targets, rows.size
    if kind == "out_of_order" and targets.order:
        earlier, late_col = targets.order
        cols[late_col][rows] = cols[earlier][rows] - rng.integers(60, 2 * DAY, k)
    elif kind in ("negative_amount", "unit_scaled_amount"):
        # The chosen column, or the always-filled last one where the chosen is empty or zero.
        last = len(targets.amount_cols) - 1
        which = rng.integers(0, last + 1, k)
        usable = np.zeros(k, dtype=bool)
        for j, col in enumerate(targets.amount_cols):
            usable |= (which == j) & (cols[col][rows] > 0)
        which = np.where(usable, which, last)
        if kind == "negative_amount":
            factor = np.full(k, -1.0)
        else:  # in fen (x100) or in 10k yuan (/10 000)
            factor = np.where(rng.random(k) < 0.5, 100.0, 1e-4)
        for j, col in enumerate(targets.amount_cols):
            hit = rows[which == j]
            cols[col][hit] = np.round(cols[col][hit] * factor[which == j], 2)
    elif kind in ("unknown_org_code", "variant_org_code"):
        col = targets.org_cols[0]
        unit = org.canonical[cols[col][rows]]
        forms = org.unknowns if kind == "unknown_org_code" else org.variants
        cols[col][rows] = forms[unit, rng.integers(0, forms.shape[1], k)]
    elif kind == "missing_handler" and targets.handler_col:
        cols[targets.handler_col][rows] = rng.choice([-2, -3, -4], k)
    elif kind == "mixed_date_format" and targets.primary_ts:
        fmt = cols.setdefault(f"_fmt_{targets.primary_ts}", np.zeros(len(table), dtype=np.int8))
        fmt[rows] = rng.integers(1, 4, k)
    elif kind == "late_arriving":
        two = (table.part[rows] + 2 < period.months) & (rng.random(k) < 0.3)
        table.part[rows] += np.where(two, 2, 1)
    elif kind == "future_date" and targets.future_col:
        cols[targets.future_col][rows] = period.extraction + rng.integers(DAY, 730 * DAY, k)


def with_copies(
    table: Table, defect: npt.NDArray[np.int8], dup: IntArray, rekey: IntArray
) -> Table:
    """Append the duplicate rows next to their originals and move late rows to their new file.

    Late rows go to the end of the later file (appended by a later extraction).
    """
    n = len(table)
    rows = np.arange(n)
    late = defect == KIND_CODE["late_arriving"]
    position = np.concatenate(
        [np.where(late, 2 * (n + rows), 2 * rows), 2 * dup + 1, 2 * rekey + 1]
    )
    out = table.take(np.concatenate([rows, dup, rekey]))
    out.cols["_defect"] = np.concatenate(
        [
            defect,
            np.full(dup.size, KIND_CODE["duplicate"], dtype=np.int8),
            np.full(rekey.size, KIND_CODE["rekeyed_duplicate"], dtype=np.int8),
        ]
    )
    if rekey.size and table.targets.id_col:
        ids = out.cols[table.targets.id_col]
        ids[n + dup.size :] = table.cols[table.targets.id_col].max() + 1 + np.arange(rekey.size)
    return out.take(np.lexsort((position, out.part)))


def inject_defects(
    rng: np.random.Generator, table: Table, rate: float, org: Org, period: Period
) -> Table:
    """Defects at about `rate` of the rows, split evenly over the kinds that fit the source.

    A source gets round(rate * rows) defects, at least one; each row carries at most one. The
    kind is kept in the internal `_defect` column for the manifest.
    """
    kinds = applicable_kinds(table.targets, period.months)
    n = len(table)
    table = Table(
        {k: v.copy() for k, v in table.cols.items()},
        table.part.copy(),
        table.cats,
        table.exprs,
        table.targets,
    )
    # The remainder goes to kinds drawn at random, so small sources do not always get the same.
    base, extra = divmod(max(1, round(rate * n)), len(kinds))
    per_kind = np.full(len(kinds), base)
    per_kind[rng.permutation(len(kinds))[:extra]] += 1
    taken = np.zeros(n, dtype=bool)
    defect = np.full(n, -1, dtype=np.int8)
    copies = {"duplicate": np.empty(0, np.int64), "rekeyed_duplicate": np.empty(0, np.int64)}
    for kind, wanted in zip(kinds, per_kind, strict=True):
        pool = np.flatnonzero(eligible_rows(kind, table, period.months) & ~taken)
        rows = np.sort(rng.choice(pool, min(wanted, pool.size), replace=False))
        taken[rows] = True
        if kind in copies:
            copies[kind] = rows
            continue
        defect[rows] = KIND_CODE[kind]
        damage(kind, rng, rows, table, org, period)
    return with_copies(table, defect, copies["duplicate"], copies["rekeyed_duplicate"])


# --- Writing --------------------------------------------------------------------------------------

SINGLE_FILE = frozenset({"org_units", "org_aliases", "centers", "project_milestones"})
# The org master and the centers stay clean: every other source is mapped through them.
NO_DEFECTS = frozenset({"org_units", "org_aliases", "centers"})
COPY_OPTIONS = "HEADER, DELIMITER ',', TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S', DATEFORMAT '%Y-%m-%d'"
# Formats 1-3 of the mixed-date-format defect: US style, slashes without seconds, Excel serial.
MIXED_TIMESTAMP = (
    "'%Y-%m-%d %H:%M:%S'",
    "'%m/%d/%Y %H:%M:%S'",
    "'%Y/%-m/%-d %H:%M'",
)
MIXED_DATE = ("'%Y-%m-%d'", "'%m/%d/%Y'", "'%Y/%-m/%-d'")
EXCEL_EPOCH_OFFSET_DAYS = 25_569  # 1970-01-01 as an Excel serial day


def mixed_format_sql(column: str, fmt: str, data_type: str) -> str:
    """A timestamp or date written as text, in the format its `_fmt_` column names."""
    if data_type == "date":
        value = f"CAST({column} AS DATE)"
        excel = (
            f"CAST(CAST(epoch({value}) // {DAY} AS BIGINT) + {EXCEL_EPOCH_OFFSET_DAYS} AS VARCHAR)"
        )
        formats = MIXED_DATE
    else:
        value = f"CAST({column} AS TIMESTAMP)"
        excel = f"printf('%.6f', epoch({value}) / {DAY} + {EXCEL_EPOCH_OFFSET_DAYS})"
        formats = MIXED_TIMESTAMP
    cases = " ".join(f"WHEN {i} THEN strftime({value}, {f})" for i, f in enumerate(formats))
    return f"CASE {fmt} {cases} WHEN 3 THEN {excel} END"


def column_sql(name: str, data_type: str, table: Table, source: str) -> str:
    """SQL for one contract column, cast to the contract's type."""
    if name in table.exprs:
        return table.exprs[name]
    if name not in table.cols:
        raise KeyError(f"{source}: the generator produces no column {name!r} of the contract")
    q = f'"{name}"'
    if data_type in ("timestamp", "date") and f"_fmt_{name}" in table.cols:
        return mixed_format_sql(q, f'"_fmt_{name}"', data_type)
    if data_type == "varchar":
        if name not in table.cats:
            raise TypeError(f"{source}.{name}: text columns need categories or an expression")
        return f"CAST({q} AS VARCHAR)"
    if data_type == "boolean" and table.cols[name].dtype != np.bool_:
        return f"CAST(NULLIF({q}, -1) AS BOOLEAN)"  # -1 = empty
    return f"CAST({q} AS {data_type.upper()})"


def select_sql(table: Table, columns: Sequence[tuple[str, str]], source: str) -> str:
    exprs = [f'{column_sql(n, t, table, source)} AS "{n}"' for n, t in columns]
    return "SELECT " + ", ".join(exprs) + " FROM frame"


def key_sql(
    table: Table, columns: Sequence[tuple[str, str]], key: Sequence[str], source: str
) -> str:
    """The record key as written in the file; composite keys joined with '|'."""
    types = dict(columns)
    parts = [f"CAST({column_sql(k, types[k], table, source)} AS VARCHAR)" for k in key]
    return parts[0] if len(parts) == 1 else f"concat_ws('|', {', '.join(parts)})"


def to_frame(table: Table, lo: int, hi: int, types: dict[str, str]) -> pd.DataFrame:
    """Rows lo:hi as a DataFrame DuckDB can scan: categories, datetime64 and plain numbers."""
    data: dict[str, object] = {}
    for name, values in table.cols.items():
        part = values[lo:hi]
        if name in table.cats:
            data[name] = pd.Categorical.from_codes(part, categories=list(table.cats[name]))
        elif types.get(name) in ("timestamp", "date"):
            data[name] = part.view("datetime64[s]")
        else:
            data[name] = part
    data["_row"] = np.arange(hi - lo)
    return pd.DataFrame(data, copy=False)


def file_names(source: str, table: Table, period: Period) -> dict[int, str]:
    """File of each partition: one per month, plus `<source>_initial.csv` for part -1."""
    if source in SINGLE_FILE:
        return {0: f"{source}.csv"}
    names = {m: f"{source}_{label}.csv" for m, label in enumerate(period.labels)}
    if (table.part < 0).any():
        return {-1: f"{source}_initial.csv", **names}
    return names


def sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def rng_for(seed: int, *names: str) -> np.random.Generator:
    """An independent stream per purpose, so one source's changes leave the others as they were."""
    return np.random.default_rng([seed, *(zlib.crc32(n.encode()) for n in names)])


class Writer:
    """Writes sources file by file and collects the defect manifest."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        out: Path,
        ctx: Context,
        progress: Progress,
        rate: float,
        seed: int,
    ) -> None:
        self.con, self.out, self.ctx, self.progress = con, out, ctx, progress
        self.rate, self.seed = rate, seed
        self.contract = contract_columns()
        self.keys = {name: meta.key for name, meta in source_meta().items()}
        self.files: list[Path] = []
        self.rows: dict[str, int] = {}
        self.defects = 0
        con.execute(
            "CREATE TABLE manifest (file_no INTEGER, row_no BIGINT, source VARCHAR, "
            "file VARCHAR, record_key VARCHAR, defect_kind VARCHAR)"
        )

    def run(self, source: str, build: Callable[[], Table]) -> None:
        if source not in self.contract:
            raise KeyError(f"{source!r} is not a source of the input contract")
        task = self.progress.add_task(source, total=None, rows=0)
        table = build()
        if source in ALIAS_USE:
            apply_aliases(
                rng_for(self.seed, source, "aliases"), table, self.ctx.org, ALIAS_USE[source]
            )
        if self.rate > 0 and source not in NO_DEFECTS:
            rng = rng_for(self.seed, source, "defects")
            table = inject_defects(rng, table, self.rate, self.ctx.org, self.ctx.period)
        names = file_names(source, table, self.ctx.period)
        self.progress.update(task, total=len(names))
        folder = self.out / source
        folder.mkdir(parents=True, exist_ok=True)
        for stale in sorted(folder.glob(f"{source}_*.csv")):
            if stale.name not in names.values():
                stale.unlink()
        for part, name in names.items():
            lo, hi = np.searchsorted(table.part, [part, part + 1], side="left")
            self.write_file(source, table, folder / name, int(lo), int(hi))
            self.progress.update(task, advance=1, rows=self.rows.get(source, 0))

    def write_file(self, source: str, table: Table, path: Path, lo: int, hi: int) -> None:
        columns = self.contract[source]
        self.con.register("frame", to_frame(table, lo, hi, dict(columns)))
        try:
            self.con.execute(
                f"COPY ({select_sql(table, columns, source)}) TO {sql_path(path)} ({COPY_OPTIONS})"
            )
            if "_defect" in table.cols and (table.cols["_defect"][lo:hi] >= 0).any():
                kinds = "[" + ", ".join(f"'{k}'" for k in DEFECT_KINDS) + "]"
                key = key_sql(table, columns, self.keys[source], source)
                self.con.execute(
                    f"INSERT INTO manifest SELECT ?, _row, ?, ?, {key}, {kinds}[_defect + 1] "
                    "FROM frame WHERE _defect >= 0",
                    [len(self.files), source, path.relative_to(self.out).as_posix()],
                )
        finally:
            self.con.unregister("frame")
        self.files.append(path)
        self.rows[source] = self.rows.get(source, 0) + hi - lo

    def finish(self) -> Path:
        """Write the manifest (header only when clean) and check every source was written."""
        missing = sorted(set(self.contract) - set(self.rows))
        if missing:
            raise KeyError(f"the generator wrote no files for contract sources {missing}")
        folder = self.out / MANIFEST_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / MANIFEST_FILE
        self.con.execute(
            "COPY (SELECT source, file, record_key, defect_kind FROM manifest "
            f"ORDER BY file_no, row_no) TO {sql_path(path)} (HEADER)"
        )
        self.defects = int(self.con.execute("SELECT count(*) FROM manifest").fetchone()[0])
        return path


def progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rows]:>12,} rows"),
        TimeElapsedColumn(),
        disable=not enabled,
    )


def generate(
    out: Path,
    scale: float = 0.01,
    months: int = 24,
    seed: int = 42,
    defects: float = 0.0,
    end_month: str = "2026-10",
    progress: bool = True,
) -> GenerateResult:
    """Write demo extracts of every contract source under `out` (see the module docstring).

    `scale` 1 is a mid-size insurer (about 2M policies in force, 400k claims a year); `defects` is
    the share of rows per source that carry one of DEFECT_KINDS (0 = clean). Files this run writes
    are overwritten, and stale `<source>_*.csv` files in those folders are deleted.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if not 0 <= defects < 1:
        raise ValueError(f"defects is a share of rows in [0, 1), got {defects}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    started = time.perf_counter()
    period = Period.ending(end_month, months)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    org = build_org(rng_for(seed, "org"))
    ctx = Context(period, org, scale, Workload(np.zeros((months, len(CENTERS), org.n_sb))))
    with duckdb.connect() as con, progress_bar(progress) as bar:
        writer = Writer(con, out, ctx, bar, defects, seed)
        writer.run("org_units", lambda: build_org_units(ctx))
        writer.run("org_aliases", lambda: build_org_aliases(ctx))
        writer.run("centers", lambda: build_centers(ctx))
        issued: list[Policies] = []

        def applications() -> Table:
            table, new = build_applications(rng_for(seed, "applications"), ctx)
            issued.append(new)
            return table

        writer.run("applications", applications)
        policies = concat_policies(initial_policies(rng_for(seed, "policies"), ctx), issued[0])
        writer.run("policies", lambda: build_policies(ctx, policies))
        writer.run("claims", lambda: build_claims(rng_for(seed, "claims"), ctx, policies))
        writer.run(
            "endorsements", lambda: build_endorsements(rng_for(seed, "endorsements"), ctx, policies)
        )
        writer.run(
            "complaints", lambda: build_complaints(rng_for(seed, "complaints"), ctx, policies)
        )
        writer.run("contacts", lambda: build_contacts(rng_for(seed, "contacts"), ctx))
        writer.run("tasks", lambda: build_tasks(rng_for(seed, "tasks"), ctx))
        writer.run(
            "nps_responses", lambda: build_nps_responses(rng_for(seed, "nps_responses"), ctx)
        )
        writer.run("rpa_runs", lambda: build_rpa_runs(rng_for(seed, "rpa_runs"), ctx))
        fte, productive, pairs = staffing_arrays(rng_for(seed, "staffing"), ctx)
        writer.run("staffing", lambda: build_staffing(ctx, fte, productive, pairs))
        writer.run("op_costs", lambda: build_op_costs(rng_for(seed, "op_costs"), ctx, fte, pairs))
        writer.run(
            "project_milestones",
            lambda: build_project_milestones(rng_for(seed, "project_milestones"), ctx),
        )
        manifest = writer.finish()
    files = (*writer.files, manifest)
    return GenerateResult(
        files=files,
        rows=dict(writer.rows),
        defects=writer.defects,
        seconds=time.perf_counter() - started,
        bytes_written=sum(p.stat().st_size for p in files),
    )


# --- one more day: a daily delivery cut from generated data -------------------------------------


def daily_event_columns() -> dict[str, str]:
    """{source: event time column} of the sources the contract says are delivered daily.

    The event time column is the suite's `event_time_column`, the time this generator
    partitions the source's files by (claims by reported_at, contacts by arrived_at, ...).
    """
    from dagster_project.core.settings import get_settings
    from dagster_project.defs.ingest.rules.suite import load_suites

    suites = load_suites(get_settings().expectations_dir)
    columns = {}
    for name, source in load_contract().items():
        suite = suites.get(name)
        if source.delivery_cadence == "daily" and suite and suite.event_time_column:
            columns[name] = suite.event_time_column
    return columns


@dataclass(frozen=True)
class DayDelivery:
    day: str
    files: dict[str, Path]  # source -> the day's file under the delivery folder
    month_files: dict[str, Path]  # source -> the month file the day was cut from
    rows: dict[str, int]
    late_rows: dict[str, int]  # of those, records dated in the month before


def split_last_day(raw_dir: Path, delivery_dir: Path, late_rows: int = 3) -> DayDelivery:
    """Cut the newest day out of generated extracts, as the next daily delivery.

    For every source delivered daily, the records of the last day of the data (the newest event
    date over all of them) move from the newest month file into
    `delivery_dir/<source>/<source>_<day>.csv`, together with the `late_rows` latest records of
    the month before (late arrivals, dated in a past month); the month files are rewritten
    without them. Loading `raw_dir`, then delivering the day's files, gives exactly the records
    of the original extracts: the refresh tests and benchmark use it for "one more day".
    `delivery_dir` may be `raw_dir` itself. DuckDB reads and writes the files (all as text).
    """
    columns = daily_event_columns()
    pairs = {}
    for source in sorted(columns):
        months = sorted((raw_dir / source).glob(f"{source}_????-??.csv"))
        if len(months) >= 2:
            pairs[source] = (months[-1], months[-2])
    con = duckdb.connect()
    files: dict[str, Path] = {}
    month_files: dict[str, Path] = {}
    rows: dict[str, int] = {}
    late: dict[str, int] = {}
    try:
        for source, (newest, before) in pairs.items():
            for name, path in ((f"newest_{source}", newest), (f"before_{source}", before)):
                con.execute(
                    f"create temp table {name} as select * from "
                    f"read_csv({sql_path(path)}, all_varchar = true, header = true)"
                )
        day = max(
            (
                con.execute(f'select max(left("{columns[s]}", 10)) from newest_{s}').fetchone()[0]
                or ""
                for s in pairs
            ),
            default="",
        )
        if not day:
            return DayDelivery("", {}, {}, {}, {})
        copy = "(header, delimiter ',')"
        for source, (newest, before) in pairs.items():
            column = columns[source]
            on_day = f'left("{column}", 10) = ?'
            off_day = f'left("{column}", 10) is distinct from ?'
            con.execute(
                f"create temp table late_{source} as select rowid as late_rowid "
                f'from before_{source} order by "{column}" desc nulls last, rowid '
                f"limit {int(late_rows)}"
            )
            con.execute(
                f"create temp table delivery_{source} as "
                f"select * from newest_{source} where {on_day} union all "
                f"select * from before_{source} "
                f"where rowid in (select late_rowid from late_{source})",
                [day],
            )
            target = delivery_dir / source / f"{source}_{day}.csv"
            target.parent.mkdir(parents=True, exist_ok=True)
            con.execute(f"copy delivery_{source} to {sql_path(target)} {copy}")
            con.execute(
                f"copy (select * from newest_{source} where {off_day} "
                f"order by rowid) to {sql_path(newest)} {copy}",
                [day],
            )
            con.execute(
                f"copy (select * from before_{source} where rowid not in "
                f"(select late_rowid from late_{source}) order by rowid) "
                f"to {sql_path(before)} {copy}"
            )
            files[source] = target
            month_files[source] = newest
            rows[source] = con.execute(f"select count(*) from delivery_{source}").fetchone()[0]
            late[source] = con.execute(f"select count(*) from late_{source}").fetchone()[0]
    finally:
        con.close()
    return DayDelivery(day=day, files=files, month_files=month_files, rows=rows, late_rows=late)
