"""Checks on the published KPIs (marts.fct_kpi_values), after every dbt build.

Reconciliation, rates and plausible bounds are blocking: when one fails, the publication and the
dashboards are not built from these marts (the previous publication stays). A month-over-month
jump is only flagged (WARN) for a human to look at. Thresholds: expectations/kpi_checks.yml.
"""

from collections.abc import Iterator

import dagster as dg

from dagster_project.core.resources import Warehouse
from dagster_project.defs.checks import kpi_checks

KPI_VALUES = dg.AssetKey(["marts", "fct_kpi_values"])
SHOWN = 50  # findings listed in the check's metadata

KPI_CHECK_SPECS = [
    dg.AssetCheckSpec(
        "group_reconciles_with_subsidiaries",
        asset=KPI_VALUES,
        blocking=True,
        description="Group numerator and denominator = the sums over the subsidiaries, per month.",
    ),
    dg.AssetCheckSpec(
        "rates_between_0_and_1",
        asset=KPI_VALUES,
        blocking=True,
        description="Metrics with unit percent lie in [0, 1] at every tier.",
    ),
    dg.AssetCheckSpec(
        "values_within_plausible_bounds",
        asset=KPI_VALUES,
        blocking=True,
        description="Each value within the plausible bounds of its metric or unit.",
    ),
    dg.AssetCheckSpec(
        "month_over_month_jumps",
        asset=KPI_VALUES,
        blocking=False,
        description="Group and subsidiary values moving beyond the metric's threshold (warning).",
    ),
]


def _result(
    name: str, findings: list[kpi_checks.Finding], severity: dg.AssetCheckSeverity
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=KPI_VALUES,
        check_name=name,
        passed=not findings,
        severity=severity,
        metadata={
            "findings": len(findings),
            "first_findings": dg.MetadataValue.md(
                "\n".join(f"- {f}" for f in findings[:SHOWN]) or "none"
            ),
        },
    )


@dg.multi_asset_check(
    specs=KPI_CHECK_SPECS,
    can_subset=True,
    name="kpi_checks",
)
def kpi_value_checks(
    context: dg.AssetCheckExecutionContext, warehouse: Warehouse
) -> Iterator[dg.AssetCheckResult]:
    """Reconciliation, rates, plausible bounds and month-over-month jumps of the published KPIs."""
    config = kpi_checks.load_config(warehouse.settings.expectations_dir)
    selected = {key.name for key in context.selected_asset_check_keys}
    error, warn = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
    with warehouse.connect() as con:
        runs = {
            "group_reconciles_with_subsidiaries": (
                lambda: kpi_checks.reconciliation(con, config),
                error,
            ),
            "rates_between_0_and_1": (lambda: kpi_checks.rates(con), error),
            "values_within_plausible_bounds": (lambda: kpi_checks.bounds(con, config), error),
            "month_over_month_jumps": (lambda: kpi_checks.month_over_month(con, config), warn),
        }
        for name, (run, severity) in runs.items():
            if name in selected:
                findings = run()
                if findings:
                    context.log.warning(f"{name}: {len(findings)} finding(s), e.g. {findings[0]}")
                yield _result(name, findings, severity)
