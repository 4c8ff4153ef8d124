"""The product route: trunk numbers played by the model, answered calls into the dialer's FastAGI.

These are the calls the engine places (docs/architecture.md): Originate Local/<number>@dialer-trunk
into [dialer-out] s, whose AGI(agi://.../outbound) runs our FastAGI handler, which then runs AMD
and Dial to an agent phone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from agi.server import AGICall, ChannelHungUp, FastAGIServer
from ami.client import AMIClient
from ami.codec import Message
from ami.outcome import CallOutcome, call_outcome
from dialer.clock import ScaledClock
from dialer.simasterisk import NumberModel, PartyKind, SimConfig, SimulatedAsterisk
from dialer.simasterisk.agi_client import environment
from dialer.simasterisk.channels import Channel
from tests.agi.replay import agi_session
from tests.waiting import until

HUMAN, MACHINE, BUSY, NOANS, CONG, INVALID = (
    "15550000001",
    "15550000002",
    "15550000003",
    "15550000004",
    "15550000005",
    "15550000006",
)
OVERRIDES = {
    HUMAN: PartyKind.HUMAN,
    MACHINE: PartyKind.MACHINE,
    BUSY: PartyKind.BUSY,
    NOANS: PartyKind.NO_ANSWER,
    CONG: PartyKind.CONGESTION,
    INVALID: PartyKind.INVALID,
}


@dataclass
class Rig:
    ami: AMIClient
    events: list[Message] = field(default_factory=list)
    handled: list[dict[str, object]] = field(default_factory=list)

    async def call(
        self,
        number: str,
        attempt: int,
        timeout_ms: int = 30000,
        variables: dict[str, str | int] | None = None,
    ) -> Message:
        return await self.ami.originate_and_wait(
            f"Local/{number}@dialer-trunk",
            context="dialer-out",
            exten="s",
            priority=1,
            action_id=f"att-{attempt}",
            channel_id=f"att-{attempt}-1",
            other_channel_id=f"att-{attempt}-2",
            timeout_ms=timeout_ms,
            variables={"CAMPAIGN_ID": 7, "ATTEMPT_ID": attempt, **(variables or {})},
            caller_id='"Sales" <5551000>',
            timeout=60,
        )


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    handled: list[dict[str, object]] = []

    async def outbound(call: AGICall) -> None:
        seen: dict[str, object] = {"args": call.arguments, "channel": call.channel}
        handled.append(seen)
        try:
            await call.exec("AMD")
            seen["amd"] = await call.get_variable("AMDSTATUS")
            if seen["amd"] == "MACHINE":
                await call.hangup()
                return
            seen["dial"] = await call.exec("Dial", "Local/7001@agents", 20)
            seen["dialstatus"] = await call.get_variable("DIALSTATUS")
        except ChannelHungUp:
            seen["hung_up"] = True
            seen["dialstatus"] = await call.get_variable("DIALSTATUS")

    agi = FastAGIServer({"outbound": outbound}, port=0)
    port = await agi.start()
    model = NumberModel(seed=1, ring_median_s=2.0, talk_median_s=10.0, overrides=OVERRIDES)
    sim = SimulatedAsterisk(
        SimConfig(fastagi_url=f"agi://127.0.0.1:{port}", model=model), clock=ScaledClock(20)
    )
    _, ami_port = await sim.start()
    client = AMIClient("127.0.0.1", ami_port, ping_interval=None)
    await client.connect()
    r = Rig(client, handled=handled)
    client.on("*", r.events.append)
    yield r
    await client.close()
    await sim.stop()
    await agi.close()


def _hangups(rig: Rig, attempt: int) -> dict[str, str]:
    return {
        m["Channel"][-2:]: m["Cause"]
        for m in rig.events
        if m.name == "Hangup" and m["Linkedid"] == f"att-{attempt}-1"
    }


async def _until_hung_up(rig: Rig, attempt: int) -> None:
    await until(lambda: len(_hangups(rig, attempt)) >= 2, timeout=20)


async def test_a_human_is_detected_and_bridged_to_an_agent_until_they_hang_up(rig: Rig) -> None:
    response = await rig.call(HUMAN, 1)
    assert response["Response"] == "Success" and response["Uniqueid"] == "att-1-1"
    await _until_hung_up(rig, 1)
    [seen] = rig.handled
    assert seen["args"] == ["7", "1"]
    assert seen["amd"] == "HUMAN"
    assert seen.get("hung_up") is True  # the customer ended the call during Dial
    enters = [m for m in rig.events if m.name == "BridgeEnter"]
    assert {m["Channel"].split("-")[0] for m in enters} == {
        "Local/7001@agents",
        "Local/15550000001@dialer",
    }
    assert all(m["Linkedid"] == "att-1-1" for m in enters)


async def test_a_machine_is_detected_and_hung_up(rig: Rig) -> None:
    await rig.call(MACHINE, 2)
    await _until_hung_up(rig, 2)
    assert rig.handled[0]["amd"] == "MACHINE"
    assert "dial" not in rig.handled[0]


@pytest.mark.parametrize(
    ("number", "reason", "outcome"),
    [
        (BUSY, "5", CallOutcome.BUSY),
        (NOANS, "3", CallOutcome.NO_ANSWER),
        (CONG, "8", CallOutcome.CONGESTION),
        (INVALID, "8", CallOutcome.INVALID),
    ],
)
async def test_unanswered_numbers_fail_with_asterisk_codes(
    rig: Rig, number: str, reason: str, outcome: CallOutcome
) -> None:
    response = await rig.call(number, 3, timeout_ms=8000)
    assert response["Response"] == "Failure"
    assert response["Reason"] == reason
    assert response["Uniqueid"] == "att-3-1"
    await _until_hung_up(rig, 3)
    called_cause = _hangups(rig, 3)[";2"]
    dial_end = [m["DialStatus"] for m in rig.events if m.name == "DialEnd"]
    assert (
        call_outcome(response["Reason"], dial_end[0] if dial_end else None, called_cause) is outcome
    )
    assert rig.handled == []  # never reached the dialplan


def test_the_agi_environment_has_the_recorded_bytes() -> None:
    real = agi_session("05a_fastagi_full_human_1001")[0].data
    ch = Channel(
        "Local/1001@sim-pstn-00000013;1",
        "1795349697.38",
        "1795349697.38",
        "dialer-out",
        "s",
        priority=2,
        caller_num="5551000",
        caller_name="Campaign 7",
    )
    env = environment(ch, "agi://127.0.0.1:4573/outbound", ["7", "42"])

    def without_thread(data: bytes) -> list[bytes]:
        return [line for line in data.split(b"\n") if not line.startswith(b"agi_threadid")]

    assert without_thread(env) == without_thread(real)


async def test_after_a_dropped_link_the_originate_is_found_by_its_channel_id() -> None:
    # docs/architecture.md: a dropped link leaves an Originate's outcome unknown; it is found
    # again by ChannelId after the reconnect, never re-sent.
    sim = SimulatedAsterisk(SimConfig(route="lab"), clock=ScaledClock(20))
    _, port = await sim.start()
    resynced = asyncio.Event()

    async def resync(client: AMIClient) -> None:
        if client.connections > 1:
            resynced.set()

    client = AMIClient(
        "127.0.0.1", port, ping_interval=None, on_resync=resync, backoff_min=0.01, backoff_max=0.05
    )
    await client.connect()
    try:
        await client.originate_and_wait(
            "Local/8001@sim-pstn",
            context="dialer-out",
            exten="park",
            priority=1,
            action_id="att-9",
            channel_id="att-9-1",
            other_channel_id="att-9-2",
            timeout=30,
        )
        sim.drop_sessions()
        await asyncio.wait_for(resynced.wait(), 10)
        found = await client.find_channel("att-9-1")
        assert found is not None
        assert found["Channel"].startswith("Local/8001@sim-pstn-") and found["Channel"].endswith(
            ";1"
        )
        assert found["Application"] == "Wait"
        assert sim.originates == 1
        assert await client.find_channel("att-10-1") is None
    finally:
        await client.close()
        await sim.stop()


async def test_an_originate_s_dialer_fastagi_variable_takes_its_answer_to_that_server(
    rig: Rig,
) -> None:
    # Several dialer processes on one Asterisk: each Originate names its own FastAGI, which
    # wins over the [globals] one, so the answered call comes back to the process that dialed.
    other: list[list[str]] = []

    async def outbound(call: AGICall) -> None:
        other.append(call.arguments)
        await call.hangup()

    second = FastAGIServer({"outbound": outbound}, port=0)
    port = await second.start()
    try:
        response = await rig.call(HUMAN, 9, variables={"DIALER_FASTAGI": f"agi://127.0.0.1:{port}"})
        assert response["Response"] == "Success"
        await until(lambda: other == [["7", "9"]], timeout=20)
    finally:
        await second.close()
    assert rig.handled == []  # the configured server never saw it


async def test_an_answer_the_fastagi_never_takes_hears_the_drop_is_marked_and_ends() -> None:
    # A dead FastAGI port: [dialer-out] marks the attempt in AstDB with the time, sends its
    # UserEvent, plays the drop message and hangs up; the called person, however patient, is
    # hung up with it (the ;1 half's hangup ends the Local pair).
    probe = FastAGIServer(port=0)
    dead = await probe.start()
    await probe.close()
    model = NumberModel(seed=1, ring_median_s=2.0, patience_s=3600.0, overrides=OVERRIDES)
    clock = ScaledClock(20)
    sim = SimulatedAsterisk(SimConfig(fastagi_url=f"agi://127.0.0.1:{dead}", model=model), clock)
    _, ami_port = await sim.start()
    try:
        async with AMIClient("127.0.0.1", ami_port, ping_interval=None) as client:
            rig = Rig(client)
            client.on("*", rig.events.append)
            dialed_at = clock.now()
            assert (await rig.call(HUMAN, 12))["Response"] == "Success"
            await _until_hung_up(rig, 12)
        mark = sim.asterisk.astdb[("dialer_unreached", "12")]
        assert dialed_at <= int(mark) + 1 <= clock.now() + 1
        assert [m["AttemptID"] for m in rig.events if m.name == "UserEvent"] == ["12"]
        assert sim.active_channels == 0
    finally:
        await sim.stop()
