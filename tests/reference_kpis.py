"""Independent reference computation of the published KPIs, straight from the raw extracts.

Tests compare the warehouse's published KPI values with `reference_kpis`. The module shares no
code and no SQL with the warehouse: it reads the raw CSV files with pandas and follows the written
metric definitions, so a bug in the warehouse SQL cannot also be here. The metric rules are
therefore written a second time on purpose (an exception to "one rule, one place"): a reference
that read the warehouse's own definitions could not catch their mistakes. Only the input contract
(column names and record keys in the staging `_<source>__sources.yml` files) is shared.

Result grain: one row per metric, month and org unit (group, subsidiary, branch, sub_branch) or
handling center that has records in the month. Every level is rolled up from the records
themselves: numerator and denominator are sums of record values and percentiles are recomputed
from the detail rows; child ratios are never averaged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

STAGING_DIR = Path(__file__).resolve().parents[1] / "dbt" / "models" / "staging"

OUTPUT_COLUMNS = [
    "metric_name",
    "period_start",
    "org_level",
    "org_code",
    "numerator",
    "denominator",
    "value",
]
UNIT_KEY = ["metric_name", "period_start", "org_level", "org_code"]
# A record before attribution: which metric and month, the date whose hierarchy version applies,
# the operational sub-branch and the handling center (null for sources that carry none).
RECORD_KEY = ["metric_name", "period_start", "as_of_date", "org_code", "center_code"]

ORG_LEVELS = ("group", "subsidiary", "branch", "sub_branch")
CENTER_LEVEL = "center"
# Attribution walks up one parent at a time, each step in the version valid on the event date.
PARENT_STEPS = (("sub_branch", "branch"), ("branch", "subsidiary"), ("subsidiary", "group"))

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"
SECONDS_PER_DAY = 86_400.0
SERVICE_LEVEL_TARGET = pd.Timedelta(seconds=20)
SHORT_ABANDON_LIMIT = pd.Timedelta(seconds=5)
CYCLE_TIME_PERCENTILE = 0.9
PROMOTER_MIN_SCORE = 9
DETRACTOR_MAX_SCORE = 6
# value = multiplier * numerator / denominator; metrics not listed use 1.
MULTIPLIERS = {"nps": 100.0, "complaints_per_10k_policies": 10_000.0}


# --- Reading the raw extracts -------------------------------------------------------------------


def contract_table(source: str, staging_dir: Path = STAGING_DIR) -> dict:
    """The source table entry (columns, key) of the input contract for one source."""
    path = staging_dir / source / f"_{source}__sources.yml"
    contract = yaml.safe_load(path.read_text(encoding="utf-8"))
    (source_entry,) = [s for s in contract["sources"] if s["name"] == source]
    (table,) = [t for t in source_entry["tables"] if t["name"] == source]
    return {
        "columns": [c["name"] for c in table["columns"]],
        "key": list(source_entry["meta"]["key"]),
    }


def delivered_files(raw_dir: Path, source: str) -> list[Path]:
    """Files of one source in name order, without the `_`/`.` entries the contract excludes."""
    folder = raw_dir / source
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(("_", ".")))
    # Failing loudly beats silently leaving rows out of the reference.
    parquet = [p.name for p in files if p.suffix == ".parquet"]
    if parquet:
        raise NotImplementedError(f"reference reads CSV only; {source} has parquet: {parquet}")
    return [p for p in files if p.suffix == ".csv"]


def read_source(raw_dir: Path, source: str) -> pd.DataFrame:
    """All rows of one source as text (empty field = null), one row per record key.

    A missing folder gives an empty table with the contract's columns. A record delivered in more
    than one file keeps the row of the last file in name order (the latest extract).
    """
    table = contract_table(source)
    frames = [
        pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
        for p in delivered_files(raw_dir, source)
    ]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in table["columns"]})
    rows = pd.concat(frames, ignore_index=True)
    return rows.drop_duplicates(subset=table["key"], keep="last").reset_index(drop=True)


def parse_timestamps(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format=TIMESTAMP_FORMAT)


def parse_dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format=DATE_FORMAT)


def is_true(values: pd.Series) -> pd.Series:
    """Boolean column as bool; null counts as not true."""
    return values.str.strip().str.lower().eq("true").fillna(False).astype(bool)


def canonical_org_codes(codes: pd.Series, aliases: pd.DataFrame) -> pd.Series:
    """upper(strip(code)), then the canonical code when that is a known alias."""
    cleaned = codes.str.strip().str.upper()
    alias_map = pd.Series(
        aliases["org_code"].str.strip().str.upper().to_numpy(),
        index=aliases["alias_code"].str.strip().str.upper().to_numpy(),
    )
    alias_map = alias_map[~alias_map.index.duplicated(keep="last")]
    return cleaned.map(alias_map).fillna(cleaned)


def read_org_units(raw_dir: Path) -> pd.DataFrame:
    units = read_source(raw_dir, "org_units")
    if units.empty:
        raise ValueError(f"no org_units under {raw_dir}: nothing can be attributed")
    return units.assign(
        valid_from=parse_dates(units["valid_from"]),
        valid_to=parse_dates(units["valid_to"]),
    )


# --- Months -------------------------------------------------------------------------------------


def month_start(timestamps: pd.Series) -> pd.Series:
    """First day (midnight) of the calendar month of each timestamp."""
    return timestamps.dt.to_period("M").dt.start_time


def month_end_date(month_starts: pd.Series) -> pd.Series:
    """Last day (midnight) of the month that starts on each date."""
    return month_starts + pd.offsets.MonthEnd(1)


# --- Records per metric -------------------------------------------------------------------------


def event_records(
    metric_name: str,
    event_at: pd.Series,
    org_code: pd.Series,
    center_code: pd.Series | None,
    numerator: pd.Series,
    denominator: pd.Series | float,
) -> pd.DataFrame:
    """Ratio records: the month and attribution date both come from the named timestamp."""
    return pd.DataFrame(
        {
            "metric_name": metric_name,
            "period_start": month_start(event_at),
            "as_of_date": event_at.dt.normalize(),
            "org_code": org_code,
            "center_code": center_code if center_code is not None else np.nan,
            "numerator": numerator.astype(float),
            "denominator": denominator,
        },
        index=event_at.index,
    ).astype({"denominator": float})


def sample_records(
    metric_name: str,
    event_at: pd.Series,
    org_code: pd.Series,
    center_code: pd.Series,
    sample: pd.Series,
) -> pd.DataFrame:
    """Detail records for a percentile metric: one sample value per record."""
    return pd.DataFrame(
        {
            "metric_name": metric_name,
            "period_start": month_start(event_at),
            "as_of_date": event_at.dt.normalize(),
            "org_code": org_code,
            "center_code": center_code,
            "sample": sample.astype(float),
        },
        index=event_at.index,
    )


def claims_records(claims: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cycle time and auto rate ratio records, and cycle time samples, for paid claims."""
    paid_at = parse_timestamps(claims["paid_at"])
    paid = claims.assign(paid_at=paid_at, reported_at=parse_timestamps(claims["reported_at"]))
    paid = paid.loc[paid_at.notna()]
    auto_rate = event_records(
        "claims_auto_rate",
        paid["paid_at"],
        paid["org_code"],
        paid["center_code"],
        numerator=is_true(paid["auto_processed"]),
        denominator=1.0,
    )
    # A paid claim without reported_at has no duration; it counts only in the auto rate.
    timed = paid.assign(
        cycle_days=(paid["paid_at"] - paid["reported_at"]).dt.total_seconds() / SECONDS_PER_DAY
    ).dropna(subset=["cycle_days"])
    cycle_time = event_records(
        "claims_cycle_time_days",
        timed["paid_at"],
        timed["org_code"],
        timed["center_code"],
        numerator=timed["cycle_days"],
        denominator=1.0,
    )
    p90 = sample_records(
        "claims_cycle_time_p90_days",
        timed["paid_at"],
        timed["org_code"],
        timed["center_code"],
        timed["cycle_days"],
    )
    return pd.concat([cycle_time, auto_rate], ignore_index=True), p90


def contacts_records(contacts: pd.DataFrame) -> pd.DataFrame:
    """Service level and abandonment records for voice contacts."""
    voice = contacts.loc[contacts["channel"].eq("voice").fillna(False).astype(bool)]
    arrived_at = parse_timestamps(voice["arrived_at"])
    wait_to_answer = parse_timestamps(voice["answered_at"]) - arrived_at
    wait_to_abandon = parse_timestamps(voice["abandoned_at"]) - arrived_at
    # Comparisons with a null wait are False: unanswered is not "answered in time".
    answered_in_time = wait_to_answer <= SERVICE_LEVEL_TARGET
    short_abandon = wait_to_abandon <= SHORT_ABANDON_LIMIT
    service_level = event_records(
        "service_level_20s",
        arrived_at,
        voice["org_code"],
        voice["center_code"],
        numerator=answered_in_time,
        denominator=(~short_abandon).astype(float),
    )
    abandonment = event_records(
        "abandonment_rate",
        arrived_at,
        voice["org_code"],
        voice["center_code"],
        numerator=wait_to_abandon.notna(),
        denominator=1.0,
    )
    return pd.concat([service_level, abandonment], ignore_index=True)


def nps_records(responses: pd.DataFrame) -> pd.DataFrame:
    """One record per response: +1 promoter, -1 detractor, 0 passive (no center)."""
    score = pd.to_numeric(responses["score"])
    net = (score >= PROMOTER_MIN_SCORE).astype(int) - (score <= DETRACTOR_MAX_SCORE).astype(int)
    return event_records(
        "nps",
        parse_timestamps(responses["responded_at"]),
        responses["org_code"],
        None,
        numerator=net,
        denominator=1.0,
    )


def task_records(tasks: pd.DataFrame) -> pd.DataFrame:
    """SLA records for completed tasks."""
    completed = tasks.assign(
        completed_at=parse_timestamps(tasks["completed_at"]),
        sla_due_at=parse_timestamps(tasks["sla_due_at"]),
    ).dropna(subset=["completed_at"])
    return event_records(
        "task_sla_rate",
        completed["completed_at"],
        completed["org_code"],
        completed["center_code"],
        numerator=completed["completed_at"] <= completed["sla_due_at"],
        denominator=1.0,
    )


def policies_in_force(policies: pd.DataFrame, month_starts: pd.Series) -> pd.DataFrame:
    """Count of policies in force at each month end per sub-branch.

    In force at month end E: issued_date <= E and (no terminated_date or terminated_date > E).
    """
    cohorts = (
        policies.assign(
            issued_date=parse_dates(policies["issued_date"]),
            terminated_date=parse_dates(policies["terminated_date"]),
        )
        .groupby(["org_code", "issued_date", "terminated_date"], dropna=False)
        .size()
        .rename("policies")
        .reset_index()
    )
    months = pd.DataFrame({"period_start": month_starts.drop_duplicates()})
    months["month_end"] = month_end_date(months["period_start"])
    cross = cohorts.merge(months, how="cross")
    in_force = (cross["issued_date"] <= cross["month_end"]) & (
        cross["terminated_date"].isna() | (cross["terminated_date"] > cross["month_end"])
    )
    return (
        cross.loc[in_force]
        .groupby(["period_start", "month_end", "org_code"], as_index=False)["policies"]
        .sum()
    )


def complaint_records(complaints: pd.DataFrame, policies: pd.DataFrame) -> pd.DataFrame:
    """Complaints (numerator, dated by received_at) and policies in force at the month end
    (denominator, attributed at the month's last day), for months that have any complaint."""
    received_at = parse_timestamps(complaints["received_at"])
    complaint_rows = event_records(
        "complaints_per_10k_policies",
        received_at,
        complaints["org_code"],
        None,
        numerator=pd.Series(1.0, index=complaints.index),
        denominator=0.0,
    )
    in_force = policies_in_force(policies, complaint_rows["period_start"])
    policy_rows = pd.DataFrame(
        {
            "metric_name": "complaints_per_10k_policies",
            "period_start": in_force["period_start"],
            "as_of_date": in_force["month_end"],
            "org_code": in_force["org_code"],
            "center_code": np.nan,
            "numerator": 0.0,
            "denominator": in_force["policies"].astype(float),
        }
    )
    return pd.concat([complaint_rows, policy_rows], ignore_index=True)


# --- Attribution and roll-up --------------------------------------------------------------------


def join_valid_version(frame: pd.DataFrame, level: str, org_units: pd.DataFrame) -> pd.DataFrame:
    """Inner-join each `frame[level]` code to its `level` version valid on `as_of_date`.

    Adds `parent_code`. Rows whose code has no valid version of that level drop out.
    """
    versions = org_units.loc[
        org_units["org_level"] == level, ["org_code", "parent_code", "valid_from", "valid_to"]
    ].rename(columns={"org_code": level})
    joined = frame.merge(versions, on=level, how="inner")
    valid = (joined["valid_from"] <= joined["as_of_date"]) & (
        joined["valid_to"].isna() | (joined["as_of_date"] < joined["valid_to"])
    )
    joined = joined.loc[valid].drop(columns=["valid_from", "valid_to"])
    # `frame` rows are distinct, so a repeated frame row means two versions valid at once.
    overlapping = joined.duplicated(subset=list(frame.columns))
    if overlapping.any():
        sample = joined.loc[overlapping, [level, "as_of_date"]].head().to_dict("records")
        raise ValueError(f"overlapping {level} versions in org_units: {sample}")
    return joined


def attribute_to_hierarchy(keys: pd.DataFrame, org_units: pd.DataFrame) -> pd.DataFrame:
    """Group, subsidiary, branch and sub-branch of each (org_code, as_of_date) pair.

    `org_code` is a canonical sub-branch code; each level comes from the version valid on
    `as_of_date`. Pairs that cannot be attributed all the way to a valid group are left out.
    """
    chain = keys[["org_code", "as_of_date"]].drop_duplicates()
    chain = chain.assign(sub_branch=chain["org_code"])
    for child, parent in PARENT_STEPS:
        chain = join_valid_version(chain, child, org_units).rename(columns={"parent_code": parent})
    return join_valid_version(chain, "group", org_units).drop(columns="parent_code")


def expand_to_units(records: pd.DataFrame, org_units: pd.DataFrame) -> pd.DataFrame:
    """One copy of each record per unit it counts for: its four org levels and its center.

    Replaces org_code/center_code/as_of_date by org_level and org_code (the unit's code).
    """
    hierarchy = attribute_to_hierarchy(records, org_units)
    attributed = records.merge(hierarchy, on=["org_code", "as_of_date"], how="inner")
    values = [c for c in records.columns if c not in RECORD_KEY]
    per_level = [
        attributed[["metric_name", "period_start", *values]].assign(
            org_level=level, org_code=attributed[level]
        )
        for level in ORG_LEVELS
    ]
    with_center = records.dropna(subset=["center_code"])
    centers = with_center[["metric_name", "period_start", *values]].assign(
        org_level=CENTER_LEVEL, org_code=with_center["center_code"]
    )
    return pd.concat([*per_level, centers], ignore_index=True)


def aggregate_ratios(unit_records: pd.DataFrame) -> pd.DataFrame:
    """Ratio of sums per unit; units whose denominator is not positive are left out."""
    sums = unit_records.groupby(UNIT_KEY, as_index=False)[["numerator", "denominator"]].sum()
    sums = sums.loc[sums["denominator"] > 0]
    multiplier = sums["metric_name"].map(MULTIPLIERS).fillna(1.0).astype(float)
    return sums.assign(value=multiplier * sums["numerator"] / sums["denominator"])


def aggregate_percentiles(unit_samples: pd.DataFrame) -> pd.DataFrame:
    """Continuous (linear interpolation) percentile of each unit's own detail samples."""
    percentiles = (
        unit_samples.dropna(subset=["sample"])
        .groupby(UNIT_KEY)["sample"]
        .quantile(CYCLE_TIME_PERCENTILE, interpolation="linear")
        .rename("value")
        .reset_index()
    )
    return percentiles.assign(numerator=np.nan, denominator=np.nan)


def reference_kpis(raw_dir: Path) -> pd.DataFrame:
    """The eight published KPIs per month and unit, computed from the raw CSV extracts."""
    raw_dir = Path(raw_dir)
    aliases = read_source(raw_dir, "org_aliases")
    org_units = read_org_units(raw_dir)

    def source(name: str) -> pd.DataFrame:
        rows = read_source(raw_dir, name)
        return rows.assign(org_code=canonical_org_codes(rows["org_code"], aliases))

    claim_ratios, claim_samples = claims_records(source("claims"))
    ratio_records = pd.concat(
        [
            claim_ratios,
            contacts_records(source("contacts")),
            nps_records(source("nps_responses")),
            task_records(source("tasks")),
            complaint_records(source("complaints"), source("policies")),
        ],
        ignore_index=True,
    )
    # Sums are additive, so collapsing identical record keys first is exact and keeps the
    # per-level copies small.
    ratio_records = ratio_records.groupby(RECORD_KEY, as_index=False, dropna=False)[
        ["numerator", "denominator"]
    ].sum()
    result = pd.concat(
        [
            aggregate_ratios(expand_to_units(ratio_records, org_units)),
            aggregate_percentiles(expand_to_units(claim_samples, org_units)),
        ],
        ignore_index=True,
    )
    return (
        result[OUTPUT_COLUMNS]
        .astype({"numerator": float, "denominator": float, "value": float})
        .sort_values(UNIT_KEY)
        .reset_index(drop=True)
    )
