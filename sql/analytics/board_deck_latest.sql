-- The board metrics of the run's closed month (the month before the one its data interval
-- ends in), in the reporting currency, stamped with the validation that allowed them to be
-- published. The monthly board DAG runs this model only on its publish branch, and the model
-- itself raises, so that the table keeps its previous month, unless this DAG run's
-- arr_matches_finance result passed and none of the run's quality results blocks.
with settings as (
    select
        {{ bind('reporting_time_zone') }}::text as time_zone,
        {{ bind('as_of') }}::timestamptz as as_of,
        {{ bind('dag_id') }}::text as dag_id,
        {{ bind('run_id') }}::text as run_id
),

closed_month as (
    select
        (
            date_trunc('month', (settings.as_of - interval '1 microsecond') at time zone settings.time_zone)
            - interval '1 month'
        )::date as month_start,
        settings.dag_id,
        settings.run_id
    from settings
),

quality_results as (
    select quality.*
    from analytics.data_quality_results as quality
    inner join settings
        on
            quality.dag_id = settings.dag_id
            and quality.run_id = settings.run_id
),

validation as (
    select
        count(*) filter (where action = 'block') as blocking_results,
        max(outcome) filter (
            where table_name = 'analytics.arr_reconciliation' and check_name = 'arr_matches_finance'
        ) as finance_validation_outcome,
        max(recorded_at) as validated_at
    from quality_results
),

monthly as (
    select * from analytics.mrr_monthly
    where currency_basis = 'reporting' and not is_provisional
),

churn as (
    select * from analytics.churn_monthly
),

retention as (
    select * from analytics.ndr_monthly
),

reconciliation as (
    select * from analytics.arr_reconciliation
),

board as (
    select
        closed_month.month_start,
        monthly.currency,
        monthly.mrr,
        monthly.arr,
        monthly.paying_customers,
        monthly.arpa,
        monthly.new_mrr,
        monthly.expansion_mrr,
        monthly.contraction_mrr,
        monthly.churned_mrr,
        monthly.reactivation_mrr,
        monthly.net_new_mrr,
        churn.logo_churn_rate,
        churn.gross_mrr_churn_rate,
        churn.net_mrr_churn_rate,
        churn.quick_ratio,
        retention.nrr_month_over_month,
        retention.grr_month_over_month,
        retention.ndr_trailing_12m,
        retention.gdr_trailing_12m,
        reconciliation.engine_arr_usd,
        reconciliation.finance_arr_usd,
        reconciliation.difference_ratio as arr_difference_ratio,
        validation.finance_validation_outcome,
        validation.blocking_results,
        validation.validated_at,
        closed_month.dag_id as validated_by_dag_id,
        closed_month.run_id as validated_by_run_id
    from closed_month
    cross join validation
    left join monthly
        on closed_month.month_start = monthly.month_start
    left join churn
        on
            monthly.month_start = churn.month_start
            and monthly.currency = churn.currency
    left join retention
        on
            monthly.month_start = retention.month_start
            and monthly.currency = retention.currency
    left join reconciliation
        on closed_month.month_start = reconciliation.month_start
),

checked as (
    select board.*
    from board
    where
        case
            when board.finance_validation_outcome is distinct from 'passed'
                then analytics.raise_error(
                    'Board deck for ' || to_char(board.month_start, 'YYYY-MM') || ' not published: run '
                    || board.validated_by_run_id || ' has no passed arr_matches_finance result (outcome '
                    || coalesce(board.finance_validation_outcome, 'missing') || ') in analytics.data_quality_results.'
                )
            when board.blocking_results > 0
                then analytics.raise_error(
                    'Board deck for ' || to_char(board.month_start, 'YYYY-MM') || ' not published: run '
                    || board.validated_by_run_id || ' has ' || board.blocking_results
                    || ' blocking results in analytics.data_quality_results.'
                )
            when board.mrr is null
                then analytics.raise_error(
                    'Board deck for ' || to_char(board.month_start, 'YYYY-MM') || ' not published: '
                    || 'analytics.mrr_monthly has no closed reporting-basis row for that month.'
                )
            else true
        end
),

final as (
    select
        month_start,
        currency,
        mrr,
        arr,
        paying_customers,
        arpa,
        new_mrr,
        expansion_mrr,
        contraction_mrr,
        churned_mrr,
        reactivation_mrr,
        net_new_mrr,
        logo_churn_rate,
        gross_mrr_churn_rate,
        net_mrr_churn_rate,
        quick_ratio,
        nrr_month_over_month,
        grr_month_over_month,
        ndr_trailing_12m,
        gdr_trailing_12m,
        engine_arr_usd,
        finance_arr_usd,
        arr_difference_ratio,
        finance_validation_outcome,
        validated_at,
        validated_by_dag_id,
        validated_by_run_id
    from checked
)

select * from final
