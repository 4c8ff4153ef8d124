"""Scenario files with an [inbound] table: the blended built-ins, and bad fields named."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacing.scenario import ScenarioError, builtin_names, load_scenario


def test_the_builtin_blended_scenarios_include_a_mid_shift_surge() -> None:
    blended = [load_scenario(n) for n in builtin_names(blended=True)]
    assert all(s.inbound for s in blended)
    assert {"blend20", "blend50", "surge20"} <= {s.name for s in blended}
    assert any(s.inbound_surge_at_hours is not None and s.inbound_surge_factor > 1 for s in blended)
    assert all(0 < s.inbound_service_level < 1 for s in blended)


def test_the_default_builtin_list_is_the_outbound_pacing_set() -> None:
    # bench/pacing.py runs builtin_names(): blended scenarios are not in it
    names = builtin_names()
    assert "base20" in names and "blend20" not in names
    assert not any(load_scenario(n).inbound for n in names)
    assert set(builtin_names(blended=None)) == set(names) | set(builtin_names(blended=True))


def test_an_inbound_table_loads(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'name = "mine"\n[inbound]\nrate_per_hour = 90\npatience = "lognormal"\n'
        "patience_mean_s = 60\npatience_sd_s = 30\nservice_level = 0.9\n"
        "service_threshold_s = 15\n"
    )
    s = load_scenario(str(path))
    assert s.inbound
    assert (s.inbound_rate_per_hour, s.inbound_patience, s.inbound_service_level) == (
        90.0,
        "lognormal",
        0.9,
    )


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ("patience = 'exponential'\n", "inbound.rate_per_hour"),
        ("rate_per_hour = 'lots'\n", "inbound.rate_per_hour"),
        ("rate_per_hour = -5\n", "inbound.rate_per_hour"),
        ("rate_per_hour = 60\npatience = 'weibull'\n", "inbound.patience"),
        ("rate_per_hour = 60\nservice_level = 1.5\n", "inbound.service_level"),
        ("rate_per_hour = 60\nservice_threshold_s = -1\n", "inbound.service_threshold_s"),
        ("rate_per_hour = 60\nsine_amplitude = 1.2\n", "inbound.sine_amplitude"),
        ("rate_per_hour = 60\nsurge_factor = 0\n", "inbound.surge_factor"),
        ("rate_per_hour = 60\ntalk_mean_s = 0\n", "inbound.talk_mean_s"),
        ("rate_per_hour = 60\npatience_mean_s = true\n", "inbound.patience_mean_s"),
        ("rate_per_hour = 60\nsurge_at_hours = -1\n", "inbound.surge_at_hours"),
        ("rate_per_hour = 60\nqueue_size = 10\n", "inbound.queue_size"),
    ],
)
def test_bad_inbound_fields_are_named(tmp_path: Path, table: str, field: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'name = "x"\n[inbound]\n{table}')
    with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
        load_scenario(str(path))
