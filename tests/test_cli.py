"""Argument checks of the demo command, which reject bad options before anything starts."""

from __future__ import annotations

import pytest

from saas_metrics.cli import main


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--scale", "0"], "must be above 0 and at most 20"),
        (["--scale", "-1"], "must be above 0 and at most 20"),
        (["--scale", "lots"], "expected a number"),
        (["--date", "2026-13-40"], "expected YYYY-MM-DD"),
        (["--history-start", "2025-01-15"], "must be the first day of a month"),
        (["--history-start", "yesterday"], "expected YYYY-MM-01 or auto"),
    ],
)
def test_demo_rejects_bad_options(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", *arguments])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


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


def test_user_warehouse_is_never_emptied(monkeypatch, tmp_path, capsys):
    from saas_metrics import cli

    recreated = []
    monkeypatch.setattr(cli, "LOCAL_DIR", tmp_path)
    monkeypatch.setattr("saas_metrics.warehouse.recreate_embedded_database", lambda: recreated.append(True))
    cli.reset_demo_warehouse_if_options_changed({"seed": 1}, user_warehouse=True)
    assert recreated == []
    assert "is not emptied" in capsys.readouterr().err
