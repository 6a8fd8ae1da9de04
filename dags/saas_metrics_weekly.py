"""
### SaaS metrics, weekly

Builds the weekly tables that product, customer success and data-platform read on Monday
morning, from what the daily DAG `saas_metrics_daily` and the sources last wrote:

- `analytics.cohort_deep_dive_weekly`: billing cohort retention of the cohorts of the last
  twelve closed months, one snapshot per report week, compared with the average cohort at the
  same age and with last week's snapshot;
- `analytics.feature_adoption_weekly`: per ISO week and feature, adopting workspaces and
  accounts and their share of the active ones;
- `analytics.self_service_adoption_weekly`: product-manager template runs per week and
  template from `analytics.query_audit_log`, or one "not available" row when that table does
  not exist;
- `analytics.data_quality_weekly`: per source, the last sync and the minutes since it, days
  with data and average daily rows in the last seven days, failed syncs, and the average null
  rate of the new raw rows. When `analytics.data_quality_results` exists, it also counts the
  week's quality checks that failed or warned.

The report week is the last complete ISO week (Monday 00:00 UTC) before the end of the data
interval. Columns are described in docs/metrics.md.

**Owner:** data-platform. **Schedule:** Mondays at 08:00 UTC for the interval [previous
Monday 08:00, this Monday 08:00), an hour after the daily run, whose tables it reads as they are.

**Triage:**
- a model failed with `relation "analytics.cohort_retention" does not exist` (or another
  daily table): the daily DAG has not run on this warehouse yet. Run it, then clear the task.
- `find_weekly_inputs` lists which optional tables exist (audit log, ingestion health, quality
  results) and the raw tables found per source; a missing one changes what the models read,
  never fails them.
- `data_quality_weekly` shows `sync_facts_from = raw _airbyte_extracted_at` for a source that
  syncs through Airbyte: no sync attempt of that source was recorded in
  `analytics.ingestion_health`; check `health_conn_id` in include/config/sources.yml.
- a model failed with "Columns of ... differ from the model's": a model changed shape. Drop the
  table named in the message; the next run rebuilds it (a weekly snapshot table loses its past
  weeks).

**Rerun safety:** `feature_adoption_weekly` and `self_service_adoption_weekly` are rebuilt whole;
`cohort_deep_dive_weekly` and `data_quality_weekly` replace only the rows of the run's report
week, in one transaction each. A rerun of the same interval gives the same rows, except where
the daily tables or sources changed in between, because the week's snapshot reads them as they
are at run time.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, chain, task

from saas_metrics.config import load_metrics_config
from saas_metrics.dag_defaults import default_args
from saas_metrics.ingestion import load_sources
from saas_metrics.models import REPORT_WEEK_FILTER, sql_model
from saas_metrics.paths import SQL_DIR
from saas_metrics.weekly_inputs import RAW_SCHEMA_BY_SOURCE

CONFIG = load_metrics_config()
SOURCES = load_sources()

with DAG(
    dag_id="saas_metrics_weekly",
    description="Weekly cohort deep dive, feature and self-service adoption, data quality per source",
    schedule=CronDataIntervalTimetable("0 8 * * 1", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 5, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    template_searchpath=[str(SQL_DIR)],
    default_args=default_args(notify_failures=True),
    tags=["metrics", "weekly", "quality"],
    doc_md=__doc__,
) as dag:
    setup_weekly = sql_model("setup/weekly.sql", config=CONFIG, materialization="script", task_id="setup_weekly")

    @task
    def find_weekly_inputs():
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from saas_metrics.weekly_inputs import find_weekly_inputs as find_inputs

        with PostgresHook(postgres_conn_id="warehouse").get_conn() as conn:
            return find_inputs(conn)

    weekly_inputs = find_weekly_inputs()

    cohort_deep_dive = sql_model(
        "analytics/cohort_deep_dive_weekly.sql",
        config=CONFIG,
        materialization="partition",
        partition_filter=REPORT_WEEK_FILTER,
    )
    feature_adoption = sql_model("analytics/feature_adoption_weekly.sql", config=CONFIG)
    self_service_adoption = sql_model("analytics/self_service_adoption_weekly.sql", config=CONFIG)
    data_quality = sql_model(
        "analytics/data_quality_weekly.sql",
        config=CONFIG,
        materialization="partition",
        partition_filter=REPORT_WEEK_FILTER,
        parameters={
            "source_names": [source.name for source in SOURCES.sources],
            "source_schemas": [RAW_SCHEMA_BY_SOURCE.get(source.name) for source in SOURCES.sources],
            "source_expected_minutes": [
                source.expected_interval.total_seconds() / 60 for source in SOURCES.sources
            ],
        },
    )

    chain(setup_weekly, weekly_inputs, [cohort_deep_dive, feature_adoption, self_service_adoption, data_quality])
