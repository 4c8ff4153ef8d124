"""configs/asterisk/ parses and agrees with the dialer's default settings and the simulator."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dialer.asterisk_conf import Config, Context, dialplan, expand, globals_of, load, split_args
from dialer.engine.engine import AMI_EVENTS
from dialer.engine.outbound import AGENT_DIAL_OPTIONS
from dialer.settings import Settings
from dialer.simasterisk.config import PRODUCT_DIALPLAN, SimConfig
from tests.backends import missing_service

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs" / "asterisk"
DEFAULTS = Settings()
CONF_FILES = sorted(p.name for p in CONFIGS.glob("*.conf"))


def _load(name: str) -> Config:
    return load(CONFIGS / name)


def _contexts() -> dict[str, Context]:
    return dialplan(_load("extensions.conf"))


def _globals() -> dict[str, str]:
    return globals_of(_load("extensions.conf"))


def _agi_url(context: str, extension: str) -> tuple[str, list[str]]:
    """The expanded URL and the arguments of the AGI() step of ``context``/``extension``."""
    apps = _contexts()[context].apps(extension)
    agi = [args for app, args in apps if app == "AGI"]
    assert len(agi) == 1, f"{context},{extension} runs AGI {len(agi)} times"
    url, *rest = split_args(expand(agi[0], _globals()))
    return url, rest


def test_every_file_parses_and_the_set_is_complete() -> None:
    assert set(CONF_FILES) >= {
        "extensions.conf",
        "manager.conf",
        "pjsip.conf",
        "queues.conf",
        "modules.conf",
    }
    for name in CONF_FILES:
        assert _load(name).sections, name
    assert "extensions_dialer.conf" in CONF_FILES


# -- manager.conf -------------------------------------------------------------------------------


def test_manager_listens_on_the_port_the_dialer_dials() -> None:
    general = _load("manager.conf").section("general")
    assert general.get("enabled") == "yes"
    assert int(general.get("port") or 0) == DEFAULTS.ami.port


def test_manager_user_is_the_dialers_default_login() -> None:
    user = _load("manager.conf").section(DEFAULTS.ami.username)
    assert user.get("secret") == DEFAULTS.ami.secret


def test_manager_user_has_only_the_classes_the_dialer_uses() -> None:
    user = _load("manager.conf").section(DEFAULTS.ami.username)
    read = set((user.get("read") or "").split(","))
    write = set((user.get("write") or "").split(","))
    assert read == {
        "system",
        "call",
        "dialplan",
        "agent",
        "agi",
        "user",
        "reporting",
        "originate",
        "command",
    }
    # Originate; Hangup/Redirect/Getvar/Setvar/Status; Queue*; CoreShowChannels; UserEvent;
    # Command. Not "system" (Restart, Reload) and never "all".
    assert write == {"call", "originate", "agent", "user", "reporting", "command"}


def test_manager_lets_the_dialer_read_every_event_class_it_asks_for() -> None:
    # The Login's Events (dialer/engine/engine.py); a class the user may not read is silently
    # never sent, e.g. "user" and the fallback's DialerUnreached (dialer/calls.py).
    user = _load("manager.conf").section(DEFAULTS.ami.username)
    read = set((user.get("read") or "").split(","))
    assert set(AMI_EVENTS.split(",")) <= read


def test_manager_writetimeout_survives_bursts() -> None:
    user = _load("manager.conf").section(DEFAULTS.ami.username)
    assert int(user.get("writetimeout") or 0) >= 5000


def test_manager_permits_only_loopback_and_the_compose_network() -> None:
    user = _load("manager.conf").section(DEFAULTS.ami.username)
    assert user.getall("deny") == ["0.0.0.0/0.0.0.0"]
    permitted = {
        ipaddress.ip_network(p.replace("/255.255.255.255", "/32"), strict=False)
        for p in user.getall("permit")
    }
    assert permitted == {
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("172.28.5.0/24"),
    }


# -- extensions.conf ----------------------------------------------------------------------------


def test_the_contexts_the_settings_name_exist() -> None:
    contexts = _contexts()
    for name in (
        DEFAULTS.trunk_context,
        DEFAULTS.dialer_out_context,
        SimConfig().inbound_context,
        "dialer-agents",
    ):
        assert name in contexts, name
    assert "s" in contexts[DEFAULTS.dialer_out_context].extensions()
    assert "_X." in contexts[DEFAULTS.trunk_context].extensions()
    assert "_X." in contexts[SimConfig().inbound_context].extensions()


def test_outbound_agi_url_reaches_the_dialers_fastagi_port_and_script() -> None:
    url, args = _agi_url(DEFAULTS.dialer_out_context, "s")
    m = re.fullmatch(r"agi://(?P<host>[^:/]+):(?P<port>\d+)/(?P<script>\w+)", url)
    assert m is not None, url
    assert int(m["port"]) == DEFAULTS.fastagi.port
    assert m["script"] == "outbound"
    assert args == ["${CAMPAIGN_ID}", "${ATTEMPT_ID}"]


def test_inbound_agi_url_uses_the_same_server_and_the_inbound_script() -> None:
    out_url, _ = _agi_url(DEFAULTS.dialer_out_context, "s")
    in_url, args = _agi_url(SimConfig().inbound_context, "_X.")
    assert in_url.rsplit("/", 1) == [out_url.rsplit("/", 1)[0], "inbound"]
    assert args == ["${EXTEN}"]


def test_agi_host_is_the_url_the_compose_file_gives_the_dialer() -> None:
    import yaml  # a test dependency (pyproject [test]); tests/voice/test_compose.py needs it too

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    url, _ = _agi_url(DEFAULTS.dialer_out_context, "s")
    assert url == compose["services"]["dialer"]["environment"]["DIALER_FASTAGI__URL"] + "/outbound"


def _sim_apps(context: str, extension: str) -> list[tuple[str, str]]:
    text = PRODUCT_DIALPLAN.format(trunk="dialer-trunk", inbound="dialer-inbound")
    from dialer.asterisk_conf import parse_text

    return dialplan(parse_text(text))[context].apps(extension)


@pytest.mark.parametrize(
    ("context", "extension"),
    [("dialer-out", "s"), ("dialer-inbound", "_X."), ("dialer-inbound", "_+X.")],
)
def test_the_simulator_runs_the_products_answer_and_inbound_routes_step_for_step(
    context: str, extension: str
) -> None:
    # Only the trunk differs (the simulator plays the called party); what answered and inbound
    # calls run, the FastAGI fallback included, is the file's, application and arguments.
    assert _sim_apps(context, extension) == _contexts()[context].apps(extension)


def test_trunk_dials_the_carrier_endpoint_with_a_timeout_above_the_originates() -> None:
    apps = _contexts()[DEFAULTS.trunk_context].apps("_X.")
    dials = [split_args(expand(args, _globals())) for app, args in apps if app == "Dial"]
    assert len(dials) == 1
    target, timeout = dials[0][0], dials[0][1]
    assert target == "PJSIP/+${EXTEN}@" + _globals()["DIALER_TRUNK"]
    assert int(timeout) * 1000 > DEFAULTS.originate_timeout_ms
    endpoints = {s.name for s in _load("pjsip.conf").of_type("endpoint")}
    assert _globals()["DIALER_TRUNK"] in endpoints


def test_trunk_turns_busy_and_congestion_into_indications_for_the_originate() -> None:
    used = {app for app, _ in _contexts()[DEFAULTS.trunk_context].apps("_X.")}
    assert {"Busy", "Congestion"} <= used
    assert not used & {"AGI", "AMD", "Queue", "Answer"}  # no answer handling in the trunk


def test_dialer_out_falls_back_to_the_drop_message_when_the_dialer_is_unreachable() -> None:
    apps = _contexts()[DEFAULTS.dialer_out_context].apps("s")
    assert ("Playback", "dialer/drop") in apps
    assert (ROOT / "dialer" / "sounds" / "drop.wav").is_file()


def test_the_agent_dial_pre_dial_handler_exists_and_returns() -> None:
    # The /outbound handler dials agents with b(<context>^<exten>^<priority>)
    # (dialer/engine/outbound.py): a pre-dial gosub that must exist in configs/asterisk and
    # end in Return(), so a real Asterisk runs it on every agent leg.
    m = re.fullmatch(r"b\((?P<ctx>[^)^]+)\^(?P<exten>[^)^]+)\^(?P<prio>\d+)\)", AGENT_DIAL_OPTIONS)
    assert m is not None, AGENT_DIAL_OPTIONS
    context = _contexts()[m["ctx"]]
    apps = context.apps(m["exten"])
    assert int(m["prio"]) == 1 and apps
    assert apps[-1] == ("Return", "")
    # In the file "\;": a literal ';' (not a comment) in the header value.
    assert ("Set", "PJSIP_HEADER(add,Call-Info)=;answer-after=0") in apps


def test_every_goto_and_include_target_exists() -> None:
    contexts = _contexts()
    for ctx in contexts.values():
        assert all(inc in contexts for inc in ctx.includes), ctx.name
        labels = {s.label for s in ctx.steps if s.label}
        for step in ctx.steps:
            if step.app == "GotoIf":
                targets = step.args.split("?", 1)[1].split(":")
                assert all(t in labels for t in targets if t), (ctx.name, step.line)


# -- queues.conf --------------------------------------------------------------------------------


def test_queues_are_named_campaign_id_and_built_on_the_template() -> None:
    conf = _load("queues.conf")
    queues = [s for s in conf.sections if not s.is_template and s.name != "general"]
    assert queues
    for q in queues:
        assert re.fullmatch(r"campaign-\d+", q.name), q.name
        assert q.templates == ("campaign-queue",)
        assert q.get("strategy") == "rrmemory"
        assert q.get("wrapuptime") == "0"


def test_no_keyword_asterisk_22_no_longer_knows() -> None:
    for name in CONF_FILES:
        for section in _load(name).sections:
            keys = {i.key for i in section.items}
            assert not keys & {"eventwhencalled", "eventmemberstatus"}, (name, section.name)


# -- pjsip.conf ---------------------------------------------------------------------------------


def test_pjsip_references_resolve() -> None:
    conf = _load("pjsip.conf")
    names = {t: {s.name for s in conf.of_type(t)} for t in ("endpoint", "aor", "auth", "transport")}
    for ep in conf.of_type("endpoint"):
        for aor in (ep.get("aors") or "").split(","):
            assert aor in names["aor"], ep.name
        for key in ("auth", "outbound_auth"):
            if ep.get(key):
                assert ep.get(key) in names["auth"], (ep.name, key)
        assert ep.get("transport") in names["transport"], ep.name
        assert ep.get("context") in _contexts(), (ep.name, ep.get("context"))
    for kind in ("registration", "identify"):
        found = conf.of_type(kind)
        assert found, kind
        assert all(s.get("endpoint") in names["endpoint"] for s in found), kind


def test_carrier_calls_land_in_the_inbound_context_and_agents_in_theirs() -> None:
    conf = _load("pjsip.conf")
    by_name = {s.name: s for s in conf.of_type("endpoint")}
    assert by_name[_globals()["DIALER_TRUNK"]].get("context") == SimConfig().inbound_context
    agents = [s for name, s in by_name.items() if name != _globals()["DIALER_TRUNK"]]
    assert agents
    assert {a.get("context") for a in agents} == {"dialer-agents"}


# -- modules.conf -------------------------------------------------------------------------------


def test_modules_the_fastagi_handlers_need_are_required() -> None:
    mods = _load("modules.conf").section("modules")
    required = set(mods.getall("require")) | set(mods.getall("load"))
    assert {"res_agi.so", "app_amd.so", "app_dial.so", "app_queue.so", "chan_pjsip.so"} <= required
    assert not required & set(mods.getall("noload"))


# -- asterisklint -------------------------------------------------------------------------------


def _asterisklint() -> str:
    exe = Path(sys.executable).parent / "asterisklint"
    found = str(exe) if exe.exists() else shutil.which("asterisklint")
    if found is None:
        # CI (DIALER_TEST_REQUIRE_SERVICES=1) must run the linter, not skip it (issue 5).
        missing_service("asterisklint-jjs is not installed (pip install -e '.[test]')")
    assert found is not None
    return found


def _lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_asterisklint(), "dialplan-check", "--asterisk-version", "22", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_asterisklint_finds_nothing_in_extensions_conf() -> None:
    result = _lint(CONFIGS / "extensions.conf")
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_asterisklint_follows_the_include_and_would_catch_a_missing_application(
    tmp_path: Path,
) -> None:
    shutil.copy(CONFIGS / "extensions.conf", tmp_path / "extensions.conf")
    text = (CONFIGS / "extensions_dialer.conf").read_text().replace("Echo()", "Ecko()")
    (tmp_path / "extensions_dialer.conf").write_text(text)
    result = _lint(tmp_path / "extensions.conf")
    assert result.returncode == 1
    assert "extensions_dialer.conf" in result.stdout + result.stderr
    assert "E_APP_MISSING: app 'Ecko'" in result.stdout + result.stderr


def test_the_contexts_file_has_no_general_or_globals_so_it_can_be_included() -> None:
    # A second [general]/[globals] is legal to Asterisk but crashes asterisklint 0.5.0 when an
    # existing extensions.conf includes ours; the globals stay in extensions.conf.
    included = load(CONFIGS / "extensions_dialer.conf")
    assert not {s.name for s in included.sections} & {"general", "globals"}
    assert [p.name for p in _load("extensions.conf").files] == [
        "extensions.conf",
        "extensions_dialer.conf",
    ]
