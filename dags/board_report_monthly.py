"""
### Board report, monthly

Publishes the board metrics of the month that just closed to `analytics.board_deck_latest`,
only when the engine's ARR for that month matches the ARR finance reported within 0.5 % and the
tables the deck reads pass their critical checks. Otherwise it holds the report: the table keeps
the last validated month and finance gets both numbers and their difference.

**Owner:** data-platform; finance owns the numbers in `raw_finance.arr_reported`.
**Schedule:** 09:00 UTC on the 1st of each month, for the interval [1st of the previous month
09:00, 1st of this month 09:00). The closed month is the month before the interval end, so the
run on June 1st reports May; the daily DAG has closed May at 07:00 that morning.

**Tasks:** `reconcile_arr` rebuilds `analytics.arr_reconciliation` from `analytics.mrr_monthly`
and the latest finance report of each month. `validate_against_finance` runs the contracts of
arr_reconciliation (check `arr_matches_finance`: |engine ARR − finance ARR| / finance ARR ≤ 0.5 %
for the closed month), mrr_monthly, churn_monthly and ndr_monthly. `choose_board_path` then
runs either `publish_board_deck` (all passed) or `notify_board_report_held` (anything blocked),
and `end_board_run` closes the run.

**Report:** after `publish_board_deck`, `generate_board_report` writes the PDF and HTML board
report of the month to `output/board_reports/` (see docs/board-report.md); a held run writes
none, and a validated report is never replaced by an unvalidated one.

**A held run fails on purpose.** After the hold notification, `end_board_run` fails with
"board report held: ..." and both ARR numbers, so the run is red in the UI and in failure
alerts until someone acts; a quiet green run would hide that the board has no current numbers.

**Triage:**
- `end_board_run` failed with "board report held": its message and this run's rows in
  `analytics.data_quality_results` say which check blocked. If finance has not reported the
  month yet, wait for the row in `raw_finance.arr_reported`. If the numbers differ, find the
  cause with finance (an FX rate, a late cancellation, a restated report). Then clear the run
  from `reconcile_arr` onwards.
- `validate_against_finance` failed: an error, not a disagreement (a connection, a missing
  table or column, an invalid contract); its log lists each one.
- `publish_board_deck` failed: the model refuses to publish without a passed validation of the
  same run; clear the run from `reconcile_arr`.

**Rerun safety:** `reconcile_arr` replaces its whole table, the validation replaces this run's
rows in `analytics.data_quality_results`, `publish_board_deck` replaces the one row of
`analytics.board_deck_latest` and only after this run's validation passed, and the hold path
writes nothing. A rerun on the same data takes the same branch.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, TriggerRule, chain, task

from saas_metrics.board import BOARD_CONTRACTS, HOLD_TASK_ID
from saas_metrics.config import load_metrics_config
from saas_metrics.dag_defaults import default_args
from saas_metrics.models import sql_model
from saas_metrics.operators.board_report import build_board_report_task
from saas_metrics.operators.quality_gate import QualityGateOperator
from saas_metrics.paths import SQL_DIR

CONFIG = load_metrics_config()

with DAG(
    dag_id="board_report_monthly",
    description="Board metrics of the closed month, published only when ARR matches finance",
    schedule=CronDataIntervalTimetable("0 9 1 * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    template_searchpath=[str(SQL_DIR)],
    default_args=default_args(),
    tags=["board", "monthly"],
    doc_md=__doc__,
) as dag:
    reconcile_arr = sql_model("analytics/arr_reconciliation.sql", config=CONFIG, task_id="reconcile_arr")

    validate_against_finance = QualityGateOperator(
        task_id="validate_against_finance", contracts=BOARD_CONTRACTS, fail_on_blocking=False
    )

    @task.branch
    def choose_board_path(validation: dict) -> str:
        from saas_metrics.board import choose_board_path

        return choose_board_path(validation)

    publish_board_deck = sql_model(
        "analytics/board_deck_latest.sql",
        config=CONFIG,
        task_id="publish_board_deck",
        parameters={"dag_id": "{{ dag.dag_id }}", "run_id": "{{ run_id }}"},
    )

    @task(task_id=HOLD_TASK_ID)
    def notify_board_report_held(validation: dict) -> str:
        from airflow.sdk import get_current_context

        from saas_metrics.board import hold_board_report

        return hold_board_report(get_current_context(), conn_id="warehouse", validation=validation)

    # Runs after whichever branch ran; the other one is skipped.
    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def end_board_run(ti=None) -> None:
        from saas_metrics.board import end_board_run

        end_board_run(ti.xcom_pull(task_ids=HOLD_TASK_ID))

    board_path = choose_board_path(validate_against_finance.output)
    hold_notification = notify_board_report_held(validate_against_finance.output)
    end = end_board_run()

    generate_board_report = build_board_report_task(task_id="generate_board_report")

    chain(reconcile_arr, validate_against_finance, board_path, [publish_board_deck, hold_notification])
    chain(publish_board_deck, generate_board_report, end)
    chain(hold_notification, end)
