"""A virtual-time discrete-event simulator that runs the same policy code over a shift.

Agents take calls, talk, do ACW and sometimes pause; calls ring, are answered by people or
machines (AMD with false positives and negatives) or not at all; a live answer not connected to
a free agent within 2 s is dropped (FTC 310.4(b)(1)(iv)). Each tick the policy gets a
:class:`~pacing.snapshot.Snapshot` and its decision's calls are placed; it observes the same
events the engine would report. The oracle mode adds each agent's exact release time to the
snapshot. Same scenario, policy and seed -> same result.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from pacing.baselines import AdaptTapered
from pacing.estimators import Priors
from pacing.events import Event, EventKind
from pacing.guard import Guard, GuardConfig
from pacing.policies import HANDOFF_S, Policy, Predictive, Preview, Progressive
from pacing.scenario import Scenario
from pacing.snapshot import AgentState, Snapshot

POLICIES = (
    "preview",
    "progressive",
    "ratio2",
    "ratio3",
    "adapt_tapered",
    "predictive",
    "oracle",
)
BASELINES = ("progressive", "ratio2", "ratio3", "adapt_tapered")

# event kinds in the heap
_ROUTE, _NO_ANSWER, _MACHINE_HANGUP, _DROP_CHECK, _TALK_END, _ACW_END, _PAUSE_END = range(7)
_AVAILABLE = int(AgentState.AVAILABLE)
_ON_CALL = int(AgentState.ON_CALL)
_ACW = int(AgentState.ACW)
_PAUSED = int(AgentState.PAUSED)


@dataclass(frozen=True, slots=True)
class RunResult:
    """One shift. Rates are fractions; times are seconds."""

    scenario: str
    policy: str
    seed: int
    utilisation: float  # talk time with live people / logged-in time
    occupancy: float  # (talk + ACW, machines passed to agents included) / logged-in time
    abandon_rate: float  # (drops + AMD hang-ups on live people) / live answers
    calls_per_agent_hour: float  # live calls connected per logged-in agent-hour
    agent_wait_per_call_s: float  # agents' available time / live calls connected
    placed: int
    no_answer: int
    machine_hangup: int
    amd_false_positive: int
    connected_live: int
    connected_machine: int
    dropped_live: int
    dropped_machine: int

    def outcomes(self) -> int:
        """Every placed call ends exactly once: the sum of the outcome counts."""
        return (
            self.no_answer
            + self.machine_hangup
            + self.amd_false_positive
            + self.connected_live
            + self.connected_machine
            + self.dropped_live
            + self.dropped_machine
        )

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def make_policy(name: str, scenario: Scenario) -> Guard:
    """The named policy behind its guard. Baselines run unguarded (their own rules only)."""
    limits = {
        "max_channels": scenario.max_channels,
        "max_calls_per_s": scenario.max_calls_per_s,
        "min_ring_s": min(15.0, scenario.ring_timeout_s),
        "cap": scenario.abandon_cap,
    }
    priors = Priors()
    policy: Policy
    if name == "preview":
        policy = Preview()
    elif name == "progressive":
        policy = Progressive(1.0)
    elif name in ("ratio2", "ratio3"):
        policy = Progressive(float(name[-1]))
    elif name == "adapt_tapered":
        policy = AdaptTapered(
            shift_start_hhmm=scenario.shift_start_hhmm,
            dropped_percentage=100 * scenario.abandon_cap,
        )
    elif name in ("predictive", "oracle"):
        fp = _machine_fp_share(scenario, scenario.amd_false_positive if scenario.amd else 0.0)
        policy = Predictive(
            scenario.abandon_target,
            priors=priors,
            oracle=name == "oracle",
            amd_false_positive=fp,
        )
        cfg = GuardConfig(
            amd_false_positive=fp,
            **limits,  # type: ignore[arg-type]
        )
        return Guard(policy, cfg, campaign=scenario.name)
    else:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}")
    return Guard(policy, GuardConfig(enforce_cap=False, **limits), campaign=scenario.name)  # type: ignore[arg-type]


def _machine_fp_share(s: Scenario, fp: float) -> float:
    """Of the calls AMD hangs up on, the share that were live people (the Ofcom estimate)."""
    live = (1 - s.machine_rate) * fp
    machines = s.machine_rate * (1 - s.amd_false_negative)
    return live / (live + machines) if live + machines > 0 else 0.0


class _Draws:
    """Uniforms and normals drawn in blocks (per-call scalar draws dominate otherwise)."""

    def __init__(self, rng: np.random.Generator, block: int = 1 << 14) -> None:
        self._rng = rng
        self._block = block
        self._u: Iterator[float] = iter(())
        self._z: Iterator[float] = iter(())

    def u(self) -> float:
        try:
            return next(self._u)
        except StopIteration:
            self._u = iter(self._rng.random(self._block).tolist())
            return next(self._u)

    def z(self) -> float:
        try:
            return next(self._z)
        except StopIteration:
            self._z = iter(self._rng.standard_normal(self._block).tolist())
            return next(self._z)


def _lognormal(mean: float, sd: float) -> tuple[float, float]:
    s2 = math.log1p((sd / mean) ** 2)
    return math.log(mean) - s2 / 2, math.sqrt(s2)


def simulate(scenario: Scenario, policy: str | Guard, seed: int = 0) -> RunResult:
    """Run one shift of ``scenario`` with ``policy`` (a name from POLICIES or a Guard)."""
    s = scenario
    pacer = make_policy(policy, s) if isinstance(policy, str) else policy
    name = policy if isinstance(policy, str) else pacer.name
    oracle = name == "oracle"
    preview = name == "preview"
    # Separate streams for the called parties and for the agents (common random numbers):
    # the k-th call placed and the k-th call connected draw the same values under every
    # policy, so policies are compared on the same customers and the same agents.
    call_seq, agent_seq = np.random.SeedSequence(seed).spawn(2)
    cd = _Draws(np.random.default_rng(call_seq))
    ad = _Draws(np.random.default_rng(agent_seq))
    u, z = cd.u, cd.z
    au, az = ad.u, ad.z
    ring_mu, ring_sig = _lognormal(s.ring_mean_s, s.ring_sd_s)
    talk_mu, talk_sig = _lognormal(s.talk_mean_s, s.talk_sd_s)
    acw_mu, acw_sig = _lognormal(s.acw_mean_s, s.acw_sd_s)
    pause_mu, pause_sig = _lognormal(s.pause_mean_s, s.pause_sd_s)
    shift = s.shift_hours * 3600.0
    change_at = math.inf if s.change_at_hours is None else s.change_at_hours * 3600.0
    n = s.agents
    state = np.full(n, _AVAILABLE, dtype=np.int8)
    since = np.zeros(n, dtype=np.float64)
    release = np.full(n, np.nan, dtype=np.float64)
    talk_of = [0.0] * n
    acw_of = [0.0] * n
    pause_of = [0.0] * n  # 0: no pause after this call's ACW
    idle_from: list[float] = [0.0] * n
    free: list[int] = list(range(n))  # available agents, longest idle first
    in_flight: dict[int, float] = {}  # call id -> dial time
    waiting: dict[int, tuple[float, bool]] = {}  # routed, waiting: call -> (routed at, machine)
    heap: list[tuple[float, int, int, int, int]] = []
    seq = 0
    on_call = 0
    c = {"placed": 0, "no_answer": 0, "machine": 0, "fp": 0, "c_live": 0, "c_mach": 0}
    c.update({"d_live": 0, "d_mach": 0})
    talk_total = 0.0
    handle_total = 0.0
    idle_total = 0.0
    observe = pacer.observe

    def push(at: float, kind: int, a: int, b: int = 0) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (at, seq, kind, a, b))

    def connect(agent: int, machine: bool, now: float) -> None:
        nonlocal on_call, talk_total, handle_total, idle_total
        idle_total += min(now, shift) - min(idle_from[agent], shift)
        talk = math.exp(talk_mu + talk_sig * az())
        if machine:
            talk = s.machine_talk_s
        acw = math.exp(acw_mu + acw_sig * az())
        pause = math.exp(pause_mu + pause_sig * az()) if au() < s.pause_probability else 0.0
        talk_of[agent], acw_of[agent], pause_of[agent] = talk, acw, pause
        state[agent] = _ON_CALL
        since[agent] = now
        release[agent] = now + talk + acw + pause
        on_call += 1
        if now < shift:
            t = min(now + talk, shift) - now
            if not machine:
                talk_total += t
            handle_total += t + max(0.0, min(now + talk + acw, shift) - (now + talk))
        if machine:
            c["c_mach"] += 1
        else:
            c["c_live"] += 1
        observe(Event(EventKind.CALL_CONNECTED, now))
        push(now + talk, _TALK_END, agent)

    def available(agent: int, now: float) -> None:
        if waiting:
            call = next(iter(waiting))
            _, machine = waiting.pop(call)
            connect(agent, machine, now)
            return
        state[agent] = _AVAILABLE
        since[agent] = now
        release[agent] = np.nan
        idle_from[agent] = now
        free.append(agent)

    def handle(at: float, kind: int, a: int, b: int) -> None:
        nonlocal on_call
        if kind == _ROUTE:
            dialed = in_flight.pop(a)
            machine = b == 1
            observe(Event(EventKind.CALL_ROUTED, at, at - dialed))
            if free:
                connect(free.pop(0), machine, at)
            else:
                waiting[a] = (at, machine)
                push(at + HANDOFF_S, _DROP_CHECK, a)
        elif kind == _DROP_CHECK:
            if a in waiting:
                _, machine = waiting.pop(a)
                c["d_mach" if machine else "d_live"] += 1
                observe(Event(EventKind.CALL_DROPPED, at))
        elif kind == _NO_ANSWER:
            dialed = in_flight.pop(a)
            c["no_answer"] += 1
            observe(Event(EventKind.CALL_UNANSWERED, at, at - dialed))
        elif kind == _MACHINE_HANGUP:
            dialed = in_flight.pop(a)
            c["fp" if b == 0 else "machine"] += 1
            observe(Event(EventKind.CALL_MACHINE, at, at - dialed))
        elif kind == _TALK_END:
            on_call -= 1
            state[a] = _ACW
            since[a] = at
            observe(Event(EventKind.TALK_ENDED, at, talk_of[a]))
            push(at + acw_of[a], _ACW_END, a)
        elif kind == _ACW_END:
            observe(Event(EventKind.ACW_ENDED, at, acw_of[a]))
            if pause_of[a] > 0:
                state[a] = _PAUSED
                since[a] = at
                observe(Event(EventKind.AGENT_PAUSED, at))
                push(at + pause_of[a], _PAUSE_END, a)
            else:
                observe(Event(EventKind.AGENT_READY, at))
                available(a, at)
        elif kind == _PAUSE_END:
            observe(Event(EventKind.PAUSE_ENDED, at, pause_of[a]))
            available(a, at)

    def place(now: float, ring_timeout: float) -> None:
        nonlocal seq
        call = c["placed"]
        c["placed"] += 1
        in_flight[call] = now
        p = s.answer_rate if now < change_at else float(s.change_answer_rate or 0.0)
        ring = math.exp(ring_mu + ring_sig * z())
        answer, machine_u, amd_u = u(), u(), u()
        if answer >= p or ring >= ring_timeout:
            push(now + ring_timeout, _NO_ANSWER, call)
            return
        machine = machine_u < s.machine_rate
        if s.amd:
            at = now + ring + s.amd_s
            if machine and amd_u >= s.amd_false_negative:
                push(at, _MACHINE_HANGUP, call, 1)
            elif not machine and amd_u < s.amd_false_positive:
                push(at, _MACHINE_HANGUP, call, 0)
            else:
                push(at, _ROUTE, call, int(machine))
        else:
            push(now + ring, _ROUTE, call, int(machine))

    ticks = int(shift / s.tick_s)
    empty = np.zeros(0, dtype=np.float64)
    for i in range(ticks):
        now = i * s.tick_s
        while heap and heap[0][0] <= now:
            at, _, kind, a, b = heapq.heappop(heap)
            handle(at, kind, a, b)
        if in_flight:
            dial_times = np.fromiter(in_flight.values(), dtype=np.float64, count=len(in_flight))
        else:
            dial_times = empty
        snap = Snapshot(
            now=now,
            agent_state=state,
            agent_time_in_state=now - since,
            call_dial_times=dial_times,
            calls_waiting=len(waiting),
            channels_in_use=len(in_flight) + len(waiting) + on_call,
            agent_release_at=release if oracle else None,
        )
        decision = pacer.decide(snap)
        calls = decision.calls
        if preview:
            # The agents ask: each one free for ``preview_s`` without a call of its own dials.
            looked = int(np.count_nonzero((state == _AVAILABLE) & (now - since >= s.preview_s)))
            calls = max(0, looked - len(in_flight) - len(waiting))
        for _ in range(calls):
            place(now, decision.ring_timeout_s)
    while heap:  # the shift is over: no new calls, let the ones in progress end
        at, _, kind, a, b = heapq.heappop(heap)
        handle(at, kind, a, b)
    for agent in free:
        idle_total += shift - min(idle_from[agent], shift)
    logged_in = n * shift
    lives = c["c_live"] + c["d_live"] + c["fp"]
    return RunResult(
        scenario=s.name,
        policy=name,
        seed=seed,
        utilisation=talk_total / logged_in,
        occupancy=handle_total / logged_in,
        abandon_rate=(c["d_live"] + c["fp"]) / lives if lives else 0.0,
        calls_per_agent_hour=c["c_live"] / (logged_in / 3600.0),
        agent_wait_per_call_s=idle_total / c["c_live"] if c["c_live"] else 0.0,
        placed=c["placed"],
        no_answer=c["no_answer"],
        machine_hangup=c["machine"],
        amd_false_positive=c["fp"],
        connected_live=c["c_live"],
        connected_machine=c["c_mach"],
        dropped_live=c["d_live"],
        dropped_machine=c["d_mach"],
    )


def simulate_seeds(scenario: Scenario, policy: str, seeds: int) -> list[RunResult]:
    """``seeds`` runs (seeds 0..seeds-1) of the same scenario and policy."""
    return [simulate(scenario, policy, seed) for seed in range(seeds)]


def summarise(results: list[RunResult]) -> dict[str, float]:
    """Means over runs, and the worst abandon rate."""
    keys = (
        "utilisation",
        "occupancy",
        "abandon_rate",
        "calls_per_agent_hour",
        "agent_wait_per_call_s",
    )
    out = {k: float(np.mean([getattr(r, k) for r in results])) for k in keys}
    out["max_abandon_rate"] = max(r.abandon_rate for r in results)
    return out
