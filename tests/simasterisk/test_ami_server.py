"""The simulator's AMI server on the wire, beyond the recorded scenarios: several sessions at
once, malformed input, login failure, counters, and a clean stop.

Facts from ../shared/asterisk/README.md ("Protocol facts", 01): a bad secret is answered after a
delay and the socket closes; events go to every logged-in session whose mask lets them through.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import AsyncIterator

import pytest

from ami.client import AMIClient
from ami.codec import Banner, Message, Parser, encode
from dialer.clock import ScaledClock
from dialer.simasterisk import SimConfig, SimulatedAsterisk
from tests.waiting import until


class Wire:
    """One raw AMI connection: send actions, read messages with the project's codec."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = Parser()
        self.inbox: list[Message] = []

    def send(self, *headers: tuple[str, str]) -> None:
        self.writer.write(encode(list(headers)))

    async def next(self, name: str | None = None, timeout: float = 10.0) -> Message:
        """The next message (with that name, skipping others); fails on EOF or timeout."""
        async with asyncio.timeout(timeout):
            while True:
                while self.inbox:
                    m = self.inbox.pop(0)
                    if name is None or m.name == name:
                        return m
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError("the server closed the connection")
                self.inbox.extend(m for m in self.parser.feed(data) if not isinstance(m, Banner))

    async def eof(self, timeout: float = 10.0) -> bool:
        """True once the server has closed (or reset: unread input was left) the connection."""
        async with asyncio.timeout(timeout):
            try:
                while data := await self.reader.read(65536):
                    self.inbox.extend(
                        m for m in self.parser.feed(data) if not isinstance(m, Banner)
                    )
            except ConnectionResetError:
                pass
        return True


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedAsterisk]:
    s = SimulatedAsterisk(SimConfig(route="lab"), clock=ScaledClock(100))
    await s.start()
    yield s
    await s.stop()


async def connect(sim: SimulatedAsterisk, events: str | None = None) -> Wire:
    wire = Wire(*await asyncio.open_connection("127.0.0.1", sim.port))
    login = [("Action", "Login"), ("Username", "dialer"), ("Secret", "dialer")]
    if events is not None:
        login.append(("Events", events))
    wire.send(*login)
    assert (await wire.next())["Message"] == "Authentication accepted"
    return wire


async def test_a_message_without_an_action_gets_asterisk_s_error_and_the_session_goes_on(
    sim: SimulatedAsterisk,
) -> None:
    wire = await connect(sim, events="off")
    wire.send(("Foo", "bar"), ("ActionID", "x1"))
    reply = await wire.next()
    assert list(reply.headers) == [
        ("Response", "Error"),
        ("ActionID", "x1"),
        ("Message", "Missing action in request"),
    ]
    wire.send(("Action", "Ping"), ("ActionID", "p1"))
    assert (await wire.next())["Ping"] == "Pong"


async def test_one_session_s_oversized_message_closes_only_that_session(
    sim: SimulatedAsterisk,
) -> None:
    good, bad = await connect(sim, events="off"), await connect(sim, events="off")
    bad.writer.write(b"Action: Ping\r\nX: " + b"a" * (5 * 1024 * 1024))
    assert await bad.eof()
    good.send(("Action", "Ping"), ("ActionID", "still-here"))
    assert (await good.next())["ActionID"] == "still-here"


async def test_events_reach_every_logged_in_session_its_mask_allows(
    sim: SimulatedAsterisk,
) -> None:
    first, second = await connect(sim), await connect(sim, events="user")
    quiet = await connect(sim, events="off")
    first.send(("Action", "UserEvent"), ("UserEvent", "Hello"), ("Greeting", "hi"))
    for wire in (first, second):
        event = await wire.next("UserEvent")
        assert (event["UserEvent"], event["Greeting"]) == ("Hello", "hi")
    # The quiet session hears nothing but the reply to its own action.
    quiet.send(("Action", "Ping"), ("ActionID", "q"))
    assert (await quiet.next()).name == "Success"
    assert quiet.inbox == []
    # The user-class session never saw the call/system events of the first's own login.
    assert all(m.name != "FullyBooted" for m in second.inbox)


async def test_a_bad_secret_is_refused_then_the_socket_closes(sim: SimulatedAsterisk) -> None:
    wire = Wire(*await asyncio.open_connection("127.0.0.1", sim.port))
    wire.send(("Action", "Login"), ("ActionID", "bad"), ("Username", "dialer"), ("Secret", "x"))
    reply = await wire.next()
    assert (reply["Response"], reply["Message"]) == ("Error", "Authentication failed")
    assert await wire.eof()


def park(wire: Wire, action_id: str, number: str) -> None:
    """A call parked in the lab dialplan: two channels up until something ends them."""
    wire.send(
        ("Action", "Originate"),
        ("ActionID", action_id),
        ("Channel", f"Local/{number}@sim-pstn"),
        ("Context", "dialer-out"),
        ("Exten", "park"),
        ("Priority", "1"),
        ("Async", "true"),
    )


async def test_the_counters_follow_originates_and_live_channels(sim: SimulatedAsterisk) -> None:
    wire = await connect(sim, events="off")
    park(wire, "o1", "8001")
    assert (await wire.next())["Message"] == "Originate successfully queued"
    assert sim.originates == 1
    await until(lambda: sim.active_channels == 2)


async def test_a_restart_cuts_every_session_ends_every_call_unheard_and_listens_again(
    sim: SimulatedAsterisk,
) -> None:
    wire = await connect(sim)
    park(wire, "o1", "8001")
    await until(lambda: sim.active_channels == 2)
    before = {ch.uniqueid for ch in sim.asterisk.channels.values()}
    port = sim.port
    await sim.restart()
    assert await wire.eof()
    # No Hangup was written on the cut session: the calls ended while nobody listened.
    assert all(m.name != "Hangup" for m in wire.inbox)
    assert sim.port == port and sim.active_channels == 0
    again = await connect(sim)
    again.send(("Action", "CoreShowChannels"), ("ActionID", "c1"))
    done = await again.next("CoreShowChannelsComplete")
    assert done["ListItems"] == "0"
    park(again, "o2", "8002")
    await until(lambda: sim.active_channels == 2)
    after = {ch.uniqueid for ch in sim.asterisk.channels.values()}
    epoch = max(int(uid.split(".")[0]) for uid in before)
    assert all(int(uid.split(".")[0]) > epoch for uid in after)  # no uniqueid comes again


async def test_stop_ends_every_session_without_errors(caplog: pytest.LogCaptureFixture) -> None:
    s = SimulatedAsterisk(SimConfig(route="lab"), clock=ScaledClock(100))
    await s.start()
    wires = [await connect(s) for _ in range(3)]
    with caplog.at_level(logging.ERROR):
        await s.stop()
        for wire in wires:
            assert await wire.eof()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def _fuzz(rng: random.Random) -> bytes:
    """Bytes a confused client might send: fragments of actions, separators and noise."""
    pieces = [
        b"Action: ",
        b"Originate",
        b"Login",
        b"Ping",
        b"\r\n",
        b"\r\n\r\n",
        b"\n",
        b": ",
        b"ActionID: ",
        b"Channel: Local/",
        b"Variable: A=1,B",
        b"\x00\xff\xfe",
        "é€".encode(),
        bytes(rng.randrange(256) for _ in range(8)),
    ]
    return b"".join(rng.choice(pieces) for _ in range(rng.randrange(1, 40)))


async def test_no_byte_stream_breaks_the_server_for_anyone_else(sim: SimulatedAsterisk) -> None:
    rng = random.Random(2024)
    watcher = await connect(sim, events="off")
    for n in range(40):
        wire = Wire(*await asyncio.open_connection("127.0.0.1", sim.port))
        wire.writer.write(_fuzz(rng) + b"\r\n\r\n")
        wire.send(("Action", "Logoff"))
        assert await wire.eof()
        watcher.send(("Action", "Ping"), ("ActionID", f"alive-{n}"))
        assert (await watcher.next())["ActionID"] == f"alive-{n}"


@pytest.mark.parametrize(
    ("action", "reply"),
    [
        # manager.c action_redirect(): the priority is checked before the channel.
        (
            [("Action", "Redirect"), ("Channel", "nope"), ("Exten", "s"), ("Priority", "q")],
            ("Error", "Invalid priority"),
        ),
        ([("Action", "Command")], ("Error", "No command provided")),
        ([("Action", "Events"), ("EventMask", "bogus")], ("Success", None)),
        # app_queue: a penalty that is not a number is 0, not an error.
        (
            [
                ("Action", "QueueAdd"),
                ("Queue", "sales"),
                ("Interface", "Local/7001@agents"),
                ("Penalty", "x"),
            ],
            ("Success", "Added interface to queue"),
        ),
    ],
)
async def test_malformed_actions_get_asterisk_s_replies_and_the_session_goes_on(
    sim: SimulatedAsterisk, action: list[tuple[str, str]], reply: tuple[str, str | None]
) -> None:
    wire = await connect(sim, events="off")
    wire.send(*action, ("ActionID", "m1"))
    got = await wire.next()
    assert (got["Response"], got.get("Message")) == reply
    wire.send(("Action", "Ping"), ("ActionID", "after"))
    assert (await wire.next())["ActionID"] == "after"


async def test_an_events_mask_of_unknown_classes_turns_events_off(sim: SimulatedAsterisk) -> None:
    wire = await connect(sim)
    wire.send(("Action", "Events"), ("ActionID", "e"), ("EventMask", "bogus"))
    assert (await wire.next("Success"))["Events"] == "Off"


async def test_core_show_version_has_the_recorded_shape(sim: SimulatedAsterisk) -> None:
    wire = await connect(sim, events="off")
    wire.send(("Action", "Command"), ("ActionID", "v"), ("Command", "core show version"))
    output = (await wire.next())["Output"]
    assert re.fullmatch(
        r"Asterisk 22\.10\.1 built by \S+ @ \S+ on a x86_64 running Linux on "
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
        output,
    ), output


async def test_dbget_answers_as_main_db_c_does(sim: SimulatedAsterisk) -> None:
    """manager_dbget (Asterisk 22 main/db.c): a list of one, ActionID last in the response
    event; a missing key or family is an error, not an empty list."""
    sim.asterisk.astdb[("dialer_unreached", "7")] = "1796392828"
    wire = await connect(sim, events="off")
    wire.send(("Action", "DBGet"), ("ActionID", "d"), ("Family", "dialer_unreached"), ("Key", "7"))
    assert list((await wire.next()).headers) == [
        ("Response", "Success"),
        ("ActionID", "d"),
        ("EventList", "start"),
        ("Message", "Result will follow"),
    ]
    assert list((await wire.next()).headers) == [
        ("Event", "DBGetResponse"),
        ("Family", "dialer_unreached"),
        ("Key", "7"),
        ("Val", "1796392828"),
        ("ActionID", "d"),
    ]
    assert list((await wire.next()).headers) == [
        ("Event", "DBGetComplete"),
        ("ActionID", "d"),
        ("EventList", "Complete"),
        ("ListItems", "1"),
    ]
    for asked, message in (
        ([("Family", "dialer_unreached"), ("Key", "8")], "Database entry not found"),
        ([("Key", "7")], "No family specified."),
        ([("Family", "dialer_unreached")], "No key specified."),
    ):
        wire.send(("Action", "DBGet"), ("ActionID", "e"), *asked)
        got = await wire.next()
        assert (got["Response"], got["Message"]) == ("Error", message)


async def test_dbgettree_answers_as_main_db_c_does(sim: SimulatedAsterisk) -> None:
    """manager_db_tree_get (Asterisk 22 main/db.c): the entries at or under /Family[/Key],
    in key order, each with its full key and ActionID last; none is an empty list."""
    db = sim.asterisk.astdb
    db[("dialer_unreached_inbound", "20261204/1796392828.2")] = "1796392828 601 5730"
    db[("dialer_unreached_inbound", "20261204/1796392800.1")] = "1796392800 601 5731"
    db[("dialer_unreached_inbound", "20261203/1796306400.9")] = "1796306400 601 5732"
    db[("dialer_unreached_inbound", "2026120")] = "not under 20261204"
    db[("dialer_unreached", "7")] = "1796392828"
    wire = await connect(sim, events="off")
    wire.send(
        ("Action", "DBGetTree"),
        ("ActionID", "t"),
        ("Family", "dialer_unreached_inbound"),
        ("Key", "20261204"),
    )
    assert list((await wire.next()).headers) == [
        ("Response", "Success"),
        ("ActionID", "t"),
        ("EventList", "start"),
        ("Message", "Result will follow"),
    ]
    for key, value in (
        ("/dialer_unreached_inbound/20261204/1796392800.1", "1796392800 601 5731"),
        ("/dialer_unreached_inbound/20261204/1796392828.2", "1796392828 601 5730"),
    ):
        assert list((await wire.next()).headers) == [
            ("Event", "DBGetTreeResponse"),
            ("Key", key),
            ("Val", value),
            ("ActionID", "t"),
        ]
    assert list((await wire.next()).headers) == [
        ("Event", "DBGetTreeComplete"),
        ("ActionID", "t"),
        ("EventList", "Complete"),
        ("ListItems", "2"),
    ]
    wire.send(("Action", "DBGetTree"), ("ActionID", "n"), ("Family", "nobody"))
    assert (await wire.next())["Response"] == "Success"
    assert (await wire.next())["ListItems"] == "0"


async def test_the_client_lists_an_astdb_tree_by_full_key(sim: SimulatedAsterisk) -> None:
    sim.asterisk.astdb[("dialer_unreached_inbound", "20261204/1796392828.2")] = "v2"
    sim.asterisk.astdb[("dialer_unreached_inbound", "20261203/1796306400.9")] = "v1"
    sim.asterisk.astdb[("dialer_unreached", "7")] = "1796392828"
    async with AMIClient("127.0.0.1", sim.port, ping_interval=None) as ami:
        family = await ami.db_get_tree("dialer_unreached_inbound")
        day = await ami.db_get_tree("dialer_unreached_inbound", "20261204")
        everything = await ami.db_get_tree("")
    assert family == {
        "/dialer_unreached_inbound/20261203/1796306400.9": "v1",
        "/dialer_unreached_inbound/20261204/1796392828.2": "v2",
    }
    assert day == {"/dialer_unreached_inbound/20261204/1796392828.2": "v2"}
    assert len(everything) == 3


async def test_the_client_reads_an_astdb_value_or_none(sim: SimulatedAsterisk) -> None:
    sim.asterisk.astdb[("dialer_unreached", "7")] = "1796392828"
    async with AMIClient("127.0.0.1", sim.port, ping_interval=None) as ami:
        assert await ami.db_get("dialer_unreached", "7") == "1796392828"
        assert await ami.db_get("dialer_unreached", "8") is None
