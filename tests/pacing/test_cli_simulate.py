"""`dialer simulate`: a thin shell over pacing.sim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dialer.cli import main

SCENARIO = 'name = "tiny"\nagents = 3\nshift_hours = 0.25\n'


def test_simulate_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(SCENARIO)
    code = main(
        ["simulate", "--scenario", str(path), "--policy", "ratio2", "--seeds", "2", "--json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [r["seed"] for r in out["runs"]] == [0, 1]
    assert out["mean"]["utilisation"] == pytest.approx(
        sum(r["utilisation"] for r in out["runs"]) / 2
    )


def test_simulate_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(SCENARIO)
    assert (
        main(["simulate", "--scenario", str(path), "--policy", "progressive", "--seeds", "1"]) == 0
    )
    out = capsys.readouterr().out
    assert "utilisation" in out and "abandon" in out and "mean" in out


def test_unknown_scenario_field_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\n[talk]\nmedain_s = 3\n')
    assert main(["simulate", "--scenario", str(path), "--seeds", "1"]) == 1
    assert "talk.medain_s" in capsys.readouterr().err


def test_simulate_a_blended_scenario_prints_the_inbound_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "blend.toml"
    path.write_text(SCENARIO + "[inbound]\nrate_per_hour = 30\n")
    assert (
        main(["simulate", "--scenario", str(path), "--policy", "progressive", "--seeds", "1"]) == 0
    )
    out = capsys.readouterr().out
    assert "service lvl" in out and "out util" in out and "agents reserved" in out


def test_simulate_a_blended_baseline_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "blend.toml"
    path.write_text(SCENARIO + "[inbound]\nrate_per_hour = 30\n")
    argv = ["simulate", "--scenario", str(path), "--policy", "progressive", "--seeds", "1"]
    assert main([*argv, "--json", "--no-reservation"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reservation"] is False
    run = out["runs"][0]
    assert run["policy"] == "progressive_unreserved"
    assert run["inbound_answered"] + run["inbound_abandoned"] == run["inbound_offered"]
    assert "inbound_service_level" in out["mean"]


def test_outbound_json_is_unchanged_by_blending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(SCENARIO)
    assert main(["simulate", "--scenario", str(path), "--seeds", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "reservation" not in out
    assert not any(k.startswith("inbound") for k in out["runs"][0])
