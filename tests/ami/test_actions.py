"""Typed action builders produce the actions the recorded sessions sent (transcripts 01-04)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ami import actions
from ami.codec import Message, Parser, encode
from tests.transcripts import client_actions


def _recorded(name: str, action_id: str) -> Message:
    return next(a for a in client_actions(name) if a.action_id == action_id)


def _without_id(message: Message) -> list[tuple[str, str]]:
    return [(k, v) for k, v in message.headers if k != "ActionID"]


def test_originate_matches_the_recorded_channel_id_originate() -> None:
    recorded = _recorded("02g_originate_channelid", "orig-chanid-busy")
    built = actions.originate(
        "Local/2001@sim-pstn",
        context="dialer-out",
        exten="s",
        action_id="orig-chanid-busy",
        channel_id="dialer-7-43-a",
        other_channel_id="dialer-7-43-b",
        variables={"CAMPAIGN_ID": 7, "CONTACT_ID": 42},
        timeout_ms=20000,
        caller_id='"Campaign 7" <5551000>',
    )
    assert built.headers == recorded.headers  # same headers, same order


def test_originate_in_application_form() -> None:
    recorded = _recorded("02f_originate_failures", "orig-app")
    built = actions.originate(
        "Local/6001@sim-pstn",
        application="Wait",
        data="1",
        timeout_ms=20000,
        caller_id='"Campaign 7" <5551000>',
        action_id="orig-app",
    )
    assert built.headers == recorded.headers


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "", "context": "c", "exten": "s"}, "channel is empty"),
        ({"channel": "garbage", "context": "c", "exten": "s"}, "no technology"),
        ({"channel": "Local/1@x"}, "either"),
        ({"channel": "Local/1@x", "exten": "s", "application": "Wait"}, "either"),
        ({"channel": "Local/1@x", "exten": "s"}, "needs a context"),
        ({"channel": "Local/1@x", "context": "c", "exten": "s", "timeout_ms": 0}, "positive"),
        (
            {"channel": "Local/1@x", "context": "c", "exten": "s", "variables": {"A=B": 1}},
            "'A=B'",
        ),
    ],
)
def test_originate_refuses_what_asterisk_would_refuse(
    kwargs: dict[str, object], error: str
) -> None:
    channel = str(kwargs.pop("channel"))
    with pytest.raises(ValueError, match=error):
        actions.originate(channel, **kwargs)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True),
        st.from_regex(r"[a-zA-Z0-9 ._-]{0,12}", fullmatch=True),
        max_size=5,
    )
)
def test_variables_survive_the_wire_as_asterisk_splits_them(variables: dict[str, str]) -> None:
    action = actions.originate("Local/1@x", context="c", exten="s", variables=variables)
    [parsed] = Parser(expect_banner=False).feed(encode(action))
    assert isinstance(parsed, Message)
    header = parsed.get("Variable")
    got = dict(pair.split("=", 1) for pair in header.split(",")) if header else {}
    assert got == variables


@pytest.mark.parametrize(
    ("built", "action_id", "transcript"),
    [
        (actions.getvar("CAMPAIGN_ID", "Local/8001@sim-pstn-00000012;1"), "getvar-1", "04a"),
        (actions.getvar("GLOBAL_NOT_SET"), "getvar-global", "04a"),
        (
            actions.setvar("DIALER_STATE", "talking", "Local/8001@sim-pstn-00000012;1"),
            "setvar-1",
            "04a",
        ),
        (
            actions.redirect("Local/8001@sim-pstn-00000012;1", "dialer-out", "redirected"),
            "redirect-1",
            "04a",
        ),
        (actions.hangup("Local/8001@sim-pstn-00000012;1", 16), "hangup-1", "04a"),
        (actions.core_show_channels(), "csc-1", "04a"),
        (
            actions.status("Local/8001@sim-pstn-00000012;1", ["CAMPAIGN_ID", "CONTACT_ID"]),
            "status-1",
            "04a",
        ),
        (actions.command("core show version"), "cmd-version", "04b"),
        (
            actions.user_event("DialerHeartbeat", {"CampaignID": "7", "Note": "hello world"}),
            "ue-1",
            "04b",
        ),
        (
            actions.queue_add(
                "sales",
                "Local/7001@agents",
                penalty=0,
                paused=False,
                member_name="Agent 7001",
                state_interface="Custom:agent7001",
            ),
            "qadd-1",
            "03a",
        ),
        (
            actions.queue_pause("Local/7001@agents", True, queue="sales", reason="lunch"),
            "qpause-1",
            "03a",
        ),
        (actions.queue_pause("Local/7001@agents", False), "qpause-2", "03a"),
        (actions.queue_status("sales", "Local/7001@agents"), "qstatus-2", "03a"),
        (actions.queue_summary("sales"), "qsummary-1", "03a"),
        (actions.queue_remove("sales", "Local/7001@agents"), "qremove-1", "03a"),
        (actions.challenge(), "challenge-1", "01"),
    ],
)
def test_builders_send_what_the_recorded_client_sent(
    built: Message, action_id: str, transcript: str
) -> None:
    names = {
        "01": "01_login_ping_logoff",
        "03a": "03a_queue_member_actions",
        "04a": "04a_channels_status_vars_redirect_hangup",
        "04b": "04b_command_userevent_misc",
    }
    recorded = next(
        a
        for conn in range(1, 6)
        for a in client_actions(names[transcript], conn)
        if a.action_id == action_id
    )
    assert built.headers == tuple(_without_id(recorded))


def test_md5_key_is_the_one_asterisk_accepted() -> None:
    assert actions.md5_key("181862063", "dialer") == "81efc3db20d5a1c4431b60078e9d4923"


def test_user_event_refuses_reserved_fields() -> None:
    with pytest.raises(ValueError, match="'ActionID' is reserved"):
        actions.user_event("X", {"ActionID": "forged"})


@pytest.mark.parametrize("name", ["Originate", "hangup", "Redirect", "QueueAdd", "Setvar"])
def test_state_changing_actions_are_named(name: str) -> None:
    assert actions.is_state_changing(name)


def test_reads_are_not_state_changing() -> None:
    assert not actions.is_state_changing(actions.core_show_channels())
    assert not actions.is_state_changing("Ping")
