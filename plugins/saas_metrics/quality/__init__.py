"""Soda data contracts: finding them, linting them, running them and recording the results.

Importing this package switches Soda Core's usage telemetry off for the whole process, and
Python runs this file before any module of the package. Soda Core 4.28.0 reads
SODA_CORE_TELEMETRY_ENABLED once, when soda_core.contracts is first imported. With telemetry on,
it sends traces to collect.soda.io and replaces the process-wide OpenTelemetry tracer provider.
"""

from __future__ import annotations

import os

os.environ["SODA_CORE_TELEMETRY_ENABLED"] = "false"
