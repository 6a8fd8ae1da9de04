"""Stripe billing: customers, subscription versions, invoices and line items.

Each state change of a subscription appends one version row with `updated` set to the change
time, as Airbyte's incremental append sync of Stripe's events endpoint does. State changes are
creation, trial end, renewal, seat or plan change, discount start or end, cancellation request,
cancellation and status change. Every version also records its MRR in
`Subscription.mrr_history`, the generator's own MRR bookkeeping behind the finance file.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import numpy as np

from include.demo_data import crm, names
from include.demo_data.catalog import (
    COUPONS,
    INITIAL_SEGMENT_MIX,
    MINOR_UNITS,
    NEW_SEGMENT_MIX,
    SEGMENTS,
    Price,
    price_for,
    segment_of,
)
from include.demo_data.model import (
    PAYING_STATUSES,
    Company,
    Customer,
    Discount,
    Invoice,
    Item,
    Signup,
    Subscription,
)
from include.demo_data.product import (
    add_users,
    company_name,
    create_free_workspace,
    create_workspace,
    emit_workspace,
    pick,
    update_workspace_tier,
    users_for_seats,
)
from include.demo_data.seeding import DAY, add_months
from include.demo_data.textcopy import NULL

# --- identifiers -------------------------------------------------------------------------------


def _new_id(company: Company, prefix: str, length: int = 14) -> str:
    return prefix + company.token(length)


# --- periods -----------------------------------------------------------------------------------


def period_boundary(anchor: int, interval: str, cycle: int) -> int:
    """Return the start of billing cycle `cycle` counted from the billing anchor."""
    if interval == "week":
        return anchor + 7 * DAY * cycle
    if interval == "year":
        return add_months(anchor, 12 * cycle)
    return add_months(anchor, cycle)


def _set_cycle(sub: Subscription, cycle: int) -> None:
    if cycle == sub.cycle + 1 and sub.period_end:
        sub.period_start = sub.period_end
    else:
        sub.period_start = period_boundary(sub.anchor, sub.interval, cycle)
    sub.cycle = cycle
    sub.period_end = period_boundary(sub.anchor, sub.interval, cycle + 1)


def _money(amount: int, currency: str) -> str:
    value = amount / MINOR_UNITS[currency]
    return (
        f"{value:,.0f} {currency.upper()}"
        if MINOR_UNITS[currency] == 1
        else f"{value:,.2f} {currency.upper()}"
    )


def _day_text(moment: int) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%d %b %Y")


# --- rows --------------------------------------------------------------------------------------
# Stripe rows are written straight in COPY text format. Every value is an id, a number or JSON
# built here from ASCII word lists, so none contains a tab, newline or backslash to escape.


def _n(value: object) -> object:
    return NULL if value is None else value


def _b(flag: bool) -> str:
    return "t" if flag else "f"


def emit_subscription(company: Company, sub: Subscription, time: int) -> int:
    """Queue a version row for the subscription's current state and record its MRR.

    Returns the version time, moved one second past the previous version when two changes of the
    same subscription fall on the same second, so that (id, updated) identifies one version.
    """
    time = max(time, sub.last_updated + 1)
    sub.last_updated = time
    single = len(sub.items) == 1
    items_json = '{"object":"list","data":[' + ",".join(item.json() for item in sub.items) + "]}"
    discount_json = sub.discount.json(sub.customer.id, sub.id) if sub.discount else None
    # Stripe fills the legacy `plan` and `quantity` only for single-item subscriptions.
    plan = sub.items[0].price.plan_json if single else NULL
    quantity = sub.items[0].quantity if single else NULL
    row = (
        f"{sub.id}\t{sub.customer.id}\t{sub.status}\t{sub.collection_method}\t{sub.currency}\t{sub.created}\t"
        f"{sub.created}\t{sub.period_start}\t{sub.period_end}\t{_n(sub.trial_start)}\t{_n(sub.trial_end)}\t"
        f"{_n(sub.canceled_at)}\t{_n(sub.cancel_at)}\t{_n(sub.ended_at)}\t{_b(sub.cancel_at_period_end)}\t"
        f"{sub.anchor}\t{items_json}\t{plan}\t{quantity}\t{_n(discount_json)}\t{sub.customer.workspace_metadata}\t"
        f"t\t{time}\tf"
    )
    company.emit("raw_stripe.subscriptions", row, time)
    mrr = sub.mrr()
    sub.mrr_history.append((time, mrr))
    if mrr > 0:
        sub.customer.ever_paid = True
    return time


def emit_customer(company: Company, customer: Customer, time: int, cursor: int | None = None) -> None:
    row = (
        customer.id,
        customer.email,
        customer.name,
        customer.created,
        time,
        customer.currency,
        customer.balance,
        customer.delinquent,
        customer.workspace_metadata,
        customer.address_json,
        None,
        f'{{"default_payment_method":"{customer.payment_method}","footer":null}}',
        True,
        False,
    )
    company.emit("raw_stripe.customers", row, time if cursor is None else cursor)


def _discount_amounts(gross: int, sub: Subscription, remaining_fixed: list[int]) -> int:
    """Return the discount on one licensed line.

    `remaining_fixed` is a one-element list with the part of a fixed amount-off coupon that
    earlier lines of the invoice have not used yet.
    """
    if sub.discount is None:
        return 0
    coupon = sub.discount.coupon
    if coupon.percent_off:
        return int(round(gross * coupon.percent_off / 100))
    if coupon.amount_off:
        applied = min(gross, remaining_fixed[0])
        remaining_fixed[0] -= applied
        return applied
    return 0


def _line(
    company: Company,
    sub: Subscription,
    item: Item,
    line_type: str,
    gross: int,
    discount: int,
    quantity: int | None,
    proration: bool,
    start: int,
    end: int,
    description: str,
) -> tuple[str, str]:
    """Return a line item's id and its COPY text after the invoice id, up to the description."""
    amount = gross - discount
    discounts = f'[{{"amount":{discount},"discount":"{sub.discount.id}"}}]' if discount else "[]"
    text = (
        f"{sub.id}\t{item.id}\t{line_type}\t{amount}\t{amount}\t{sub.currency}\t{_n(quantity)}\t{_b(proration)}\t"
        f'{{"start":{start},"end":{end}}}\t{item.price.json}\t{discounts}\t{description}'
    )
    return _new_id(company, "il_", 24), text


def _make_invoice(
    company: Company,
    sub: Subscription,
    reason: str,
    created: int,
    period_start: int,
    period_end: int,
    line_drafts: list[tuple],
    gross_total: int,
    discount_total: int,
) -> Invoice:
    customer = sub.customer
    customer.invoice_count += 1
    discount_json = sub.discount.json(customer.id, sub.id) if sub.discount and discount_total else None
    discount_amounts_json = "[]"
    if discount_json is not None:
        discount_amounts_json = f'[{{"amount":{discount_total},"discount":"{sub.discount.id}"}}]'
    invoice = Invoice(
        id=_new_id(company, "in_", 24),
        number=f"{customer.invoice_prefix}-{customer.invoice_count:04d}",
        subscription=sub,
        billing_reason=reason,
        created=created,
        period_start=period_start,
        period_end=period_end,
        subtotal=gross_total,
        total=gross_total - discount_total,
        discount_total=discount_total,
        discount_json=discount_json,
        discount_amounts_json=discount_amounts_json,
    )
    invoice.lines = [f"{line_id}\t{invoice.id}\t{text}" for line_id, text in line_drafts]
    return invoice


def cycle_invoice(
    company: Company,
    sub: Subscription,
    reason: str,
    created: int,
    usage_period: tuple | None,
    zero: bool = False,
) -> Invoice:
    """Build the invoice of a billing cycle: one line per licensed item, plus usage in arrears.

    Line amounts are net of the subscription's discount, and `discount_amounts` lists the
    discount. Stripe's own `amount` is before discounts (a simplification listed in
    docs/demo-data.md).
    """
    drafts = []
    gross_total = discount_total = 0
    remaining_fixed = [sub.discount.coupon.amount_off or 0] if sub.discount else [0]
    for item in sub.licensed_items:
        gross = 0 if zero else item.price.unit_amount * item.quantity
        discount = 0 if zero else _discount_amounts(gross, sub, remaining_fixed)
        unit_price = _money(item.price.unit_amount, sub.currency)
        description = f"{item.quantity} × {item.price.product.name} (at {unit_price} / {item.price.interval})"
        if zero:
            description = f"Trial period for {item.price.product.name}"
        drafts.append(
            _line(
                company,
                sub,
                item,
                "subscription",
                gross,
                discount,
                item.quantity,
                False,
                sub.period_start,
                sub.period_end,
                description,
            )
        )
        gross_total += gross
        discount_total += discount
    if usage_period is not None:
        for item in sub.items:
            if not item.price.metered:
                continue
            blocks = int(company.rng.lognormal(3.2, 0.8))
            gross = blocks * item.price.unit_amount
            drafts.append(
                _line(
                    company,
                    sub,
                    item,
                    "subscription",
                    gross,
                    0,
                    blocks,
                    False,
                    usage_period[0],
                    usage_period[1],
                    f"{blocks} × {item.price.product.name} (usage)",
                )
            )
            gross_total += gross
    if reason == "subscription_create":
        period_start = period_end = created
    else:
        # Stripe's invoice period looks back one cycle for subscription invoices; the line
        # periods carry the service period.
        period_start, period_end = usage_period or (created, created)
    return _make_invoice(
        company, sub, reason, created, period_start, period_end, drafts, gross_total, discount_total
    )


def emit_invoice(
    company: Company, invoice: Invoice, status: str, updated: int, with_lines: bool, cursor: int | None = None
) -> None:
    """Queue one invoices row in `status`, and the invoice's lines when `with_lines` is true.

    `cursor` (default `updated`) is the time from which the sync reads the row.
    """
    sub = invoice.subscription
    cursor = updated if cursor is None else cursor
    due = max(invoice.total, 0)
    paid = status == "paid"
    amount_paid = due if paid else 0
    row = (
        f"{invoice.id}\t{sub.customer.id}\t{sub.id}\t{invoice.number}\t{status}\t{invoice.billing_reason}\t"
        f"{sub.collection_method}\t{sub.currency}\t{_b(paid)}\t{due}\t{amount_paid}\t{due - amount_paid}\t"
        f"{invoice.subtotal}\t{invoice.total}\t0\t{invoice.created}\t{invoice.period_start}\t{invoice.period_end}\t"
        f"{updated}\t{_n(invoice.discount_json)}\t{invoice.discount_amounts_json}\tf"
    )
    company.emit("raw_stripe.invoices", row, cursor)
    if with_lines:
        buffer = company.buffers["raw_stripe.invoice_line_items"]
        buffer.add_many([f"{line}\t{updated}" for line in invoice.lines], [cursor] * len(invoice.lines))


def settle_invoice(company: Company, invoice: Invoice, time: int, fails: bool) -> None:
    """Queue the invoice's rows: paid at once, or open (send_invoice, or past_due) until settled later."""
    sub = invoice.subscription
    finalized = time + int(company.rng.integers(60, 3600))
    if fails:
        emit_invoice(company, invoice, "open", finalized, True)
        sub.open_invoice = invoice
    elif sub.collection_method == "send_invoice" and invoice.total > 0:
        emit_invoice(company, invoice, "open", finalized, True)
        company.schedule(finalized + int(company.rng.integers(3, 30)) * DAY, "invoice_paid", invoice)
    else:
        emit_invoice(company, invoice, "paid", finalized, True)


# --- plans and customers -----------------------------------------------------------------------


def _choose_plan(company: Company, segment: str, currency: str) -> tuple[Price, int]:
    """Return a price and seat count whose MRR lands in the segment's USD range."""
    rng = company.rng
    profile = SEGMENTS[segment]
    # Plans without a price in the currency (the weekly plan outside USD, everything but Team
    # monthly in JPY) drop out of the mix.
    plans = [(price_for(tier, interval, currency), weight) for tier, interval, weight in profile.plans]
    plans = tuple((price, weight) for price, weight in plans if price is not None)
    if not plans:
        plans = ((price_for("team", "month", currency), 1.0),)
    price = pick(rng, plans)
    target_usd = math.exp(rng.uniform(math.log(profile.mrr_low), math.log(profile.mrr_high)))
    rate = company.current_fx.get(currency, 1.0)
    per_seat_usd = price.unit_amount / price.months / MINOR_UNITS[currency] * rate
    return price, max(1, int(round(target_usd / per_seat_usd)))


def _choose_currency(company: Company, jpy_share: float) -> str:
    draw = company.rng.random()
    if draw < jpy_share:
        return "jpy"
    return "eur" if draw < jpy_share + company.rates.eur_share else "usd"


def _draw_segment(company: Company, mix: dict[str, float]) -> str:
    return pick(company.rng, tuple(mix.items()))


def _new_customer(company: Company, created: int, currency: str, segment: str, workspace) -> Customer:
    rng = company.rng
    country = pick(rng, names.COUNTRIES[currency])
    suffix = names.COMPANY_SUFFIXES[int(rng.integers(len(names.COMPANY_SUFFIXES)))]
    address = {
        "city": names.CITIES.get(country, "Springfield"),
        "country": country,
        "line1": f"{int(rng.integers(1, 400))} Example Street",
        "line2": None,
        "postal_code": f"{int(rng.integers(10000, 99999))}",
        "state": None,
    }
    customer = Customer(
        id=_new_id(company, "cus_"),
        email=f"billing@{workspace.domain}",
        name=f"{workspace.name} {suffix}",
        currency=currency,
        country=country,
        created=created,
        segment=segment,
        workspace=workspace,
        payment_method=_new_id(company, "pm_", 24),
        address_json=json.dumps(address, separators=(",", ":")),
        invoice_prefix=company.token(8).upper(),
        workspace_metadata=f'{{"workspace_id":"{workspace.id}"}}',
    )
    workspace.country = country
    company.customers.append(customer)
    return customer


def _draw_discount(company: Company, sub: Subscription, start: int) -> Discount | None:
    """Draw the coupon of a new subscription, if any, applied from `start`."""
    rates = company.rates
    draw = company.rng.random()
    coupon = None
    if draw < rates.welcome_coupon_share:
        coupon = COUPONS["welcome"]
    elif draw < rates.welcome_coupon_share + rates.loyal_coupon_share:
        coupon = COUPONS["loyal"]
    elif draw < rates.welcome_coupon_share + rates.loyal_coupon_share + rates.fixed_coupon_share:
        # A fixed amount off only for USD monthly plans, where it is a monthly amount.
        if sub.currency == "usd" and sub.interval == "month":
            coupon = COUPONS["fixed"]
    if coupon is None:
        return None
    end = add_months(start, coupon.duration_in_months) if coupon.duration == "repeating" else None
    return Discount(_new_id(company, "di_", 24), coupon, start, end)


def _build_subscription(
    company: Company,
    customer: Customer,
    price: Price,
    seats: int,
    created: int,
    anchor: int,
    with_addon: bool,
) -> Subscription:
    items = [Item(_new_id(company, "si_"), price, seats, created)]
    if with_addon:
        addon = price_for("api_overage", price.interval, customer.currency)
        if addon is not None:
            items.append(Item(_new_id(company, "si_"), addon, None, created))
    sub = Subscription(
        id=_new_id(company, "sub_"),
        customer=customer,
        currency=customer.currency,
        created=created,
        items=items,
        anchor=anchor,
        collection_method="send_invoice" if price.tier == "enterprise" else "charge_automatically",
    )
    customer.subscriptions.append(sub)
    return sub


def _user_count(company: Company, seats: int) -> int:
    return users_for_seats(company.rng, seats, company.rates.users_per_seat)


# --- the initial customer base -----------------------------------------------------------------


def create_initial_base(company: Company) -> None:
    """Create the customers who already pay at history start, with free workspaces around them.

    Their subscriptions began up to 3 years earlier, but Airbyte's first sync reads each one at a
    random time in the first day of the history, so only versions from then on exist.
    """
    rng = company.rng
    rates = company.rates
    start = company.history_start
    count = max(1, int(round(rates.initial_customers * company.scale)))
    jpy_count = max(1, int(round(rates.jpy_initial_customers * company.scale)))
    jpy_slots = set(rng.choice(count, size=min(jpy_count, count), replace=False).tolist())
    for position in range(count):
        first_seen = start + int(rng.integers(0, DAY))
        age_days = 1 + int(1094 * rng.random() ** 1.3)
        created = start - age_days * DAY + int(rng.integers(0, DAY))
        if position in jpy_slots:
            currency = "jpy"
        else:
            currency = "eur" if rng.random() < rates.eur_share else "usd"
        segment = _draw_segment(company, INITIAL_SEGMENT_MIX)
        if currency == "jpy" and segment in ("mid_market", "enterprise"):
            segment = "smb"
        free_plan = rng.random() < rates.free_plan_share
        _create_initial_customer(company, created, first_seen, currency, segment, free_plan)

    for _ in range(2 * count):
        first_seen = start + int(rng.integers(0, DAY))
        created = start - (1 + int(1094 * rng.random())) * DAY
        last_seen = start - int(rng.integers(0, 60 * DAY))
        create_free_workspace(company, created, company.month_key, cursor=first_seen, last_seen=last_seen)


def _create_initial_customer(
    company: Company, created: int, first_seen: int, currency: str, segment: str, free_plan: bool
) -> None:
    rng = company.rng
    name, domain = company_name(rng)
    workspace = create_workspace(company, created - int(rng.integers(600, 3 * DAY)), name, domain, "US")
    customer = _new_customer(company, created, currency, segment, workspace)
    if free_plan:
        price, seats = price_for("free", "month", currency), 1
    else:
        price, seats = _choose_plan(company, segment, currency)
    with_addon = segment in ("mid_market", "enterprise") and rng.random() < company.rates.metered_addon_share
    sub = _build_subscription(company, customer, price, seats, created, created, with_addon and not free_plan)
    cycle = 0
    while period_boundary(sub.anchor, sub.interval, cycle + 1) <= first_seen:
        cycle += 1
    _set_cycle(sub, cycle)
    if not free_plan:
        draw = rng.random()
        if draw < 0.03:
            sub.discount = Discount(_new_id(company, "di_", 24), COUPONS["loyal"], created, None)
        elif draw < 0.04 and currency == "usd" and sub.interval == "month":
            sub.discount = Discount(_new_id(company, "di_", 24), COUPONS["fixed"], created, None)
        elif draw < 0.06:
            discount_start = company.history_start - int(rng.integers(1, 85)) * DAY
            sub.discount = Discount(
                _new_id(company, "di_", 24), COUPONS["welcome"], discount_start, add_months(discount_start, 3)
            )
            company.schedule(sub.discount.end, "discount_end", sub)

    workspace.customer = customer
    workspace.plan_tier = customer.plan_tier()
    emit_workspace(company, workspace, created, cursor=first_seen)
    last_seen = company.history_start - int(rng.integers(0, 30 * DAY))
    add_users(
        company,
        workspace,
        _user_count(company, seats),
        workspace.created,
        company.history_start - DAY,
        company.month_key,
        cursor=first_seen,
        last_seen=last_seen,
    )
    emit_customer(company, customer, first_seen)
    emit_subscription(company, sub, first_seen)

    # The demo's data starts at history_start for every source: the invoice of the cycle that
    # was current then is not emitted, so no billed period begins before the history. (A real
    # first Stripe sync brings all past invoices; the metrics engine rebuilds months from them.)
    company.schedule(sub.period_end, "renew", sub)
    crm.on_new_customer(company, customer, created, initial_sync=first_seen)
    crm.schedule_renewal_opportunity(company, sub, first_seen)


# --- monthly driver ----------------------------------------------------------------------------


def run_month(company: Company) -> None:
    """Draw this month's churn, expansions, contractions and new customers, then process the queue."""
    rng = company.rng
    rates = company.rates
    start, end = company.month_start, company.month_end
    fx = company.current_fx

    company.free_workspace_pool = [w for w in company.workspaces if w.customer is None and w.created < start]
    paying = []
    for customer in company.customers:
        live = customer.live_subscriptions()
        if not live or any(sub.status == "trialing" for sub in live):
            continue
        if all(sub.cancel_at_period_end for sub in live):
            continue
        paying.append(customer)
    draws = rng.random((len(paying), 3))
    times = rng.integers(start, end, size=(len(paying), 3))
    paying_count = 0
    for customer, draw, when in zip(paying, draws, times.tolist(), strict=True):
        mrr_usd = customer.mrr_usd(fx)
        if mrr_usd <= 0:
            if draw[0] < rates.free_plan_churn:
                company.schedule(when[0], "churn", customer)
            continue
        paying_count += 1
        if draw[0] < SEGMENTS[segment_of(mrr_usd)].monthly_churn:
            company.schedule(when[0], "churn", customer)
            continue
        if draw[1] < rates.expansion:
            company.schedule(when[1], "expand", customer)
        elif draw[2] < rates.contraction:
            company.schedule(when[2], "contract", customer)

    new_count = int(rng.poisson(rates.new_customers * paying_count))
    for when in np.sort(rng.integers(start, end, size=new_count)).tolist():
        company.schedule(when, "new_customer", None)

    for time, _, _, kind, target, payload in company.pop_until(end):
        HANDLERS[kind](company, time, target, payload)


# --- event handlers ----------------------------------------------------------------------------


def _on_new_customer(company: Company, time: int, _target, _payload) -> None:
    rng = company.rng
    rates = company.rates
    currency = _choose_currency(company, rates.jpy_new_share)
    segment = _draw_segment(company, NEW_SEGMENT_MIX)
    if currency == "jpy" and segment in ("mid_market", "enterprise"):
        segment = "smb"
    free_plan = rng.random() < rates.free_plan_share

    # Some customers upgrade a free workspace they already had, and the rest sign up fresh.
    workspace = None
    pool = company.free_workspace_pool
    if rng.random() < rates.free_workspace_conversion_share and pool:
        position = int(rng.integers(len(pool)))
        workspace = pool[position]
        pool[position] = pool[-1]
        pool.pop()
    fresh = workspace is None
    if fresh:
        name, domain = company_name(rng)
        created = max(company.month_start, time - int(rng.integers(60, 2 * 3600)))
        workspace = create_workspace(company, created, name, domain, "US")

    customer = _new_customer(company, time, currency, segment, workspace)
    if free_plan:
        price, seats = price_for("free", "month", currency), 1
    else:
        price, seats = _choose_plan(company, segment, currency)
    with_addon = (
        not free_plan and segment in ("mid_market", "enterprise") and rng.random() < rates.metered_addon_share
    )
    trial = not free_plan and segment in ("self_serve", "smb") and rng.random() < rates.trial_share
    anchor = time + rates.trial_days * DAY if trial else time
    sub = _build_subscription(company, customer, price, seats, time, anchor, with_addon)
    if trial:
        sub.status = "trialing"
        sub.trial_start, sub.trial_end = time, anchor
        sub.period_start, sub.period_end = time, anchor
        sub.cycle = -1
        company.schedule(anchor, "trial_end", sub)
    else:
        _set_cycle(sub, 0)
        company.schedule(sub.period_end, "renew", sub)
    if not free_plan:
        sub.discount = _draw_discount(company, sub, time)
        if sub.discount is not None and sub.discount.end is not None:
            company.schedule(sub.discount.end, "discount_end", sub)

    workspace.customer = customer
    workspace.plan_tier = customer.plan_tier()
    if fresh:
        emit_workspace(company, workspace, workspace.created)
        add_users(
            company,
            workspace,
            _user_count(company, seats),
            workspace.created,
            workspace.created + 600,
            company.month_key,
        )
        owner = company.users.ids[workspace.user_indexes[0]]
        company.signups.append(Signup(workspace.created, "signup_completed", owner, workspace.id, price.tier))
    else:
        emit_workspace(company, workspace, time)
        extra = _user_count(company, seats) - len(workspace.user_indexes)
        if extra > 0:
            add_users(company, workspace, extra, time, time + DAY, company.month_key + 1)
    if trial:
        owner = company.users.ids[workspace.user_indexes[0]]
        company.signups.append(Signup(time, "trial_started", owner, workspace.id, price.tier))

    emit_customer(company, customer, time)
    version_time = emit_subscription(company, sub, time)
    invoice = cycle_invoice(company, sub, "subscription_create", version_time, None, zero=trial)
    settle_invoice(company, invoice, version_time, fails=False)
    crm.on_new_customer(company, customer, time)
    crm.schedule_renewal_opportunity(company, sub, time)


def _on_trial_end(company: Company, time: int, sub: Subscription, _payload) -> None:
    if sub.status != "trialing" or sub.trial_end != time:
        return
    rng = company.rng
    if rng.random() < company.rates.trial_conversion:
        sub.status = "active"
        trial_period = (sub.period_start, sub.period_end)
        _set_cycle(sub, 0)
        version_time = emit_subscription(company, sub, time)
        invoice = cycle_invoice(company, sub, "subscription_cycle", version_time, trial_period)
        settle_invoice(company, invoice, version_time, fails=False)
        company.schedule(sub.period_end, "renew", sub)
        crm.on_new_customer(company, sub.customer, time)
    else:
        sub.status = "canceled"
        sub.canceled_at = sub.ended_at = time
        emit_subscription(company, sub, time)
    update_workspace_tier(company, sub.customer, time)


def _on_renew(company: Company, time: int, sub: Subscription, _payload) -> None:
    if sub.status not in PAYING_STATUSES or sub.period_end != time:
        return
    rng = company.rng
    customer = sub.customer
    if sub.cancel_at_period_end:
        sub.status = "canceled"
        sub.ended_at = time
        emit_subscription(company, sub, time)
        crm.on_subscription_ended(company, sub, time)
        _after_cancellation(company, customer, time)
        return

    if sub.discount is not None and sub.discount.end is not None and sub.discount.end <= time:
        sub.discount = None
    previous = (sub.period_start, sub.period_end)
    _set_cycle(sub, sub.cycle + 1)

    fails = (
        not sub.is_free
        and sub.collection_method == "charge_automatically"
        and rng.random() < company.rates.past_due_share
    )
    if fails:
        sub.status = "past_due"
        customer.delinquent = True
        emit_customer(company, customer, time)
        # Payment retries run for 3 to 10 days, but end before the next renewal (weekly plans).
        retry_end = time + rng.integers(3, 11) * DAY + rng.integers(0, DAY)
        company.schedule(min(retry_end, sub.period_end - 3600), "past_due_resolve", sub)

    version_time = emit_subscription(company, sub, time)
    invoice = cycle_invoice(company, sub, "subscription_cycle", version_time, previous)
    settle_invoice(company, invoice, version_time, fails=fails)
    company.schedule(sub.period_end, "renew", sub)
    crm.on_renewal(company, sub, time)


def _on_past_due_resolve(company: Company, time: int, sub: Subscription, _payload) -> None:
    if sub.status != "past_due":
        return
    customer = sub.customer
    invoice = sub.open_invoice
    sub.open_invoice = None
    customer.delinquent = False
    if company.rng.random() < company.rates.past_due_recovery:
        sub.status = "active"
        emit_invoice(company, invoice, "paid", time, False)
        emit_customer(company, customer, time)
        emit_subscription(company, sub, time)
    else:
        sub.status = "unpaid"
        emit_invoice(company, invoice, "uncollectible", time, False)
        emit_customer(company, customer, time)
        emit_subscription(company, sub, time)
        company.schedule(time + int(company.rng.integers(1, 6)) * DAY, "unpaid_cancel", sub)
    update_workspace_tier(company, customer, time)


def _on_unpaid_cancel(company: Company, time: int, sub: Subscription, _payload) -> None:
    if sub.status != "unpaid":
        return
    sub.status = "canceled"
    sub.canceled_at = sub.ended_at = time
    emit_subscription(company, sub, time)
    crm.on_subscription_ended(company, sub, time)
    _after_cancellation(company, sub.customer, time)


def _on_invoice_paid(company: Company, time: int, invoice: Invoice, _payload) -> None:
    emit_invoice(company, invoice, "paid", time, False)


def _on_discount_end(company: Company, time: int, sub: Subscription, _payload) -> None:
    if sub.discount is None or sub.discount.end != time or not sub.live:
        return
    if sub.status in PAYING_STATUSES and sub.period_end == time:
        return  # the renewal at the same second removes it before invoicing
    sub.discount = None
    emit_subscription(company, sub, time)


def _cancel(company: Company, sub: Subscription, time: int, at_period_end: bool) -> None:
    if at_period_end and sub.status == "active":
        sub.cancel_at_period_end = True
        sub.canceled_at = time
        sub.cancel_at = sub.period_end
        emit_subscription(company, sub, time)
    else:
        sub.status = "canceled"
        sub.canceled_at = sub.ended_at = time
        if sub.open_invoice is not None:
            emit_invoice(company, sub.open_invoice, "void", time, False)
            sub.open_invoice = None
        emit_subscription(company, sub, time)
        crm.on_subscription_ended(company, sub, time)


def _on_churn(company: Company, time: int, customer: Customer, _payload) -> None:
    live = [sub for sub in customer.live_subscriptions() if not sub.cancel_at_period_end]
    if not live:
        return
    at_period_end = company.rng.random() < company.rates.cancel_at_period_end_share
    for sub in live:
        _cancel(company, sub, time, at_period_end)
    _after_cancellation(company, customer, time)


def _after_cancellation(company: Company, customer: Customer, time: int) -> None:
    """Update the workspace, and schedule a reactivation for some customers who stopped paying."""
    update_workspace_tier(company, customer, time)
    if customer.live_subscriptions() or not customer.ever_paid:
        return
    if company.rng.random() < company.rates.reactivation_share:
        delay = int(company.rng.integers(60, 181)) * DAY + int(company.rng.integers(0, DAY))
        company.schedule(time + delay, "reactivate", customer)


def _changeable(customer: Customer) -> Subscription | None:
    """Return the customer's largest active, non-free subscription that is not being canceled."""
    candidates = [
        sub
        for sub in customer.subscriptions
        if sub.status == "active" and not sub.cancel_at_period_end and not sub.is_free
    ]
    return max(candidates, key=lambda sub: sub.mrr(), default=None)


def _prorate(
    company: Company, sub: Subscription, time: int, old: tuple[Price, int], new: tuple[Price, int], item: Item
) -> None:
    """Invoice a mid-cycle change: a credit for the unused old plan and a charge for the new one."""
    fraction = (sub.period_end - time) / (sub.period_end - sub.period_start)
    percent = sub.discount.coupon.percent_off if sub.discount and sub.discount.coupon.percent_off else 0.0
    drafts = []
    gross_total = discount_total = 0
    when = _day_text(time)
    for sign, (price, quantity), label in ((-1, old, "Unused time on"), (1, new, "Remaining time on")):
        gross = sign * int(round(price.unit_amount * quantity * fraction))
        discount = int(round(gross * percent / 100))
        line_item = Item(item.id, price, quantity, item.created)
        drafts.append(
            _line(
                company,
                sub,
                line_item,
                "invoiceitem",
                gross,
                discount,
                quantity,
                True,
                time,
                sub.period_end,
                f"{label} {quantity} × {price.product.name} after {when}",
            )
        )
        gross_total += gross
        discount_total += discount
    invoice = _make_invoice(
        company, sub, "subscription_update", time, time, time, drafts, gross_total, discount_total
    )
    if invoice.total < 0:
        # A net credit is not refunded: it goes to the customer's balance.
        # NOTE: later invoices do not draw the balance down, and amount_due ignores it.
        sub.customer.balance += invoice.total
        emit_customer(company, sub.customer, time)
    settle_invoice(company, invoice, time, fails=False)


def _change_item(company: Company, sub: Subscription, time: int, price: Price, quantity: int) -> None:
    item = sub.main_item
    old = (item.price, item.quantity)
    if old == (price, quantity):
        return
    item.price = price
    item.quantity = quantity
    version_time = emit_subscription(company, sub, time)
    _prorate(company, sub, version_time, old, (price, quantity), item)


def _on_expand(company: Company, time: int, customer: Customer, _payload) -> None:
    sub = _changeable(customer)
    if sub is None:
        return
    rng = company.rng
    before_usd = customer.mrr_usd(company.current_fx)
    item = sub.main_item
    draw = rng.random()
    upgrade = price_for("business", item.price.interval, customer.currency)
    if draw < 0.05 and customer.segment != "self_serve" and len(customer.live_subscriptions()) == 1:
        price, seats = _choose_plan(company, "self_serve", customer.currency)
        extra = _build_subscription(company, customer, price, seats, time, time, False)
        _set_cycle(extra, 0)
        version_time = emit_subscription(company, extra, time)
        settle_invoice(
            company,
            cycle_invoice(company, extra, "subscription_create", version_time, None),
            version_time,
            fails=False,
        )
        company.schedule(extra.period_end, "renew", extra)
    elif draw < 0.25 and item.price.tier in ("starter", "team") and upgrade is not None:
        _change_item(company, sub, time, upgrade, item.quantity)
    else:
        added = max(1, int(round(item.quantity * rng.uniform(0.05, 0.25))))
        _change_item(company, sub, time, item.price, item.quantity + added)
        new_users = int(round(added * company.rates.users_per_seat * rng.uniform(0.5, 1.5)))
        if new_users:
            add_users(company, customer.workspace, new_users, time, time + 3 * DAY, company.month_key + 1)
    update_workspace_tier(company, customer, time)
    crm.on_expansion(company, customer, time, before_usd)


def _on_contract(company: Company, time: int, customer: Customer, _payload) -> None:
    sub = _changeable(customer)
    if sub is None:
        return
    rng = company.rng
    item = sub.main_item
    others = [s for s in customer.live_subscriptions() if s is not sub and not s.cancel_at_period_end]
    draw = rng.random()
    downgrade = price_for("team", item.price.interval, customer.currency)
    if others and draw < 0.5:
        _cancel(company, others[0], time, at_period_end=rng.random() < 0.7)
    elif draw < 0.15 and item.price.tier == "business" and downgrade is not None:
        _change_item(company, sub, time, downgrade, item.quantity)
    elif item.quantity > 1:
        removed = max(1, int(round(item.quantity * rng.uniform(0.10, 0.25))))
        _change_item(company, sub, time, item.price, max(1, item.quantity - removed))
    update_workspace_tier(company, customer, time)


def _on_reactivate(company: Company, time: int, customer: Customer, _payload) -> None:
    if customer.live_subscriptions():
        return
    previous = customer.subscriptions[-1]
    price = price_for(previous.tier, previous.interval, customer.currency) or previous.main_item.price
    seats = max(1, int(round(previous.main_item.quantity * company.rng.uniform(0.6, 1.1))))
    sub = _build_subscription(company, customer, price, seats, time, time, False)
    _set_cycle(sub, 0)
    version_time = emit_subscription(company, sub, time)
    settle_invoice(
        company,
        cycle_invoice(company, sub, "subscription_create", version_time, None),
        version_time,
        fails=False,
    )
    company.schedule(sub.period_end, "renew", sub)
    update_workspace_tier(company, customer, time)


def _on_renewal_opportunity(company: Company, time: int, sub: Subscription, _payload) -> None:
    crm.open_renewal_opportunity(company, sub, time)


HANDLERS = {
    "new_customer": _on_new_customer,
    "trial_end": _on_trial_end,
    "renew": _on_renew,
    "past_due_resolve": _on_past_due_resolve,
    "unpaid_cancel": _on_unpaid_cancel,
    "invoice_paid": _on_invoice_paid,
    "discount_end": _on_discount_end,
    "churn": _on_churn,
    "expand": _on_expand,
    "contract": _on_contract,
    "reactivate": _on_reactivate,
    "renewal_opportunity": _on_renewal_opportunity,
}
