"""Scenario files: the built-ins load, bad fields are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacing.scenario import ScenarioError, builtin_names, load_scenario


def test_the_builtin_scenarios_cover_the_required_shapes() -> None:
    names = builtin_names()
    assert len(names) >= 6
    scenarios = [load_scenario(n) for n in names]
    agents = {s.agents for s in scenarios}
    assert {5, 20, 50, 200} <= agents
    assert any(s.answer_rate <= 0.1 for s in scenarios)
    assert any(s.change_answer_rate is not None for s in scenarios)


def test_a_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\nagents = 7\n[talk]\nmean_s = 90\nsd_s = 30\n')
    scenario = load_scenario(str(path))
    assert (scenario.name, scenario.agents, scenario.talk_mean_s) == ("mine", 7, 90.0)
    assert scenario.acw_max_s is None  # no ACW timer unless the file sets one


def test_an_acw_timer_is_read_from_the_acw_table(tmp_path: Path) -> None:
    path = tmp_path / "timed.toml"
    path.write_text('name = "timed"\n[acw]\nmean_s = 20\nmax_s = 30\n')
    assert load_scenario(str(path)).acw_max_s == 30.0


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('name = "x"\n[talk]\nmedian_s = 3\n', "talk.median_s"),
        ('name = "x"\nagentz = 3\n', "agentz"),
        ('name = "x"\n[calls]\nanswer_rate = 1.5\n', "calls.answer_rate"),
        ('name = "x"\nagents = "many"\n', "agents"),
        ('name = "x"\n[amd]\nenabled = 1\n', "amd.enabled"),
        ('name = "x"\n[change]\nat_hours = 4\n', "change"),
        ('name = "x"\n[acw]\nmax_s = 0\n', "acw.max_s"),
        ('name = "x"\n[weather]\nrain = 1\n', "weather"),
        ("agents = 3\n", "name"),
    ],
)
def test_bad_fields_are_named(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
        load_scenario(str(path))


def test_unknown_builtin_lists_the_known_ones() -> None:
    with pytest.raises(ScenarioError, match="base20"):
        load_scenario("nonesuch")
