"""Checks on the published KPIs (marts.fct_kpi_values), after every dbt build.

Reconciliation, rates and plausible bounds hold back what they find wrong, and only that: a value
outside its bounds or a rate outside [0, 1] holds the metric at that unit, a group that does not
reconcile with its subsidiaries holds the metric at every unit (`holds.py`, `meta.kpi_holds`). The
publication keeps the previously published values of what is held and publishes everything else;
the pages and `opsvalue status` show the held KPIs as stale, with the check and the reason.

In Dagster these three stay blocking checks: a blocking check is what makes the publication wait
for it (dagster orders an asset after the blocking checks of its upstream assets, and only those),
so the publication always reads the holds of this run. A finding reports WARN, which a blocking
check does not block on: the run goes on, with no step failure and no stack trace. A check that
cannot run at all (an error) still fails its step, and then nothing is published.

A month-over-month jump is only flagged (WARN) for a human to look at and holds nothing.
Thresholds: expectations/kpi_checks.yml.
"""

from collections.abc import Callable, Iterator
from datetime import datetime

import dagster as dg

from dagster_project.core.resources import Warehouse
from dagster_project.defs.checks import holds, kpi_checks

KPI_VALUES = dg.AssetKey(["marts", "fct_kpi_values"])
SHOWN = 50  # findings listed in the check's metadata

KPI_CHECK_SPECS = [
    dg.AssetCheckSpec(
        "group_reconciles_with_subsidiaries",
        asset=KPI_VALUES,
        blocking=True,
        description=(
            "Group numerator and denominator = the sums over the subsidiaries, per month; a "
            "metric that does not reconcile is held back at every unit."
        ),
    ),
    dg.AssetCheckSpec(
        "rates_between_0_and_1",
        asset=KPI_VALUES,
        blocking=True,
        description=(
            "Metrics with unit percent lie in [0, 1] at every tier; a rate outside holds the "
            "metric back at that unit."
        ),
    ),
    dg.AssetCheckSpec(
        "values_within_plausible_bounds",
        asset=KPI_VALUES,
        blocking=True,
        description=(
            "Each value within the plausible bounds of its metric or unit; a value outside holds "
            "the metric back at that unit."
        ),
    ),
    dg.AssetCheckSpec(
        "month_over_month_jumps",
        asset=KPI_VALUES,
        blocking=False,
        description="Group and subsidiary values moving beyond the metric's threshold (warning).",
    ),
]
# The checks whose findings hold KPIs back, and whether a finding holds the metric at every unit.
HOLDING_CHECKS = {
    "group_reconciles_with_subsidiaries": True,
    "rates_between_0_and_1": False,
    "values_within_plausible_bounds": False,
}


def _result(
    name: str,
    findings: list[kpi_checks.Finding],
    held: list[holds.Hold],
) -> dg.AssetCheckResult:
    metadata: dict[str, object] = {
        "findings": len(findings),
        "first_findings": dg.MetadataValue.md(
            "\n".join(f"- {f}" for f in findings[:SHOWN]) or "none"
        ),
    }
    if name in HOLDING_CHECKS:
        metadata["held"] = len(held)
        metadata["held_kpis"] = dg.MetadataValue.md(
            "\n".join(f"- {h.metric_name} at {h.where}: {h.reason}" for h in held[:SHOWN]) or "none"
        )
    return dg.AssetCheckResult(
        asset_key=KPI_VALUES,
        check_name=name,
        passed=not findings,
        # WARN: what a finding concerns is held back, the rest publishes (see the docstring)
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
    )


def hold_message(name: str, held: list[holds.Hold]) -> str:
    """The log line of a check that holds KPIs back: what, where, why."""
    shown = "; ".join(f"{h.metric_name} at {h.where} ({h.reason})" for h in held[:5])
    more = f"; +{len(held) - 5} more" if len(held) > 5 else ""
    return (
        f"{name} holds back {len(held)} KPI(s), which keep their previously published values; "
        f"everything else publishes: {shown}{more}"
    )


@dg.multi_asset_check(
    specs=KPI_CHECK_SPECS,
    can_subset=True,
    name="kpi_checks",
)
def kpi_value_checks(
    context: dg.AssetCheckExecutionContext, warehouse: Warehouse
) -> Iterator[dg.AssetCheckResult]:
    """Reconciliation, rates and plausible bounds (each holding back what it finds wrong), and
    month-over-month jumps (flagged only) of the KPIs about to be published."""
    config = kpi_checks.load_config(warehouse.settings.expectations_dir)
    selected = {key.name for key in context.selected_asset_check_keys}
    with warehouse.connect() as con:
        runs: dict[str, Callable[[], list[kpi_checks.Finding]]] = {
            "group_reconciles_with_subsidiaries": lambda: kpi_checks.reconciliation(con, config),
            "rates_between_0_and_1": lambda: kpi_checks.rates(con),
            "values_within_plausible_bounds": lambda: kpi_checks.bounds(con, config),
            "month_over_month_jumps": lambda: kpi_checks.month_over_month(con, config),
        }
        at = datetime.now().replace(microsecond=0)
        for name, run in runs.items():
            if name not in selected:
                continue
            findings = run()
            held: list[holds.Hold] = []
            if name in HOLDING_CHECKS:
                wanted = holds.holds_from_findings(name, findings, HOLDING_CHECKS[name])
                held = holds.record_holds(con, name, wanted, at)
            if held:
                context.log.warning(hold_message(name, held))
            elif findings:
                context.log.warning(f"{name}: {len(findings)} finding(s), e.g. {findings[0]}")
            yield _result(name, findings, held)
