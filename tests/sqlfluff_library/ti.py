"""Stand-in for the task instance `ti` in the Jinja context of SQL models, for sqlfluff only.

Models of the weekly DAG read the output of its task `find_weekly_inputs` with
`ti.xcom_pull(...)`. sqlfluff lints the variant where every optional table exists and one raw
table is found, which renders every branch that reads a table.
"""


def xcom_pull(task_ids=None, key="return_value", **kwargs):
    return {
        "available": {
            "analytics.query_audit_log": True,
            "analytics.ingestion_health": True,
            "analytics.data_quality_results": True,
        },
        "columns": {
            "analytics.query_audit_log": ["query_id", "requested_by", "template_name", "outcome"],
            "analytics.ingestion_health": ["source", "status", "started_at", "ended_at", "rows_synced"],
            "analytics.data_quality_results": ["run_id", "table_name", "severity", "outcome", "action"],
        },
        "raw_tables": [
            {"source": "stripe", "table": "raw_stripe.subscriptions"},
        ],
    }
