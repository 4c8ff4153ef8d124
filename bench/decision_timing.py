"""The decision time of a guarded pacing policy on a busy 200-agent floor, shared by
bench/pacing.py (outbound) and bench/blended.py (blended): the same warm-up, snapshots and
median, so the two figures measure the same thing."""

from __future__ import annotations

import time

import numpy as np

from pacing.events import Event, EventKind
from pacing.guard import Guard
from pacing.snapshot import AgentState, Snapshot


def decision_ms(
    guard: Guard, *, agents: int = 200, repeats: int = 2000, inbound: bool = False
) -> float:
    """Median milliseconds of ``guard.decide`` after 3,000 s of observed calls (enough to
    leave the progressive warm-up; with ``inbound``, a fifth of the seconds bring an inbound
    call too). With ``inbound`` every snapshot is a second later than the one before, so a
    reservation cached on its inputs is missed as often as it would be live; otherwise the
    same snapshot is decided ``repeats`` times."""
    rng = np.random.default_rng(1)
    t = 0.0
    for _ in range(3000):
        t += 1.0
        guard.observe(Event(EventKind.CALL_ROUTED, t, float(rng.uniform(5, 25))))
        guard.observe(Event(EventKind.CALL_CONNECTED, t))
        guard.observe(Event(EventKind.TALK_ENDED, t, float(rng.lognormal(5.0, 0.6))))
        guard.observe(Event(EventKind.ACW_ENDED, t, float(rng.lognormal(3.0, 0.5))))
        guard.observe(Event(EventKind.CALL_UNANSWERED, t, 25.0))
        if inbound and rng.random() < 0.2:
            guard.observe(Event(EventKind.INBOUND_ARRIVED, t))
            guard.observe(Event(EventKind.INBOUND_ANSWERED, t, float(rng.exponential(5.0))))
            guard.observe(Event(EventKind.INBOUND_TALK_ENDED, t, float(rng.lognormal(5.2, 0.6))))
            guard.observe(Event(EventKind.INBOUND_ACW_ENDED, t, float(rng.lognormal(3.2, 0.5))))
    states = rng.choice(
        [AgentState.AVAILABLE, AgentState.ON_CALL, AgentState.ACW, AgentState.PAUSED],
        size=agents,
        p=[0.05, 0.8, 0.12, 0.03],
    ).astype(np.int8)

    def snapshot(now: float) -> Snapshot:
        return Snapshot(
            now=now,
            agent_state=states,
            agent_time_in_state=rng.uniform(0, 400, agents),
            call_dial_times=now - rng.uniform(0, 25, agents // 2),
            calls_waiting=1,
            channels_in_use=agents,
        )

    snaps = [snapshot(t + i) for i in range(repeats)] if inbound else [snapshot(t)] * repeats
    guard.decide(snaps[0])
    samples = []
    for snap in snaps:
        start = time.perf_counter()
        guard.decide(snap)
        samples.append(time.perf_counter() - start)
    return float(np.median(samples)) * 1000.0
