# Production image: the official Airflow image of the pinned version with the project baked in.
# Build: docker build -t saas-metrics .   (needs a Docker engine and network access to PyPI)
FROM apache/airflow:3.3.2-python3.11

USER airflow
COPY --chown=airflow:root requirements.txt /requirements.txt
# Airflow itself is pinned again on the command line so that pip can never replace it.
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r /requirements.txt

ENV SAAS_METRICS_HOME=/opt/airflow \
    PYTHONPATH=/opt/airflow:/opt/airflow/plugins \
    SODA_TELEMETRY_DISABLED=true \
    SODA_CORE_TELEMETRY_ENABLED=false \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root sql/ /opt/airflow/sql/
COPY --chown=airflow:root soda_checks/ /opt/airflow/soda_checks/
COPY --chown=airflow:root include/ /opt/airflow/include/
