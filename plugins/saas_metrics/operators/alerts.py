"""Evaluate the alert rules of include/config/alerts.yml for a run and send the fired ones once."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator


class AlertDeliveryError(RuntimeError):
    """A fired alert reached no channel, or a metric query failed; details are in the task log."""


class EvaluateAlertsOperator(BaseOperator):
    """
    Evaluate every alert rule for the month of the run's data interval end (UTC).

    Each evaluation (fired, not fired, not evaluated, error) is recorded with its metric values
    in ``analytics.alert_history``. A fired rule is claimed in ``analytics.alert_deliveries``
    under the key (rule, month) before it is sent, so reruns and retries of the same interval
    do not send it again. The task fails after evaluating every rule when a fired alert
    reached none of its channels or a metric query failed. A retry then resends only the
    alerts whose delivery failed.

    :param config_path: alerts file to load at run time; default include/config/alerts.yml.
    :param conn_id: Airflow connection of the warehouse.
    """

    template_fields: Sequence[str] = ()
    ui_color = "#fbe3d6"

    def __init__(self, *, config_path: str | None = None, conn_id: str = "warehouse", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_path = config_path
        self.conn_id = conn_id

    @cached_property
    def hook(self):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        return PostgresHook(postgres_conn_id=self.conn_id)

    def execute(self, context) -> dict[str, int]:
        from airflow.sdk.exceptions import AirflowFailException

        from saas_metrics.alerts.config import load_alerts_config
        from saas_metrics.alerts.evaluation import Period
        from saas_metrics.config import ConfigError

        try:
            config = load_alerts_config(self.config_path)
        except ConfigError as error:
            raise AirflowFailException(
                f"Invalid alerts configuration, fix it and clear this task: {error}"
            ) from error
        interval_end = context.get("data_interval_end")
        if interval_end is None:
            raise AirflowFailException(
                f"Run {context['run_id']} has no data interval, so there is no month to evaluate; "
                "trigger the DAG with a logical date."
            )
        period = Period.for_interval_end(interval_end)
        self.log.info(
            "Evaluating %d alert rules for %s (interval end %s)",
            len(config.rules),
            period.label,
            interval_end,
        )

        with self.hook.get_conn() as conn:
            counts = self._evaluate_and_send(conn, config, period, context)

        self.log.info("Alerts for %s: %s", period.label, counts)
        problems = []
        if counts["delivery_failed"]:
            problems.append(f"{counts['delivery_failed']} fired alerts reached no channel")
        if counts["error"]:
            problems.append(f"{counts['error']} metric queries failed")
        if problems:
            raise AlertDeliveryError(
                f"Alert evaluation for {period.label}: {' and '.join(problems)}. The log above names each "
                "rule and error; analytics.alert_history has the rows. A retry resends only the "
                "alerts that were not delivered."
            )
        return counts

    def _evaluate_and_send(self, conn, config, period, context) -> dict[str, int]:
        from saas_metrics.alerts.evaluation import ERROR, FIRED, NOT_EVALUATED, NOT_FIRED, evaluate_rule
        from saas_metrics.alerts.history import (
            RunInfo,
            claim_delivery,
            ensure_tables,
            finish_delivery,
            mark_evaluation,
            record_evaluation,
        )
        from saas_metrics.notifiers.delivery import deliver

        ti = context["ti"]
        run = RunInfo(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_try_number=ti.try_number,
            data_interval_start=context.get("data_interval_start"),
            data_interval_end=context.get("data_interval_end"),
        )
        run_label = (
            f"{run.dag_id} / {run.run_id}, data interval {run.data_interval_start} to {run.data_interval_end}"
        )
        counts = dict.fromkeys((FIRED, NOT_FIRED, NOT_EVALUATED, ERROR), 0)
        counts.update(delivered=0, already_delivered=0, delivery_failed=0)

        ensure_tables(conn)
        for rule in config.rules:
            evaluation = evaluate_rule(conn, rule, period, run_label=run_label)
            evaluation_id = record_evaluation(conn, evaluation, run)
            counts[evaluation.status] += 1
            if evaluation.status != FIRED:
                continue

            existing = claim_delivery(conn, rule.name, period.start, evaluation_id, run.claimed_by)
            if existing is not None:
                status = "already_delivered" if existing == "delivered" else "in_progress"
                with conn.transaction():
                    mark_evaluation(conn, evaluation_id, status)
                self.log.info(
                    "Alert %s for %s is not sent again: its delivery is %s", rule.name, period.label, existing
                )
                counts["already_delivered"] += 1
                continue

            result = deliver(rule.channels, evaluation.message, label=f"alert {rule.name} for {period.label}")
            finish_delivery(conn, rule.name, period.start, evaluation_id, result)
            counts["delivered" if result.delivered else "delivery_failed"] += 1
        return counts


def evaluate_alerts_task(
    *,
    task_id: str = "evaluate_alerts",
    config_path: str | None = None,
    conn_id: str = "warehouse",
    **kwargs: Any,
) -> EvaluateAlertsOperator:
    """Create the alert evaluation task; call it inside a DAG after the tables the rules read are written."""
    return EvaluateAlertsOperator(task_id=task_id, config_path=config_path, conn_id=conn_id, **kwargs)
