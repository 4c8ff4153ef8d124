"""Inbound callers: arrivals on DIDs into [dialer-inbound], queues and agents, abandons."""

from __future__ import annotations

import asyncio

from agi.server import AGICall, ChannelHungUp, FastAGIServer
from ami.client import AMIClient
from ami.codec import Message
from dialer.clock import ScaledClock
from dialer.simasterisk import InboundCaller, InboundModel, SimConfig, SimulatedAsterisk
from dialer.simasterisk.channels import Channel
from dialer.simasterisk.dialplan import expand
from tests.waiting import until


def test_arrivals_are_seeded_and_in_time_order() -> None:
    model = InboundModel(seed=4, rate_per_hour={"5550100": 120.0, "5550200": 60.0})
    first = model.arrivals(0.0, 3600.0)
    assert first == model.arrivals(0.0, 3600.0)
    times = [t for t, _ in first]
    assert times == sorted(times)
    assert {c.did for _, c in first} == {"5550100", "5550200"}


def test_arrival_counts_follow_the_rate_and_the_hourly_profile() -> None:
    # Hour 0 at the base rate, hour 1 at three times it: about 600 and 1800 calls.
    model = InboundModel(seed=9, rate_per_hour={"5550100": 600.0}, rate_profile={1: 3.0})
    arrivals = model.arrivals(0.0, 7200.0)
    hour0 = sum(1 for t, _ in arrivals if t < 3600)
    hour1 = len(arrivals) - hour0
    # Poisson: 5 standard deviations either side.
    assert abs(hour0 - 600) < 5 * 600**0.5
    assert abs(hour1 - 1800) < 5 * 1800**0.5


async def test_an_inbound_call_reaches_an_agent_through_the_queue_then_one_abandons() -> None:
    seen: list[tuple[list[str], str]] = []

    async def inbound(call: AGICall) -> None:
        try:
            await call.exec("Queue", "sales", "", "", "", 60)
            seen.append((call.arguments, "returned"))
        except ChannelHungUp:
            seen.append((call.arguments, "caller hung up"))

    agi = FastAGIServer({"inbound": inbound}, port=0)
    agi_port = await agi.start()
    clock = ScaledClock(50)
    sim = SimulatedAsterisk(SimConfig(fastagi_url=f"agi://127.0.0.1:{agi_port}"), clock=clock)
    _, port = await sim.start()
    client = AMIClient("127.0.0.1", port, ping_interval=None)
    events: list[Message] = []
    client.on("*", events.append)
    emitted: list[tuple[float, str]] = []  # (sim time, name) as the simulator emits them
    sim.asterisk.listeners.append(lambda name, data: emitted.append((clock.now(), name)))
    await client.connect()
    try:
        await client.queue_add("sales", "Local/7001@agents", member_name="Agent 7001")
        ch = await sim.asterisk.inbound_call(
            InboundCaller(did="5550100", caller_num="15551230000", patience_s=30, talk_s=20)
        )
        assert ch.context == "dialer-inbound" and ch.name.startswith("PJSIP/")
        await until(lambda: any(m.name == "AgentComplete" for m in events), timeout=10)
        connect = next(m for m in events if m.name == "AgentConnect")
        assert connect["Queue"] == "sales" and connect["Channel"] == ch.name
        assert next(m for m in events if m.name == "AgentComplete")["Reason"] == "caller"

        await client.queue_pause("Local/7001@agents", True, queue="sales", reason="break")
        lost = await sim.asterisk.inbound_call(
            InboundCaller(did="5550100", caller_num="15551230001", patience_s=5, talk_s=20)
        )
        await until(lambda: any(m.name == "QueueCallerAbandon" for m in events), timeout=10)
        abandon = next(m for m in events if m.name == "QueueCallerAbandon")
        assert abandon["Channel"] == lost.name
        # HoldTime: the whole seconds in the queue, from the join to the caller's hang-up 5 s
        # after the call came in (the patience runs from the start, the join comes a moment
        # later: on a loaded machine, seconds of sim time later).
        join = [t for t, name in emitted if name == "QueueCallerJoin"][-1]
        gone = [t for t, name in emitted if name == "QueueCallerAbandon"][-1]
        # Truncated, as Asterisk: exactly the whole seconds of the wait app_queue also gives in
        # QUEUEWAIT_MS (one reading of its clock) ...
        *_, waited_ms = [  # the last one: Queue() first empties it
            m["Value"]
            for m in events
            if m.name == "VarSet" and m["Channel"] == lost.name and m["Variable"] == "QUEUEWAIT_MS"
        ]
        assert int(abandon["HoldTime"]) == int(waited_ms) // 1000
        # ... and, seen from outside, between the join and the abandon: the simulator reads
        # its clock a moment before it emits each (at 50x, a loaded machine's 10 ms of wall
        # time between the two are half a second of sim time).
        assert 0 <= (gone - join) - int(abandon["HoldTime"]) < 1.5
        assert int(abandon["HoldTime"]) <= 5
        await until(lambda: len(seen) == 2, timeout=10)
        # Both callers hung up inside Queue (one after talking, one waiting): the handler saw
        # the hangup each time, with the DID as its argument.
        assert seen == [(["5550100"], "caller hung up"), (["5550100"], "caller hung up")]
    finally:
        await client.close()
        await sim.stop()
        await agi.close()


async def test_run_inbound_places_the_model_arrivals() -> None:
    sim = SimulatedAsterisk(SimConfig(fastagi_url="agi://127.0.0.1:9"), clock=ScaledClock(500))
    await sim.start()
    try:
        model = InboundModel(seed=2, rate_per_hour={"5550100": 360.0})
        expected = len(model.arrivals(sim.clock.now(), sim.clock.now() + 600))
        placed = await asyncio.wait_for(sim.asterisk.run_inbound(model, 600), 30)
        assert abs(placed - expected) <= 2  # the window starts a moment later
        assert placed > 30
    finally:
        await sim.stop()


async def test_a_did_in_e164_with_its_plus_takes_the_same_route_without_it() -> None:
    # [dialer-inbound] exten _+X.: Goto(${EXTEN:1},1), as configs/asterisk has it.
    seen: list[list[str]] = []

    async def inbound(call: AGICall) -> None:
        seen.append(call.arguments)
        await call.hangup()

    agi = FastAGIServer({"inbound": inbound}, port=0)
    agi_port = await agi.start()
    sim = SimulatedAsterisk(
        SimConfig(fastagi_url=f"agi://127.0.0.1:{agi_port}"), clock=ScaledClock(50)
    )
    await sim.start()
    try:
        ch = await sim.asterisk.inbound_call(
            InboundCaller(did="+5550100", caller_num="15551230000", patience_s=30, talk_s=20)
        )
        await until(lambda: bool(seen), timeout=10)
        assert seen == [["5550100"]]
        assert ch.exten == "5550100"
    finally:
        await sim.stop()
        await agi.close()


def test_substrings_of_variables_cut_as_asterisk_cuts_them() -> None:
    # ${NAME:offset[:length]} (pbx_substitute_variables): negative offsets count from the end,
    # a negative length leaves that many off the end.
    sim = SimulatedAsterisk(SimConfig())
    ch = Channel("PJSIP/t-1", "1.0", "1.0", "dialer-inbound", "+15550100", state=4)
    lookup = sim.asterisk.lookup_for(ch)
    cuts = ["${EXTEN:1}", "${EXTEN:-4}", "${EXTEN:1:4}", "${EXTEN:0:-2}", "${EXTEN:20}"]
    assert [expand(text, lookup) for text in cuts] == ["15550100", "0100", "1555", "+155501", ""]
