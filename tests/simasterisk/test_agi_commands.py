"""The simulator's FastAGI client: the replies a dialer script gets for each command.

The product route runs ``AGI(agi://.../outbound,...)`` on the answered ``;1`` half; these tests
play a script against it and check each reply against the protocol facts of
../shared/asterisk/README.md ("FastAGI"): ``200 result=<ascii> endpos=`` for a DTMF-interrupted
STREAM FILE, ``510`` for an unknown command, ``511`` for channel commands after a hangup while
GET VARIABLE still answers, DIALSTATUS after Dial, and AGIExecStart/AGIExecEnd per command.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from agi.server import AGICall, FastAGIServer
from ami.client import AMIClient
from ami.codec import Message
from dialer.clock import ScaledClock
from dialer.simasterisk import Behaviour, NumberModel, PartyKind, SimConfig, SimulatedAsterisk
from tests.waiting import until

PRESSES_1, PRESSES_9, PRESSES_42, PATIENT, IMPATIENT = (
    "15550001001",
    "15550001002",
    "15550001003",
    "15550001004",
    "15550001005",
)


def _human(keys: str = "", patience_s: float = 60.0, talk_s: float = 60.0) -> Behaviour:
    return Behaviour(PartyKind.HUMAN, ring_s=0.5, talk_s=talk_s, patience_s=patience_s, keys=keys)


OVERRIDES: dict[str, PartyKind | Behaviour] = {
    PRESSES_1: _human("1"),
    PRESSES_9: _human("9"),
    PRESSES_42: _human("42"),
    PATIENT: _human(),
    IMPATIENT: _human(patience_s=1.0),
}

Script = Callable[[AGICall], Awaitable[None]]


@dataclass
class Rig:
    sim: SimulatedAsterisk
    ami: AMIClient
    script: Script | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    events: list[Message] = field(default_factory=list)

    async def run(self, number: str, script: Script) -> None:
        """Place a call to ``number``, run ``script`` on its answer, wait for both ends."""
        self.script = script
        response = await self.ami.originate_and_wait(
            f"Local/{number}@dialer-trunk",
            context="dialer-out",
            exten="s",
            priority=1,
            action_id="att-1",
            channel_id="att-1-1",
            other_channel_id="att-1-2",
            variables={"CAMPAIGN_ID": 7, "ATTEMPT_ID": 1},
            timeout=30,
        )
        assert response["Response"] == "Success"
        await asyncio.wait_for(self.done.wait(), 30)
        await until(lambda: self.sim.active_channels == 0, timeout=30)

    def named(self, name: str) -> list[Message]:
        return [m for m in self.events if m.name == name]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    holder: list[Rig] = []

    async def outbound(call: AGICall) -> None:
        r = holder[0]
        assert r.script is not None
        try:
            await r.script(call)
        finally:
            r.done.set()

    agi = FastAGIServer({"outbound": outbound}, port=0)
    agi_port = await agi.start()
    model = NumberModel(seed=1, overrides=OVERRIDES)
    sim = SimulatedAsterisk(
        SimConfig(fastagi_url=f"agi://127.0.0.1:{agi_port}", model=model), clock=ScaledClock(50)
    )
    _, ami_port = await sim.start()
    client = AMIClient("127.0.0.1", ami_port, ping_interval=None)
    await client.connect()
    r = Rig(sim, client)
    holder.append(r)
    client.on("*", r.events.append)
    yield r
    await client.close()
    await sim.stop()
    await agi.close()


async def test_a_pressed_escape_digit_interrupts_stream_file(rig: Rig) -> None:
    replies = []

    async def script(call: AGICall) -> None:
        replies.append(await call.send("STREAM FILE", "press-1-for-an-agent", "19"))
        await call.hangup()

    await rig.run(PRESSES_1, script)
    [reply] = replies
    assert (reply.code, reply.result) == (200, str(ord("1")))
    assert int(reply.extras["endpos"]) > 0


async def test_stream_file_without_escape_digits_plays_to_the_end(rig: Rig) -> None:
    replies = []

    async def script(call: AGICall) -> None:
        replies.append(await call.send("STREAM FILE", "press-1-for-an-agent", '""'))
        await call.hangup()

    await rig.run(PRESSES_1, script)
    assert (replies[0].code, replies[0].result) == (200, "0")


async def test_wait_for_digit_returns_the_key_the_party_presses(rig: Rig) -> None:
    digits = []

    async def script(call: AGICall) -> None:
        digits.append(await call.wait_for_digit(5000))
        await call.hangup()

    await rig.run(PRESSES_9, script)
    assert digits == ["9"]


async def test_get_data_collects_the_party_s_digits(rig: Rig) -> None:
    got = []

    async def script(call: AGICall) -> None:
        got.append(await call.get_data("enter-account", 3000, 2))
        await call.hangup()

    await rig.run(PRESSES_42, script)
    assert got == ["42"]


async def test_an_unknown_command_gets_510(rig: Rig) -> None:
    replies = []

    async def script(call: AGICall) -> None:
        replies.append(await call.send("FROBNICATE", "now"))
        await call.hangup()

    await rig.run(PATIENT, script)
    assert replies[0].code == 510
    assert replies[0].text == "510 Invalid or unknown command"


async def test_after_the_caller_hangs_up_channel_commands_get_511_and_variables_still_answer(
    rig: Rig,
) -> None:
    seen: dict[str, object] = {}

    async def script(call: AGICall) -> None:
        # Nobody speaks to the impatient human: they hang up after their patience.
        seen["hangup_line"] = await call.wait_hangup(timeout=20)
        seen["answer"] = (await call.send("ANSWER")).code
        seen["campaign"] = await call.get_variable("CAMPAIGN_ID")

    await rig.run(IMPATIENT, script)
    assert seen == {"hangup_line": True, "answer": 511, "campaign": "7"}


async def test_the_drop_message_then_hangup_ends_the_call_with_each_command_mirrored(
    rig: Rig,
) -> None:
    async def script(call: AGICall) -> None:
        await call.answer()
        await call.stream_file("sorry-all-agents-busy")
        await call.hangup()

    await rig.run(PATIENT, script)
    starts = [m["Command"] for m in rig.named("AGIExecStart")]
    ends = [(m["Command"], m["ResultCode"]) for m in rig.named("AGIExecEnd")]
    assert starts == ["ANSWER", 'STREAM FILE sorry-all-agents-busy ""', "HANGUP"]
    assert ends == [(command, "200") for command in starts]
    assert {m["Channel"][-2:] for m in rig.named("Hangup")} == {";1", ";2"}


async def test_when_the_script_closes_the_dialplan_goes_on_to_its_hangup(rig: Rig) -> None:
    async def script(call: AGICall) -> None:
        await call.verbose("done here")

    await rig.run(PATIENT, script)
    steps = [
        (m["Application"], m["Priority"])
        for m in rig.named("Newexten")
        if m["Channel"].endswith(";1") and m["Context"] == "dialer-out"
    ]
    # [dialer-out] of configs/asterisk/extensions_dialer.conf: the fallback is not taken.
    assert steps == [("NoOp", "1"), ("AGI", "2"), ("GotoIf", "3"), ("Hangup", "4")]
    agi_status = [m["Value"] for m in rig.named("VarSet") if m["Variable"] == "AGISTATUS"]
    assert agi_status == ["SUCCESS"]


async def test_dial_to_an_agent_phone_that_never_answers_times_out_with_noanswer(
    rig: Rig,
) -> None:
    seen: dict[str, object] = {}

    async def script(call: AGICall) -> None:
        seen["result"] = await call.exec("Dial", "Local/7901@agents", 2)
        seen["status"] = await call.get_variable("DIALSTATUS")
        await call.hangup()

    await rig.run(PATIENT, script)
    assert seen == {"result": 0, "status": "NOANSWER"}
    assert [m["DialStatus"] for m in rig.named("DialEnd") if "7901" in m["DestChannel"]] == [
        "NOANSWER"
    ]


async def test_an_ami_hangup_of_the_agent_leg_ends_dial_and_the_script_goes_on(rig: Rig) -> None:
    seen: dict[str, object] = {}

    async def hang_up_the_agent() -> None:
        await until(lambda: rig.named("BridgeEnter"), timeout=10)
        agent = next(
            m["Channel"] for m in rig.named("BridgeEnter") if "7001@agents" in m["Channel"]
        )
        await rig.ami.hangup(agent)

    async def script(call: AGICall) -> None:
        hanging = asyncio.create_task(hang_up_the_agent())
        seen["result"] = await call.exec("Dial", "Local/7001@agents", 20)
        await hanging
        seen["status"] = await call.get_variable("DIALSTATUS")
        await call.hangup()

    await rig.run(PATIENT, script)
    assert seen == {"result": 0, "status": "ANSWER"}
    assert [m["DialStatus"] for m in rig.named("DialEnd") if "7001" in m["DestChannel"]] == [
        "ANSWER"
    ]


async def test_an_unreachable_fastagi_server_fails_the_agi_and_the_dialplan_goes_on() -> None:
    # res_agi: a failed connect sets AGISTATUS=FAILURE and the dialplan continues.
    sim = SimulatedAsterisk(
        SimConfig(fastagi_url="agi://127.0.0.1:9", model=NumberModel(overrides=OVERRIDES)),
        clock=ScaledClock(50),
    )
    _, port = await sim.start()
    client = AMIClient("127.0.0.1", port, ping_interval=None)
    events: list[Message] = []
    client.on("*", events.append)
    await client.connect()
    try:
        await client.originate_and_wait(
            f"Local/{PATIENT}@dialer-trunk",
            context="dialer-out",
            exten="s",
            priority=1,
            action_id="a1",
            timeout=30,
        )
        await until(lambda: sim.active_channels == 0, timeout=30)
    finally:
        await client.close()
        await sim.stop()
    assert [m["Value"] for m in events if m.name == "VarSet" and m["Variable"] == "AGISTATUS"] == [
        "FAILURE"
    ]
    steps = [
        m["Application"] for m in events if m.name == "Newexten" and m["Context"] == "dialer-out"
    ]
    # The fallback of configs/asterisk/extensions_dialer.conf: mark the attempt in AstDB, tell
    # the dialer, play the drop.
    assert steps == ["NoOp", "AGI", "GotoIf", "Set", "UserEvent", "Playback", "Hangup"]
    unreached = [m for m in events if m.name == "UserEvent"]
    assert [(m["UserEvent"], m["AGIStatus"], m["Channel"][-2:]) for m in unreached] == [
        ("DialerUnreached", "FAILURE", ";1")
    ]
    played = [
        m["AppData"] for m in events if m.name == "Newexten" and m["Application"] == "Playback"
    ]
    assert played == ["dialer/drop"]


async def test_set_music_starts_and_stops_hold_music_and_a_played_file_stops_it(rig: Rig) -> None:
    replies = []

    async def script(call: AGICall) -> None:
        replies.append(await call.send("SET MUSIC", "on"))
        replies.append(await call.send("SET MUSIC", "off"))
        await call.set_music(True, "jazz")
        await call.stream_file("press-1-for-an-agent")  # Asterisk stops the generator
        await call.hangup()

    await rig.run(PATIENT, script)
    assert [(r.code, r.result) for r in replies] == [(200, "0"), (200, "0")]
    music = [(m.name, m.get("Class")) for m in rig.events if m.name.startswith("MusicOnHold")]
    assert music == [
        ("MusicOnHoldStart", "default"),
        ("MusicOnHoldStop", None),
        ("MusicOnHoldStart", "jazz"),
        ("MusicOnHoldStop", None),
    ]
