"""Unit tests of the independent KPI reference on tiny hand-written raw folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.reference_kpis import OUTPUT_COLUMNS, canonical_org_codes, reference_kpis

JAN = pd.Timestamp("2024-01-01")
FEB = pd.Timestamp("2024-02-01")

# G ─ S01 ─ S01B01 ─ S01B01SB01
#     │     │      └ S01B01SB02  (moves to S01B02 on 2024-02-01)
#     │     └ S01B02 ─ S01B02SB01
#     └ S02 ─ S02B01 ─ S02B01SB01
ORG_UNITS = [
    ("G", "group", None, "2020-01-01", None),
    ("S01", "subsidiary", "G", "2020-01-01", None),
    ("S02", "subsidiary", "G", "2020-01-01", None),
    ("S01B01", "branch", "S01", "2020-01-01", None),
    ("S01B02", "branch", "S01", "2020-01-01", None),
    ("S02B01", "branch", "S02", "2020-01-01", None),
    ("S01B01SB01", "sub_branch", "S01B01", "2020-01-01", None),
    ("S01B01SB02", "sub_branch", "S01B01", "2020-01-01", "2024-02-01"),
    ("S01B01SB02", "sub_branch", "S01B02", "2024-02-01", None),
    ("S01B02SB01", "sub_branch", "S01B02", "2020-01-01", None),
    ("S02B01SB01", "sub_branch", "S02B01", "2020-01-01", None),
]
ALIASES = [{"alias_code": "OLD-SB01", "org_code": "S01B01SB01"}]


def write_source(raw: Path, source: str, rows: list[dict], name: str = "extract.csv") -> None:
    folder = raw / source
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / name, index=False)


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """A raw folder holding only the org tree; each test adds the sources it needs."""
    units = [
        dict(
            zip(["org_code", "org_level", "parent_code", "valid_from", "valid_to"], u, strict=True)
        )
        | {"org_name": u[0]}
        for u in ORG_UNITS
    ]
    write_source(tmp_path, "org_units", units)
    write_source(tmp_path, "org_aliases", ALIASES)
    return tmp_path


def claim(
    claim_id: str,
    org_code: str,
    reported_at: str,
    paid_at: str | None,
    auto: bool = False,
    center_code: str = "C01",
) -> dict:
    return {
        "claim_id": claim_id,
        "org_code": org_code,
        "center_code": center_code,
        "reported_at": reported_at,
        "paid_at": paid_at,
        "auto_processed": "true" if auto else "false",
    }


def paid_after(claim_id: str, org_code: str, days: float, auto: bool = False) -> dict:
    """A claim paid in January `days` after it was reported."""
    paid_at = pd.Timestamp("2024-01-25 12:00:00")
    reported_at = paid_at - pd.Timedelta(days=days)
    return claim(claim_id, org_code, str(reported_at), str(paid_at), auto)


def voice(contact_id: str, answer_sec: int | None = None, abandon_sec: int | None = None) -> dict:
    arrived_at = pd.Timestamp("2024-01-10 09:00:00")

    def after(sec: int | None) -> str | None:
        return None if sec is None else str(arrived_at + pd.Timedelta(seconds=sec))

    return {
        "contact_id": contact_id,
        "org_code": "S01B01SB01",
        "center_code": "C02",
        "channel": "voice",
        "arrived_at": str(arrived_at),
        "answered_at": after(answer_sec),
        "abandoned_at": after(abandon_sec),
    }


def kpi(result: pd.DataFrame, metric: str, month: pd.Timestamp, level: str, code: str) -> pd.Series:
    rows = result.loc[
        (result["metric_name"] == metric)
        & (result["period_start"] == month)
        & (result["org_level"] == level)
        & (result["org_code"] == code)
    ]
    assert len(rows) == 1, f"expected one {metric} row for {level} {code} in {month}: {rows}"
    return rows.iloc[0]


def units(result: pd.DataFrame, metric: str, month: pd.Timestamp, level: str) -> set[str]:
    selected = result.loc[
        (result["metric_name"] == metric)
        & (result["period_start"] == month)
        & (result["org_level"] == level)
    ]
    return set(selected["org_code"])


def test_reference_kpis_output_columns_and_types(raw: Path) -> None:
    write_source(raw, "claims", [paid_after("K1", "S01B01SB01", 2.0)])

    result = reference_kpis(raw)

    assert list(result.columns) == OUTPUT_COLUMNS
    assert pd.api.types.is_datetime64_any_dtype(result["period_start"])
    assert all(result[c].dtype == float for c in ["numerator", "denominator", "value"])
    assert set(result["metric_name"]) == {
        "claims_cycle_time_days",
        "claims_cycle_time_p90_days",
        "claims_auto_rate",
    }


def test_reference_kpis_rolls_up_ratio_of_sums_not_average_of_child_ratios(raw: Path) -> None:
    write_source(
        raw,
        "claims",
        [
            paid_after("K1", "S01B01SB01", 1.0, auto=True),
            paid_after("K2", "S01B01SB02", 5.0),
            paid_after("K3", "S01B01SB02", 5.0),
            paid_after("K4", "S01B01SB02", 5.0),
            paid_after("K5", "S01B02SB01", 10.0, auto=True),
            claim("K6", "S01B02SB01", "2024-01-02 08:00:00", None),  # unpaid: not counted
        ],
    )

    result = reference_kpis(raw)

    # Children: auto rate 1/1 and 0/3, cycle time 1 and 5 days.
    branch_auto = kpi(result, "claims_auto_rate", JAN, "branch", "S01B01")
    assert (branch_auto["numerator"], branch_auto["denominator"]) == (1.0, 4.0)
    assert branch_auto["value"] == pytest.approx(0.25)  # the average of children would be 0.5
    assert kpi(result, "claims_cycle_time_days", JAN, "branch", "S01B01")["value"] == (
        pytest.approx(16.0 / 4)  # the average of children would be 3.0
    )
    # Branches: auto rate 1/4 and 1/1, the average of which would be 0.625.
    assert kpi(result, "claims_auto_rate", JAN, "subsidiary", "S01")["value"] == pytest.approx(0.4)
    cycle = kpi(result, "claims_cycle_time_days", JAN, "group", "G")
    assert (cycle["numerator"], cycle["denominator"]) == (pytest.approx(26.0), 5.0)
    assert cycle["value"] == pytest.approx(5.2)
    assert kpi(result, "claims_auto_rate", JAN, "center", "C01")["value"] == pytest.approx(0.4)
    assert units(result, "claims_auto_rate", JAN, "subsidiary") == {"S01"}


def test_reference_kpis_recomputes_p90_from_detail_rows(raw: Path) -> None:
    durations = {"S01B01SB01": [1.0, 2.0, 3.0], "S01B01SB02": [10.0, 20.0]}
    write_source(
        raw,
        "claims",
        [
            paid_after(f"{org}-{i}", org, days)
            for org, days_list in durations.items()
            for i, days in enumerate(days_list)
        ],
    )

    result = reference_kpis(raw)

    p90 = "claims_cycle_time_p90_days"
    assert kpi(result, p90, JAN, "sub_branch", "S01B01SB01")["value"] == pytest.approx(2.8)
    assert kpi(result, p90, JAN, "sub_branch", "S01B01SB02")["value"] == pytest.approx(19.0)
    # All five durations 1, 2, 3, 10, 20: position 0.9 * 4 = 3.6 -> 10 + 0.6 * 10; the average
    # of the children's p90 would be 10.9.
    for level, code in [("branch", "S01B01"), ("subsidiary", "S01"), ("group", "G")]:
        row = kpi(result, p90, JAN, level, code)
        assert row["value"] == pytest.approx(16.0)
        assert np.isnan(row["numerator"]) and np.isnan(row["denominator"])
    assert kpi(result, p90, JAN, "center", "C01")["value"] == pytest.approx(16.0)


def test_reference_kpis_moves_sub_branch_to_new_branch_on_first_day_of_month(raw: Path) -> None:
    task = {"org_code": "S01B01SB02", "center_code": "C03"}
    write_source(
        raw,
        "tasks",
        [
            task | {"task_id": "T1", "completed_at": "2024-01-31 23:59:59",
                    "sla_due_at": "2024-02-01 00:00:00"},
            task | {"task_id": "T2", "completed_at": "2024-02-01 00:00:00",
                    "sla_due_at": "2024-02-01 00:00:00"},  # on time: completed_at <= sla_due_at
            task | {"task_id": "T3", "completed_at": "2024-02-03 10:00:01",
                    "sla_due_at": "2024-02-03 10:00:00"},
        ],
    )  # fmt: skip
    write_source(
        raw,
        "claims",
        # Reported before the move, paid after it: attributed by the paid_at date.
        [claim("K1", "S01B01SB02", "2024-01-20 10:00:00", "2024-02-03 10:00:00")],
    )

    result = reference_kpis(raw)

    assert units(result, "task_sla_rate", JAN, "branch") == {"S01B01"}
    assert units(result, "task_sla_rate", FEB, "branch") == {"S01B02"}
    february = kpi(result, "task_sla_rate", FEB, "branch", "S01B02")
    assert (february["numerator"], february["denominator"]) == (1.0, 2.0)
    assert units(result, "task_sla_rate", FEB, "sub_branch") == {"S01B01SB02"}
    assert kpi(result, "task_sla_rate", JAN, "subsidiary", "S01")["value"] == 1.0
    assert units(result, "claims_auto_rate", FEB, "branch") == {"S01B02"}
    assert kpi(result, "task_sla_rate", FEB, "center", "C03")["denominator"] == 2.0


def test_reference_kpis_maps_alias_and_variant_spelling_to_canonical_code(raw: Path) -> None:
    responses = [
        {"response_id": "R1", "org_code": "S01B01SB01", "score": 10},
        {"response_id": "R2", "org_code": " s01b01sb01 ", "score": 10},
        {"response_id": "R3", "org_code": "OLD-SB01", "score": 3},
    ]
    write_source(
        raw, "nps_responses", [r | {"responded_at": "2024-01-05 12:00:00"} for r in responses]
    )

    result = reference_kpis(raw)

    assert units(result, "nps", JAN, "sub_branch") == {"S01B01SB01"}
    assert kpi(result, "nps", JAN, "sub_branch", "S01B01SB01")["denominator"] == 3.0
    assert kpi(result, "nps", JAN, "group", "G")["denominator"] == 3.0


def test_canonical_org_codes_strips_upper_cases_then_maps_aliases() -> None:
    aliases = pd.DataFrame({"alias_code": ["old-sb01 "], "org_code": ["S01B01SB01"]})
    codes = pd.Series([" s01b02sb01", "OLD-SB01", "S02B01SB01"])

    canonical = canonical_org_codes(codes, aliases)

    assert canonical.tolist() == ["S01B02SB01", "S01B01SB01", "S02B01SB01"]


def test_reference_kpis_service_level_excludes_short_abandons(raw: Path) -> None:
    contacts = [
        voice("V1", answer_sec=20),  # answered in time (boundary included)
        voice("V2", answer_sec=21),
        voice("V3", abandon_sec=3),  # short abandon: out of the service level denominator
        voice("V4", abandon_sec=5),  # short abandon (boundary included)
        voice("V5", abandon_sec=6),
        voice("V6", answer_sec=1) | {"channel": "app"},  # not voice: ignored
    ]
    write_source(raw, "contacts", contacts)

    result = reference_kpis(raw)

    for level, code in [("sub_branch", "S01B01SB01"), ("group", "G"), ("center", "C02")]:
        service = kpi(result, "service_level_20s", JAN, level, code)
        assert (service["numerator"], service["denominator"]) == (1.0, 3.0)
        assert service["value"] == pytest.approx(1 / 3)
        abandoned = kpi(result, "abandonment_rate", JAN, level, code)
        assert (abandoned["numerator"], abandoned["denominator"]) == (3.0, 5.0)


def test_reference_kpis_service_level_skips_unit_with_only_short_abandons(raw: Path) -> None:
    write_source(raw, "contacts", [voice("V1", abandon_sec=2)])

    result = reference_kpis(raw)

    assert result.loc[result["metric_name"] == "service_level_20s"].empty
    assert kpi(result, "abandonment_rate", JAN, "group", "G")["value"] == 1.0


def test_reference_kpis_nps_is_promoters_minus_detractors_per_hundred(raw: Path) -> None:
    scores = [10, 9, 9, 8, 7, 6, 0]  # 3 promoters, 2 passives, 2 detractors
    responses = [
        {"response_id": f"R{i}", "org_code": "S02B01SB01", "score": score,
         "responded_at": "2024-01-31 23:00:00"}
        for i, score in enumerate(scores)
    ]  # fmt: skip
    write_source(raw, "nps_responses", responses)

    result = reference_kpis(raw)

    nps = kpi(result, "nps", JAN, "subsidiary", "S02")
    assert (nps["numerator"], nps["denominator"]) == (1.0, 7.0)
    assert nps["value"] == pytest.approx(100 / 7)
    assert result.loc[result["org_level"] == "center"].empty


def test_reference_kpis_complaints_per_10k_counts_policies_in_force_at_month_end(
    raw: Path,
) -> None:
    policies = [
        ("P1", "S01B01SB01", "2023-05-01", None),  # in force
        ("P2", "S01B01SB01", "2023-05-01", "2024-01-31"),  # ended on the last day: not in force
        ("P3", "S01B01SB01", "2023-05-01", "2024-02-01"),  # ends the next day: in force
        ("P4", "S01B01SB01", "2024-02-01", None),  # not yet issued
        ("P5", "OLD-SB01", "2024-01-31", None),  # issued on the last day: in force
        ("P6", "S02B01SB01", "2022-01-01", None),  # in force, in a unit without complaints
    ]
    write_source(
        raw,
        "policies",
        [
            dict(zip(["policy_id", "org_code", "issued_date", "terminated_date"], p, strict=True))
            for p in policies
        ],
    )
    write_source(
        raw,
        "complaints",
        [
            {"complaint_id": "Q1", "org_code": "S01B01SB01", "received_at": "2024-01-15 10:00:00"},
            # A unit without policies gets no row of its own but counts in its parents.
            {"complaint_id": "Q2", "org_code": "S01B02SB01", "received_at": "2024-01-31 23:59:59"},
        ],
    )

    result = reference_kpis(raw)

    metric = "complaints_per_10k_policies"
    sub_branch = kpi(result, metric, JAN, "sub_branch", "S01B01SB01")
    assert (sub_branch["numerator"], sub_branch["denominator"]) == (1.0, 3.0)
    assert sub_branch["value"] == pytest.approx(10_000 / 3)
    no_complaints = kpi(result, metric, JAN, "sub_branch", "S02B01SB01")
    assert (no_complaints["numerator"], no_complaints["value"]) == (0.0, 0.0)
    assert units(result, metric, JAN, "sub_branch") == {"S01B01SB01", "S02B01SB01"}
    assert units(result, metric, JAN, "branch") == {"S01B01", "S02B01"}
    subsidiary = kpi(result, metric, JAN, "subsidiary", "S01")
    assert (subsidiary["numerator"], subsidiary["denominator"]) == (2.0, 3.0)
    assert kpi(result, metric, JAN, "group", "G")["value"] == pytest.approx(2 / 4 * 10_000)
    # February has policies but no complaint anywhere: no February rows.
    assert set(result["period_start"]) == {JAN}
    assert result.loc[result["org_level"] == "center"].empty


def test_reference_kpis_counts_a_redelivered_record_once_with_latest_values(raw: Path) -> None:
    write_source(
        raw,
        "claims",
        [claim("K1", "S01B01SB01", "2024-01-02 08:00:00", None)],
        name="claims_2024_01.csv",
    )
    write_source(
        raw,
        "claims",
        [claim("K1", "S01B01SB01", "2024-01-02 08:00:00", "2024-02-02 08:00:00", auto=True)],
        name="claims_2024_02.csv",
    )
    write_source(
        raw, "claims", [paid_after("K9", "S01B01SB01", 1.0)], name="_defects.csv"
    )  # ignored

    result = reference_kpis(raw)

    auto_rate = kpi(result, "claims_auto_rate", FEB, "group", "G")
    assert (auto_rate["numerator"], auto_rate["denominator"]) == (1.0, 1.0)
    assert kpi(result, "claims_cycle_time_days", FEB, "group", "G")["value"] == pytest.approx(31.0)
    assert set(result["period_start"]) == {FEB}


def test_reference_kpis_rejects_overlapping_org_unit_versions(raw: Path) -> None:
    overlap = {"org_code": "S01B01SB01", "org_level": "sub_branch", "parent_code": "S01B02"}
    write_source(raw, "org_units", [overlap | {"valid_from": "2023-06-01"}], name="late.csv")
    write_source(raw, "tasks", [{"task_id": "T1", "org_code": "S01B01SB01", "center_code": "C03",
                                 "completed_at": "2024-01-05 10:00:00",
                                 "sla_due_at": "2024-01-06 10:00:00"}])  # fmt: skip

    with pytest.raises(ValueError, match="overlapping sub_branch versions"):
        reference_kpis(raw)
