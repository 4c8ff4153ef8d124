"""Simulation scenarios: a TOML file per shift (format in docs/pacing.md)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any


class ScenarioError(ValueError):
    """A scenario file is missing, malformed, or has a bad or unknown field (named)."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str = ""
    agents: int = 20
    shift_hours: float = 8.0
    tick_s: float = 1.0
    shift_start_hhmm: int = 900
    # calls
    answer_rate: float = 0.3
    machine_rate: float = 0.2  # of answered calls
    ring_mean_s: float = 12.0  # dial to answer, for answered calls (log-normal)
    ring_sd_s: float = 6.0
    ring_timeout_s: float = 25.0
    # AMD
    amd: bool = True
    amd_s: float = 2.5  # analysis time added before routing
    amd_false_positive: float = 0.005  # live people hung up on as machines
    amd_false_negative: float = 0.1  # machines passed to agents
    machine_talk_s: float = 8.0
    # agents
    talk_mean_s: float = 180.0
    talk_sd_s: float = 120.0
    acw_mean_s: float = 20.0
    acw_sd_s: float = 10.0
    # The campaign's ACW timer (seed 004): an agent who has not typified by then is released
    # (the engine applies the default). None: no timer, ACW as long as the draw.
    acw_max_s: float | None = None
    pause_probability: float = 0.03  # after each call's ACW
    pause_mean_s: float = 300.0
    pause_sd_s: float = 200.0
    preview_s: float = 8.0  # preview policy: an agent's look at the contact before dialing
    # mid-shift change
    change_at_hours: float | None = None
    change_answer_rate: float | None = None
    # limits and compliance
    max_channels: int = 10_000
    max_calls_per_s: float = 1_000.0
    abandon_cap: float = 0.03
    abandon_target: float = 0.02
    # inbound queue for the same agents (docs/blending.md); none unless rate_per_hour is set
    inbound_rate_per_hour: float | None = None
    inbound_sine_amplitude: float = 0.0  # rate x (1 + a sin(2 pi t / period))
    inbound_sine_period_hours: float = 8.0
    inbound_surge_at_hours: float | None = None  # rate x surge_factor for surge_hours from here
    inbound_surge_hours: float = 1.0
    inbound_surge_factor: float = 1.0
    inbound_patience: str = "exponential"  # or "lognormal"
    inbound_patience_mean_s: float = 120.0
    inbound_patience_sd_s: float = 90.0  # log-normal only
    inbound_talk_mean_s: float = 240.0  # log-normal
    inbound_talk_sd_s: float = 150.0
    inbound_acw_mean_s: float = 30.0  # log-normal
    inbound_acw_sd_s: float = 15.0
    inbound_service_level: float = 0.8  # answered within service_threshold_s / offered
    inbound_service_threshold_s: float = 20.0

    @property
    def inbound(self) -> bool:
        return self.inbound_rate_per_hour is not None


# TOML table -> {key in the table: Scenario field}
_LAYOUT: dict[str, dict[str, str]] = {
    "": {
        "name": "name",
        "description": "description",
        "agents": "agents",
        "shift_hours": "shift_hours",
        "tick_s": "tick_s",
        "shift_start_hhmm": "shift_start_hhmm",
    },
    "calls": {
        "answer_rate": "answer_rate",
        "machine_rate": "machine_rate",
        "ring_mean_s": "ring_mean_s",
        "ring_sd_s": "ring_sd_s",
        "ring_timeout_s": "ring_timeout_s",
    },
    "amd": {
        "enabled": "amd",
        "seconds": "amd_s",
        "false_positive": "amd_false_positive",
        "false_negative": "amd_false_negative",
        "machine_talk_s": "machine_talk_s",
    },
    "talk": {"mean_s": "talk_mean_s", "sd_s": "talk_sd_s"},
    "acw": {"mean_s": "acw_mean_s", "sd_s": "acw_sd_s", "max_s": "acw_max_s"},
    "pauses": {
        "probability": "pause_probability",
        "mean_s": "pause_mean_s",
        "sd_s": "pause_sd_s",
    },
    "preview": {"seconds": "preview_s"},
    "change": {"at_hours": "change_at_hours", "answer_rate": "change_answer_rate"},
    "limits": {"max_channels": "max_channels", "max_calls_per_s": "max_calls_per_s"},
    "compliance": {"abandon_cap": "abandon_cap", "abandon_target": "abandon_target"},
    "inbound": {
        key: f"inbound_{key}"
        for key in (
            "rate_per_hour",
            "sine_amplitude",
            "sine_period_hours",
            "surge_at_hours",
            "surge_hours",
            "surge_factor",
            "patience",
            "patience_mean_s",
            "patience_sd_s",
            "talk_mean_s",
            "talk_sd_s",
            "acw_mean_s",
            "acw_sd_s",
            "service_level",
            "service_threshold_s",
        )
    },
}
_INBOUND_POSITIVE = (
    "inbound_sine_period_hours",
    "inbound_surge_hours",
    "inbound_surge_factor",
    "inbound_patience_mean_s",
    "inbound_patience_sd_s",
    "inbound_talk_mean_s",
    "inbound_talk_sd_s",
    "inbound_acw_mean_s",
    "inbound_acw_sd_s",
)
_PATIENCE = ("exponential", "lognormal")

_PROBABILITIES = (
    "answer_rate",
    "machine_rate",
    "amd_false_positive",
    "amd_false_negative",
    "pause_probability",
    "change_answer_rate",
)
_POSITIVE = (
    "agents",
    "shift_hours",
    "tick_s",
    "ring_mean_s",
    "ring_sd_s",
    "ring_timeout_s",
    "talk_mean_s",
    "talk_sd_s",
    "acw_mean_s",
    "acw_sd_s",
    "acw_max_s",
    "pause_mean_s",
    "pause_sd_s",
    "max_calls_per_s",
    "abandon_cap",
    "abandon_target",
)
_NON_NEGATIVE = ("amd_s", "machine_talk_s", "preview_s", "max_channels", "change_at_hours")


def _typed(path: str, value: Any, kind: type | str) -> Any:
    if kind is bool or kind == "bool":
        if not isinstance(value, bool):
            raise ScenarioError(f"{path}: expected true or false, got {value!r}")
        return value
    if kind is str or kind == "str":
        if not isinstance(value, str):
            raise ScenarioError(f"{path}: expected a string, got {value!r}")
        return value
    if kind is int or kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{path}: expected an integer, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{path}: expected a number, got {value!r}")
    return float(value)


def scenario_from_dict(data: dict[str, Any], source: str = "scenario") -> Scenario:
    types = {f.name: f.type for f in fields(Scenario)}
    values: dict[str, Any] = {}
    paths: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            layout = _LAYOUT.get(key)
            if layout is None or key == "":
                raise ScenarioError(f"{source}: unknown table [{key}]")
            for sub, v in value.items():
                path = f"{key}.{sub}"
                if sub not in layout:
                    raise ScenarioError(f"{source}: unknown field {path}")
                values[layout[sub]] = v
                paths[layout[sub]] = path
        else:
            if key not in _LAYOUT[""]:
                raise ScenarioError(f"{source}: unknown field {key}")
            values[key] = value
            paths[key] = key
    if "name" not in values:
        raise ScenarioError(f"{source}: missing field name")
    for name, value in list(values.items()):
        kind = str(types[name]).split(" | ")[0]
        values[name] = _typed(f"{source}: {paths[name]}", value, kind)
    scenario = Scenario(**values)
    for name in _PROBABILITIES:
        v = getattr(scenario, name)
        if v is not None and not 0.0 <= v <= 1.0:
            raise ScenarioError(f"{source}: {_path(name)} must be in [0, 1], got {v}")
    for name in _POSITIVE:
        v = getattr(scenario, name)
        if v is not None and not v > 0:
            raise ScenarioError(f"{source}: {_path(name)} must be > 0")
    for name in _NON_NEGATIVE:
        v = getattr(scenario, name)
        if v is not None and v < 0:
            raise ScenarioError(f"{source}: {_path(name)} must be >= 0")
    if (scenario.change_at_hours is None) != (scenario.change_answer_rate is None):
        raise ScenarioError(f"{source}: change needs both at_hours and answer_rate")
    if scenario.abandon_target > scenario.abandon_cap:
        raise ScenarioError(f"{source}: compliance.abandon_target must be <= abandon_cap")
    _check_inbound(scenario, source, set(paths.values()))
    return scenario


def _check_inbound(s: Scenario, source: str, given: set[str]) -> None:
    if not any(p.startswith("inbound.") for p in given):
        return
    if s.inbound_rate_per_hour is None:
        raise ScenarioError(f"{source}: inbound.rate_per_hour is required in [inbound]")
    if not s.inbound_rate_per_hour >= 0:
        raise ScenarioError(f"{source}: inbound.rate_per_hour must be >= 0")
    for name in _INBOUND_POSITIVE:
        if not getattr(s, name) > 0:
            raise ScenarioError(f"{source}: {_path(name)} must be > 0")
    if not 0.0 <= s.inbound_sine_amplitude < 1.0:
        raise ScenarioError(f"{source}: inbound.sine_amplitude must be in [0, 1)")
    if s.inbound_surge_at_hours is not None and s.inbound_surge_at_hours < 0:
        raise ScenarioError(f"{source}: inbound.surge_at_hours must be >= 0")
    if s.inbound_patience not in _PATIENCE:
        raise ScenarioError(
            f"{source}: inbound.patience must be one of {', '.join(_PATIENCE)}, "
            f"got {s.inbound_patience!r}"
        )
    if not 0.0 < s.inbound_service_level < 1.0:
        raise ScenarioError(f"{source}: inbound.service_level must be in (0, 1)")
    if s.inbound_service_threshold_s < 0:
        raise ScenarioError(f"{source}: inbound.service_threshold_s must be >= 0")


def _path(field_name: str) -> str:
    for table, layout in _LAYOUT.items():
        for key, name in layout.items():
            if name == field_name:
                return f"{table}.{key}" if table else key
    return field_name


def builtin_names(*, blended: bool | None = False) -> list[str]:
    """Built-in scenario names: outbound-only ones (the default, the pacing benchmark's set),
    ``blended=True`` the ones with an [inbound] table, ``blended=None`` all of them."""
    root = resources.files("pacing") / "scenarios"
    names = []
    for p in root.iterdir():
        if not p.name.endswith(".toml"):
            continue
        if blended is not None:
            has_inbound = "inbound" in tomllib.loads(p.read_text(encoding="utf-8"))
            if has_inbound != blended:
                continue
        names.append(p.name[:-5])
    return sorted(names)


def load_scenario(name_or_path: str) -> Scenario:
    """A scenario from a TOML file, or a built-in scenario by name (see :func:`builtin_names`)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"cannot read {path}: {exc.strerror or exc}") from exc
        source = str(path)
    else:
        res = resources.files("pacing") / "scenarios" / f"{name_or_path}.toml"
        if not res.is_file():
            known = ", ".join(builtin_names(blended=None))
            raise ScenarioError(f"no scenario {name_or_path!r}; built-in: {known}")
        text = res.read_text(encoding="utf-8")
        source = name_or_path
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: invalid TOML: {exc}") from exc
    return scenario_from_dict(data, source)
