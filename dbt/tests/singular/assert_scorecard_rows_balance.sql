{#- Nothing is lost at the door: every delivered row was loaded, quarantined or is in a rejected
    file, for every source and month. -#}
select
    source,
    period_start,
    rows_delivered,
    rows_loaded,
    rows_quarantined,
    rows_rejected
from {{ ref('data_quality_scorecard') }}
where rows_delivered <> rows_loaded + rows_quarantined + rows_rejected
