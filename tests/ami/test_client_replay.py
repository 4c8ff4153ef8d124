"""The client against the bytes a real Asterisk 22 sent (transcripts 01-04, replayed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ami.client import AMIClient
from ami.codec import Banner, Message
from ami.errors import ActionError, AuthenticationError
from ami.outcome import CallOutcome, outcome_of_originate_response
from tests.ami.replay_ami import ReplayAMI

LOGIN = "01_login_ping_logoff"
CHANNELS = "04a_channels_status_vars_redirect_hangup"
MISC = "04b_command_userevent_misc"
QUEUES = "03a_queue_member_actions"
PARKED = "Local/8001@sim-pstn-00000012;1"
CAMPAIGN_7 = '"Campaign 7" <5551000>'


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def replays() -> AsyncIterator[list[ReplayAMI]]:
    servers: list[ReplayAMI] = []
    yield servers
    for server in servers:
        await server.stop()


async def _replay(servers: list[ReplayAMI], name: str, conn: int = 1) -> ReplayAMI:
    server = await ReplayAMI(name, conn).start()
    servers.append(server)
    return server


def _client(server: ReplayAMI, secret: str = "dialer", **kw: object) -> AMIClient:
    opts: dict[str, object] = {"ping_interval": None, "sleep": _no_wait, "action_timeout": 2.0}
    opts.update(kw)
    return AMIClient("127.0.0.1", server.port, "dialer", secret, **opts)  # type: ignore[arg-type]


async def test_plain_login_reads_the_banner_and_sees_fully_booted(
    replays: list[ReplayAMI],
) -> None:
    server = await _replay(replays, LOGIN, 1)
    booted: list[Message] = []
    client = _client(server)
    client.on("FullyBooted", booted.append)
    await client.connect()
    pong = await client.ping()
    await client.close()
    assert client.banner == Banner("Asterisk Call Manager/11.0.0")
    assert [m["Status"] for m in booted] == ["Fully Booted"]
    assert pong["Ping"] == "Pong" and pong["Timestamp"] == "1795349560.374604"
    assert server.unmatched == []


async def test_md5_login_sends_the_key_asterisk_accepted(replays: list[ReplayAMI]) -> None:
    server = await _replay(replays, LOGIN, 5)
    async with _client(server, auth="md5", events=False) as client:
        assert client.connected
    [login] = server.sent("Login")
    assert login["AuthType"] == "MD5" and login["Events"] == "off"
    assert login["Key"] == "81efc3db20d5a1c4431b60078e9d4923"  # recorded, challenge 181862063


async def test_a_bad_secret_raises_authentication_error_and_never_retries(
    replays: list[ReplayAMI],
) -> None:
    server = await _replay(replays, LOGIN, 2)
    client = _client(server, secret="wrong", reconnect=True)
    with pytest.raises(AuthenticationError, match="Authentication failed"):
        await client.connect()
    await client.close()
    assert server.connections == 1
    assert not client.connected


async def test_an_unknown_action_is_returned_as_an_error_reply(replays: list[ReplayAMI]) -> None:
    server = await _replay(replays, LOGIN, 1)
    async with _client(server) as client:
        reply = await client.send_action(Message.action("NoSuchAction"))
        with pytest.raises(ActionError, match="No variable specified"):
            await client.getvar("")
    assert reply["Response"] == "Error"
    assert reply["Message"].startswith("Invalid/unknown command: NoSuchAction.")


async def test_core_show_channels_collects_the_list_and_finds_by_uniqueid(
    replays: list[ReplayAMI],
) -> None:
    server = await _replay(replays, CHANNELS)
    async with _client(server) as client:
        await client.originate(
            "Local/8001@sim-pstn",
            context="dialer-out",
            exten="park",
            timeout_ms=20000,
            caller_id=CAMPAIGN_7,
            variables={"CAMPAIGN_ID": 7, "CONTACT_ID": 42},
            action_id="orig-8001",
        )
        channels = await client.core_show_channels()
        found = await client.find_channel("1795349691.36")
    assert [e["Channel"] for e in channels] == [PARKED, PARKED[:-1] + "2"]
    assert channels.complete is not None
    assert int(channels.complete["ListItems"]) == len(channels) == 2
    assert channels.response["Message"].endswith("will follow")
    # csc-2 was recorded after the hang-up: the second lookup finds nothing.
    assert found is None


async def test_status_lists_channels_with_their_variables(replays: list[ReplayAMI]) -> None:
    server = await _replay(replays, CHANNELS)
    async with _client(server) as client:
        everything = await client.status()
        one = await client.status(PARKED, ["CAMPAIGN_ID", "CONTACT_ID"])
        with pytest.raises(ActionError, match="No such channel"):
            await client.status("Local/nope@x-00000000;1")
    assert len(everything) == 2
    assert everything.complete is not None and everything.complete["Items"] == "2"
    [status] = one.events
    assert status["Privilege"] == "Call"
    assert status.variables() == {"CAMPAIGN_ID": "7", "CONTACT_ID": "42"}


async def test_getvar_setvar_redirect_hangup_as_asterisk_answered(
    replays: list[ReplayAMI],
) -> None:
    server = await _replay(replays, CHANNELS)
    async with _client(server) as client:
        campaign = await client.getvar("CAMPAIGN_ID", PARKED)
        unset = await client.getvar("NOT_SET_ANYWHERE", PARKED)
        with pytest.raises(ActionError, match="No such channel"):
            await client.getvar("X", "Local/nope@x-00000000;1")
        set_reply = await client.setvar("DIALER_STATE", "talking", PARKED)
        state = await client.getvar("DIALER_STATE", PARKED)
        moved = await client.redirect(PARKED, "dialer-out", "redirected")
        with pytest.raises(ActionError, match="Channel does not exist"):
            await client.redirect("Local/nope@x-00000000;1", "dialer-out", "redirected")
        hung = await client.hangup(PARKED, cause=16)
        with pytest.raises(ActionError, match="No such channel"):
            await client.hangup("Local/nope@x-00000000;1")
    assert (campaign, unset, state) == ("7", "", "talking")
    assert set_reply["Message"] == "Variable Set"
    assert moved["Message"] == "Redirect successful"
    assert hung["Message"] == "Channel Hungup"
    assert server.unmatched == []


async def test_command_returns_output_lines_and_a_bad_one_says_why(
    replays: list[ReplayAMI],
) -> None:
    server = await _replay(replays, MISC)
    async with _client(server) as client:
        version = await client.command("core show version")
        queue = await client.command("queue show sales")
        with pytest.raises(ActionError, match="No such command 'no such cli command'"):
            await client.command("no such cli command")
    assert version[0].startswith("Asterisk 22.10.1 built by")
    assert "   No Members" in queue  # leading spaces kept, only one space after ":" dropped
    assert queue[-1] == ""  # the empty `Output: ` line


async def test_user_event_is_echoed_with_our_action_id(replays: list[ReplayAMI]) -> None:
    server = await _replay(replays, MISC)
    echoed: list[Message] = []
    async with _client(server) as client:
        client.on("UserEvent", echoed.append)
        reply = await client.user_event("DialerHeartbeat", CampaignID="7", Note="hello world")
        await client.send_action(Message.action("CoreStatus"))  # a round trip after the event
    [sent] = server.sent("UserEvent")
    assert reply["Message"] == "Event Sent"
    [event] = echoed
    assert event["UserEvent"] == "DialerHeartbeat" and event["CampaignID"] == "7"
    assert event.action_id == sent.action_id


async def test_queue_member_actions_as_asterisk_answered(replays: list[ReplayAMI]) -> None:
    server = await _replay(replays, QUEUES)
    member = "Local/7001@agents"
    async with _client(server) as client:
        added = await client.queue_add(
            "sales",
            member,
            penalty=0,
            paused=False,
            member_name="Agent 7001",
            state_interface="Custom:agent7001",
        )
        with pytest.raises(ActionError, match="Already there"):
            await client.queue_add(
                "sales",
                member,
                penalty=0,
                paused=False,
                member_name="Agent 7001",
                state_interface="Custom:agent7001",
            )
        paused = await client.queue_pause(member, True, queue="sales", reason="lunch")
        status = await client.queue_status()
        summary = await client.queue_summary("sales")
        removed = await client.queue_remove("sales", member)
        with pytest.raises(ActionError, match="Not there"):
            await client.queue_remove("sales", member)
    assert added["Message"] == "Added interface to queue"
    assert paused["Message"] == "Interface paused successfully"
    assert [e.name for e in status] == ["QueueParams", "QueueMember"]
    assert status.events[1]["Paused"] == "1" and status.events[1]["PausedReason"] == "lunch"
    assert [e["LoggedIn"] for e in summary] == ["1"]
    assert removed["Message"] == "Removed interface from queue"
    [add, _] = server.sent("QueueAdd")
    assert add["Paused"] == "false" and add["StateInterface"] == "Custom:agent7001"


@pytest.mark.parametrize(
    ("name", "channel", "expected"),
    [
        ("02a_originate_1001_human", "Local/1001@sim-pstn", CallOutcome.ANSWERED),
        ("02b_originate_2001_busy", "Local/2001@sim-pstn", CallOutcome.BUSY),
        ("02c_originate_3001_noanswer", "Local/3001@sim-pstn", CallOutcome.NO_ANSWER),
        ("02d_originate_4001_congestion", "Local/4001@sim-pstn", CallOutcome.CONGESTION),
    ],
)
async def test_originate_and_wait_gives_the_recorded_outcome(
    replays: list[ReplayAMI], name: str, channel: str, expected: CallOutcome
) -> None:
    server = await _replay(replays, name)
    async with _client(server) as client:
        final = await client.originate_and_wait(
            channel,
            action_id="att-1",  # not the recorded id: the replay rewrites it
            context="dialer-out",
            exten="s",
            timeout_ms=20000,
            caller_id=CAMPAIGN_7,
            variables={"CAMPAIGN_ID": 7, "CONTACT_ID": 42},
            timeout=2,
        )
    assert final.action_id == "att-1"
    assert outcome_of_originate_response(final) is expected
    [sent] = server.sent("Originate")
    assert sent["Variable"] == "CAMPAIGN_ID=7,CONTACT_ID=42"
    assert sent["Async"] == "true" and sent["Timeout"] == "20000"
