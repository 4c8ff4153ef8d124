"""dialer.settings: defaults, the TOML file, DIALER_* variables, and errors naming the culprit."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer.settings import Settings, SettingsError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dialer.toml"
    path.write_text(text)
    return path


def test_defaults_are_the_embedded_set_up() -> None:
    s = load_settings(env={})
    assert s.database_url == "sqlite+aiosqlite:///./var/dialer.sqlite3"
    assert (s.ami.host, s.ami.port, s.ami.username, s.ami.secret) == (
        "127.0.0.1",
        5038,
        "dialer",
        "dialer",
    )
    assert (s.fastagi.host, s.fastagi.port) == ("127.0.0.1", 4573)
    assert (s.api.host, s.api.port) == ("127.0.0.1", 8080)
    assert s.redis_url is None
    assert (s.tick_seconds, s.hand_off_limit_seconds, s.originate_timeout_ms) == (1.0, 2.0, 30000)
    assert (s.trunk_context, s.dialer_out_context) == ("dialer-trunk", "dialer-out")


def test_agi_url_is_derived_from_the_bind_address_unless_given() -> None:
    assert load_settings(env={}).fastagi.agi_url == "agi://127.0.0.1:4573"
    given = load_settings(env={"DIALER_FASTAGI__URL": "agi://10.0.0.5:4573/"})
    assert given.fastagi.agi_url == "agi://10.0.0.5:4573"


def test_file_values_override_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, 'tick_seconds = 0.5\n[ami]\nhost = "pbx"\nport = 5039\n')
    s = load_settings(path, env={})
    assert (s.tick_seconds, s.ami.host, s.ami.port, s.ami.username) == (0.5, "pbx", 5039, "dialer")


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[ami]\nhost = "pbx"\n')
    s = load_settings(path, env={"DIALER_AMI__HOST": "pbx2", "DIALER_API__PORT": "9090"})
    assert (s.ami.host, s.api.port) == ("pbx2", 9090)


def test_config_path_may_come_from_dialer_config(tmp_path: Path) -> None:
    path = write(tmp_path, 'log_level = "DEBUG"\n')
    assert load_settings(env={"DIALER_CONFIG": str(path)}).log_level == "DEBUG"


def test_empty_optional_variable_means_none(tmp_path: Path) -> None:
    path = write(tmp_path, 'redis_url = "redis://r:6379/0"\n')
    assert load_settings(path, env={}).redis_url == "redis://r:6379/0"
    assert load_settings(path, env={"DIALER_REDIS_URL": ""}).redis_url is None


def test_sounds_dir_is_a_path() -> None:
    assert load_settings(env={"DIALER_SOUNDS_DIR": "/srv/sounds"}).sounds_dir == Path("/srv/sounds")


def test_the_outcome_spool_is_on_disk_unless_switched_off() -> None:
    assert load_settings(env={}).outcome_spool_dir == Path("var/spool")
    spool = load_settings(env={"DIALER_OUTCOME_SPOOL_DIR": "/srv/spool"}).outcome_spool_dir
    assert spool == Path("/srv/spool")
    assert load_settings(env={"DIALER_OUTCOME_SPOOL_DIR": ""}).outcome_spool_dir is None


def test_other_tools_variables_are_left_alone() -> None:
    assert load_settings(env={"DIALER_TEST_REQUIRE_SERVICES": "1"}) == Settings()


def test_bad_number_in_env_names_the_variable_and_type() -> None:
    with pytest.raises(SettingsError, match=r"DIALER_AMI__PORT: 'x' is not a whole number"):
        load_settings(env={"DIALER_AMI__PORT": "x"})


def test_unknown_nested_variable_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"DIALER_AMI__HOTS: \[ami\] has no key 'hots'"):
        load_settings(env={"DIALER_AMI__HOTS": "pbx"})


def test_wrong_type_in_file_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[api]\nport = "eighty"\n')
    with pytest.raises(SettingsError, match=r"'api.port': 'eighty' is not a whole number"):
        load_settings(path, env={})


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "tick_secs = 2\n")
    with pytest.raises(SettingsError, match=r"unknown settings key 'tick_secs'"):
        load_settings(path, env={})


def test_port_out_of_range_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"'ami.port': 70000 is not a TCP port"):
        load_settings(env={"DIALER_AMI__PORT": "70000"})


def test_a_campaign_lease_too_short_to_fence_is_refused_by_name() -> None:
    assert load_settings(env={}).campaign_lease_seconds == 15.0
    with pytest.raises(SettingsError, match=r"'campaign_lease_seconds': 1.5 s is too short"):
        load_settings(env={"DIALER_CAMPAIGN_LEASE_SECONDS": "1.5"})


def test_originates_name_only_a_fastagi_url_given_in_the_settings() -> None:
    derived = load_settings(env={"DIALER_FASTAGI__HOST": "0.0.0.0"}).fastagi
    assert derived.agi_url == "agi://0.0.0.0:4573" and derived.originate_url is None
    given = load_settings(env={"DIALER_FASTAGI__URL": "agi://10.0.0.5:4573/"}).fastagi
    assert given.originate_url == "agi://10.0.0.5:4573"


def test_missing_and_broken_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(write(tmp_path, "tick_seconds = \n"), env={})


def test_an_agi_exec_is_bounded_by_the_longest_call_unless_told_otherwise() -> None:
    assert load_settings(env={}).fastagi.exec_timeout_s == 4 * 3600.0
    told = load_settings(env={"DIALER_FASTAGI__EXEC_TIMEOUT_S": "600"})
    assert told.fastagi.exec_timeout_s == 600.0
