"""The SaaS metrics page of the Airflow UI: a FastAPI app that the plugin mounts on the API server."""
