"""Independent reference computation of the value created, straight from the raw extracts.

Tests compare `marts.fct_value_created` with `reference_value_created`. Like
`tests/reference_kpis.py` (whose readers of the raw files and org tree it reuses) it shares no SQL
with the warehouse: the value streams are written a second time on purpose, in pandas, from their
written definitions (README, "Value created"). What it shares are the inputs: the raw extracts,
the input contract and the governed value parameters (the dbt vars of dbt_project.yml, which are
data, not rules).

Result grain: one row per org level, org unit and month with a value line or an operations cost:
ops_cost_cny and each stream, every level summed from the lines themselves. Value lines and cost
lines are monthly, so each is attributed to the org tree version valid on its month's first day.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from tests.reference_kpis import (
    CENTER_LEVEL,
    ORG_LEVELS,
    attribute_to_hierarchy,
    canonical_org_codes,
    is_true,
    parse_dates,
    parse_timestamps,
    read_org_units,
    read_source,
)

DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt" / "dbt_project.yml"
STREAMS = (
    "automation_savings_cny",
    "fraud_loss_avoided_cny",
    "retention_value_cny",
    "hours_released_value_cny",
)
UNIT_COLUMNS = ["org_level", "org_code", "period_start"]


def value_parameters(path: Path = DBT_PROJECT) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["vars"]


def _month(values: pd.Series) -> pd.Series:
    return values.dt.to_period("M").dt.to_timestamp()


def _lines(stream: str, month: pd.Series, frame: pd.DataFrame, value: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "stream": stream,
            "period_start": month.to_numpy(),
            "org_code": frame["org_code"].to_numpy() if "org_code" in frame else None,
            "center_code": frame["center_code"].to_numpy() if "center_code" in frame else None,
            "value": value.to_numpy(dtype=float),
        }
    )


def calendar(raw_dir: Path) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(first month, newest event date): the span of claims, contacts and tasks delivered."""
    stamps = pd.concat(
        [
            parse_timestamps(read_source(raw_dir, "claims")["reported_at"]),
            parse_timestamps(read_source(raw_dir, "contacts")["arrived_at"]),
            parse_timestamps(read_source(raw_dir, "tasks")["created_at"]),
        ]
    ).dropna()
    return stamps.min().to_period("M").to_timestamp(), stamps.max().normalize()


def value_lines(raw_dir: Path) -> pd.DataFrame:
    """One row per record (or matured cohort) and stream: period_start, org, center, value."""
    params = value_parameters()
    unit_cost = params["manual_unit_cost_cny"]
    aliases = read_source(raw_dir, "org_aliases")

    def source(name: str) -> pd.DataFrame:
        rows = read_source(raw_dir, name)
        if "org_code" in rows:
            rows = rows.assign(org_code=canonical_org_codes(rows["org_code"], aliases))
        return rows

    claims = source("claims")
    paid_at = parse_timestamps(claims["paid_at"])
    closed_at = parse_timestamps(claims["closed_at"])
    claimed = claims["claimed_amount"].astype(float)
    paid = claims["paid_amount"].astype(float).fillna(0.0)
    auto_claims = is_true(claims["auto_processed"]) & paid_at.notna()
    fraud = is_true(claims["fraud_confirmed"]) & closed_at.notna() & (claimed > paid)

    applications = source("applications")
    decided_at = parse_timestamps(applications["decided_at"])
    auto_apps = applications["uw_route"].str.strip().str.lower().eq("auto") & decided_at.notna()

    endorsements = source("endorsements")
    completed_at = parse_timestamps(endorsements["completed_at"])
    auto_endorsements = is_true(endorsements["auto_processed"]) & completed_at.notna()

    runs = source("rpa_runs")
    bot_value = (
        runs["items_ok"].astype(float)
        * float(params["bot_item_standard_minutes"])
        / 60.0
        * float(params["loaded_hourly_cost_cny"])
    )

    def constant(frame: pd.DataFrame, amount: float) -> pd.Series:
        return pd.Series(amount, index=frame.index, dtype=float)

    lines = [
        _lines(
            "automation_savings_cny",
            _month(paid_at[auto_claims]),
            claims[auto_claims],
            constant(claims[auto_claims], unit_cost["claim"]),
        ),
        _lines(
            "automation_savings_cny",
            _month(decided_at[auto_apps]),
            applications[auto_apps],
            constant(applications[auto_apps], unit_cost["application"]),
        ),
        _lines(
            "automation_savings_cny",
            _month(completed_at[auto_endorsements]),
            endorsements[auto_endorsements],
            constant(endorsements[auto_endorsements], unit_cost["endorsement"]),
        ),
        _lines(
            "fraud_loss_avoided_cny",
            _month(closed_at[fraud]),
            claims[fraud],
            (claimed - paid)[fraud],
        ),
        _lines(
            "hours_released_value_cny",
            _month(parse_timestamps(runs["started_at"])),
            runs.drop(columns="org_code", errors="ignore"),
            bot_value,
        ),
        retention_lines(source("policies"), raw_dir, float(params["baseline_persistency_13m"])),
    ]
    return pd.concat(lines, ignore_index=True)


def retention_lines(policies: pd.DataFrame, raw_dir: Path, baseline: float) -> pd.DataFrame:
    """Per sub-branch and issue-month cohort matured by the newest data: the annual premium of
    the policies in force at month 13 above baseline x the cohort's premium (never below 0), in
    the month the cohort's 13th policy month is complete."""
    first_month, data_end = calendar(raw_dir)
    issued = parse_dates(policies["issued_date"])
    terminated = parse_dates(policies["terminated_date"])
    month_13 = issued + pd.DateOffset(months=13)
    matured_by = (month_13.dt.to_period("M") + 1).dt.to_timestamp() - pd.Timedelta(days=1)
    in_cohort = (issued >= first_month) & (matured_by <= data_end)
    premium = policies["annual_premium"].astype(float)
    kept = terminated.isna() | (terminated > month_13)
    frame = pd.DataFrame(
        {
            "period_start": _month(month_13),
            "org_code": policies["org_code"],
            "premium": premium,
            "kept_premium": premium.where(kept, 0.0),
        }
    )[in_cohort]
    cohorts = frame.groupby(["period_start", "org_code"], as_index=False)[
        ["premium", "kept_premium"]
    ].sum()
    value = (cohorts["kept_premium"] - baseline * cohorts["premium"]).clip(lower=0.0)
    return pd.DataFrame(
        {
            "stream": "retention_value_cny",
            "period_start": cohorts["period_start"],
            "org_code": cohorts["org_code"],
            "center_code": None,
            "value": value,
        }
    )


def cost_lines(raw_dir: Path) -> pd.DataFrame:
    costs = read_source(raw_dir, "op_costs")
    aliases = read_source(raw_dir, "org_aliases")
    return pd.DataFrame(
        {
            "stream": "ops_cost_cny",
            "period_start": parse_dates(costs["month"]),
            "org_code": canonical_org_codes(costs["org_code"], aliases),
            "center_code": costs["center_code"],
            "value": costs["amount"].astype(float),
        }
    )


def expand(lines: pd.DataFrame, org_units: pd.DataFrame) -> pd.DataFrame:
    """Each line once per unit it counts for: its four org levels (the tree version valid on its
    month's first day), its center, and, for lines without an org (bot work), the group."""
    with_org = lines.dropna(subset=["org_code"]).assign(as_of_date=lambda f: f["period_start"])
    hierarchy = attribute_to_hierarchy(with_org, org_units)
    attributed = with_org.merge(hierarchy, on=["org_code", "as_of_date"], how="inner")
    parts = [
        attributed[["stream", "period_start", "value"]].assign(
            org_level=level, org_code=attributed[level]
        )
        for level in ORG_LEVELS
    ]
    centers = lines.dropna(subset=["center_code"])
    parts.append(
        centers[["stream", "period_start", "value"]].assign(
            org_level=CENTER_LEVEL, org_code=centers["center_code"]
        )
    )
    orgless = lines.loc[lines["org_code"].isna()]
    group_code = org_units.loc[org_units["org_level"] == "group", "org_code"].iloc[0]
    parts.append(
        orgless[["stream", "period_start", "value"]].assign(org_level="group", org_code=group_code)
    )
    return pd.concat(parts, ignore_index=True)


def reference_value_created(raw_dir: Path) -> pd.DataFrame:
    """ops_cost_cny, each stream, value_created_cny and net_value_cny per unit and month."""
    raw_dir = Path(raw_dir)
    org_units = read_org_units(raw_dir)
    lines = pd.concat([value_lines(raw_dir), cost_lines(raw_dir)], ignore_index=True)
    units = expand(lines, org_units)
    wide = (
        units.groupby([*UNIT_COLUMNS, "stream"])["value"]
        .sum()
        .unstack("stream")
        .reindex(columns=["ops_cost_cny", *STREAMS])
        .reset_index()
    )
    wide[list(STREAMS)] = wide[list(STREAMS)].fillna(0.0)
    wide["value_created_cny"] = wide[list(STREAMS)].sum(axis=1)
    wide["net_value_cny"] = wide["value_created_cny"] - wide["ops_cost_cny"]
    return wide.sort_values(UNIT_COLUMNS).reset_index(drop=True)
