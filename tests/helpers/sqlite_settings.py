"""Connection settings for Airflow metadata databases in SQLite that several processes share.

A scheduler, a DAG processor, an API server and the CLI write to the same file in the backfill
test. Python's sqlite3 gives up on a locked file after 5 s, and `airflow backfill create` can
then fail after it has already written part of the backfill. Waiting up to 60 s avoids that.
"""

CONNECT_ARGS = {"timeout": 60}
