-- ISO 4217 currencies with the number of decimals Stripe uses for their minor unit.
-- Amounts in zero-decimal currencies (JPY, KRW, ...) are already whole units.
-- A currency missing here is quarantined by the staging models, never guessed.
with currency_list (currency, minor_unit_digits) as (
    values
    ('usd', 2), ('eur', 2), ('gbp', 2), ('cad', 2), ('aud', 2), ('nzd', 2),
    ('chf', 2), ('sek', 2), ('nok', 2), ('dkk', 2), ('pln', 2), ('czk', 2),
    ('huf', 2), ('ron', 2), ('bgn', 2), ('isk', 0), ('try', 2), ('ils', 2),
    ('aed', 2), ('sar', 2), ('inr', 2), ('sgd', 2), ('hkd', 2), ('cny', 2),
    ('twd', 2), ('thb', 2), ('myr', 2), ('php', 2), ('idr', 2), ('zar', 2),
    ('brl', 2), ('mxn', 2), ('ars', 2), ('cop', 2), ('pen', 2), ('clp', 0),
    ('jpy', 0), ('krw', 0), ('vnd', 0), ('bif', 0), ('djf', 0), ('gnf', 0),
    ('kmf', 0), ('mga', 0), ('pyg', 0), ('rwf', 0), ('ugx', 0), ('vuv', 0),
    ('xaf', 0), ('xof', 0), ('xpf', 0), ('bhd', 3), ('jod', 3), ('kwd', 3),
    ('omr', 3), ('tnd', 3)
),

final as (
    select
        currency::text as currency,
        minor_unit_digits::integer as minor_unit_digits,
        (10::numeric ^ minor_unit_digits)::numeric as minor_units_per_unit
    from currency_list
)

select * from final
