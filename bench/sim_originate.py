"""End-to-end Originates per second against the simulated Asterisk on loopback.

The workload of the real-Asterisk burst capture (06a): Local/6001@sim-pstn answers and the
answered leg hangs up at once (dialer-out,burst), ~29 AMI events per call. Our own AMIClient
sends the Originates (Async, with ChannelId) and waits for every OriginateResponse; the
simulator runs in the same process on a fast clock, so the figure is what one process sustains
for both sides. Prints:

    sim_originates_per_s: N originates/s
    sim_events_per_s: N events/s

Run: .venv/bin/python bench/sim_originate.py [CALLS]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ami.client import AMIClient
from dialer.clock import ScaledClock
from dialer.simasterisk import SimConfig, SimulatedAsterisk


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


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rate, event_rate = asyncio.run(run(calls))
    print(f"sim_originates_per_s: {rate:.0f} originates/s")
    print(f"sim_events_per_s: {event_rate:.0f} events/s")


if __name__ == "__main__":
    main()
