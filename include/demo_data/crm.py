"""Salesforce: an Account per Mid-Market or Enterprise customer, and its Opportunities.

Opportunity amounts are in USD and close to the ARR change they stand for. New Business carries
the ARR of a new customer, Expansion the added ARR, and Renewal the ARR up for renewal of a
yearly subscription (opened 60 days before the renewal date). Incremental syncs
on SystemModstamp deliver every saved version of a record, so an opportunity that opens and
later closes has two rows.
"""

from __future__ import annotations

from include.demo_data import names
from include.demo_data.catalog import MINOR_UNITS
from include.demo_data.model import Account, Company, Customer, Opportunity, Subscription
from include.demo_data.seeding import DAY, day_string

ACCOUNT_THRESHOLD_USD = 1_000.0
RENEWAL_LEAD_DAYS = 60


def _salesforce_id(company: Company, prefix: str) -> str:
    return prefix + company.token(15)


def _emit_account(company: Company, account: Account, customer: Customer, modified: int, cursor: int) -> None:
    row = (
        account.id,
        account.name,
        account.industry,
        account.employees,
        customer.id,
        account.created,
        modified,
        False,
    )
    company.emit("raw_salesforce.account", row, cursor)


def _emit_opportunity(
    company: Company, opportunity: Opportunity, stage: str, modified: int, cursor: int
) -> None:
    closed = stage in ("Closed Won", "Closed Lost")
    row = (
        opportunity.id,
        opportunity.account.id,
        opportunity.name,
        stage,
        opportunity.type,
        f"{opportunity.amount:.2f}",
        day_string(opportunity.close_date),
        closed,
        stage == "Closed Won",
        opportunity.created,
        modified,
        False,
    )
    company.emit("raw_salesforce.opportunity", row, cursor)


def _create_account(company: Company, customer: Customer, created: int, cursor: int) -> Account:
    rng = company.rng
    account = Account(
        id=_salesforce_id(company, "001"),
        name=customer.name,
        industry=names.INDUSTRIES[int(rng.integers(len(names.INDUSTRIES)))],
        employees=max(10, int(customer.seats() * rng.uniform(2, 12))),
        created=created,
    )
    customer.account = account
    _emit_account(company, account, customer, created, cursor)
    return account


def _closed_won(
    company: Company, account: Account, kind: str, amount: float, closed: int, cursor: int
) -> None:
    rng = company.rng
    opportunity = Opportunity(
        id=_salesforce_id(company, "006"),
        account=account,
        name=f"{account.name} - {kind}",
        type=kind,
        amount=amount,
        close_date=closed,
        created=closed - int(rng.integers(7, 90)) * DAY,
    )
    _emit_opportunity(company, opportunity, "Closed Won", closed, cursor)


def on_new_customer(company: Company, customer: Customer, time: int, initial_sync: int | None = None) -> None:
    """Create the Account and a won New Business opportunity once a customer pays 1,000 USD a month."""
    if customer.account is not None:
        return
    mrr_usd = customer.mrr_usd(company.current_fx)
    if mrr_usd < ACCOUNT_THRESHOLD_USD:
        return
    cursor = time if initial_sync is None else initial_sync
    account = _create_account(company, customer, time, cursor)
    amount = 12 * mrr_usd * company.rng.uniform(0.97, 1.03)
    _closed_won(company, account, "New Business", amount, time, cursor)


def on_expansion(company: Company, customer: Customer, time: int, before_usd: float) -> None:
    after_usd = customer.mrr_usd(company.current_fx)
    if after_usd <= before_usd or after_usd < ACCOUNT_THRESHOLD_USD:
        return
    account = customer.account or _create_account(company, customer, time, time)
    amount = 12 * (after_usd - before_usd) * company.rng.uniform(0.95, 1.05)
    _closed_won(company, account, "Expansion", amount, time, time)


def schedule_renewal_opportunity(company: Company, sub: Subscription, time: int) -> None:
    if sub.customer.account is None or sub.interval != "year" or not sub.live:
        return
    company.schedule(max(time + 3600, sub.period_end - RENEWAL_LEAD_DAYS * DAY), "renewal_opportunity", sub)


def open_renewal_opportunity(company: Company, sub: Subscription, time: int) -> None:
    account = sub.customer.account
    if account is None or not sub.live or sub.cancel_at_period_end or sub.renewal_opportunity is not None:
        return
    rate = company.current_fx.get(sub.currency, 1.0)
    opportunity = Opportunity(
        id=_salesforce_id(company, "006"),
        account=account,
        name=f"{account.name} - Renewal {day_string(sub.period_end)[:4]}",
        type="Renewal",
        amount=12 * sub.mrr() / MINOR_UNITS[sub.currency] * rate,
        close_date=sub.period_end,
        created=time,
    )
    sub.renewal_opportunity = opportunity
    _emit_opportunity(company, opportunity, "Negotiation", time, time)


def on_renewal(company: Company, sub: Subscription, time: int) -> None:
    opportunity = sub.renewal_opportunity
    if opportunity is not None:
        _emit_opportunity(company, opportunity, "Closed Won", time, time)
        sub.renewal_opportunity = None
    schedule_renewal_opportunity(company, sub, time)


def on_subscription_ended(company: Company, sub: Subscription, time: int) -> None:
    opportunity = sub.renewal_opportunity
    if opportunity is not None:
        _emit_opportunity(company, opportunity, "Closed Lost", time, time)
        sub.renewal_opportunity = None
