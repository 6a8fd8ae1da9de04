"""Run the weekly DAG's SQL models directly, with the DAG's own rendering, on a test database.

Like helpers.models for the daily DAG: `run_weekly_models` renders and writes each model as
the DAG's SqlTransformOperator tasks would, with the output of `find_weekly_inputs` computed
from the test database (or given), without the cost of a DAG run.
"""

from __future__ import annotations

import copy
import datetime as dt
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WEEKLY_DAG_ID = "saas_metrics_weekly"


@lru_cache(maxsize=1)
def weekly_dag():
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "saas_metrics_weekly.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[WEEKLY_DAG_ID]


def run_weekly_models(conn, as_of: dt.datetime, *, only: set[str] | None = None, inputs: dict | None = None):
    """Render and run every weekly model task (or those named in `only`) as of `as_of`.

    `inputs` replaces the XCom of `find_weekly_inputs`. By default it is computed from the
    database as that task would. Returns each task's rows written and deleted.
    """
    from saas_metrics.operators.sql_transform import SqlTransformOperator, run_transform
    from saas_metrics.weekly_inputs import find_weekly_inputs

    dag = weekly_dag()
    results = {}
    for task in dag.topological_sort():
        if not isinstance(task, SqlTransformOperator) or (only is not None and task.task_id not in only):
            continue
        if inputs is None and task.materialization != "script":
            task_inputs = find_weekly_inputs(conn)
            conn.commit()
        else:
            task_inputs = inputs
        rendered = copy.copy(task)
        rendered.parameters = dict(task.parameters)
        context = {
            "data_interval_start": as_of - dt.timedelta(days=7),
            "data_interval_end": as_of,
            "params": dict(task.params),
            "task": rendered,
            "dag": dag,
            "ti": _InputsOnlyTaskInstance(task_inputs),
        }
        rendered.render_template_fields(context, jinja_env=dag.get_template_env())
        results[task.task_id] = run_transform(
            conn,
            sql=rendered.sql,
            target=rendered.target,
            materialization=rendered.materialization,
            partition_filter=rendered.partition_filter,
            parameters=rendered.parameters,
        )
    return results


class _InputsOnlyTaskInstance:
    """Task instance for templates whose xcom_pull returns the weekly inputs."""

    def __init__(self, inputs: dict | None):
        self.inputs = inputs

    def xcom_pull(self, task_ids=None, **kwargs):
        assert task_ids == "find_weekly_inputs", task_ids
        return self.inputs
