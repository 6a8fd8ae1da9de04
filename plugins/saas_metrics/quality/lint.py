"""Lint the Soda contracts under soda_checks/ without opening a database connection.

    python -m saas_metrics.quality.lint [PATH ...]

PATH is a contract file or a folder of <schema>/<table>.yml contracts (default: soda_checks/).
The exit status is 0 when every contract is clean, 1 when any has a problem and 2 when no
contract was found. Each contract must:

- parse as YAML and contain no `${env.` reference, because Soda resolves those inside SQL text,
  so a contract could copy a worker's secret into a query and from there into the logs;
- validate against the JSON schema packaged with Soda Core, with the keys it lacks added
  (see SCHEMA_GAPS);
- parse without errors or warnings in Soda's own contract parser;
- name its dataset `warehouse/${var.database}/<schema>/<table>` after its path;
- declare only variables the quality gate passes, and use only declared ones;
- give every check a `name`, unique within the file;
- use only known threshold keys, and the levels `fail` and `warn`. Soda Core 4.28.0 only logs a
  warning for an unknown key and then runs the check with its default threshold, and it turns
  an unknown level such as `warning` into `fail`;
- mark a check `attributes: {severity: critical}` when it has a fail-level threshold (a check
  without a threshold has Soda's default one, which is fail-level), and
  `attributes: {severity: warning}` when all its thresholds are warn-level.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from saas_metrics.paths import SODA_DIR
from saas_metrics.quality.contracts import DATA_SOURCE_NAME, GATE_VARIABLES, contract_file, gate_variables

COMPARISON_KEYS = frozenset(
    {
        "must_be",
        "must_not_be",
        "must_be_greater_than",
        "must_be_greater_than_or_equal",
        "must_be_less_than",
        "must_be_less_than_or_equal",
        "must_be_between",
        "must_be_not_between",
    }
)
THRESHOLD_KEYS = COMPARISON_KEYS | {"level", "additional", "metric", "unit"}
ADDITIONAL_THRESHOLD_KEYS = COMPARISON_KEYS | {"level"}
LEVELS = ("fail", "warn")
SEVERITIES = ("critical", "warning")

# Keys that Soda Core 4.28.0's parser reads on a check type (every check's `attributes`, and the
# freshness check's `now_variable`) but that its packaged JSON schema does not list. The lint
# tests check that the packaged schema still rejects them, so that this list is shortened when
# Soda fixes the schema.
SCHEMA_GAPS = {
    "metric": {"attributes": {"$ref": "#/$defs/attributes"}},
    "failed_rows": {"attributes": {"$ref": "#/$defs/attributes"}},
    "freshness": {"now_variable": {"type": "string"}},
}
SCHEMA_FILE_NAME = "soda_data_contract_json_schema_1_0_0.json"

_USED_VARIABLE = re.compile(r"\$\{\s*var\.([A-Za-z_][A-Za-z0-9_]*)\s*\}")
# Any fixed run works: the lint only needs a value for every variable to parse the contracts.
LINT_VARIABLES = gate_variables(
    database="lint",
    data_interval_start=dt.datetime(2026, 1, 1, 7, tzinfo=dt.UTC),
    data_interval_end=dt.datetime(2026, 1, 2, 7, tzinfo=dt.UTC),
    reporting_time_zone="UTC",
)


def lint_contract(path: Path, root: Path = SODA_DIR) -> list[str]:
    """Return the problems of the contract at `path`, an empty list when it is clean."""
    try:
        contract = contract_file(path, root)
    except ValueError as error:
        return [str(error)]
    try:
        text = contract.path.read_text()
    except OSError as error:
        return [f"cannot be read: {error}"]

    problems = []
    if "${env." in text:
        problems.append("contains '${env.'; pass values through gate variables instead of environment variables")
    data, yaml_problem = _load_yaml(text)
    if yaml_problem:
        return [*problems, yaml_problem]
    if not isinstance(data, dict):
        return [*problems, "must be a YAML mapping with dataset, columns and checks"]

    problems += _schema_problems(data)
    problems += _dataset_problems(data, contract.table_name)
    problems += _variable_problems(data, text)
    problems += _check_problems(data)
    if not problems:
        # Soda's parser reports the same mistakes as the checks above in less direct words, so
        # it only runs on a contract that passed them.
        problems += _soda_parser_problems(contract.path)
    return problems


def _load_yaml(text: str) -> tuple[object, str | None]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe").load(text), None
    except YAMLError as error:
        return None, f"invalid YAML: {error}".replace("\n", " ")


@lru_cache(maxsize=1)
def contract_schema_validator():
    """Return a validator for Soda's packaged contract JSON schema, with SCHEMA_GAPS added."""
    import jsonschema
    import soda_core.contracts

    schema_path = Path(soda_core.contracts.__file__).parent / SCHEMA_FILE_NAME
    schema = add_schema_gaps(json.loads(schema_path.read_text()))
    return jsonschema.Draft202012Validator(schema)


def add_schema_gaps(schema: dict) -> dict:
    """Return a copy of `schema` in which the check types of SCHEMA_GAPS also allow their missing keys."""
    patched = copy.deepcopy(schema)

    def visit(node: object) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                for check_type, missing_keys in SCHEMA_GAPS.items():
                    definition = properties.get(check_type)
                    alternatives = definition.get("oneOf", []) if isinstance(definition, dict) else []
                    for alternative in alternatives:
                        if isinstance(alternative, dict) and isinstance(alternative.get("properties"), dict):
                            alternative["properties"].update(missing_keys)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(patched)
    return patched


def _schema_problems(data: dict) -> list[str]:
    problems = []
    for error in contract_schema_validator().iter_errors(data):
        # A check entry is matched against every check type (anyOf), so the error that explains
        # the mistake is the deepest one among the alternatives.
        leaves = list(_leaf_errors(error))
        deepest = max(len(leaf.absolute_path) for leaf in leaves)
        for leaf in leaves:
            if len(leaf.absolute_path) == deepest:
                message = f"schema: {leaf.message} at {leaf.json_path}"
                if message not in problems:
                    problems.append(message)
    return problems


def _leaf_errors(error) -> Iterator:
    if not error.context:
        yield error
        return
    for child in error.context:
        yield from _leaf_errors(child)


def _dataset_problems(data: dict, table_name: str) -> list[str]:
    schema, table = table_name.split(".")
    expected = f"{DATA_SOURCE_NAME}/${{var.database}}/{schema}/{table}"
    if data.get("dataset") != expected:
        return [f"dataset is {data.get('dataset')!r}, expected {expected!r} to match the file's path"]
    return []


def _variable_problems(data: dict, text: str) -> list[str]:
    declared = data.get("variables") or {}
    if not isinstance(declared, dict):
        return ["variables must be a mapping of variable names"]
    problems = [
        f"declares variable {name!r}, which the quality gate does not pass; use one of {', '.join(GATE_VARIABLES)}"
        for name in declared
        if name not in GATE_VARIABLES
    ]
    for name in sorted(set(_USED_VARIABLE.findall(text)) - set(declared)):
        problems.append(f"uses ${{var.{name}}} without declaring {name!r} under variables")
    return problems


def iter_checks(data: dict) -> Iterator[tuple[str, str, object]]:
    """Yield (location, check type, check body) for every dataset-level and column-level check."""
    for index, entry in enumerate(data.get("checks") or []):
        yield from _check_entry(entry, f"checks[{index}]")
    for column in data.get("columns") or []:
        if isinstance(column, dict):
            for index, entry in enumerate(column.get("checks") or []):
                yield from _check_entry(entry, f"column {column.get('name')!r} checks[{index}]")


def _check_entry(entry: object, location: str) -> Iterator[tuple[str, str, object]]:
    if isinstance(entry, dict):
        for check_type, body in entry.items():
            yield location, str(check_type), body


def _check_problems(data: dict) -> list[str]:
    problems = []
    seen_names: dict[str, str] = {}
    for location, check_type, body in iter_checks(data):
        where = f"{location} ({check_type})"
        body = body if isinstance(body, dict) else {}
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where} has no name")
        elif name in seen_names:
            problems.append(f"{where} repeats the name {name!r} of {seen_names[name]}")
        else:
            seen_names[name] = where
        levels, threshold_problems = _threshold_levels(body.get("threshold"))
        problems += [f"{where}: {problem}" for problem in threshold_problems]
        problems += [f"{where}: {problem}" for problem in _severity_problems(body.get("attributes"), levels)]
    return problems


def _threshold_levels(threshold: object) -> tuple[list[str], list[str]]:
    """Return the levels a threshold evaluates at, and its problems. No threshold means Soda's default (fail)."""
    if threshold is None:
        return ["fail"], []
    if not isinstance(threshold, dict):
        return ["fail"], ["threshold must be a mapping"]
    problems = [f"unknown threshold key {key!r}" for key in threshold if key not in THRESHOLD_KEYS]
    levels = [threshold.get("level", "fail")]
    additional = threshold.get("additional")
    if additional is not None:
        if isinstance(additional, dict):
            problems += [
                f"unknown key {key!r} in the additional threshold"
                for key in additional
                if key not in ADDITIONAL_THRESHOLD_KEYS
            ]
            levels.append(additional.get("level", "fail"))
        else:
            problems.append("additional threshold must be a mapping")
    problems += [
        f"unknown threshold level {level!r}; use one of {', '.join(LEVELS)}" for level in levels if level not in LEVELS
    ]
    return levels, problems


def _severity_problems(attributes: object, levels: list[str]) -> list[str]:
    severity = attributes.get("severity") if isinstance(attributes, dict) else None
    expected = "critical" if "fail" in levels or any(level not in LEVELS for level in levels) else "warning"
    if severity not in SEVERITIES:
        return [f"attributes.severity is {severity!r}; set it to {expected!r} to match its threshold levels"]
    if severity != expected:
        return [f"attributes.severity is {severity!r} but its threshold levels {levels} make it {expected!r}"]
    return []


def _soda_parser_problems(path: Path) -> list[str]:
    from soda_core.common.yaml import ContractYamlSource
    from soda_core.contracts.contract_verification import ContractVerificationSession

    try:
        result = ContractVerificationSession.execute(
            contract_yaml_sources=[ContractYamlSource.from_file_path(str(path))],
            variables=LINT_VARIABLES,
            only_validate_without_execute=True,
        )
    # Soda raises assorted exception types for contracts it cannot read; each one is a problem
    # of this file, reported with its message.
    except Exception as error:  # noqa: BLE001
        return [f"Soda's parser failed: {error}"]
    records = list(result.session_log_records)
    for contract_result in result.contract_verification_results:
        records += contract_result.log_records or []
    return [f"Soda: {record.getMessage()}" for record in records if record.levelno >= logging.WARNING]


def find_contract_paths(paths: Sequence[Path]) -> list[tuple[Path, Path]]:
    """Return (contract, contracts root) pairs for files and folders of contracts."""
    found = []
    for path in paths:
        if path.is_dir():
            found += [(contract, path) for contract in sorted(path.glob("*/*.yml"))]
        else:
            found.append((path, path.resolve().parent.parent))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m saas_metrics.quality.lint",
        description="Lint Soda data contracts (<schema>/<table>.yml) without connecting to a database.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        default=[SODA_DIR],
        help=f"contract files, or folders of <schema>/<table>.yml contracts (default: {SODA_DIR})",
    )
    args = parser.parse_args(argv)

    contracts = find_contract_paths(args.paths)
    if not contracts:
        print(f"No contracts found in {', '.join(map(str, args.paths))}", file=sys.stderr)
        return 2
    problem_count = 0
    for path, root in contracts:
        for problem in lint_contract(path, root):
            print(f"{path}: {problem}")
            problem_count += 1
    print(f"{len(contracts)} contracts checked, {problem_count} problems found")
    return 1 if problem_count else 0


if __name__ == "__main__":
    sys.exit(main())
