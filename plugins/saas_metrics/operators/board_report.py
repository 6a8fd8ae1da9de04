"""Build the monthly board report (PDF and HTML) as an Airflow task."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException


def closed_month(data_interval_end: dt.datetime, time_zone: str = "UTC") -> dt.date:
    """Return the first day of the last calendar month that ended at or before `data_interval_end`.

    Months are cut in `time_zone` (the reporting time zone), as in the analytics tables.
    """
    local = data_interval_end.astimezone(ZoneInfo(time_zone))
    first_of_month = local.date().replace(day=1)
    return (first_of_month - dt.timedelta(days=1)).replace(day=1)


class BuildBoardReportOperator(BaseOperator):
    """
    Build the board report of the month closed at the end of the run's data interval.

    The finance validation stamp is the ``validation`` argument when given (a dict such as
    ``{"status": "validated", "difference_ratio": 0.001, "tolerance": 0.005}``, a status
    string, or an XCom of such a dict). Otherwise it is the month's row of
    ``analytics.board_deck_latest`` when that table exists, and "not validated" when neither
    gives one. A validated report already stored for the month is never replaced by one that
    is not validated. The task then succeeds, and its XCom has ``is_written`` false and the reason.

    :param month: report month as ``YYYY-MM`` or ``YYYY-MM-DD``; default the month closed at
        the end of the data interval. Templated.
    :param validation: finance's stamp for the month, see above. Templated.
    :param output_dir: folder of the reports; default OUTPUT_DIR/board_reports. Templated.
    :param conn_id: Airflow connection of the warehouse.
    """

    template_fields: Sequence[str] = ("month", "validation", "output_dir")
    ui_color = "#e8e3f6"

    def __init__(
        self,
        *,
        month: str | None = None,
        validation: Any = None,
        output_dir: str | None = None,
        conn_id: str = "warehouse",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.month = month
        self.validation = validation
        self.output_dir = output_dir
        self.conn_id = conn_id

    @cached_property
    def hook(self):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        return PostgresHook(postgres_conn_id=self.conn_id)

    def execute(self, context) -> dict:
        from saas_metrics.config import load_metrics_config
        from saas_metrics.reports import build_board_report
        from saas_metrics.reports.validation import (
            ValidationStampError,
            coerce_validation,
            not_validated,
            read_board_deck_validation,
        )

        config = load_metrics_config()
        month = self._report_month(context, config.reporting_time_zone)
        try:
            validation = coerce_validation(self.validation)
        except ValidationStampError as error:
            raise AirflowFailException(f"Task {self.task_id}: {error}") from error

        with self.hook.get_conn() as conn:
            if validation is None:
                validation = read_board_deck_validation(conn, month) or not_validated(
                    "no stamp for the month in analytics.board_deck_latest", source="analytics.board_deck_latest"
                )
            self.log.info("Building the board report for %s: %s (from %s)", f"{month:%Y-%m}", validation.stamp,
                          validation.source)
            result = build_board_report(
                conn,
                month,
                self.output_dir or None,
                validation,
                segment_thresholds=tuple((segment.name, segment.min_mrr) for segment in config.segments),
            )
        if result.is_written:
            self.log.info("Board report written: %s and %s (%s PDF pages)", result.pdf_path, result.html_path,
                          result.pages)
        else:
            self.log.warning("Board report not written: %s", result.kept_reason)
        return result.as_dict()

    def _report_month(self, context, time_zone: str) -> dt.date:
        if self.month:
            text = str(self.month)
            try:
                return dt.date.fromisoformat(text if len(text) > 7 else f"{text}-01").replace(day=1)
            except ValueError:
                raise AirflowFailException(
                    f"Task {self.task_id}: invalid month {text!r}; use YYYY-MM or YYYY-MM-DD"
                ) from None
        interval_end = context.get("data_interval_end")
        if interval_end is None:
            raise AirflowFailException(
                f"Run {context.get('run_id')} has no data interval, so there is no closed month to report; "
                "pass month='YYYY-MM' or trigger the DAG with a logical date."
            )
        return closed_month(interval_end, time_zone)


def build_board_report_task(
    *,
    task_id: str = "build_board_report",
    month: str | None = None,
    validation: Any = None,
    output_dir: str | None = None,
    conn_id: str = "warehouse",
    **kwargs: Any,
) -> BuildBoardReportOperator:
    """Create the board report task; call it inside a DAG after the month's tables are published.

    Example, after the publish branch of a monthly DAG::

        report = build_board_report_task(validation=reconcile.output)
        publish >> report
    """
    return BuildBoardReportOperator(
        task_id=task_id, month=month, validation=validation, output_dir=output_dir, conn_id=conn_id, **kwargs
    )
