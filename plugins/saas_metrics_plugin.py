"""Airflow plugin of this project: the SaaS metrics page in the Airflow UI.

Airflow imports this module from the plugins folder (plugins/.airflowignore keeps it from
scanning the saas_metrics package itself). The FastAPI app is mounted on the API server under
/saas-metrics, and the "SaaS metrics" entry of the Browse menu shows it inside the UI. Airflow
3.3 gives plugin apps no authentication, so the app checks the Airflow login itself
(saas_metrics.ui.auth).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from saas_metrics.ui.app import URL_PREFIX, create_app


class SaasMetricsPlugin(AirflowPlugin):
    name = "saas_metrics"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "SaaS metrics"}]
    external_views = [
        {
            "name": "SaaS metrics",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "saas-metrics",
        }
    ]
