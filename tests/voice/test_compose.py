"""docker-compose.yml: structure, mounts, ports and the DIALER_* environment (Docker does not run
here, so the file is checked as data)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from dialer.asterisk_conf import load
from dialer.settings import load_settings
from tests.backends import services_required

try:
    import yaml
except ImportError:
    # pyyaml is a test dependency; CI (DIALER_TEST_REQUIRE_SERVICES=1) fails without it.
    if services_required():
        raise
    pytest.skip("pyyaml is not installed (pip install -e '.[test]')", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs" / "asterisk"
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
_DEFAULTED = re.compile(r"\$\{[A-Z_]+:-([^}]*)\}")


def _env(service: str) -> dict[str, str]:
    """The service's environment with ``${VAR:-default}`` taken at its default."""
    env = SERVICES[service].get("environment", {})
    return {k: _DEFAULTED.sub(lambda m: m[1], str(v)) for k, v in env.items()}


def _mounts(service: str) -> list[tuple[str, str, str]]:
    out = []
    for spec in SERVICES[service].get("volumes", []):
        source, target, *mode = spec.split(":")
        out.append((source, target, mode[0] if mode else "rw"))
    return out


def _published(service: str) -> list[str]:
    return [str(p) for p in SERVICES[service].get("ports", [])]


def test_the_four_services() -> None:
    assert set(SERVICES) == {"asterisk", "postgres", "redis", "dialer"}


def test_asterisk_is_a_maintained_asterisk_22_image() -> None:
    image = SERVICES["asterisk"]["image"]
    name, _, tag = image.partition(":")
    assert name == "andrius/asterisk"
    assert tag.split(".")[0].split("_")[0] == "22"


def test_every_service_has_a_healthcheck_and_a_pinned_image_or_build() -> None:
    for name, svc in SERVICES.items():
        assert svc["healthcheck"]["test"], name
        pinned = ":" in svc["image"] and not svc["image"].endswith(":latest")
        assert pinned or "build" in svc, name


def test_dialer_is_built_from_the_repositorys_dockerfile() -> None:
    build = SERVICES["dialer"]["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).is_file()
    command = " ".join(SERVICES["dialer"]["command"])
    assert command.index("dialer db upgrade") < command.index("dialer serve")


def test_bind_mounts_exist_and_asterisk_configs_are_read_only() -> None:
    for name in SERVICES:
        for source, _target, _mode in _mounts(name):
            if source.startswith("."):
                assert (ROOT / source).exists(), (name, source)
    config_mounts = {
        Path(source).name: (target, mode)
        for source, target, mode in _mounts("asterisk")
        if source.startswith("./configs/")
    }
    shipped = {p.name for p in CONFIGS.glob("*.conf")}
    assert set(config_mounts) == shipped
    for file, (target, mode) in config_mounts.items():
        assert (target, mode) == (f"/etc/asterisk/{file}", "ro")


def test_named_volumes_are_declared() -> None:
    used = {
        source
        for name in SERVICES
        for source, _t, _m in _mounts(name)
        if not source.startswith((".", "/"))
    }
    assert used == set(COMPOSE["volumes"])
    assert {"pgdata", "redis-data", "sounds"} <= used


def test_asterisk_plays_the_prompts_the_dialer_writes() -> None:
    dialer_sounds = _env("dialer")["DIALER_SOUNDS_DIR"]
    assert ("sounds", dialer_sounds, "rw") in _mounts("dialer")
    # STREAM FILE dialer/drop -> /var/lib/asterisk/sounds/dialer/drop.wav
    assert ("sounds", "/var/lib/asterisk/sounds/dialer", "ro") in _mounts("asterisk")


def test_only_sip_rtp_and_the_loopback_api_are_published() -> None:
    assert _published("postgres") == []
    assert _published("redis") == []
    assert _published("dialer") == ["127.0.0.1:8080:8080"]
    rtp = load(CONFIGS / "rtp.conf").section("general")
    assert _published("asterisk") == [
        "5060:5060/udp",
        f"{rtp.get('rtpstart')}-{rtp.get('rtpend')}:{rtp.get('rtpstart')}-{rtp.get('rtpend')}/udp",
    ]


def test_voice_network_is_internal_and_is_what_manager_conf_permits() -> None:
    voice = COMPOSE["networks"]["voice"]
    assert voice["internal"] is True
    subnet = ipaddress.ip_network(voice["ipam"]["config"][0]["subnet"])
    user = load(CONFIGS / "manager.conf").section("dialer")
    permits = {ipaddress.ip_network(p, strict=False) for p in user.getall("permit")}
    assert subnet in permits
    assert ipaddress.ip_address(SERVICES["dialer"]["networks"]["voice"]["ipv4_address"]) in subnet
    for name in ("postgres", "redis"):
        assert SERVICES[name]["networks"] == ["voice"], name


def test_dialer_environment_names_are_settings_the_dialer_reads() -> None:
    env = _env("dialer")
    assert all(k.startswith("DIALER_") for k in env)
    settings = load_settings(env=env)  # an unknown DIALER_<TABLE>__KEY would raise
    assert str(settings.sounds_dir) == env["DIALER_SOUNDS_DIR"]
    assert settings.redis_url == "redis://redis:6379/0"
    assert urlsplit(settings.database_url).hostname == "postgres"
    assert settings.database_url.startswith("postgresql+asyncpg://")


def test_dialer_reaches_asterisks_ami_as_manager_conf_says() -> None:
    settings = load_settings(env=_env("dialer"))
    manager = load(CONFIGS / "manager.conf")
    assert settings.ami.host == "asterisk"
    assert settings.ami.port == int(manager.section("general").get("port") or 0)
    assert manager.section(settings.ami.username).get("secret") == settings.ami.secret


def test_fastagi_listens_where_asterisk_dials_it() -> None:
    settings = load_settings(env=_env("dialer"))
    url = urlsplit(settings.fastagi.agi_url)
    assert (url.hostname, url.port) == ("dialer", settings.fastagi.port)
    assert settings.fastagi.host == "0.0.0.0"
    assert settings.api.port == 8080


def test_dialer_waits_for_healthy_database_and_redis() -> None:
    deps = SERVICES["dialer"]["depends_on"]
    assert deps["postgres"]["condition"] == "service_healthy"
    assert deps["redis"]["condition"] == "service_healthy"
    assert (
        _env("postgres")["POSTGRES_DB"] == urlsplit(_env("dialer")["DIALER_DATABASE_URL"]).path[1:]
    )


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, args = line.partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def test_the_image_holds_every_package_and_what_pip_needs_to_build_it() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    needed = packages | {"pyproject.toml", "README.md"}  # README: the project's readme
    copied = {
        source.removeprefix("./")
        for ins, args in _dockerfile()
        if ins == "COPY"
        for source in args.split()[:-1]  # the last word is the destination
    }
    assert needed <= copied
    # .dockerignore must not hide any of them from the build context.
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert not needed & ignored


def test_the_image_runs_migrations_before_serving_and_not_as_root() -> None:
    instructions = _dockerfile()
    users = [args for ins, args in instructions if ins == "USER"]
    assert users and users[-1] not in ("root", "0")
    [cmd] = [args for ins, args in instructions if ins == "CMD"]
    assert cmd.index("dialer db upgrade") < cmd.index("dialer serve")
    exposed = {int(p) for ins, args in instructions if ins == "EXPOSE" for p in args.split()}
    settings = load_settings(env=_env("dialer"))
    assert {settings.fastagi.port, settings.api.port} <= exposed
