"""Run DAGs that tests build in code through real Airflow (`dag.test()`).

`dag.test()` only runs DAGs that are serialized in the metadata database, and it serializes
them by parsing the configured bundle folders. A DAG built inside a test is in no folder, so
it is written to the database first, under the default bundle's name.
"""

from __future__ import annotations

from typing import Any

BUNDLE_NAME = "dags-folder"


def register_dag(dag) -> None:
    """Serialize a DAG built in a test into the metadata database."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder="/nonexistent", collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, BUNDLE_NAME, None)


def run_dag(dag, **test_kwargs: Any):
    """Register `dag` and run it once with `dag.test(**test_kwargs)`; return the DagRun."""
    register_dag(dag)
    return dag.test(**test_kwargs)
