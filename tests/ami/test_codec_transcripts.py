"""The AMI codec against every recorded Asterisk 22 transcript."""

from __future__ import annotations

import pytest

from ami.codec import Banner, Message, Parser
from tests.transcripts import blocks, client_actions, names, server_messages


@pytest.mark.parametrize("name", names())
def test_every_server_stream_parses_with_nothing_left_over(name: str) -> None:
    parsers: dict[int, Parser] = {}
    count = 0
    for block in blocks(name):
        if block.dir == "server":
            parser = parsers.setdefault(block.conn, Parser())
            count += len(parser.feed(block.data))
    assert count > 0
    assert all(p.buffered == 0 for p in parsers.values())


@pytest.mark.parametrize("name", names())
def test_every_server_block_is_exactly_one_message(name: str) -> None:
    # The capture split server bytes into the banner and one block per message.
    parsers: dict[int, Parser] = {}
    for block in blocks(name):
        if block.dir == "server":
            out = parsers.setdefault(block.conn, Parser()).feed(block.data)
            assert len(out) == 1


@pytest.mark.parametrize("name", names())
def test_client_actions_parse_on_the_server_side(name: str) -> None:
    for block in blocks(name):
        if block.dir == "client":
            out = Parser(expect_banner=False).feed(block.data)
            assert len(out) == 1
            assert isinstance(out[0], Message) and out[0].kind == "action"


def test_banner_is_a_line_of_its_own() -> None:
    first = next(b for b in blocks("01_login_ping_logoff") if b.dir == "server")
    [banner] = Parser().feed(first.data)
    assert banner == Banner("Asterisk Call Manager/11.0.0")
    assert isinstance(banner, Banner)
    assert banner.version == "11.0.0"


def test_login_reply_then_fully_booted_then_successful_auth() -> None:
    msgs = server_messages("01_login_ping_logoff")
    assert dict(msgs[0]) == {
        "Response": "Error",
        "ActionID": "pre-login-ping",
        "Message": "Permission denied",
    }
    assert msgs[1].is_response and msgs[1]["Message"] == "Authentication accepted"
    assert msgs[2].name == "FullyBooted" and msgs[2]["Status"] == "Fully Booted"
    assert msgs[2]["Privilege"] == "system,all"
    assert msgs[3].name == "SuccessfulAuth" and msgs[3]["Privilege"] == "security,all"


def test_ping_reply_carries_pong_and_timestamp() -> None:
    pong = next(m for m in server_messages("01_login_ping_logoff") if m.action_id == "ping-1")
    assert pong["Ping"] == "Pong"
    assert float(pong["Timestamp"]) > 1.7e9


def test_originate_response_is_an_event_that_carries_response() -> None:
    msgs = server_messages("02b_originate_2001_busy")
    [resp] = [m for m in msgs if m.name == "OriginateResponse"]
    assert resp.is_event and not resp.is_response
    assert resp.kind == "event"
    assert resp["Response"] == "Failure"
    assert resp["Reason"] == "5"
    assert resp["Uniqueid"] == "<unknown>"
    assert resp.headers[2] == ("ActionID", "orig-2001")  # third line, after Privilege


def test_empty_values_are_kept_as_empty_strings() -> None:
    msgs = server_messages("02a_originate_1001_human")
    newchannel = next(m for m in msgs if m.name == "Newchannel")
    assert newchannel["AccountCode"] == ""
    assert ("AccountCode", "") in newchannel.headers


def test_status_repeats_variable_headers() -> None:
    msgs = server_messages("04a_channels_status_vars_redirect_hangup")
    with_vars = [m for m in msgs if m.name == "Status" and len(m.get_all("Variable")) > 1]
    assert with_vars, "the transcript has a Status with several Variable headers"
    variables = with_vars[0].variables()
    assert len(variables) == len(with_vars[0].get_all("Variable"))
    assert with_vars[0]["Privilege"] == "Call"
    assert with_vars[0].headers[-1][0] == "ActionID"  # last line in Status events


def test_command_output_repeats_output_headers() -> None:
    msgs = server_messages("04b_command_userevent_misc")
    version = next(m for m in msgs if m.is_response and m.get_all("Output"))
    assert version["Message"] == "Command output follows"
    assert any("Asterisk 22" in line for line in version.get_all("Output"))


def test_list_reply_starts_and_completes() -> None:
    msgs = server_messages("04a_channels_status_vars_redirect_hangup")
    head = next(m for m in msgs if m.event_list == "start")
    aid = head.action_id
    items = [m for m in msgs if m.is_event and m.action_id == aid and m.event_list is None]
    [tail] = [m for m in msgs if m.action_id == aid and m.event_list == "Complete"]
    assert tail.name.endswith("Complete")
    assert int(tail["ListItems"]) == len(items)
    assert tail.headers[1] == ("ActionID", aid)  # second line in *Complete


def test_core_show_channel_has_action_id_on_the_second_line() -> None:
    msgs = server_messages("04a_channels_status_vars_redirect_hangup")
    channel = next(m for m in msgs if m.name == "CoreShowChannel")
    assert channel.headers[1][0] == "ActionID"
    assert "Privilege" not in channel
    assert channel["Duration"].count(":") == 2


def test_queue_member_events_carry_the_member_fields() -> None:
    msgs = server_messages("03a_queue_member_actions")
    added = next(m for m in msgs if m.name == "QueueMemberAdded")
    for key in (
        "Queue",
        "MemberName",
        "Interface",
        "StateInterface",
        "Membership",
        "Penalty",
        "CallsTaken",
        "LastCall",
        "LastPause",
        "LoginTime",
        "InCall",
        "Status",
        "Paused",
        "PausedReason",
        "Ringinuse",
        "Wrapuptime",
    ):
        assert key in added, key


def test_queue_replies_use_asterisk_wording() -> None:
    replies = {m["Message"] for m in server_messages("03a_queue_member_actions") if m.is_response}
    assert "Added interface to queue" in replies
    assert "Unable to add interface: Already there" in replies
    assert "Unable to add interface to queue: No such queue" in replies
    assert "Interface paused successfully" in replies
    assert "Removed interface from queue" in replies
    assert "Unable to remove interface: Not there" in replies


def test_agent_events_of_a_connected_queue_call() -> None:
    names_ = [m.name for m in server_messages("03b_queue_call_connected") if m.is_event]
    for later, earlier in [
        ("AgentCalled", "QueueCallerJoin"),
        ("AgentConnect", "AgentCalled"),
        ("AgentComplete", "AgentConnect"),
        ("AgentConnect", "QueueCallerLeave"),
    ]:
        assert names_.index(later) > names_.index(earlier)


def test_agi_exec_events_mirror_commands() -> None:
    msgs = server_messages("05a_fastagi_full_human_1001")
    starts = [m for m in msgs if m.name == "AGIExecStart"]
    ends = [m for m in msgs if m.name == "AGIExecEnd"]
    assert starts and len(starts) == len(ends)
    assert all(m["Privilege"] == "agi,all" for m in starts + ends)
    assert {m["CommandId"] for m in starts} == {m["CommandId"] for m in ends}


def test_hangup_mid_agi_is_seen_on_ami() -> None:
    msgs = server_messages("05c_fastagi_hangup_mid_agi")
    assert any(m.name == "Hangup" for m in msgs)


def test_client_originate_with_channel_id() -> None:
    [orig, _] = [a for a in client_actions("02g_originate_channelid") if a.name == "Originate"]
    assert orig["ChannelId"] == "dialer-7-42-a"
    assert orig["OtherChannelId"] == "dialer-7-42-b"
    assert orig["Variable"] == "CAMPAIGN_ID=7,CONTACT_ID=42"
