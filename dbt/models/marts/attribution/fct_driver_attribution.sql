{#- Why a KPI moved, input by input: for every metric with formula links in the indicator tree
    (a ratio or a derived metric of two inputs), the change of its value at a unit is split into
    its two inputs' contributions (the value-management reference, section 4). The inputs are
    the numerator and denominator of the metric's own fct_kpi_values row (the parts the formula
    uses, filtered where the tree says is_filtered); k is the metric's constant, read from its
    value expression (macros/driver_attribution.sql).

    Quotients, y = k N / D: the two-factor Shapley split (each input's effect taken first and
    taken last, averaged),
        C_N = k (N1 - N0) (1/D0 + 1/D1) / 2,    C_D = k (N0 + N1) (1/D1 - 1/D0) / 2,
    which sum to k N1/D1 - k N0/D0 exactly; an input that did not change contributes exactly 0.

    Products, y = k x1 x2: LMDI, C_i = L(y1, y0) ln(x_i1 / x_i0), L(a, b) = (a - b) / ln(a / b)
    (L(a, a) = a), which sum to y1 - y0 because ln(y1 / y0) = sum ln(x_i1 / x_i0). The logarithms
    need each factor to keep its sign and never be 0. When a factor is 0 in a state or changes
    sign, the split falls back to the two-factor Shapley split of the product,
        C_1 = k (x1_1 - x1_0) (x2_0 + x2_1) / 2,    C_2 = k (x2_1 - x2_0) (x1_0 + x1_1) / 2,
    exact for any values, so the sum still holds (split_method says which rule a row followed).

    Compared month on month (mom) and year on year (yoy), at every tier and unit fct_kpi_values
    has, the centers included, where both states have a value (and, for a quotient, a non-zero
    denominator). No comparison against target: a target is set for the metric's value only,
    never for its inputs, so there is no target state of the numerator and denominator. -#}

{%- set kinds = driver_formula_kinds() if execute else {} %}

with

kpi_values as (

    select * from {{ ref('fct_kpi_values') }}

),

tree as (

    select * from {{ ref('dim_indicator_tree') }}

),

-- rendered from a Jinja loop: its indentation follows the template, not the rendered SQL
-- noqa: disable=LT02,LT05
formula_kinds (metric_name, formula_kind, k) as (

    {%- if kinds %}
    values
    {%- for metric, formula in kinds | dictsort %}
        ({{ kpi_sql_literal(metric) }}, {{ kpi_sql_literal(formula.kind) }}, cast(({{ formula.constant }}) as double)){% if not loop.last %},{% endif %}
    {%- endfor %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        cast(null as double)
    where false
    {%- endif %}

),
-- noqa: enable=all

formula_inputs as (

    -- the two formula links of each metric: its numerator (first factor) and denominator
    select
        formula_kinds.metric_name,
        formula_kinds.formula_kind,
        tree.child_node as input_metric,
        tree.input_role,
        tree.is_filtered
    from formula_kinds
    inner join tree
        on
            formula_kinds.metric_name = tree.parent_node
            and tree.link_type = 'formula'

),

comparisons as (

    select
        'mom' as comparison,
        1 as months_back
    union all
    select
        'yoy' as comparison,
        12 as months_back

),

pairs as (

    -- a unit's inputs and value in the month explained (state 1) and in its base (state 0)
    select
        comparisons.comparison,
        later.metric_name,
        later.period_start,
        later.org_level,
        later.org_code,
        formula_kinds.formula_kind,
        formula_kinds.k,
        cast(earlier.numerator as double) as numerator_0,
        cast(earlier.denominator as double) as denominator_0,
        cast(earlier.value as double) as value_0,
        cast(later.numerator as double) as numerator_1,
        cast(later.denominator as double) as denominator_1,
        cast(later.value as double) as value_1
    from kpi_values as later
    inner join formula_kinds on later.metric_name = formula_kinds.metric_name
    cross join comparisons
    inner join kpi_values as earlier
        on
            later.metric_name = earlier.metric_name
            and later.org_level = earlier.org_level
            and later.org_code = earlier.org_code
            and earlier.period_start = cast(
                {{ dbt.dateadd('month', '-comparisons.months_back', 'later.period_start') }}
                as date
            )
    where
        later.value is not null
        and earlier.value is not null
        and later.numerator is not null
        and earlier.numerator is not null
        and later.denominator is not null
        and earlier.denominator is not null
        -- a quotient is undefined over 0; a product's factor may be 0 (the rule above)
        and (
            formula_kinds.formula_kind = 'product'
            or (later.denominator <> 0 and earlier.denominator <> 0)
        )

),

quotient_splits as (

    select
        comparison,
        metric_name,
        period_start,
        org_level,
        org_code,
        formula_kind,
        'shapley' as split_method,
        numerator_0,
        numerator_1,
        denominator_0,
        denominator_1,
        value_1 - value_0 as parent_change,
        k * (numerator_1 - numerator_0) * (1 / denominator_0 + 1 / denominator_1)
        / 2 as numerator_contribution,
        k * (numerator_0 + numerator_1) * (1 / denominator_1 - 1 / denominator_0)
        / 2 as denominator_contribution
    from pairs
    where formula_kind = 'quotient'

),

products as (

    select
        *,
        -- LMDI applies when both factors keep their sign and are never 0
        coalesce(
            numerator_0 * numerator_1 > 0 and denominator_0 * denominator_1 > 0, false
        ) as is_log_mean
    from pairs
    where formula_kind = 'product'

),

product_weights as (

    select
        *,
        case
            when not is_log_mean then null
            -- L(a, a) = a, the limit (also for a ratio one ulp from 1, whose log is 0); y1 / y0
            -- is positive here, both factors keeping their sign
            when value_1 = value_0 or ln(value_1 / value_0) = 0 then value_1
            else (value_1 - value_0) / ln(value_1 / value_0)
        end as log_mean
    from products

),

product_splits as (

    select
        comparison,
        metric_name,
        period_start,
        org_level,
        org_code,
        formula_kind,
        case when is_log_mean then 'lmdi' else 'shapley' end as split_method,
        numerator_0,
        numerator_1,
        denominator_0,
        denominator_1,
        value_1 - value_0 as parent_change,
        case
            when is_log_mean then log_mean * ln(numerator_1 / numerator_0)
            else k * (numerator_1 - numerator_0) * (denominator_0 + denominator_1) / 2
        end as numerator_contribution,
        case
            when is_log_mean then log_mean * ln(denominator_1 / denominator_0)
            else k * (denominator_1 - denominator_0) * (numerator_0 + numerator_1) / 2
        end as denominator_contribution
    from product_weights

),

splits as (

    select * from quotient_splits
    union all
    select * from product_splits

),

final as (

    -- one row per input: the metric's numerator, then its denominator
    select
        splits.metric_name,
        splits.period_start,
        splits.comparison,
        splits.org_level,
        splits.org_code,
        formula_inputs.input_role,
        formula_inputs.input_metric,
        formula_inputs.is_filtered,
        splits.formula_kind,
        splits.split_method,
        case
            when formula_inputs.input_role = 'numerator' then splits.numerator_0
            else splits.denominator_0
        end as input_base_value,
        case
            when formula_inputs.input_role = 'numerator' then splits.numerator_1
            else splits.denominator_1
        end as input_value,
        case
            when formula_inputs.input_role = 'numerator' then splits.numerator_contribution
            else splits.denominator_contribution
        end as contribution,
        splits.parent_change
    from splits
    inner join formula_inputs on splits.metric_name = formula_inputs.metric_name

)

select * from final
