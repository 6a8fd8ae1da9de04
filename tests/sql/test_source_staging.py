"""Staging of the CRM, support, marketing and Stripe customer sources on hand-made raw rows."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from helpers.models import create_raw_tables, insert_raw, models_upstream_of, run_models

AS_OF = dt.datetime(2026, 3, 1, 7, tzinfo=dt.UTC)


@pytest.fixture
def raw(warehouse_db):
    with warehouse_db.connect() as conn:
        run_models(conn, AS_OF, only={"setup_warehouse"})
        create_raw_tables(conn)
        yield conn


def _build(conn, *targets):
    conn.commit()
    run_models(conn, AS_OF, only=models_upstream_of(*targets))


def test_customer_latest_version_and_payment_method(raw):
    for updated, method in ((100, "pm_old"), (200, "pm_new")):
        insert_raw(raw, "raw_stripe.customers", {
            "id": "cus_1", "email": "a@example.com", "updated": updated, "created": 50,
            "metadata": json.dumps({"workspace_id": "42"}),
            "invoice_settings": json.dumps({"default_payment_method": method}),
        })
    _build(raw, "stripe_customers")
    rows = raw.execute("select customer_id, workspace_id, payment_method from staging.stripe_customers").fetchall()
    assert rows == [("cus_1", "42", "pm_new")]


def test_ticket_workspace_from_custom_field(raw):
    for updated, status in (("2026-01-01T00:00:00Z", "new"), ("2026-01-02T00:00:00Z", "solved")):
        insert_raw(raw, "raw_zendesk.tickets", {
            "id": 7, "created_at": "2026-01-01T00:00:00Z", "updated_at": updated, "status": status,
            "custom_fields": json.dumps([{"id": 1, "value": "x"}, {"id": 360001, "value": "99"}]),
        })
    _build(raw, "zendesk_tickets")
    rows = raw.execute("select ticket_id, status, workspace_id from staging.zendesk_tickets").fetchall()
    assert rows == [(7, "solved", "99")]


def test_opportunity_latest_modification(raw):
    for modified, stage in (("2026-01-01T00:00:00Z", "Prospecting"), ("2026-02-01T00:00:00Z", "Closed Won")):
        insert_raw(raw, "raw_salesforce.opportunity", {
            "Id": "006A", "AccountId": "001A", "StageName": stage, "Amount": "1200.50",
            "SystemModstamp": modified, "IsWon": stage == "Closed Won",
        })
    _build(raw, "salesforce_opportunities")
    rows = raw.execute("select opportunity_id, stage_name, is_won from staging.salesforce_opportunities").fetchall()
    assert rows == [("006A", "Closed Won", True)]


def test_segment_duplicate_messages_collapse(raw):
    for _ in range(2):
        insert_raw(raw, "raw_segment.tracks", {
            "id": "msg-1", "event": "Signup_Completed", "timestamp": "2026-01-05T10:00:00Z",
        })
    _build(raw, "segment_tracks")
    rows = raw.execute("select message_id, event_name from staging.segment_tracks").fetchall()
    assert rows == [("msg-1", "signup_completed")]
