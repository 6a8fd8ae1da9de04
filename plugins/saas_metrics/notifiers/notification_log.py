"""Send a pipeline notification once per key, even when the warehouse is the thing that broke.

A notification (a failed DAG run, a held board report) has a key: kind, DAG, run, the run's
clear number and a subject. Before sending, the sender claims the key twice:

1. A claim file on this host, created with O_EXCL in CLAIM_DIR. It works without the
   warehouse, and it dedupes callbacks that run on the same host.
2. A row in analytics.notification_log, which dedupes across hosts. When the warehouse cannot
   be reached, the local claim alone decides and the message is still sent.

If either claim is already taken, nothing is sent. A delivery that fails on every channel
releases both claims, so the next failing task of the same run tries again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import time
from dataclasses import dataclass

from saas_metrics.alerts.config import Channel
from saas_metrics.alerts.history import STALE_CLAIM, ensure_tables
from saas_metrics.notifiers.delivery import Message, deliver
from saas_metrics.paths import LOCAL_DIR

log = logging.getLogger(__name__)

CLAIM_DIR = LOCAL_DIR / "notification-claims"
# Claim files older than this are deleted when a new claim is written.
CLAIM_FILE_MAX_AGE = dt.timedelta(days=14)

DELIVERED = "delivered"
FAILED = "failed"
ALREADY_SENT = "already_sent"


@dataclass(frozen=True)
class NotificationKey:
    """Identity of a notification: two notifications with equal keys are one message."""

    kind: str
    dag_id: str
    run_id: str
    clear_number: int = 0
    subject: str = ""

    def __str__(self) -> str:
        subject = f" {self.subject}" if self.subject else ""
        return f"{self.kind}{subject} for {self.dag_id} run {self.run_id} (clear number {self.clear_number})"

    def file_name(self) -> str:
        parts = "\x1f".join([self.kind, self.dag_id, self.run_id, str(self.clear_number), self.subject])
        return hashlib.sha256(parts.encode()).hexdigest() + ".claim"


@dataclass(frozen=True)
class NotificationOutcome:
    """delivered (through channel), failed (error), or already_sent (another attempt claimed the key)."""

    status: str
    channel: str | None = None
    error: str | None = None


def _prune_claim_files(claim_dir) -> None:
    cutoff = time.time() - CLAIM_FILE_MAX_AGE.total_seconds()
    for path in claim_dir.glob("*.claim"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            continue


def _claim_file(key: NotificationKey):
    """Create the local claim file; return its path, False if it exists, None if it cannot be written."""
    claim_dir = CLAIM_DIR
    try:
        claim_dir.mkdir(parents=True, exist_ok=True)
        _prune_claim_files(claim_dir)
        path = claim_dir / key.file_name()
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    except OSError as error:
        log.warning("Could not write a local claim for %s in %s: %s", key, claim_dir, error)
        return None
    with os.fdopen(descriptor, "w") as claim_file:
        claim_file.write(f"{key}\n")
    return path


def _claim_row(conn, key: NotificationKey, task_id: str | None, claimed_by: str, message: Message) -> bool:
    """Claim the key in analytics.notification_log; return False when another attempt has it."""
    with conn.transaction():
        row = conn.execute(
            """
            insert into analytics.notification_log as log_rows (
                kind, dag_id, run_id, clear_number, subject, task_id, status, claimed_at, claimed_by, message
            )
            values (
                %(kind)s, %(dag_id)s, %(run_id)s, %(clear_number)s, %(subject)s, %(task_id)s, 'sending',
                now(), %(claimed_by)s, %(message)s
            )
            on conflict (kind, dag_id, run_id, clear_number, subject) do update
            set
                task_id = excluded.task_id,
                status = 'sending',
                claimed_at = now(),
                claimed_by = excluded.claimed_by,
                message = excluded.message,
                last_error = null
            where
                log_rows.status = 'failed'
                or (log_rows.status = 'sending' and log_rows.claimed_at < now() - %(stale_claim)s)
            returning 1
            """,
            {
                "kind": key.kind,
                "dag_id": key.dag_id,
                "run_id": key.run_id,
                "clear_number": key.clear_number,
                "subject": key.subject,
                "task_id": task_id,
                "claimed_by": claimed_by,
                "message": message.text,
                "stale_claim": STALE_CLAIM,
            },
        ).fetchone()
    return row is not None


def _finish_row(conn, key: NotificationKey, outcome: NotificationOutcome) -> None:
    with conn.transaction():
        conn.execute(
            """
            update analytics.notification_log
            set
                status = %(status)s,
                delivered_at = case when %(status)s = 'delivered' then now() end,
                channel = %(channel)s,
                last_error = %(error)s
            where
                kind = %(kind)s and dag_id = %(dag_id)s and run_id = %(run_id)s
                and clear_number = %(clear_number)s and subject = %(subject)s
            """,
            {
                "status": outcome.status,
                "channel": outcome.channel,
                "error": outcome.error,
                "kind": key.kind,
                "dag_id": key.dag_id,
                "run_id": key.run_id,
                "clear_number": key.clear_number,
                "subject": key.subject,
            },
        )


def _open_warehouse(conn_id: str, key: NotificationKey):
    try:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
        ensure_tables(conn)
        return conn
    except Exception as error:
        log.warning(
            "Warehouse connection %s is not usable for the claim of %s (%s: %s); "
            "deduplicating with the local claim only",
            conn_id,
            key,
            type(error).__name__,
            error,
        )
        return None


def send_once(
    key: NotificationKey,
    message: Message,
    channels: tuple[Channel, ...],
    *,
    conn_id: str = "warehouse",
    task_id: str | None = None,
    claimed_by: str = "",
) -> NotificationOutcome:
    """Claim `key`, send `message` through the first channel that works, and record the outcome."""
    local_claim = _claim_file(key)
    if local_claim is False:
        log.info("Not sending %s: this host already sent or is sending it", key)
        return NotificationOutcome(ALREADY_SENT)

    conn = _open_warehouse(conn_id, key)
    try:
        claimed_row = False
        if conn is not None:
            try:
                claimed_row = _claim_row(conn, key, task_id, claimed_by, message)
            except Exception as error:
                log.warning("Could not claim %s in analytics.notification_log: %s", key, error)
                conn.close()
                conn = None
            else:
                if not claimed_row:
                    log.info("Not sending %s: analytics.notification_log shows it sent or being sent", key)
                    return NotificationOutcome(ALREADY_SENT)

        result = deliver(channels, message, label=str(key))
        if result.delivered:
            outcome = NotificationOutcome(DELIVERED, channel=result.channel)
        else:
            outcome = NotificationOutcome(FAILED, error=result.error_summary())
            if local_claim:
                local_claim.unlink(missing_ok=True)

        if conn is not None and claimed_row:
            try:
                _finish_row(conn, key, outcome)
            except Exception as error:
                log.warning(
                    "Could not record the outcome of %s in analytics.notification_log: %s", key, error
                )
        return outcome
    finally:
        if conn is not None:
            conn.close()
