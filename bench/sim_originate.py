"""End-to-end Originates per second against the simulated Asterisk on loopback.

The workload of the real-Asterisk burst capture (06a): Local/6001@sim-pstn answers and the
answered leg hangs up at once (dialer-out,burst), ~29 AMI events per call. Our own AMIClient
sends the Originates (Async, with ChannelId) and waits for every OriginateResponse; the
simulator runs in the same process on a fast clock, so the figure is what one process sustains
for both sides. A second run takes the product route: model numbers on Local/<n>@dialer-trunk
(half answer, the rest busy, congestion, invalid or unanswered after a 10 s Timeout), answered
calls into [dialer-out] s, whose AGI reaches our FastAGI server, which hangs up. Prints:

    sim_originates_per_s: N originates/s
    sim_events_per_s: N events/s
    sim_product_originates_per_s: N originates/s

Run: .venv/bin/python bench/sim_originate.py [CALLS]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agi.server import AGICall, FastAGIServer
from ami.client import AMIClient
from dialer.clock import ScaledClock
from dialer.simasterisk import NumberModel, SimConfig, SimulatedAsterisk


async def run(calls: int, concurrency: int = 200) -> tuple[float, float]:
    sim = SimulatedAsterisk(SimConfig(route="lab"), clock=ScaledClock(100))
    _, port = await sim.start()
    client = AMIClient("127.0.0.1", port, ping_interval=None, action_timeout=60)
    await client.connect()
    events = 0

    def count(_: object) -> None:
        nonlocal events
        events += 1

    client.on("*", count)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> str:
        async with gate:
            response = await client.originate_and_wait(
                "Local/6001@sim-pstn",
                context="dialer-out",
                exten="burst",
                priority=1,
                action_id=f"b-{i}",
                channel_id=f"b-{i}-1",
                other_channel_id=f"b-{i}-2",
                timeout_ms=20000,
                caller_id='"Bench" <5551000>',
                variables={"CAMPAIGN_ID": 1, "ATTEMPT_ID": i},
                timeout=120,
            )
            return response["Response"]

    start = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(calls)))
    # Let the last calls' hangup events arrive too, so events/s covers whole calls.
    while sim.active_channels:  # noqa: ASYNC110 - the simulator's channel table, polled
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - start
    await client.close()
    await sim.stop()
    assert results.count("Success") == calls, f"{calls - results.count('Success')} failed"
    return calls / elapsed, events / elapsed


async def run_product(calls: int, concurrency: int = 200) -> float:
    async def outbound(call: AGICall) -> None:
        await call.hangup()

    agi = FastAGIServer({"outbound": outbound}, port=0)
    agi_port = await agi.start()
    model = NumberModel(
        seed=1,
        p_machine=0.0,
        p_busy=0.2,
        p_no_answer=0.1,
        p_congestion=0.1,
        p_invalid=0.1,
        ring_median_s=0.5,
        patience_s=1.0,
    )
    sim = SimulatedAsterisk(
        SimConfig(fastagi_url=f"agi://127.0.0.1:{agi_port}", model=model), clock=ScaledClock(100)
    )
    _, port = await sim.start()
    client = AMIClient("127.0.0.1", port, ping_interval=None, action_timeout=60)
    await client.connect()
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> str:
        async with gate:
            response = await client.originate_and_wait(
                f"Local/1555{i:07d}@dialer-trunk",
                context="dialer-out",
                exten="s",
                priority=1,
                action_id=f"att-{i}",
                channel_id=f"att-{i}-1",
                other_channel_id=f"att-{i}-2",
                # 30 s of simulated ring (0.3 s at 100x): a loaded machine must not turn
                # answers into ring timeouts, or the outcome mix below is the machine's.
                timeout_ms=30000,
                variables={"CAMPAIGN_ID": 1, "ATTEMPT_ID": i},
                timeout=120,
            )
            return response["Response"]

    start = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(calls)))
    while sim.active_channels:  # noqa: ASYNC110 - the simulator's channel table, polled
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - start
    await client.close()
    await sim.stop()
    await agi.close()
    assert 0.3 < results.count("Success") / calls < 0.7, "the outcome mix is off"
    return calls / elapsed


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rate, event_rate = asyncio.run(run(calls))
    print(f"sim_originates_per_s: {rate:.0f} originates/s")
    print(f"sim_events_per_s: {event_rate:.0f} events/s")
    product_rate = asyncio.run(run_product(calls))
    print(f"sim_product_originates_per_s: {product_rate:.0f} originates/s")


if __name__ == "__main__":
    main()
