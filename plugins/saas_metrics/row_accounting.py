"""Log where the raw rows of a daily run went, from analytics.row_accounting.

The quality gate blocks on the total of unaccounted rows. This log names the sources, so that
on-call can tell which staging model dropped or duplicated rows.
"""

from __future__ import annotations

import datetime as dt
import logging

log = logging.getLogger(__name__)

COLUMNS = ("raw_rows", "collapsed_rows", "records", "staged_rows", "quarantined_rows", "unaccounted_rows")


def report_row_accounting(conn, as_of: dt.datetime) -> dict[str, dict[str, int]]:
    """Log one line per source of the run ending at `as_of` and return the counts per source.

    Raises ValueError when the run has no accounting rows.
    """
    rows = conn.execute(
        f"select source_table, {', '.join(COLUMNS)}, extracted_since from analytics.row_accounting "
        "where as_of = %s order by source_table",
        (as_of,),
    ).fetchall()
    if not rows:
        raise ValueError(f"analytics.row_accounting has no rows for the run ending {as_of.isoformat()}")
    report = {}
    for source, *counts, since in rows:
        report[source] = dict(zip(COLUMNS, counts, strict=True))
        scope = f"records changed after {since.isoformat()}" if since else "every record"
        raw, collapsed, records, staged, quarantined, unaccounted = counts
        # Subscriptions count item versions as records, so raw rows less collapsed ones need not
        # equal the records. Only the sum after the records is an identity for every source.
        line = "%s: %d raw rows, %d collapsed; %d records = %d staged + %d quarantined + %d unaccounted; counted: %s"
        values = (source, raw, collapsed, records, staged, quarantined, unaccounted, scope)
        if unaccounted:
            log.warning(line + " (a staging model %s rows)", *values, "dropped" if unaccounted > 0 else "duplicated")
        else:
            log.info(line, *values)
    return report
