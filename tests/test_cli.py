"""Argument checks of the demo command, which reject bad options before anything starts."""

from __future__ import annotations

import pytest

from saas_metrics.cli import main


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--scale", "0"], "must be between 0.01 and 20"),
        (["--scale", "-1"], "must be between 0.01 and 20"),
        (["--scale", "1e-9"], "must be between 0.01 and 20"),
        (["--scale", "lots"], "expected a number"),
        (["--seed", "-1"], "must not be negative"),
        (["--seed", "1.5"], "expected a whole number"),
        (["--date", "2026-13-40"], "expected YYYY-MM-DD"),
        (["--date", "1999-02-01"], "the daily DAG's first interval ends on 2026-01-02"),
        (["--date", "2999-02-01"], "its interval has not ended yet"),
        (["--history-start", "2025-01-15"], "must be the first day of a month"),
        (["--history-start", "yesterday"], "expected YYYY-MM-01 or auto"),
        (["--history-start", "2026-12-01", "--date", "2026-11-30"], "it must be before --date 2026-11-30"),
    ],
)
def test_demo_rejects_bad_options(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", *arguments])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message in error
    assert "saas_metrics demo: error:" in error


def test_demo_settings_change_empties_embedded_warehouse(monkeypatch, tmp_path):
    from saas_metrics import cli

    recreated = []
    monkeypatch.setattr(cli, "LOCAL_DIR", tmp_path)
    monkeypatch.setattr("saas_metrics.warehouse.recreate_embedded_database", lambda: recreated.append(True))
    cli.reset_demo_warehouse_if_options_changed({"seed": 42, "scale": 1.0}, user_warehouse=False)
    assert recreated == [True]
    cli.reset_demo_warehouse_if_options_changed({"seed": 42, "scale": 1.0}, user_warehouse=False)
    assert recreated == [True]
    cli.reset_demo_warehouse_if_options_changed({"seed": 42, "scale": 0.1}, user_warehouse=False)
    assert recreated == [True, True]


def test_demo_later_day_keeps_warehouse(monkeypatch, tmp_path, capsys):
    from saas_metrics import cli

    recreated = []
    monkeypatch.setattr(cli, "LOCAL_DIR", tmp_path)
    monkeypatch.setattr("saas_metrics.warehouse.recreate_embedded_database", lambda: recreated.append(True))
    company = {"seed": 42, "scale": 0.2, "history_start": "2025-01-01"}
    for day, resets in (("2026-11-20", 1), ("2026-11-21", 1), ("2026-11-21", 1), ("2026-11-19", 2)):
        cli.reset_demo_warehouse_if_options_changed({**company, "date": day}, user_warehouse=False)
        assert len(recreated) == resets, day
    assert "continues it on 2026-11-21" in capsys.readouterr().out
    cli.reset_demo_warehouse_if_options_changed(
        {**company, "history_start": "2025-02-01", "date": "2026-11-22"}, user_warehouse=False
    )
    assert len(recreated) == 3


def test_user_warehouse_is_never_emptied(monkeypatch, tmp_path, capsys):
    from saas_metrics import cli

    recreated = []
    monkeypatch.setattr(cli, "LOCAL_DIR", tmp_path)
    monkeypatch.setattr("saas_metrics.warehouse.recreate_embedded_database", lambda: recreated.append(True))
    cli.reset_demo_warehouse_if_options_changed({"seed": 1}, user_warehouse=True)
    assert recreated == []
    assert "is not emptied" in capsys.readouterr().err


def test_demo_echoes_whole_gate_message(monkeypatch, tmp_path, capsys):
    import sys

    from saas_metrics import cli

    lines = [
        "some task log line",
        "saas_metrics.operators.quality_gate.QualityGateBlocked: Quality gate blocked publication: 2 blocking results",
        "- analytics.row_accounting / every_raw_row_accounted_for (critical): failed; value 2",
        "- analytics.mrr_monthly / mrr_bridge_holds (critical): failed; value 1",
        "Every result of this run is in analytics.data_quality_results.",
        "- an unrelated list item",
    ]
    script = f"print({chr(10).join(lines)!r})"
    monkeypatch.setattr(cli, "airflow_command", lambda *args: [sys.executable, "-c", script])
    cli.run_daily_dag({}, cli.datetime(2026, 3, 1, 7, tzinfo=cli.UTC), {}, tmp_path / "run.log")
    echoed = capsys.readouterr().out.splitlines()
    assert echoed == [f"    {line}" for line in lines[1:4]]
    assert (tmp_path / "run.log").read_text().splitlines() == lines


def test_demo_keep_raw_data_skips_load(monkeypatch, tmp_path):
    import sys

    from saas_metrics import cli

    commands = []

    def command(*args):
        commands.append(args)
        return [sys.executable, "-c", "pass"]

    monkeypatch.setattr(cli, "airflow_command", command)
    day = cli.datetime(2026, 3, 1, 7, tzinfo=cli.UTC)
    assert cli.run_daily_dag({}, day, {}, tmp_path / "run.log", keep_raw_data=True) == 0
    assert cli.run_daily_dag({}, day, {}, tmp_path / "run.log") == 0
    assert commands[0][-2:] == ("--mark-success-pattern", "^load_demo_data$")
    assert "--mark-success-pattern" not in commands[1]
