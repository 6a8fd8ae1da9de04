"""The product-manager query templates: their form fields, parameter checks and result columns.

Each template is a SQL file under sql/templates/ that reads the curated product_events views.
`params` describes the Airflow form as JSON-schema keywords for airflow.sdk.Param. `bind` checks
the submitted values again, so that callers outside Airflow get the same checks, and returns
the values bound to the SQL. DAG files import this module at parse time, so it imports nothing
heavy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saas_metrics.governance.statistics import two_proportion_z_test
from saas_metrics.paths import SQL_DIR

DEFAULT_RANGE_DAYS = 90
MAX_TEXT_LENGTH = 200
MAX_FUNNEL_STEPS = 10  # the number of step CTEs in sql/templates/funnel_drop_off.sql


class TemplateParameterError(ValueError):
    """A template parameter is missing or invalid; the message names it and the expected value."""


@dataclass(frozen=True)
class ParamSpec:
    default: Any
    schema: Mapping[str, Any]


@dataclass(frozen=True)
class QueryTemplate:
    name: str
    title: str
    description: str
    params: Mapping[str, ParamSpec]
    result_columns: tuple[tuple[str, str], ...]  # (name, PostgreSQL type) of the rows written
    bind: Callable[[Mapping[str, Any], dt.datetime], dict[str, Any]]
    post_process: Callable[[list[dict[str, Any]], Mapping[str, Any]], list[dict[str, Any]]] | None = None
    sql_file: Path | None = None  # default: sql/templates/<name>.sql

    @property
    def sql_path(self) -> Path:
        return self.sql_file or SQL_DIR / "templates" / f"{self.name}.sql"

    @property
    def result_table(self) -> str:
        return f"analytics.self_service_{self.name}"


# Parameter checks ------------------------------------------------------------------------------


def _text(values: Mapping[str, Any], key: str) -> str:
    value = values.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TemplateParameterError(f"Parameter {key} is required and must be non-empty text, got {value!r}")
    if len(value) > MAX_TEXT_LENGTH:
        raise TemplateParameterError(f"Parameter {key} is longer than {MAX_TEXT_LENGTH} characters")
    return value.strip()


def _integer(values: Mapping[str, Any], key: str, minimum: int, maximum: int) -> int:
    value = values.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise TemplateParameterError(
            f"Parameter {key} must be an integer from {minimum} to {maximum}, got {value!r}"
        )
    return value


def _number(values: Mapping[str, Any], key: str, minimum: float, maximum: float) -> float:
    value = values.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not minimum <= value <= maximum:
        raise TemplateParameterError(
            f"Parameter {key} must be a number from {minimum} to {maximum}, got {value!r}"
        )
    return float(value)


def _choice(values: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = values.get(key)
    if value not in choices:
        raise TemplateParameterError(f"Parameter {key} must be one of {choices}, got {value!r}")
    return value


def _optional_date(values: Mapping[str, Any], key: str) -> dt.date | None:
    value = values.get(key)
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as error:
        raise TemplateParameterError(
            f"Parameter {key} must be a date written YYYY-MM-DD, got {value!r}"
        ) from error


def _date_range(
    values: Mapping[str, Any], from_key: str, to_key: str, as_of: dt.datetime
) -> tuple[dt.date, dt.date]:
    """Return the inclusive date range; by default the 90 days before the day of `as_of` (UTC)."""
    date_to = _optional_date(values, to_key) or as_of.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    date_from = _optional_date(values, from_key) or date_to - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if date_from > date_to:
        raise TemplateParameterError(f"Parameter {from_key} ({date_from}) is after {to_key} ({date_to})")
    return date_from, date_to


def _date_param(title: str, description: str) -> ParamSpec:
    return ParamSpec(
        None, {"type": ["null", "string"], "format": "date", "title": title, "description": description}
    )


def _text_param(default: str | None, title: str, description: str) -> ParamSpec:
    schema = {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_TEXT_LENGTH,
        "title": title,
        "description": description,
    }
    return ParamSpec(default, schema)


def _days_param(default: int, maximum: int, title: str, description: str) -> ParamSpec:
    schema = {"type": "integer", "minimum": 1, "maximum": maximum, "title": title, "description": description}
    return ParamSpec(default, schema)


# Feature adoption by cohort ----------------------------------------------------------------------


def _bind_feature_adoption(values: Mapping[str, Any], as_of: dt.datetime) -> dict[str, Any]:
    signup_from, signup_to = _date_range(values, "signup_from", "signup_to", as_of)
    return {
        "feature_event": _text(values, "feature_event"),
        "signup_from": signup_from,
        "signup_to": signup_to,
        "cohort_grain": _choice(values, "cohort_grain", ("week", "month")),
        "adoption_window_days": _integer(values, "adoption_window_days", 1, 365),
        "as_of": as_of,
    }


FEATURE_ADOPTION = QueryTemplate(
    name="feature_adoption_by_cohort",
    title="Feature adoption by cohort",
    description="How quickly each signup cohort adopts a feature: adopters within the window, median days.",
    params={
        "feature_event": _text_param(
            None,
            "Feature event",
            "Event name that marks use of the feature (lowercase, as in product_events.events)",
        ),
        "signup_from": _date_param(
            "Signups from", "First signup day (UTC); empty for 90 days before the run"
        ),
        "signup_to": _date_param(
            "Signups until", "Last signup day, inclusive (UTC); empty for the day before the run"
        ),
        "cohort_grain": ParamSpec(
            "month",
            {
                "type": "string",
                "enum": ["week", "month"],
                "title": "Cohort",
                "description": "Signup cohort period",
            },
        ),
        "adoption_window_days": _days_param(
            30, 365, "Adoption window (days)", "Days after signup in which a first use counts as adoption"
        ),
    },
    result_columns=(
        ("cohort_start", "date"),
        ("cohort_users", "bigint"),
        ("adopted_users", "bigint"),
        ("adoption_rate", "numeric"),
        ("median_days_to_adopt", "numeric"),
        ("is_window_complete", "boolean"),
    ),
    bind=_bind_feature_adoption,
)


# Funnel drop-off ---------------------------------------------------------------------------------


def _bind_funnel(values: Mapping[str, Any], as_of: dt.datetime) -> dict[str, Any]:
    steps = values.get("funnel_steps")
    if not isinstance(steps, list) or not 2 <= len(steps) <= MAX_FUNNEL_STEPS:
        raise TemplateParameterError(
            f"Parameter funnel_steps must be a list of 2 to {MAX_FUNNEL_STEPS} event names, got {steps!r}"
        )
    steps = [_text({"step": step}, "step") for step in steps]
    if len(set(steps)) != len(steps):
        raise TemplateParameterError(
            f"Parameter funnel_steps names an event twice: {steps}; each step needs its own"
        )
    date_from, date_to = _date_range(values, "date_from", "date_to", as_of)
    return {
        "funnel_steps": steps,
        "date_from": date_from,
        "date_to": date_to,
        "segment": _text(values, "segment"),
        "conversion_window_days": _integer(values, "conversion_window_days", 1, 90),
    }


FUNNEL_DROP_OFF = QueryTemplate(
    name="funnel_drop_off",
    title="Funnel drop-off by step",
    description="Where users drop off in a multi-step flow: users reaching each step in order.",
    params={
        "funnel_steps": ParamSpec(
            ["signup_completed", "workspace_created", "teammate_invited"],
            {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_LENGTH},
                "minItems": 2,
                "maxItems": MAX_FUNNEL_STEPS,
                "uniqueItems": True,
                "title": "Funnel steps",
                "description": "Event names of the steps, in order, one per line",
            },
        ),
        "date_from": _date_param(
            "Entries from", "First day users may enter the funnel (UTC); empty for 90 days back"
        ),
        "date_to": _date_param("Entries until", "Last day users may enter the funnel, inclusive (UTC)"),
        "segment": _text_param(
            "all",
            "Segment",
            "Workspace plan tier to keep (as in product_events.workspaces.plan_tier), or all",
        ),
        "conversion_window_days": _days_param(
            7, 90, "Conversion window (days)", "Days after entering in which the later steps must happen"
        ),
    },
    result_columns=(
        ("step_number", "integer"),
        ("event_name", "text"),
        ("reached_users", "bigint"),
        ("conversion_from_previous", "numeric"),
        ("conversion_from_first", "numeric"),
        ("dropped_users", "bigint"),
    ),
    bind=_bind_funnel,
)


# A/B test results --------------------------------------------------------------------------------


def _bind_ab_test(values: Mapping[str, Any], as_of: dt.datetime) -> dict[str, Any]:
    return {
        "experiment_id": _text(values, "experiment_id"),
        "conversion_event": _text(values, "conversion_event"),
        "control_variant": _text(values, "control_variant"),
        "assignment_event": _text(values, "assignment_event"),
        "conversion_window_days": _integer(values, "conversion_window_days", 1, 90),
        "confidence_level": _number(values, "confidence_level", 0.5, 0.999),
    }


def _ab_statistics(rows: list[dict[str, Any]], parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Add each variant's conversion rate and its two-proportion z-test against the control."""
    control_name = parameters["control_variant"]
    control = next((row for row in rows if row["variant"] == control_name), None)
    if control is None:
        found = [row["variant"] for row in rows]
        raise TemplateParameterError(
            f"Experiment {parameters['experiment_id']!r} has no users in control variant {control_name!r}; "
            f"variants found: {found}. Set control_variant to one of them."
        )
    results = []
    for row in rows:
        result = {
            "variant": row["variant"],
            "is_control": row is control,
            "assigned_users": row["assigned_users"],
            "converted_users": row["converted_users"],
            "conversion_rate": row["converted_users"] / row["assigned_users"],
            "difference_vs_control": None,
            "z_score": None,
            "p_value": None,
            "ci_low": None,
            "ci_high": None,
            "confidence_level": parameters["confidence_level"],
            "is_significant": None,
        }
        if row is not control:
            test = two_proportion_z_test(
                control["converted_users"],
                control["assigned_users"],
                row["converted_users"],
                row["assigned_users"],
                parameters["confidence_level"],
            )
            result.update(
                difference_vs_control=test.difference,
                z_score=test.z_score,
                p_value=test.p_value,
                ci_low=test.ci_low,
                ci_high=test.ci_high,
                is_significant=test.p_value < 1 - parameters["confidence_level"],
            )
        results.append(result)
    return results


AB_TEST_RESULTS = QueryTemplate(
    name="ab_test_results",
    title="A/B test results",
    description="Conversion by experiment variant, with the difference to control, a two-sided z-test and "
    "its confidence interval.",
    params={
        "experiment_id": _text_param(
            None, "Experiment", "Value of properties.experiment_id on assignment events"
        ),
        "conversion_event": _text_param(None, "Conversion event", "Event name that counts as a conversion"),
        "control_variant": _text_param(
            "control", "Control variant", "Value of properties.variant for control"
        ),
        "assignment_event": _text_param(
            "experiment_assigned", "Assignment event", "Event name that assigns a user to a variant"
        ),
        "conversion_window_days": _days_param(
            14, 90, "Conversion window (days)", "Days after assignment in which a conversion counts"
        ),
        "confidence_level": ParamSpec(
            0.95,
            {
                "type": "number",
                "minimum": 0.5,
                "maximum": 0.999,
                "title": "Confidence level",
                "description": "Of the interval; a variant is significant when p < 1 - confidence level",
            },
        ),
    },
    result_columns=(
        ("variant", "text"),
        ("is_control", "boolean"),
        ("assigned_users", "bigint"),
        ("converted_users", "bigint"),
        ("conversion_rate", "double precision"),
        ("difference_vs_control", "double precision"),
        ("z_score", "double precision"),
        ("p_value", "double precision"),
        ("ci_low", "double precision"),
        ("ci_high", "double precision"),
        ("confidence_level", "double precision"),
        ("is_significant", "boolean"),
    ),
    bind=_bind_ab_test,
    post_process=_ab_statistics,
)

TEMPLATES = (FEATURE_ADOPTION, FUNNEL_DROP_OFF, AB_TEST_RESULTS)


def get_template(name: str) -> QueryTemplate:
    for template in TEMPLATES:
        if template.name == name:
            return template
    raise KeyError(
        f"Unknown query template {name!r}; templates are {[template.name for template in TEMPLATES]}"
    )
