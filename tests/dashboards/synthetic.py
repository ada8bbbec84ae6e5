"""A small but complete warehouse for the site tests: the marts and meta tables the site reads.

Group GRP -> subsidiaries LIF, PNC -> branches -> sub-branches (LIF-JS-03 moved from LIF-JS to
LIF-SH), two centers, 15 months so every latest month has a year-ago value, metrics of every
kind of unit with targets and dbt-style statuses, a building-block volume (is_kpi false), one
held source and one stale metric. `full=False` writes the first spine's interface only
(`marts.dim_metric_catalog` with the original columns only: no targets, statuses, versions,
gates or quality scorecard).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from tests.reference_attribution import parent_of, reference_attribution
from tests.reference_drivers import reference_drivers

GROUP = ("group", "GRP", "Harbour Group", None)
# level, code, name, parent (current)
UNITS = [
    GROUP,
    ("subsidiary", "LIF", "Harbour Life", "GRP"),
    ("subsidiary", "PNC", "Harbour Property", "GRP"),
    ("branch", "LIF-JS", "Jiangsu Branch", "LIF"),
    ("branch", "LIF-SH", "Shanghai Branch", "LIF"),
    ("branch", "PNC-BJ", "Beijing Branch", "PNC"),
    ("sub_branch", "LIF-JS-01", "Nanjing Office", "LIF-JS"),
    ("sub_branch", "LIF-JS-02", "Suzhou Office", "LIF-JS"),
    ("sub_branch", "LIF-JS-03", "Kunshan Office", "LIF-SH"),  # moved from LIF-JS on 2026-03-01
    ("sub_branch", "LIF-SH-01", "Pudong Office", "LIF-SH"),
    ("sub_branch", "PNC-BJ-01", "Chaoyang Office", "PNC-BJ"),
    ("sub_branch", "PNC-BJ-02", "Haidian Office", "PNC-BJ"),  # tiny: every base under 30
]
MOVED = ("LIF-JS-03", "LIF-JS", date(2026, 3, 1))
CENTERS = [
    ("center", "C-CLM", "Claims Center", "claims"),
    ("center", "C-CC", "Contact Center", "contact_center"),
]
TINY_UNIT = "PNC-BJ-02"
ALL_UNITS = [(lvl, code, name) for lvl, code, name, _ in UNITS + CENTERS]

MONTHS = [date(2025 + (7 + i) // 12, (7 + i) % 12 + 1, 1) for i in range(15)]  # Aug 25..Oct 26
LATEST = MONTHS[-1]
VERSION_2_FROM = date(2026, 3, 1)

# name, label, label_zh, unit, direction, dimension, owner, target, red_threshold
METRICS = [
    (
        "claims_auto_rate",
        "Claims auto-processing rate",
        "理赔自动化率",
        "percent",
        "higher_is_better",
        "efficiency",
        "claims",
        0.6,
        0.5,
    ),
    (
        "claims_cycle_time_days",
        "Claims cycle time",
        "理赔时效",
        "days",
        "lower_is_better",
        "efficiency",
        "claims",
        5.0,
        7.0,
    ),
    (
        "service_level_20s",
        "Service level (20 s)",
        "20秒接通率",
        "percent",
        "higher_is_better",
        "service",
        "customer_service",
        0.8,
        0.7,
    ),
    (
        "answer_time_seconds",
        "Average speed of answer",
        "平均应答时长",
        "seconds",
        "lower_is_better",
        "service",
        "customer_service",
        20.0,
        40.0,
    ),
    (
        "complaints_per_10k_policies",
        "Complaints per 10k policies",
        "万张保单投诉量",
        "per_10k",
        "lower_is_better",
        "service",
        "complaints",
        None,
        None,
    ),
    (
        "op_cost_cny",
        "Operating cost",
        "运营成本",
        "cny",
        "none",
        "value",
        "finance",
        None,
        None,
    ),
]
METRIC_NAMES = [m[0] for m in METRICS]
# Published in fct_kpi_values and the catalog, but only as the KPIs' volume: never a tile.
BUILDING_BLOCK = "policies_in_force"
CENTER_METRICS = {
    "C-CLM": ["claims_auto_rate", "claims_cycle_time_days"],
    "C-CC": ["service_level_20s", "answer_time_seconds"],
}
STALE_METRIC = "service_level_20s"
STALE_REASON = "contact_center held back since 2026-11-01"
HELD_SOURCE = "contact_center"
HELD_CHECK = "row_count_within_range"
HELD_OWNER = "customer_service"
HELD_SINCE = datetime(2026, 11, 1, 5, 0)
PUBLISHED_AT = datetime(2026, 11, 2, 6, 0)
# a KPI check holds one metric back at one sub-branch outside LIF (meta.kpi_holds)
HELD_KPI = (
    "values_within_plausible_bounds",
    "claims_cycle_time_days",
    "sub_branch",
    "PNC-BJ-01",
    "2026-10: value 400 outside the plausible [0.0, 365.0] (metric)",
    datetime(2026, 11, 2, 6, 0),
)
GAP = ("LIF-JS-01", "service_level_20s", MONTHS[-2])  # no row: the tile's MoM is "–"


def dbt_status(value: float | None, target: float | None, red: float | None, direction: str):
    """The status rule of fct_kpi_values, as dbt computes it (the site only displays it)."""
    if value is None or target is None or red is None:
        return None
    if direction == "higher_is_better":
        return "green" if value >= target else "amber" if value >= red else "red"
    return "green" if value <= target else "amber" if value <= red else "red"


def metric_value(metric: str, k: int, i: int) -> float:
    """A deterministic value for unit number k in month number i, varied across units."""
    formulas: dict[str, Callable[[int, int], float]] = {
        "claims_auto_rate": lambda k, i: 0.38 + 0.05 * (k % 7) + 0.004 * i,
        "claims_cycle_time_days": lambda k, i: 3.0 + 0.9 * (k % 6) - 0.05 * i,
        "service_level_20s": lambda k, i: 0.64 + 0.045 * (k % 5) + 0.003 * i,
        "answer_time_seconds": lambda k, i: 14.0 + 7.0 * (k % 5) - 0.2 * i,
        "complaints_per_10k_policies": lambda k, i: 0.5 + 0.1 * (k % 4) + 0.02 * (i % 3),
        "op_cost_cny": lambda k, i: 1_000_000 + 12_345.67 * k + 1_000 * i,
    }
    return round(formulas[metric](k, i), 6)


def kpi_rows() -> list[tuple]:
    """fct_kpi_values rows (full interface)."""
    rows = []
    units = [(lvl, code) for lvl, code, _, _ in UNITS] + [
        (lvl, code) for lvl, code, _, _ in CENTERS
    ]
    for k, (level, code) in enumerate(units):
        metrics = CENTER_METRICS[code] if level == "center" else METRIC_NAMES
        for name, _, _, _, direction, _, _, target, red in METRICS:
            if name not in metrics:
                continue
            for i, month in enumerate(MONTHS):
                if (code, name, month) == GAP:
                    continue
                # volumes that shift between units month by month (the attribution has a mix),
                # each unit's latest at 400 + 37 k
                shift = 25 * (((len(MONTHS) - 1 - i) * (k % 3 + 1)) % 5)
                volume = 12.0 if code == TINY_UNIT else 400.0 + 37 * k + shift
                value = metric_value(name, k, i)
                denominator = None if name == "op_cost_cny" else volume
                numerator = value if denominator is None else value * denominator
                version = 2 if name == "claims_auto_rate" and month >= VERSION_2_FROM else 1
                rows.append(
                    (
                        name,
                        month,
                        level,
                        code,
                        numerator,
                        denominator,
                        value,
                        version,
                        target,
                        red,
                        dbt_status(value, target, red, direction),
                    )
                )
        if level != "center":
            rows += [
                (BUILDING_BLOCK, m, level, code, None, None, 5_000.0 + k, 1, None, None, None)
                for m in MONTHS
            ]
    return rows


def _create(con: duckdb.DuckDBPyConnection, full: bool) -> None:
    con.execute("create schema marts")
    con.execute("create schema meta")
    extra_fct = (
        ", definition_version integer, target double, red_threshold double, status varchar"
        if full
        else ""
    )
    con.execute(
        f"""
        create table marts.fct_kpi_values (
            metric_name varchar, period_start date, org_level varchar, org_code varchar,
            numerator double, denominator double, value double{extra_fct}
        )
        """
    )
    extra_metrics = (
        ", owner_name varchar, owner_email varchar, formula varchar, source_systems varchar,"
        " source_columns varchar, org_attribute varchar, rollup_kind varchar,"
        " definition_version integer, definition varchar, metric_type varchar, is_kpi boolean,"
        " definition_hash varchar, last_changed_at timestamp, group_target double,"
        " group_red_threshold double"
        if full
        else ""
    )
    catalog = "dim_metric_catalog"
    con.execute(
        f"""
        create table marts.{catalog} (
            metric_name varchar, label varchar, label_zh varchar, description varchar,
            unit varchar, direction varchar, dimension varchar, owner varchar{extra_metrics}
        )
        """
    )
    is_current = ", is_current boolean" if full else ""
    con.execute(
        f"""
        create table marts.dim_org (
            org_code varchar, org_name varchar, org_level varchar, parent_code varchar,
            valid_from date, valid_to date{is_current}, group_code varchar,
            subsidiary_code varchar, branch_code varchar, sub_branch_code varchar
        )
        """
    )
    con.execute(
        """
        create table marts.dim_centers (
            center_code varchar, center_name varchar, function varchar, subsidiary_code varchar
        )
        """
    )


def _org_rows(full: bool) -> list[tuple]:
    start = date(2015, 1, 1)
    rows = []
    moved_code, old_parent, moved_on = MOVED
    for level, code, name, parent in UNITS:
        if code == moved_code:
            rows.append((code, name, level, old_parent, start, moved_on, False))
            rows.append((code, name, level, parent, moved_on, None, True))
        else:
            rows.append((code, name, level, parent, start, None, True))
    if not full:
        return [(*r[:6], "GRP", None, None, None) for r in rows]
    return [(*r, "GRP", None, None, None) for r in rows]


def _insert(con: duckdb.DuckDBPyConnection, full: bool) -> None:
    fct = kpi_rows() if full else [r[:7] for r in kpi_rows() if r[0] != BUILDING_BLOCK]
    marks = ", ".join("?" * len(fct[0]))
    con.executemany(f"insert into marts.fct_kpi_values values ({marks})", fct)
    metrics = []
    block = (BUILDING_BLOCK, "Policies in force", "有效保单数", "count", "none", "value", "x", 0, 0)
    for name, label, zh, unit, direction, dimension, owner, target, red in [*METRICS, block]:
        row = (name, label, zh, f"{label}: monthly, per unit.", unit, direction, dimension, owner)
        if full:
            version = 2 if name == "claims_auto_rate" else 1
            row += (
                f"{owner.replace('_', ' ').title()} Data Office",
                f"{owner}@example.com",
                f"sum(numerator_{name}) / sum(denominator_{name})",
                f"{owner}, hr",
                f"{owner}.amount, {owner}.created_at",
                "handling_center" if owner == "customer_service" else "owning_org",
                "ratio",
                version,
                f"{label}, as the owner defines it.",
                "ratio",
                name != BUILDING_BLOCK,
                f"{name[:4]}0123456789abcdef",
                datetime(2026, 3, 1) if version == 2 else datetime(2024, 1, 1),
                target,
                red,
            )
        if full or name != BUILDING_BLOCK:
            metrics.append(row)
    catalog = "dim_metric_catalog"
    marks = ", ".join("?" * len(metrics[0]))
    con.executemany(f"insert into marts.{catalog} values ({marks})", metrics)
    org = _org_rows(full)
    marks = ", ".join("?" * len(org[0]))
    con.executemany(f"insert into marts.dim_org values ({marks})", org)
    con.executemany(
        "insert into marts.dim_centers values (?, ?, ?, 'LIF')",
        [(code, name, function) for _, code, name, function in CENTERS],
    )
    if full:
        _insert_governance(con)
        _insert_attribution(con)
        _insert_value_management(con)


def _insert_governance(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        create table marts.dim_metric_targets (
            metric_name varchar, org_level varchar, direction varchar, target double,
            red_threshold double
        )
        """
    )
    con.executemany(
        "insert into marts.dim_metric_targets values (?, ?, ?, ?, ?)",
        [
            (m[0], level, m[4], m[7], m[8])
            for m in METRICS
            if m[7] is not None
            for level in ("group", "subsidiary", "branch", "sub_branch", "center")
        ],
    )
    con.execute(
        """
        create table marts.metric_definition_history (
            metric_name varchar, definition_version integer, definition_hash varchar,
            definition_json varchar, changed_at timestamp, change_summary varchar,
            change_reason varchar, change_requested_by varchar, change_approved_by varchar
        )
        """
    )
    history = [
        (m[0], 1, f"{i:02d}a1b2c3d4e5f6", "{}", datetime(2024, 1, 1), "First published")
        + (None, None, None)
        for i, m in enumerate(METRICS)
    ]
    history.append(
        (
            "claims_auto_rate",
            2,
            "ffee0011aabb",
            "{}",
            datetime(2026, 3, 1),
            "Reopened claims excluded",
            "Reopened claims were counted twice",
            "Claims operations",
            "Data office",
        )
    )
    con.executemany(
        "insert into marts.metric_definition_history values (?, ?, ?, ?, ?, ?, ?, ?, ?)", history
    )
    con.execute("create table meta.publication (published_at timestamp)")
    con.execute(
        "insert into meta.publication values (?), (?)", [datetime(2026, 10, 2), PUBLISHED_AT]
    )
    con.execute(
        """
        create table meta.source_gate_state (
            source varchar, data_owner varchar, state varchar, check_name varchar,
            reason varchar, since timestamp, last_file varchar, last_loaded_at timestamp,
            is_stale boolean
        )
        """
    )
    con.executemany(
        "insert into meta.source_gate_state values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                "claims",
                "claims",
                "ok",
                None,
                None,
                None,
                "claims_2026_10.csv",
                datetime(2026, 11, 2, 5, 0),
                False,
            ),
            (
                HELD_SOURCE,
                HELD_OWNER,
                "held",
                HELD_CHECK,
                "rows down 60% on last month",
                HELD_SINCE,
                "contacts_2026_10.csv",
                datetime(2026, 10, 2, 5, 0),
                True,
            ),
        ],
    )
    con.execute("create table meta.stale_metrics (metric_name varchar, reason varchar)")
    con.execute("insert into meta.stale_metrics values (?, ?)", [STALE_METRIC, STALE_REASON])
    con.execute(
        "create table meta.kpi_holds (check_name varchar, metric_name varchar, "
        "org_level varchar, org_code varchar, reason varchar, since timestamp)"
    )
    con.execute("insert into meta.kpi_holds values (?, ?, ?, ?, ?, ?)", list(HELD_KPI))
    con.execute(
        """
        create table marts.data_quality_scorecard (
            source varchar, data_owner varchar, period_start date, rows_delivered bigint,
            rows_loaded bigint, rows_quarantined bigint, rejected_batches integer,
            pass_rate double, is_stale boolean, rows_quarantined_by_rule varchar
        )
        """
    )
    quality = []
    for source, owner in (("claims", "claims"), (HELD_SOURCE, HELD_OWNER)):
        for i, month in enumerate(MONTHS):
            delivered = 10_000 + 100 * i
            quarantined = 5 * (i % 4) + (300 if source == HELD_SOURCE and i == 14 else 0)
            quality.append(
                (
                    source,
                    owner,
                    month,
                    delivered,
                    delivered - quarantined,
                    quarantined,
                    1 if quarantined > 100 else 0,
                    (delivered - quarantined) / delivered,
                    source == HELD_SOURCE and i == 14,
                    f'{{"not_null_id": {quarantined}, "valid_date": {i % 2}}}',
                )
            )
    con.executemany(
        "insert into marts.data_quality_scorecard values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", quality
    )


def attribution_rows() -> pd.DataFrame:
    """marts.fct_kpi_attribution of the synthetic KPI rows, by the tests' independent reference.

    The synthetic parents' volumes are not their children's sums, so every parent has a part of
    its own (child_code = its code), as a parent with records booked at itself does; LIF-JS-03
    is under LIF-JS a year before the latest month and under LIF-SH in it (the reorganisation).
    """
    columns = ["metric_name", "period_start", "org_level", "org_code", "numerator"]
    columns += ["denominator", "value", "definition_version", "target", "red", "status"]
    kpis = pd.DataFrame(kpi_rows(), columns=columns)
    kpis["period_start"] = pd.to_datetime(kpis["period_start"])
    org = pd.DataFrame(
        [r[:6] for r in _org_rows(True)],
        columns=["org_code", "org_name", "org_level", "parent_code", "valid_from", "valid_to"],
    )
    for column in ("valid_from", "valid_to"):
        org[column] = pd.to_datetime(org[column])
    catalog = pd.DataFrame(
        {
            "metric_name": METRIC_NAMES,
            "org_attribute": [
                "handling_center" if m[6] == "customer_service" else "owning_org" for m in METRICS
            ],
        }
    )
    # the synthetic numerators are value x denominator: no metric has a multiplier
    found = reference_attribution(kpis, org, catalog, unit_plan(kpis, org), multipliers={})
    found["period_start"] = found["period_start"].dt.date
    return found


def unit_plan(kpis: pd.DataFrame, org: pd.DataFrame) -> pd.DataFrame:
    """fct_unit_targets as the attribution against target reads it: every org unit below the
    group at its own target, planned at its volume a year before (its current one in the first
    year), under its parent of the month."""
    units = kpis.loc[kpis["org_level"].isin(["subsidiary", "branch", "sub_branch"])]
    units = units.loc[units["target"].notna()].copy()
    year_ago = kpis.assign(period_start=kpis["period_start"] + pd.DateOffset(years=1))
    units = units.merge(
        year_ago[["metric_name", "period_start", "org_code", "denominator"]],
        on=["metric_name", "period_start", "org_code"],
        how="left",
        suffixes=("", "_year_ago"),
    )
    units["planned_weight"] = units["denominator_year_ago"].fillna(units["denominator"])
    parents = {month: parent_of(org, month) for month in units["period_start"].unique()}
    months_and_codes = zip(units["period_start"], units["org_code"], strict=True)
    units["parent_code"] = [parents[month].get(code) for month, code in months_and_codes]
    return units[["metric_name", "period_start", "org_code", "parent_code", "target"]].assign(
        planned_weight=units["planned_weight"]
    )


# The formulas of the synthetic KPIs that fct_driver_attribution splits: the complaints rate's
# denominator is the catalog's building block, the other inputs are components it does not list.
DRIVER_INPUTS = {
    "claims_auto_rate": {"numerator": "claims_auto_processed", "denominator": "claims_paid"},
    "complaints_per_10k_policies": {"numerator": "complaints", "denominator": BUILDING_BLOCK},
}


def driver_rows() -> pd.DataFrame:
    """marts.fct_driver_attribution of the synthetic KPI rows, by the tests' independent
    reference (every quotient by the Shapley split)."""
    columns = ["metric_name", "period_start", "org_level", "org_code", "numerator"]
    columns += ["denominator", "value", "definition_version", "target", "red", "status"]
    kpis = pd.DataFrame(kpi_rows(), columns=columns)
    kpis["period_start"] = pd.to_datetime(kpis["period_start"])
    tree = pd.DataFrame(
        [
            (metric, child, "formula", role)
            for metric, inputs in DRIVER_INPUTS.items()
            for role, child in inputs.items()
        ],
        columns=["parent_node", "child_node", "link_type", "input_role"],
    )
    found = reference_drivers(kpis, tree, multipliers={})
    found["period_start"] = found["period_start"].dt.date
    return found.assign(is_filtered=False, formula_kind="quotient", split_method="shapley")


# The synthetic KPIs with a segmenting dimension (fct_kpi_standardised): claims by product line,
# contacts by channel; the complaints rate and the cost have none.
SEGMENTED = {
    "claims_auto_rate": "product_line",
    "claims_cycle_time_days": "product_line",
    "service_level_20s": "channel",
    "answer_time_seconds": "channel",
}


# How far the group's mix moves a unit's value at most, per KPI: beyond the gaps between
# neighbouring units' raw values, so some ranks change.
SHIFT = {
    "claims_auto_rate": 0.08,
    "claims_cycle_time_days": 1.5,
    "service_level_20s": 0.08,
    "answer_time_seconds": 10.0,
}


def standardised_rows() -> pd.DataFrame:
    """marts.fct_kpi_standardised: each unit's value at the group's mix, a deterministic shift
    of its raw value that differs by unit (enough to reorder some ranks); the group at its own."""
    columns = ["metric_name", "period_start", "org_level", "org_code", "numerator"]
    columns += ["denominator", "value", "definition_version", "target", "red", "status"]
    kpis = pd.DataFrame(kpi_rows(), columns=columns)
    kpis = kpis.loc[kpis["metric_name"].isin(list(SEGMENTED))].copy()
    number = {code: k for k, (_, code, _) in enumerate(ALL_UNITS)}
    shift = kpis["org_code"].map(lambda code: ((number[code] * 5) % 7 - 3) / 3)
    scale = kpis["metric_name"].map(SHIFT)
    grouped = kpis["org_level"] == "group"
    kpis["standardised_value"] = kpis["value"] + (~grouped) * shift * scale
    kpis["segment_dimension"] = kpis["metric_name"].map(SEGMENTED)
    kpis["mix_coverage"] = 1.0
    return kpis[
        [
            "metric_name",
            "period_start",
            "org_level",
            "org_code",
            "segment_dimension",
            "mix_coverage",
            "value",
            "standardised_value",
        ]
    ].rename(columns={"value": "raw_value"})


def _insert_attribution(con: duckdb.DuckDBPyConnection) -> None:
    found = attribution_rows()  # noqa: F841 (read by DuckDB's replacement scan)
    con.execute(
        """
        create table marts.fct_kpi_attribution as
        select
            metric_name::varchar as metric_name, period_start::date as period_start,
            comparison::varchar as comparison, org_level::varchar as org_level,
            org_code::varchar as org_code, child_level::varchar as child_level,
            child_code::varchar as child_code, rate_effect::double as rate_effect,
            mix_effect::double as mix_effect, contribution::double as contribution,
            parent_change::double as parent_change
        from found
        """
    )
    standardised = standardised_rows()  # noqa: F841 (read by DuckDB's replacement scan)
    con.execute(
        """
        create table marts.fct_kpi_standardised as
        select
            metric_name::varchar as metric_name, period_start::date as period_start,
            org_level::varchar as org_level, org_code::varchar as org_code,
            segment_dimension::varchar as segment_dimension, mix_coverage::double as mix_coverage,
            raw_value::double as raw_value, standardised_value::double as standardised_value
        from standardised
        """
    )
    drivers = driver_rows()  # noqa: F841 (read by DuckDB's replacement scan)
    con.execute(
        """
        create table marts.fct_driver_attribution as
        select
            metric_name::varchar as metric_name, period_start::date as period_start,
            comparison::varchar as comparison, org_level::varchar as org_level,
            org_code::varchar as org_code, input_role::varchar as input_role,
            input_metric::varchar as input_metric, is_filtered::boolean as is_filtered,
            formula_kind::varchar as formula_kind, split_method::varchar as split_method,
            input_base_value::double as input_base_value, input_value::double as input_value,
            contribution::double as contribution, parent_change::double as parent_change
        from drivers
        """
    )


# --- the value-management marts (issue 15): scores, contributions, the bridge, the tree -------

SCORE_MONTHS = MONTHS[-3:]  # scored months: the first has no change to split
UNIT_PROFILE = ("unit_cost_efficiency", "Functional units, cost efficiency first")
CENTER_PROFILE = ("center_service", "Back-office centers")
# weights of the functional profile; centers weigh their own two KPIs equally
UNIT_WEIGHTS = {
    "claims_auto_rate": 0.4,
    "claims_cycle_time_days": 0.3,
    "service_level_20s": 0.2,
    "complaints_per_10k_policies": 0.1,
}
UNSCORED = ("center", "C-CC")  # latest month: its held source leaves nothing to score
PARTIAL_METRIC = "complaints_per_10k_policies"  # left out at the tiny unit (small base)
STREAMS = (
    "automation_savings_cny",
    "fraud_loss_avoided_cny",
    "hours_released_value_cny",
    "retention_value_cny",
)
GRADE_BANDS = (("AAA", 90.0), ("AA", 80.0), ("A", 70.0), ("B", 60.0), ("C", 0.0))
# goal -> (label, label_zh, dimensions); quality_and_risk has no KPI here: the page omits it
GOALS = {
    "customer_experience": ("Customer experience", "客户体验", ("service",)),
    "cost_efficiency": ("Cost efficiency", "成本效率", ("value", "efficiency")),
    "quality_and_risk": ("Quality and risk", "质量与风险", ("quality", "risk_control")),
}
# (parent, child, child_kind, link_type, input_role, direction)
TREE_LINKS = [
    ("complaints_per_10k_policies", BUILDING_BLOCK, "component", "formula", "denominator", None),
    ("claims_cycle_time_days", "claims_auto_rate", "kpi", "driver", None, "decreases"),
    ("service_level_20s", "answer_time_seconds", "kpi", "driver", None, "decreases"),
]


def grade_of(score: float) -> str:
    return next(grade for grade, low in GRADE_BANDS if score >= low)


def synthetic_score(k: int, i: int) -> float:
    """Unit number k's score in scored month i: distinct across units, up 1.5 a month."""
    return round(48.0 + (k * 7.3) % 45 + 1.5 * i, 6)


def score_rows() -> list[dict]:
    """fct_unit_scores: a row per unit and scored month, ranks as the mart ranks them."""
    units = [(lvl, code, parent) for lvl, code, _, parent in UNITS] + [
        (lvl, code, None) for lvl, code, _, _ in CENTERS
    ]
    rows = []
    for i, month in enumerate(SCORE_MONTHS):
        for k, (level, code, parent) in enumerate(units):
            unscored = (level, code) == UNSCORED and month == SCORE_MONTHS[-1]
            score = None if unscored else synthetic_score(k, i)
            kpis = len(CENTER_METRICS[code]) if level == "center" else len(UNIT_WEIGHTS)
            scored = 0 if unscored else kpis - (code == TINY_UNIT)
            profile = CENTER_PROFILE if level == "center" else UNIT_PROFILE
            rows.append(
                {
                    "org_level": level,
                    "org_code": code,
                    "period_start": month,
                    "profile_name": profile[0],
                    "profile_version": 1,
                    "score": score,
                    "grade": None if score is None else grade_of(score),
                    "is_partial": scored < kpis,
                    "kpis_scored": scored,
                    "kpis_in_profile": kpis,
                    "parent_code": parent,
                    "k": k,
                }
            )
    for row in rows:
        if row["score"] is None:
            row.update(rank_in_siblings=None, rank_in_tier=None)
            row.update(rank_band_low=None, rank_band_high=None)
            continue
        same = [
            r
            for r in rows
            if r["score"] is not None
            and (r["org_level"], r["period_start"]) == (row["org_level"], row["period_start"])
        ]
        siblings = [r for r in same if r["parent_code"] == row["parent_code"]]
        row["rank_in_siblings"] = 1 + sum(r["score"] > row["score"] for r in siblings)
        row["rank_in_tier"] = 1 + sum(r["score"] > row["score"] for r in same)
        row["rank_band_low"] = max(1, row["rank_in_siblings"] - row["k"] % 2)
        row["rank_band_high"] = min(len(siblings), row["rank_in_siblings"] + (row["k"] % 3 == 0))
    return rows


def contribution_rows(scores: list[dict]) -> list[tuple]:
    """fct_score_contributions: per KPI, parts of the month's change that sum to it."""
    rows = []
    for row in scores:
        level, code, month = row["org_level"], row["org_code"], row["period_start"]
        metrics = CENTER_METRICS[code] if level == "center" else list(UNIT_WEIGHTS)
        first = month == SCORE_MONTHS[0]
        k = row["k"]
        if level == "center":
            parts = [1.0 + 0.1 * (k % 3), 0.5 - 0.1 * (k % 3)]
        else:
            parts = [2.0 + 0.1 * (k % 3), -0.8, 0.5, -0.2 - 0.1 * (k % 3)]
        if code == TINY_UNIT:  # the left-out KPI contributes nothing; the others carry it
            parts = [2.0, -0.8, 0.3, 0.0]
        change = None if first or row["score"] is None else 1.5
        for j, metric in enumerate(metrics):
            left_out = row["score"] is None or (code == TINY_UNIT and metric == PARTIAL_METRIC)
            reason = "stale_source" if row["score"] is None else "small_base"
            rows.append(
                (
                    level,
                    code,
                    month,
                    metric,
                    None if left_out else round(40.0 + 10 * j + (k % 5), 6),
                    0.0 if left_out else 1.0 / len(metrics),
                    reason if left_out else None,
                    None if change is None else parts[j],
                    change,
                )
            )
    return rows


def value_rows() -> list[tuple]:
    """fct_value_created: cost, the four streams, their sum and the net per unit and month."""
    rows = []
    units = [(lvl, code) for lvl, code, _, _ in UNITS + CENTERS]
    for k, (level, code) in enumerate(units):
        for i, month in enumerate(MONTHS):
            center = level == "center"
            ops = None if center else metric_value("op_cost_cny", k, i)
            streams = (
                0.0 if center else 200_000.0 + 1_000 * k + 100 * i,
                0.0 if center else 50_000.0 + 500 * k,
                30_000.0 + 10 * i if center or level == "group" else 0.0,
                0.0 if center else 150_000.0 + 2_000 * k,
            )
            created = sum(streams)
            rows.append(
                (level, code, month, ops, *streams, created, None if ops is None else created - ops)
            )
    return rows


def tree_rows() -> list[tuple]:
    """dim_indicator_tree: the goals, their dimensions, the KPIs, formula and driver links."""
    labels = {m[0]: (m[1], m[2]) for m in METRICS}
    rows = []
    for goal, (label, zh, dims) in GOALS.items():
        rows.append((None, None, goal, "goal", "root", None, None, label, zh))
        rows += [(goal, "goal", d, "dimension", "hierarchy", None, None, d, None) for d in dims]
    for name, label, zh, _, _, dimension, *_ in METRICS:
        rows.append((dimension, "dimension", name, "kpi", "hierarchy", None, None, label, zh))
    for parent, child, kind, link_type, role, direction in TREE_LINKS:
        label, zh = labels.get(child, ("Policies in force", "有效保单数"))
        rows.append((parent, "metric", child, kind, link_type, role, direction, label, zh))
    return rows


def _insert_value_management(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        create table marts.fct_unit_scores (
            org_level varchar, org_code varchar, period_start date, profile_name varchar,
            profile_version integer, score double, grade varchar, rank_in_siblings integer,
            rank_in_tier integer, rank_band_low integer, rank_band_high integer,
            is_partial boolean, kpis_scored integer, kpis_in_profile integer,
            parent_code varchar
        )
        """
    )
    scores = score_rows()
    columns = (
        "org_level",
        "org_code",
        "period_start",
        "profile_name",
        "profile_version",
        "score",
        "grade",
        "rank_in_siblings",
        "rank_in_tier",
        "rank_band_low",
        "rank_band_high",
        "is_partial",
        "kpis_scored",
        "kpis_in_profile",
        "parent_code",
    )
    con.executemany(
        f"insert into marts.fct_unit_scores values ({', '.join('?' * len(columns))})",
        [tuple(r[c] for c in columns) for r in scores],
    )
    con.execute(
        """
        create table marts.fct_score_contributions (
            org_level varchar, org_code varchar, period_start date, metric_name varchar,
            sub_score double, weight double, missing_reason varchar, contribution double,
            score_change double
        )
        """
    )
    con.executemany(
        "insert into marts.fct_score_contributions values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        contribution_rows(scores),
    )
    con.execute(
        "create table marts.dim_score_profiles (profile_name varchar, profile_version integer,"
        " profile_label varchar, metric_name varchar, weight double)"
    )
    profiles = [(*UNIT_PROFILE, m, w) for m, w in UNIT_WEIGHTS.items()]
    profiles += [(*CENTER_PROFILE, m, 0.5) for m in sorted({*sum(CENTER_METRICS.values(), [])})]
    con.executemany("insert into marts.dim_score_profiles values (?, 1, ?, ?, ?)", profiles)
    streams = ", ".join(f"{name} double" for name in STREAMS)
    con.execute(
        f"""
        create table marts.fct_value_created (
            org_level varchar, org_code varchar, period_start date, ops_cost_cny double,
            {streams}, value_created_cny double, net_value_cny double
        )
        """
    )
    con.executemany(
        "insert into marts.fct_value_created values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", value_rows()
    )
    con.execute(
        """
        create table marts.dim_indicator_tree (
            parent_node varchar, parent_kind varchar, child_node varchar, child_kind varchar,
            link_type varchar, input_role varchar, expected_direction varchar,
            child_label varchar, child_label_zh varchar
        )
        """
    )
    con.executemany(
        "insert into marts.dim_indicator_tree values (?, ?, ?, ?, ?, ?, ?, ?, ?)", tree_rows()
    )


def build_warehouse(path: Path, *, full: bool = True) -> Path:
    """Write the synthetic warehouse to `path` and return it."""
    con = duckdb.connect(str(path))
    try:
        _create(con, full)
        _insert(con, full)
    finally:
        con.close()
    return path


def fct_statuses(path: Path, level: str, code: str) -> dict[str, str | None]:
    """The status of every KPI of one unit in its latest month, read from the KPI table."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            """
            select metric_name, status from marts.fct_kpi_values
            where org_level = ? and org_code = ? and metric_name <> ?
              and period_start = (
                  select max(period_start) from marts.fct_kpi_values
                  where org_level = ? and org_code = ?
              )
            """,
            [level, code, BUILDING_BLOCK, level, code],
        ).fetchall()
    return dict(rows)


# Text that must stay text on every page and in every chart (issue 14): HTML comment and script
# delimiters, markup that plotly.js renders in labels, entities, JavaScript's line separators,
# quotes, backslashes, template placeholders (ours, plotly's), CJK and emoji.
HOSTILE_TEXTS = (
    "<!--",
    "-->",
    "</script>",
    '<a href="http://x">x</a>',
    "<b>",
    "<br>",
    "&amp;",
    "\u2028",
    "\u2029",
    "\"double\" 'single'",
    "back\\slash \\u003c \\",
    "理赔中心",
    "🚀",
    "<script>alert(1)</script>",
    "${title}",
    "%{y}",
)
# The branch LIF-JS, its sub-branches and its subsidiary carry the payloads that broke pages:
# the browser test opens a sub-branch (its own and its parent's line) and the branch (its
# children's lines in the legend).
HOSTILE_UNIT_TEXTS = {
    "LIF": "-->",
    "LIF-JS": "<!-- branch",
    "LIF-JS-01": '<a href="http://x">x</a></script>',
    "LIF-JS-02": "<b>bold</b><br>&amp; \u2028\u2029 \"q\" 'q' back\\slash 理赔 🚀",
}


def hostile_names() -> dict[str, str]:
    """The name of every unit and center with a payload in it: code -> name."""
    return {
        code: f"{name} [{HOSTILE_UNIT_TEXTS.get(code, HOSTILE_TEXTS[i % len(HOSTILE_TEXTS)])}]"
        for i, (_, code, name) in enumerate(ALL_UNITS)
    }


def hostile_label(i: int, label: str) -> str:
    """A label with payload number i in it (bracketed: the site trims a trailing U+2028)."""
    return f"{label} [{HOSTILE_TEXTS[i % len(HOSTILE_TEXTS)]}]"


def build_hostile_warehouse(path: Path) -> Path:
    """The full warehouse with a payload in every org and center name, metric label and source.

    `hostile_label(i, ...)` names metric number i of METRICS; sources keep their original name
    as a prefix, so `HELD_SOURCE` still starts the held source's name.
    """
    build_warehouse(path)
    with duckdb.connect(str(path)) as con:
        for code, name in hostile_names().items():
            con.execute("update marts.dim_org set org_name = ? where org_code = ?", [name, code])
            con.execute(
                "update marts.dim_centers set center_name = ? where center_code = ?", [name, code]
            )
        for i, metric in enumerate(METRIC_NAMES):
            con.execute(
                """
                update marts.dim_metric_catalog set label = ?, label_zh = ?
                where metric_name = ?
                """,
                [hostile_label(i, METRICS[i][1]), hostile_label(i + 1, METRICS[i][2]), metric],
            )
        for i, source in enumerate(("claims", HELD_SOURCE)):
            renamed = hostile_label(i + 2, source)
            for table in ("meta.source_gate_state", "marts.data_quality_scorecard"):
                con.execute(f"update {table} set source = ? where source = ?", [renamed, source])
    return path
