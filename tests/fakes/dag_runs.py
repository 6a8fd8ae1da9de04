"""Run a DAG built inside a test through Airflow's `dag.test()` and read back its results."""

from __future__ import annotations

from typing import Any

import pendulum

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")


def run_dag(dag: Any) -> Any:
    """Register `dag` in the metadata database, run it with `dag.test()` and return the DagRun.

    `dag.test()` only runs DAGs that the dags folder's bundle has serialized, and a DAG built in
    a test lives in no file, so it is written to the database here first, under that bundle.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    DagBundlesManager().sync_bundles_to_db()
    with create_session() as session:
        update_dag_parsing_results_in_db(
            "dags-folder",
            None,
            [LazyDeserializedDAG.from_dag(dag)],
            {},
            None,
            set(),
            files_parsed=set(),
            session=session,
        )
    return dag.test()


def task_xcoms(dag_run: Any, task_id: str) -> dict[str, Any]:
    """Return the XCom values that one task of `dag_run` pushed, by key."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id)
        ).all()
        return {row.key: XComModel.deserialize_value(row) for row in rows}
