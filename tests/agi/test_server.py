"""The FastAGI server against recorded Asterisk sessions and misbehaving peers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agi.server import AGICall, ChannelHungUp, FastAGIServer
from tests.agi.replay import agi_session, replay
from tests.waiting import until


@pytest.fixture
async def server() -> AsyncIterator[FastAGIServer]:
    srv = FastAGIServer(port=0, header_timeout=0.3, command_timeout=2.0)
    await srv.start()
    yield srv
    await srv.close()


async def _full_script(call: AGICall, seen: dict[str, object]) -> None:
    """The capture's own script (05a/05b), written with the typed commands."""
    seen["campaign"] = await call.get_variable("CAMPAIGN_ID")
    seen["mode"] = await call.get_variable("AGI_MODE")
    await call.answer()
    await call.get_variable("CAMPAIGN_ID")
    await call.set_variable("X", 1)
    seen["x"] = await call.get_variable("X")
    seen["full"] = await call.send("GET FULL VARIABLE ${CHANNEL}-${CONTACT_ID}")
    seen["beep"] = await call.stream_file("beep")
    await call.exec("AMD")
    seen["amd"] = (await call.get_variable("AMDSTATUS"), await call.get_variable("AMDCAUSE"))
    seen["unset"] = await call.get_variable("NO_SUCH_VAR")
    await call.verbose("dialer agi done", 1)
    await call.send("NOOP some text")
    seen["unknown"] = (await call.send("FOO BAR")).code
    await call.hangup()
    seen["after_hangup"] = await call.get_variable("CAMPAIGN_ID")
    try:
        await call.answer()
    except ChannelHungUp as exc:
        seen["dead"] = str(exc)


@pytest.mark.parametrize(
    ("name", "amd"),
    [
        ("05a_fastagi_full_human_1001", ("HUMAN", "HUMAN-800-800")),
        ("05b_fastagi_full_machine_5001", ("MACHINE", "MAXWORDS-3-2")),
    ],
)
async def test_the_full_command_set_against_a_recorded_session(
    server: FastAGIServer, name: str, amd: tuple[str, str]
) -> None:
    seen: dict[str, object] = {}

    async def handler(call: AGICall) -> None:
        await _full_script(call, seen)

    server.route("outbound", handler)
    received = await replay(server.port, agi_session(name))
    assert len(received) == 18
    assert seen["campaign"] == "7" and seen["mode"] == "full" and seen["x"] == "1"
    assert seen["beep"] == (None, 3520)
    assert seen["amd"] == amd
    assert seen["unset"] is None
    assert seen["unknown"] == 510
    assert seen["after_hangup"] == "7"  # GET VARIABLE still answers after HANGUP
    assert "511" in str(seen["dead"])


async def test_a_hangup_during_wait_for_digit_raises_channel_hung_up(
    server: FastAGIServer,
) -> None:
    outcome: dict[str, object] = {}

    async def handler(call: AGICall) -> None:
        await call.get_variable("CAMPAIGN_ID")
        await call.get_variable("AGI_MODE")
        await call.answer()
        try:
            await call.wait_for_digit(15000)
        except ChannelHungUp:
            outcome["hung_up"] = call.hung_up
        outcome["campaign"] = await call.get_variable("CAMPAIGN_ID")
        with pytest.raises(ChannelHungUp):
            await call.stream_file("beep")
        await call.hangup()  # already gone: no error

    server.route("outbound", handler)
    await replay(server.port, agi_session("05c_fastagi_hangup_mid_agi"))
    assert outcome == {"hung_up": True, "campaign": "7"}


@pytest.mark.parametrize("name", ["02a_originate_1001_human", "02e_originate_6001_answer_hangup"])
async def test_the_dialer_out_sessions_of_the_originate_captures(
    server: FastAGIServer, name: str
) -> None:
    got: list[str | None] = []

    async def handler(call: AGICall) -> None:
        got.append(await call.get_variable("CAMPAIGN_ID"))
        got.append(await call.get_variable("AGI_MODE"))

    server.route("outbound", handler)
    await replay(server.port, agi_session(name))
    assert got == ["7", None]


async def test_a_bare_connect_and_close_does_not_stop_the_server(server: FastAGIServer) -> None:
    for _ in range(3):
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.close()
    await until(lambda: server.connections_refused == 3)
    assert server.active_connections == 0  # no session task left behind, spinning or not
    got: list[str | None] = []

    async def handler(call: AGICall) -> None:
        got.append(await call.get_variable("CAMPAIGN_ID"))
        got.append(await call.get_variable("AGI_MODE"))

    server.route("outbound", handler)
    await replay(server.port, agi_session("02a_originate_1001_human"))
    assert got == ["7", None]
    assert server.calls_served == 1


async def test_a_peer_closing_mid_headers_is_dropped(server: FastAGIServer) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\nagi_network_scr")
    await writer.drain()
    writer.close()
    await until(lambda: server.connections_refused == 1)
    assert server.active_connections == 0


async def test_a_peer_that_never_finishes_the_environment_times_out(
    server: FastAGIServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # the server hung up on us
    assert server.connections_refused == 1
    writer.close()


async def test_garbage_is_refused_without_harm(server: FastAGIServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"\x00\xff garbage\n\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    assert server.calls_served == 0


async def test_an_unknown_route_is_closed(server: FastAGIServer) -> None:
    steps = agi_session("02a_originate_1001_human")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(steps[0].data.replace(b"script: outbound", b"script: nowhere"))
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_a_failing_handler_ends_only_its_call(server: FastAGIServer) -> None:
    async def broken(call: AGICall) -> None:
        raise RuntimeError("bug")

    server.route("outbound", broken)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(agi_session("02a_originate_1001_human")[0].data)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    assert server.calls_served == 1


async def test_a_hundred_calls_at_once_none_blocking_another(server: FastAGIServer) -> None:
    release = asyncio.Event()
    values: list[str | None] = []

    async def handler(call: AGICall) -> None:
        if call.arguments[1] == "0":
            await release.wait()  # the first call stalls; the others must not wait for it
        values.append(await call.get_variable("CAMPAIGN_ID"))

    server.route("outbound", handler)
    env = agi_session("02a_originate_1001_human")[0].data

    async def one(i: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(env.replace(b"agi_arg_2: 42", f"agi_arg_2: {i}".encode()))
        await writer.drain()
        line = await reader.readline()
        writer.write(b"200 result=1 (7)\n")
        await writer.drain()
        await reader.read()
        writer.close()
        return line

    tasks = [asyncio.create_task(one(i)) for i in range(100)]
    await until(lambda: len(values) == 99)
    await until(lambda: server.active_calls == 1)  # only the stalled one is still running
    release.set()
    lines = await asyncio.gather(*tasks)
    assert set(lines) == {b"GET VARIABLE CAMPAIGN_ID\n"}
    assert len(values) == 100


async def test_a_command_without_reply_times_out_and_closes(server: FastAGIServer) -> None:
    errors: list[str] = []

    async def handler(call: AGICall) -> None:
        try:
            await call.send("GET VARIABLE", "X", timeout=0.05)
        except Exception as exc:
            errors.append(type(exc).__name__)

    server.route("outbound", handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(agi_session("02a_originate_1001_human")[0].data)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b"GET VARIABLE X\n"
    writer.close()
    assert errors == ["AGITimeout"]


async def test_a_command_stuck_behind_a_peer_that_stopped_reading_still_times_out(
    server: FastAGIServer,
) -> None:
    # A peer that reads nothing: once the socket buffers are full, drain() waits. The bound
    # covers the write, so the handler is told (AGITimeout) instead of waiting for TCP.
    errors: list[str] = []

    async def handler(call: AGICall) -> None:
        try:
            await call.verbose("x" * (32 << 20), timeout=0.3)
        except Exception as exc:
            errors.append(type(exc).__name__)

    server.route("outbound", handler)
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(agi_session("02a_originate_1001_human")[0].data)
    await writer.drain()
    await until(lambda: errors, timeout=5)
    assert errors == ["AGITimeout"]
    writer.close()


async def test_a_handler_can_wait_for_the_caller_to_hang_up(server: FastAGIServer) -> None:
    seen: list[bool] = []

    async def handler(call: AGICall) -> None:
        await call.get_variable("CAMPAIGN_ID")
        await call.get_variable("AGI_MODE")
        seen.append(await call.wait_hangup(timeout=5))

    server.route("outbound", handler)
    await replay(server.port, agi_session("02e_originate_6001_answer_hangup"))
    assert seen == [True]


async def test_waiting_for_a_hangup_that_does_not_come_times_out(server: FastAGIServer) -> None:
    seen: list[bool] = []

    async def handler(call: AGICall) -> None:
        seen.append(await call.wait_hangup(timeout=0.05))

    server.route("outbound", handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(agi_session("02a_originate_1001_human")[0].data)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    assert seen == [False]


async def test_close_cancels_running_handlers_and_closes_their_sockets() -> None:
    srv = FastAGIServer(port=0)
    await srv.start()
    started = asyncio.Event()
    cancelled: list[bool] = []

    async def handler(call: AGICall) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # a Dial that never ends
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    srv.route("outbound", handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(agi_session("02a_originate_1001_human")[0].data)
    await writer.drain()
    await asyncio.wait_for(started.wait(), 5)
    assert srv.active_calls == 1
    await srv.close()
    assert cancelled == [True]
    assert (srv.active_calls, srv.active_connections) == (0, 0)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_the_route_ignores_the_query_string_and_slashes(server: FastAGIServer) -> None:
    params: list[dict[str, str]] = []

    async def handler(call: AGICall) -> None:
        params.append(call.params)

    server.route("/inbound/", handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    env = agi_session("02a_originate_1001_human")[0].data
    writer.write(env.replace(b"script: outbound", b"script: inbound?did=5551234&queue=sales"))
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    assert params == [{"did": "5551234", "queue": "sales"}]
