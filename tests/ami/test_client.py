"""The AMI client: login, correlation, lists, events, keepalive, and never re-sending."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ami.client import AMIClient
from ami.codec import Message, encode
from ami.errors import ActionError, ActionTimeout, AuthenticationError, LinkLost
from tests.ami.fake_ami import FakeAMI, Session, reply
from tests.waiting import until


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def server() -> AsyncIterator[FakeAMI]:
    srv = await FakeAMI().start()
    yield srv
    await srv.stop()


def _client(server: FakeAMI, **kw: object) -> AMIClient:
    opts: dict[str, object] = {"ping_interval": None, "sleep": _no_wait, "action_timeout": 2.0}
    opts.update(kw)
    return AMIClient("127.0.0.1", server.port, "dialer", "dialer", **opts)  # type: ignore[arg-type]


async def test_plain_login_sends_username_and_secret(server: FakeAMI) -> None:
    async with _client(server) as client:
        assert client.connected
    login = next(m for m in server.received if m.name == "Login")
    assert login["Username"] == "dialer" and login["Secret"] == "dialer"
    assert login["Events"] == "on"


async def test_md5_login_answers_the_challenge(server: FakeAMI) -> None:
    async with _client(server, auth="md5") as client:
        assert client.connected
    login = next(m for m in server.received if m.name == "Login")
    assert "Secret" not in login
    # The key from transcript 01: md5("181862063" + "dialer").
    assert login["Key"] == "81efc3db20d5a1c4431b60078e9d4923"


async def test_a_bad_secret_fails_clearly_and_is_not_retried(server: FakeAMI) -> None:
    client = AMIClient("127.0.0.1", server.port, "dialer", "wrong", ping_interval=None)
    with pytest.raises(AuthenticationError, match="Authentication failed"):
        await client.connect()
    await client.close()
    assert server.connections == 1


async def test_replies_are_matched_by_action_id_even_out_of_order(server: FakeAMI) -> None:
    held: list[tuple[Session, Message]] = []

    def hold(session: Session, action: Message) -> list[bytes] | None:
        held.append((session, action))
        if len(held) == 2:  # answer the second first
            return [reply(held[1][1], Value="two"), reply(held[0][1], Value="one")]
        return None

    server.script["getvar"] = hold
    async with _client(server) as client:
        first, second = await asyncio.gather(client.getvar("A"), client.getvar("B"))
    assert (first, second) == ("one", "two")


async def test_a_list_action_collects_its_events(server: FakeAMI) -> None:
    def channels(session: Session, action: Message) -> list[bytes]:
        aid = action.action_id or ""
        return [
            reply(action, EventList="start", Message="Channels will follow"),
            encode(
                [
                    ("Event", "CoreShowChannel"),
                    ("ActionID", aid),
                    ("Channel", "Local/1@x-1;1"),
                    ("Uniqueid", "att-7-1"),
                ]
            ),
            encode([("Event", "Newexten"), ("Privilege", "dialplan,all"), ("Channel", "X")]),
            encode(
                [
                    ("Event", "CoreShowChannel"),
                    ("ActionID", aid),
                    ("Channel", "Local/2@x-2;1"),
                    ("Uniqueid", "att-8-1"),
                ]
            ),
            encode(
                [
                    ("Event", "CoreShowChannelsComplete"),
                    ("ActionID", aid),
                    ("EventList", "Complete"),
                    ("ListItems", "2"),
                ]
            ),
        ]

    server.script["coreshowchannels"] = channels
    seen: list[str] = []
    async with _client(server) as client:
        client.on("*", lambda m: seen.append(m.name))
        result = await client.core_show_channels()
        found = await client.find_channel("att-8-1")
        missing = await client.find_channel("att-9-1")
    assert [e["Channel"] for e in result.events] == ["Local/1@x-1;1", "Local/2@x-2;1"]
    assert result.complete is not None and result.complete["ListItems"] == "2"
    assert found is not None and found["Channel"] == "Local/2@x-2;1"
    assert missing is None
    assert seen.count("Newexten") == 3  # one per list action: still dispatched
    assert "CoreShowChannel" not in seen


async def test_an_error_reply_raises_action_error_in_helpers(server: FakeAMI) -> None:
    server.script["hangup"] = lambda s, a: [reply(a, Response="Error", Message="No such channel")]
    async with _client(server) as client:
        with pytest.raises(ActionError, match="No such channel"):
            await client.hangup("SIP/nothing")


async def test_events_are_dispatched_by_name_and_wildcard(server: FakeAMI) -> None:
    got: list[str] = []
    async with _client(server) as client:
        client.on("Hangup", lambda m: got.append("named:" + m["Cause"]))
        client.on("*", lambda m: got.append("any:" + m.name))
        server.sessions[0].send(encode([("Event", "Hangup"), ("Cause", "16")]))
        await client.ping()  # a round trip orders us after the event
    assert got == ["named:16", "any:Hangup"]


async def test_a_raising_callback_is_logged_and_the_link_survives(server: FakeAMI) -> None:
    calls: list[str] = []

    def bad(_: Message) -> None:
        raise RuntimeError("boom")

    async def good(m: Message) -> None:
        calls.append(m.name)

    async with _client(server) as client:
        client.on("Hangup", bad)
        client.on("Hangup", good)
        server.sessions[0].send(encode([("Event", "Hangup"), ("Cause", "16")]))
        assert (await client.ping())["Ping"] == "Pong"
        await asyncio.sleep(0)
        assert client.connected
    assert calls == ["Hangup"]


async def test_an_unanswered_action_times_out(server: FakeAMI) -> None:
    server.script["getvar"] = lambda s, a: None
    async with _client(server) as client:
        with pytest.raises(ActionTimeout, match="outcome unknown"):
            await client.send_action(Message.action("Getvar", Variable="X"), timeout=0.05)


async def test_unanswered_pings_mark_the_link_dead_then_it_reconnects_and_resyncs(
    server: FakeAMI,
) -> None:
    resynced = asyncio.Event()
    resyncs: list[int] = []

    async def resync(client: AMIClient) -> None:
        resyncs.append(client.connections)
        if client.connections == 2:
            resynced.set()

    server.answer_pings = False
    client = _client(
        server, ping_interval=0.01, ping_timeout=0.01, max_missed_pongs=2, on_resync=resync
    )
    await client.connect()
    await until(lambda: server.connections >= 2)
    server.answer_pings = True
    await asyncio.wait_for(resynced.wait(), 5)
    assert resyncs[:2] == [1, 2]
    await client.close()


async def test_a_dropped_link_fails_the_pending_originate_and_never_resends_it(
    server: FakeAMI,
) -> None:
    server.script["originate"] = lambda s, a: None  # Asterisk got it; the ack is lost
    resynced = asyncio.Event()

    async def resync(client: AMIClient) -> None:
        if client.connections > 1:
            resynced.set()

    client = _client(server, on_resync=resync)
    await client.connect()
    pending = asyncio.create_task(
        client.originate(
            "Local/1001@dialer-trunk",
            context="dialer-out",
            exten="s",
            action_id="att-7",
            channel_id="att-7-1",
        )
    )
    await until(lambda: server.count("Originate") > 0)
    server.drop_all()
    with pytest.raises(LinkLost, match="outcome unknown"):
        await pending
    await asyncio.wait_for(resynced.wait(), 5)
    await client.ping()
    assert server.count("Originate") == 1
    await client.close()


async def test_actions_while_disconnected_fail_at_once(server: FakeAMI) -> None:
    client = _client(server, reconnect=False)
    await client.connect()
    server.drop_all()
    await until(lambda: not client.connected)
    with pytest.raises(LinkLost, match="not connected"):
        await client.ping()
    await client.close()


async def test_a_utf8_character_split_across_reads_reaches_callbacks_intact(
    server: FakeAMI,
) -> None:
    names: list[str] = []
    async with _client(server) as client:
        client.on("UserEvent", lambda m: names.append(m["Name"]))
        raw = encode([("Event", "UserEvent"), ("Name", "José Muñoz")])
        cut = raw.index("ñ".encode()) + 1
        writer = server.sessions[0].writer
        writer.write(raw[:cut])
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(raw[cut:])
        await client.ping()
    assert names == ["José Muñoz"]


async def test_originate_response_can_be_awaited_by_action_id(server: FakeAMI) -> None:
    def originate(session: Session, action: Message) -> list[bytes]:
        return [
            reply(action, Message="Originate successfully queued"),
            encode(
                [
                    ("Event", "OriginateResponse"),
                    ("Privilege", "call,all"),
                    ("ActionID", action.action_id or ""),
                    ("Response", "Failure"),
                    ("Channel", action["Channel"]),
                    ("Reason", "5"),
                    ("Uniqueid", "<unknown>"),
                ]
            ),
        ]

    server.script["originate"] = originate
    async with _client(server) as client:
        final = await client.originate_and_wait(
            "Local/2001@sim-pstn",
            context="dialer-out",
            exten="s",
            action_id="att-9",
            variables={"CAMPAIGN_ID": 7},
            timeout=2,
        )
    assert final["Reason"] == "5"
    assert final["Response"] == "Failure"
    sent = next(m for m in server.received if m.name == "Originate")
    assert sent["Variable"] == "CAMPAIGN_ID=7" and sent["Async"] == "true"


async def test_originate_refuses_a_variable_that_would_split_the_header(server: FakeAMI) -> None:
    async with _client(server) as client:
        with pytest.raises(ValueError, match="contains a comma"):
            await client.originate(
                "Local/1@x", context="c", exten="s", variables={"NAME": "Doe, John"}
            )
    assert server.count("Originate") == 0


async def test_a_callback_returning_a_plain_value_is_harmless(server: FakeAMI) -> None:
    store: dict[str, str] = {}
    async with _client(server) as client:
        client.on("Hangup", lambda m: store.setdefault("cause", m["Cause"]))
        server.sessions[0].send(encode([("Event", "Hangup"), ("Cause", "17")]))
        await client.ping()
        assert client.connected
    assert store == {"cause": "17"}


async def test_every_pending_action_fails_at_once_when_the_link_drops(server: FakeAMI) -> None:
    server.script["getvar"] = lambda s, a: None
    server.script["coreshowchannels"] = lambda s, a: [
        reply(a, EventList="start", Message="Channels will follow")
    ]
    server.script["originate"] = lambda s, a: [reply(a, Message="Originate successfully queued")]
    client = _client(server, reconnect=False)
    await client.connect()
    getvar = asyncio.create_task(client.getvar("X"))
    channels = asyncio.create_task(client.core_show_channels())
    final = asyncio.create_task(
        client.originate_and_wait("Local/1@x", action_id="att-1", context="c", exten="s")
    )
    await until(lambda: server.count("Originate") and server.count("CoreShowChannels"))
    await until(lambda: server.count("Getvar") > 0)
    server.drop_all()
    results = await asyncio.wait_for(
        asyncio.gather(getvar, channels, final, return_exceptions=True), 5
    )
    assert all(isinstance(r, LinkLost) for r in results), results
    assert all("outcome unknown" in str(r) for r in results)
    await client.close()


async def test_a_timed_out_originate_is_not_sent_again(server: FakeAMI) -> None:
    server.script["originate"] = lambda s, a: None
    async with _client(server, action_timeout=0.05) as client:
        with pytest.raises(ActionTimeout, match="outcome unknown"):
            await client.originate("Local/1@x", context="c", exten="s", channel_id="att-3-1")
        await client.ping()
    assert server.count("Originate") == 1


async def test_reconnect_waits_with_backoff_from_the_injected_random_source(
    server: FakeAMI,
) -> None:
    waits: list[float] = []
    refused = 0

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    def close_during_login(session: Session, action: Message) -> list[bytes] | None:
        # A restarting Asterisk: it accepts TCP and drops the link before answering. That is
        # not a bad secret, so the client keeps trying.
        nonlocal refused
        if refused < 3:
            refused += 1
            session.writer.transport.abort()
            return None
        return [reply(action, Message="Authentication accepted")]

    resynced = asyncio.Event()

    async def resync(client: AMIClient) -> None:
        if client.connections == 2:
            resynced.set()

    client = _client(server, sleep=sleep, backoff_min=1.0, backoff_max=3.0, on_resync=resync)
    await client.connect()
    server.script["login"] = close_during_login
    server.drop_all()
    await asyncio.wait_for(resynced.wait(), 5)
    await client.close()
    assert len(waits) == 4  # three refused logins, then the one that worked
    steps = [1.0, 2.0, 3.0, 3.0]
    assert all(step / 2 <= w <= step for w, step in zip(waits, steps, strict=True)), waits
    assert server.connections == 5


async def _fill_the_send_path(client: AMIClient, server: FakeAMI) -> list[asyncio.Task[object]]:
    """An Asterisk that stops reading (hung, or a dead peer that never ACKs): once the kernel
    buffers on both sides are full, the client's writes pile up in its transport."""
    server.sessions[0].writer.transport.pause_reading()
    big = "x" * (1 << 20)
    return [
        asyncio.create_task(
            client.send_action(Message.action("UserEvent", UserEvent="Fill", Data=big), timeout=1)
        )
        for _ in range(32)
    ]


async def test_an_action_stuck_behind_a_full_send_buffer_still_times_out(server: FakeAMI) -> None:
    # The timeout covers the write too: a link that stopped draining must not hold an action
    # (or the Ping that would notice) past its bound.
    async with _client(server) as client:
        fillers = await _fill_the_send_path(client, server)
        await asyncio.sleep(0.05)
        with pytest.raises(ActionTimeout, match="outcome unknown"):
            await asyncio.wait_for(client.send_action(Message.action("Ping"), timeout=0.2), 5)
        results = await asyncio.wait_for(asyncio.gather(*fillers, return_exceptions=True), 5)
        assert all(isinstance(r, ActionTimeout) for r in results), results
        server.drop_all()


async def test_pings_behind_a_full_send_buffer_mark_the_link_dead(server: FakeAMI) -> None:
    client = _client(
        server, ping_interval=0.05, ping_timeout=0.1, max_missed_pongs=2, reconnect=False
    )
    await client.connect()
    fillers = await _fill_the_send_path(client, server)
    await until(lambda: not client.connected, timeout=5)
    results = await asyncio.wait_for(asyncio.gather(*fillers, return_exceptions=True), 5)
    assert all(isinstance(r, ActionTimeout | LinkLost) for r in results), results
    server.drop_all()
    await client.close()


async def test_an_action_refused_by_the_encoder_leaves_nothing_in_flight(server: FakeAMI) -> None:
    async with _client(server) as client:
        bad = Message([("Action", "UserEvent"), ("ActionID", "u-1"), ("Note", "a\r\nb")])
        with pytest.raises(ValueError, match="line break"):
            await client.send_action(bad)
        # The same ActionID is free again: the refused action was never registered.
        reply_ = await client.send_action(Message([("Action", "Ping"), ("ActionID", "u-1")]))
        assert reply_["Ping"] == "Pong"
    assert server.count("UserEvent") == 0


async def test_a_peer_that_never_greets_fails_connect_with_a_clear_error() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # says nothing until the client gives up
        writer.close()

    srv = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    client = AMIClient("127.0.0.1", port, connect_timeout=0.2, ping_interval=None)
    with pytest.raises(LinkLost, match=rf"AMI at 127\.0\.0\.1:{port}: no 'Asterisk Call Manager/'"):
        await client.connect()
    await client.close()
    srv.close()
    await srv.wait_closed()


async def test_a_peer_that_is_not_asterisk_fails_connect_with_what_it_said() -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await reader.read()
        writer.close()

    srv = await asyncio.start_server(http, "127.0.0.1", 0)
    client = AMIClient("127.0.0.1", srv.sockets[0].getsockname()[1], ping_interval=None)
    with pytest.raises(LinkLost, match=r"not an AMI server: first line was 'HTTP/1\.1 400"):
        await client.connect()
    await client.close()
    srv.close()
    await srv.wait_closed()
