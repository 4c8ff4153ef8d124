"""Typed AGI commands and the session rules, against a scripted Asterisk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from agi.call import AGICall, AGICommandError, AGITimeout, ChannelHungUp
from agi.codec import AGIProtocolError
from agi.server import FastAGIServer
from tests.agi.peer import ENV, Peer
from tests.waiting import until

Outcome = dict[str, object]


@pytest.fixture
async def server() -> AsyncIterator[FastAGIServer]:
    srv = FastAGIServer(port=0, header_timeout=1.0, command_timeout=2.0, media_timeout=3.0)
    await srv.start()
    yield srv
    await srv.close()


def _serve(server: FastAGIServer, body: Callable[[AGICall, Outcome], Awaitable[None]]) -> Outcome:
    """Route ``outbound`` to ``body``; what it records (or raises) lands in the returned dict."""
    outcome: Outcome = {}

    async def handler(call: AGICall) -> None:
        try:
            await body(call, outcome)
        except Exception as exc:
            outcome["raised"] = exc
            raise

    server.route("outbound", handler)
    return outcome


async def test_the_environment_is_typed_on_the_call(server: FastAGIServer) -> None:
    async def body(call: AGICall, out: Outcome) -> None:
        out["env"] = (
            call.channel,
            call.uniqueid,
            call.callerid,
            call.calleridname,
            call.context,
            call.extension,
            call.dnid,
            call.arguments,
            call.network_script,
            call.params,
        )

    out = _serve(server, body)
    env = ENV.replace(b"agi_network_script: outbound", b"agi_network_script: outbound?mode=amd")
    peer = await Peer.open(server.port, env)
    assert await peer.closed_by_server() == b""
    assert out["env"] == (
        "Local/1001@sim-pstn-00000013;1",
        "1795349697.38",
        "5551000",
        "Campaign 7",
        "dialer-out",
        "s",
        "unknown",
        ["7", "42"],
        "outbound?mode=amd",
        {"mode": "amd"},
    )


async def test_stream_file_returns_the_interrupting_digit_and_endpos(
    server: FastAGIServer,
) -> None:
    async def body(call: AGICall, out: Outcome) -> None:
        out["played"] = await call.stream_file("press-1", "12")

    out = _serve(server, body)
    peer = await Peer.open(server.port)
    await peer.expect(b"STREAM FILE press-1 12\n")
    await peer.send(b"200 result=49 endpos=8640\n")
    await peer.closed_by_server()
    assert out["played"] == ("1", 8640)


async def test_wait_for_digit_and_get_data(server: FastAGIServer) -> None:
    async def body(call: AGICall, out: Outcome) -> None:
        out["digit"] = await call.wait_for_digit(3000)
        out["none"] = await call.wait_for_digit(100)
        out["data"] = await call.get_data("enter-account", 4000, 6)
        out["nothing"] = await call.get_data("enter-account", 100, 1)

    out = _serve(server, body)
    peer = await Peer.open(server.port)
    await peer.expect(b"WAIT FOR DIGIT 3000\n")
    await peer.send(b"200 result=53\n")
    await peer.expect(b"WAIT FOR DIGIT 100\n")
    await peer.send(b"200 result=0\n")
    await peer.expect(b"GET DATA enter-account 4000 6\n")
    await peer.send(b"200 result=123456\n")
    await peer.expect(b"GET DATA enter-account 100 1\n")
    await peer.send(b"200 result= (timeout)\n")
    await peer.closed_by_server()
    assert (out["digit"], out["none"], out["data"], out["nothing"]) == ("5", None, "123456", "")


async def test_exec_joins_the_application_options_with_commas(server: FastAGIServer) -> None:
    async def body(call: AGICall, out: Outcome) -> None:
        out["dial"] = await call.exec("Dial", "Local/7001@agents", 20, "tT")
        out["unknown_app"] = await call.exec("NoSuchApp")

    out = _serve(server, body)
    peer = await Peer.open(server.port)
    await peer.expect(b"EXEC Dial Local/7001@agents,20,tT\n")
    await peer.send(b"200 result=0\n")
    await peer.expect(b"EXEC NoSuchApp\n")
    await peer.send(b"200 result=-2\n")
    await peer.closed_by_server()
    assert (out["dial"], out["unknown_app"]) == (0, -2)


async def test_the_caller_hanging_up_during_dial_raises_and_variables_still_answer(
    server: FastAGIServer,
) -> None:
    async def body(call: AGICall, out: Outcome) -> None:
        try:
            await call.exec("Dial", "Local/7001@agents", 20)
        except ChannelHungUp:
            out["hung_up"] = call.hung_up
        out["dialstatus"] = await call.get_variable("DIALSTATUS")

    out = _serve(server, body)
    peer = await Peer.open(server.port)
    await peer.expect(b"EXEC Dial Local/7001@agents,20\n")
    await peer.send(b"200 result=-1\nHANGUP\n")
    await peer.expect(b"GET VARIABLE DIALSTATUS\n")
    await peer.send(b"200 result=1 (CANCEL)\n")
    await peer.closed_by_server()
    assert out == {"hung_up": True, "dialstatus": "CANCEL"}


async def test_a_multiline_520_is_one_reply_and_the_next_reply_stays_in_sync(
    server: FastAGIServer,
) -> None:
    async def body(call: AGICall, out: Outcome) -> None:
        try:
            await call.stream_file("")
        except AGICommandError as exc:
            out["error"] = (exc.reply.code, exc.reply.text.count("\n"))
        out["after"] = await call.get_variable("CAMPAIGN_ID")

    out = _serve(server, body)
    peer = await Peer.open(server.port)
    await peer.expect(b'STREAM FILE "" ""\n')
    await peer.send(
        b"520-Invalid command syntax.  Proper usage follows:\n"
        b" Usage: STREAM FILE <filename> <escape_digits> [<sample offset>]\n"
        b"     Send the given file, allowing playback to be interrupted by the given\n"
        b"520 End of proper usage.\n"
    )
    await peer.expect(b"GET VARIABLE CAMPAIGN_ID\n")
    await peer.send(b"200 result=1 (7)\n")
    await peer.closed_by_server()
    assert out == {"error": (520, 3), "after": "7"}


async def test_the_hangup_line_is_seen_while_the_handler_sends_nothing(
    server: FastAGIServer,
) -> None:
    """The hand-off wait: the handler learns the customer left without sending a command."""
    agent_found = asyncio.Event()  # never set: no agent comes

    async def body(call: AGICall, out: Outcome) -> None:
        agent = asyncio.create_task(agent_found.wait())
        gone = asyncio.create_task(call.wait_hangup(timeout=5))
        done, _ = await asyncio.wait({agent, gone}, return_when=asyncio.FIRST_COMPLETED)
        agent.cancel()
        out["first"] = "hangup" if gone in done else "agent"
        out["hung_up"] = call.hung_up

    out = _serve(server, body)
    peer = await Peer.open(server.port)
    await peer.send(b"HANGUP\n")
    await peer.closed_by_server()
    assert out == {"first": "hangup", "hung_up": True}


async def test_a_peer_closing_while_a_command_waits_raises_channel_hung_up(
    server: FastAGIServer,
) -> None:
    async def body(call: AGICall, out: Outcome) -> None:
        await call.answer()

    out = _serve(server, body)
    peer = await Peer.open(server.port)
    await peer.expect(b"ANSWER\n")
    peer.close()
    await _until_done(server)
    assert isinstance(out["raised"], ChannelHungUp)


async def test_a_reply_nobody_asked_for_ends_the_session(server: FastAGIServer) -> None:
    started = asyncio.Event()

    async def body(call: AGICall, out: Outcome) -> None:
        started.set()
        await call.wait_hangup(timeout=5)  # wait for the reader task to see what follows
        await call.answer()

    out = _serve(server, body)
    peer = await Peer.open(server.port)
    await asyncio.wait_for(started.wait(), 5)
    await peer.send(b"200 result=1 (surprise)\n")
    assert await peer.closed_by_server() == b""
    await _until_done(server)
    assert isinstance(out["raised"], AGIProtocolError)


async def test_a_command_cancelled_before_its_reply_closes_the_session(
    server: FastAGIServer,
) -> None:
    """Its late reply would otherwise answer the next command."""

    async def body(call: AGICall, out: Outcome) -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await call.get_variable("SLOW", timeout=None)
        out["closed"] = call.closed
        out["hung_up"] = await call.wait_hangup(timeout=5)  # our close is no hangup
        await call.get_variable("NEXT")

    out = _serve(server, body)
    peer = await Peer.open(server.port)
    await peer.expect(b"GET VARIABLE SLOW\n")
    assert await peer.closed_by_server() == b""
    await _until_done(server)
    assert (out["closed"], out["hung_up"]) == (True, False)
    assert isinstance(out["raised"], AGITimeout)


async def test_a_command_without_reply_times_out_and_later_commands_fail_fast(
    server: FastAGIServer,
) -> None:
    async def body(call: AGICall, out: Outcome) -> None:
        with pytest.raises(AGITimeout):
            await call.answer(timeout=0.05)
        await call.verbose("still there?")

    out = _serve(server, body)
    peer = await Peer.open(server.port)
    assert await peer.closed_by_server() == b"ANSWER\n"
    await _until_done(server)
    assert isinstance(out["raised"], AGITimeout)


async def test_stream_file_is_bounded_by_the_media_timeout(server: FastAGIServer) -> None:
    server.media_timeout = 0.05

    async def body(call: AGICall, out: Outcome) -> None:
        await call.stream_file("long-message")

    out = _serve(server, body)
    peer = await Peer.open(server.port)
    assert await peer.closed_by_server() == b'STREAM FILE long-message ""\n'
    await _until_done(server)
    assert isinstance(out["raised"], AGITimeout)


async def test_hangup_of_a_dead_channel_is_not_an_error(server: FastAGIServer) -> None:
    async def body(call: AGICall, out: Outcome) -> None:
        await call.hangup()
        out["hung_up"] = call.hung_up

    out = _serve(server, body)
    peer = await Peer.open(server.port)
    await peer.expect(b"HANGUP\n")
    await peer.send(b"511 Command Not Permitted on a dead channel or intercept routine\n")
    await peer.closed_by_server()
    assert out == {"hung_up": True}


async def test_a_line_break_in_an_argument_is_refused_before_anything_is_sent(
    server: FastAGIServer,
) -> None:
    async def body(call: AGICall, out: Outcome) -> None:
        with pytest.raises(ValueError, match="line break"):
            await call.set_variable("NOTE", "hi\nHANGUP")
        await call.set_variable("NOTE", 'say "hi"')

    _serve(server, body)
    peer = await Peer.open(server.port)
    await peer.expect(b'SET VARIABLE NOTE "say \\"hi\\""\n')
    await peer.send(b"200 result=1\n")
    await peer.closed_by_server()


async def _until_done(server: FastAGIServer) -> None:
    await until(lambda: server.active_connections == 0)
