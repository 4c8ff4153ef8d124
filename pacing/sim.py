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
from typing import Any

import numpy as np

from pacing.baselines import AdaptTapered
from pacing.blend import Blended
from pacing.estimators import Priors
from pacing.events import Event, EventKind
from pacing.guard import Guard, GuardConfig
from pacing.inbound import Inbound, QueueTarget
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
_IN_ARRIVE, _IN_ABANDON = 7, 8
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
    # Blended scenarios only (docs/blending.md); left out of to_json() otherwise.
    blended: bool = False
    outbound_utilisation: float = 0.0  # outbound live talk / (logged-in - inbound callers' time)
    inbound_occupancy: float = 0.0  # inbound talk + ACW / logged-in time
    inbound_pause_share: float = 0.0  # pauses after inbound calls / logged-in time
    inbound_offered: int = 0  # callers who arrived during the shift
    inbound_answered: int = 0
    inbound_answered_within: int = 0  # answered within the scenario's service threshold
    inbound_abandoned: int = 0  # hung up while waiting in the queue
    inbound_service_level: float = 1.0  # answered within the threshold / offered
    inbound_abandon_rate: float = 0.0  # abandoned in queue / offered
    inbound_mean_wait_s: float = 0.0  # of answered callers (ASA)
    inbound_mean_wait_all_s: float = 0.0  # of all callers, abandons at their wait

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

    def inbound_outcomes(self) -> int:
        """Every inbound caller is answered or abandons, once."""
        return self.inbound_answered + self.inbound_abandoned

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        if not self.blended:
            for f in _BLENDED_FIELDS:
                del out[f]
        return out


_BLENDED_FIELDS = tuple(
    f
    for f in RunResult.__dataclass_fields__
    if f == "blended" or f.split("_")[0] in ("inbound", "outbound")
)


def make_policy(name: str, scenario: Scenario, *, reserve: bool = True) -> Guard:
    """The named policy behind its guard. Baselines run unguarded (their own rules only).

    In a blended scenario the policy is wrapped in :class:`~pacing.blend.Blended` (inside the
    guard): ``reserve=False`` is the baseline that holds no agents for inbound.
    """
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
        return Guard(_blend(policy, scenario, reserve), cfg, campaign=scenario.name)
    else:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}")
    return Guard(
        _blend(policy, scenario, reserve),
        GuardConfig(enforce_cap=False, **limits),  # type: ignore[arg-type]
        campaign=scenario.name,
    )


def _blend(policy: Policy, s: Scenario, reserve: bool) -> Policy:
    if not s.inbound:
        return policy
    target = QueueTarget(s.inbound_service_level, s.inbound_service_threshold_s)
    return Blended(policy, Inbound({"": target}), reserve=reserve)


def inbound_rate_per_s(s: Scenario, t: float) -> float:
    """The scenario's inbound arrival rate at ``t`` seconds into the shift."""
    rate = float(s.inbound_rate_per_hour or 0.0) / 3600.0
    if s.inbound_sine_amplitude:
        period = s.inbound_sine_period_hours * 3600.0
        rate *= 1.0 + s.inbound_sine_amplitude * math.sin(2.0 * math.pi * t / period)
    if s.inbound_surge_at_hours is not None:
        start = s.inbound_surge_at_hours * 3600.0
        if start <= t < start + s.inbound_surge_hours * 3600.0:
            rate *= s.inbound_surge_factor
    return rate


def inbound_load_erlangs(s: Scenario, step_s: float = 60.0) -> float:
    """The shift's mean inbound load: mean arrival rate x the agent time a caller takes.

    That is talk + ACW + the pause the agent takes after the call (probability x mean): the
    simulator draws that pause with the caller, so it is the caller's, as an outbound call's
    pause is the outbound work's.
    """
    if not s.inbound:
        return 0.0
    shift = s.shift_hours * 3600.0
    ts = np.arange(0.0, shift, step_s) + step_s / 2
    mean_rate = float(np.mean([inbound_rate_per_s(s, float(t)) for t in ts]))
    per_caller = s.inbound_talk_mean_s + s.inbound_acw_mean_s + s.pause_probability * s.pause_mean_s
    return mean_rate * per_caller


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
    oracle = name in ("oracle", "oracle_unreserved")
    preview = name in ("preview", "preview_unreserved")
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
    # Inbound (blended scenarios): callers from a third stream, drawn at arrival with their
    # patience, talk, ACW and pause after the call, so every policy meets the same callers.
    blended = s.inbound
    in_queue: dict[int, float] = {}  # caller -> arrival time, first come first served
    callers: dict[int, tuple[float, float, float, float]] = {}  # talk, ACW, pause, patience
    inbound_of = [False] * n  # is the agent's current call inbound
    ic = {"offered": 0, "answered": 0, "within": 0, "abandoned": 0}
    wait_answered = 0.0
    wait_abandoned = 0.0
    inbound_handle = 0.0
    inbound_pause = 0.0  # pauses after inbound calls (in the shift): the callers' load too
    if blended:
        in_seq = np.random.SeedSequence(seed).spawn(3)[2]
        idr = _Draws(np.random.default_rng(in_seq))
        iu, iz = idr.u, idr.z
        in_talk_mu, in_talk_sig = _lognormal(s.inbound_talk_mean_s, s.inbound_talk_sd_s)
        in_acw_mu, in_acw_sig = _lognormal(s.inbound_acw_mean_s, s.inbound_acw_sd_s)
        pat_mu, pat_sig = _lognormal(s.inbound_patience_mean_s, s.inbound_patience_sd_s)
        peak = float(s.inbound_rate_per_hour or 0.0) / 3600.0
        peak *= (1.0 + s.inbound_sine_amplitude) * max(1.0, s.inbound_surge_factor)
        threshold = s.inbound_service_threshold_s
        inner = getattr(pacer, "policy", None)
        if isinstance(inner, Blended):
            inner.inbound.open(0.0)

    def next_arrival(after: float) -> None:
        # Thinning (Lewis & Shedler 1979): candidates at the peak rate, each kept with
        # probability rate(t) / peak, give a Poisson process with the time-varying rate.
        t = after
        while peak > 0:
            t += -math.log(1.0 - iu()) / peak
            if t >= shift:
                return
            if iu() * peak < inbound_rate_per_s(s, t):
                break
        else:
            return
        caller = ic["offered"]
        ic["offered"] += 1
        talk = math.exp(in_talk_mu + in_talk_sig * iz())
        acw = math.exp(in_acw_mu + in_acw_sig * iz())
        pause_u, pause_z = iu(), iz()
        pause = math.exp(pause_mu + pause_sig * pause_z) if pause_u < s.pause_probability else 0.0
        if s.inbound_patience == "lognormal":
            patience = math.exp(pat_mu + pat_sig * iz())
        else:
            patience = -s.inbound_patience_mean_s * math.log(1.0 - iu())
        callers[caller] = (talk, acw, pause, patience)
        push(t, _IN_ARRIVE, caller)

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
        if s.acw_max_s is not None:
            acw = min(acw, s.acw_max_s)  # the ACW timer releases the agent
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

    def connect_inbound(agent: int, caller: int, arrived: float, now: float) -> None:
        nonlocal idle_total, handle_total, inbound_handle, inbound_pause, wait_answered
        idle_total += min(now, shift) - min(idle_from[agent], shift)
        talk, acw, pause, _ = callers.pop(caller)
        talk_of[agent], acw_of[agent], pause_of[agent] = talk, acw, pause
        inbound_of[agent] = True
        state[agent] = _ON_CALL
        since[agent] = now
        release[agent] = now + talk + acw + pause
        if now < shift:
            t = min(now + talk + acw, shift) - now
            handle_total += t
            inbound_handle += t
            ends = now + talk + acw
            inbound_pause += max(0.0, min(ends + pause, shift) - min(ends, shift))
        wait = now - arrived
        ic["answered"] += 1
        wait_answered += wait
        if wait <= threshold:
            ic["within"] += 1
        observe(Event(EventKind.INBOUND_ANSWERED, now, wait))
        push(now + talk, _TALK_END, agent)

    def available(agent: int, now: float) -> None:
        if in_queue:  # inbound first: a waiting caller takes the released agent
            caller = next(iter(in_queue))
            connect_inbound(agent, caller, in_queue.pop(caller), now)
            return
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
        nonlocal on_call, wait_abandoned
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
            state[a] = _ACW
            since[a] = at
            if inbound_of[a]:
                observe(Event(EventKind.INBOUND_TALK_ENDED, at, talk_of[a]))
            else:
                on_call -= 1
                observe(Event(EventKind.TALK_ENDED, at, talk_of[a]))
            push(at + acw_of[a], _ACW_END, a)
        elif kind == _ACW_END:
            if inbound_of[a]:
                inbound_of[a] = False
                observe(Event(EventKind.INBOUND_ACW_ENDED, at, acw_of[a]))
            else:
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
        elif kind == _IN_ARRIVE:
            observe(Event(EventKind.INBOUND_ARRIVED, at))
            if free:
                connect_inbound(free.pop(0), a, at, at)
            else:
                in_queue[a] = at
                push(at + callers[a][3], _IN_ABANDON, a)
            next_arrival(at)
        elif kind == _IN_ABANDON and a in in_queue:  # else answered already
            wait = at - in_queue.pop(a)
            del callers[a]
            ic["abandoned"] += 1
            wait_abandoned += wait
            observe(Event(EventKind.INBOUND_ABANDONED, at, wait))

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
    if blended:
        next_arrival(0.0)
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
            inbound_waiting=len(in_queue),
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
        **_inbound_figures(
            blended,
            ic,
            talk_total,
            logged_in,
            inbound_handle,
            inbound_pause,
            wait_answered,
            wait_abandoned,
        ),
    )


def _inbound_figures(
    blended: bool,
    ic: dict[str, int],
    outbound_talk: float,
    logged_in: float,
    inbound_handle: float,
    inbound_pause: float,
    wait_answered: float,
    wait_abandoned: float,
) -> dict[str, Any]:
    if not blended:
        return {}
    offered = ic["offered"]
    spare = logged_in - inbound_handle - inbound_pause
    return {
        "blended": True,
        "outbound_utilisation": outbound_talk / spare if spare > 0 else 0.0,
        "inbound_occupancy": inbound_handle / logged_in,
        "inbound_pause_share": inbound_pause / logged_in,
        "inbound_offered": offered,
        "inbound_answered": ic["answered"],
        "inbound_answered_within": ic["within"],
        "inbound_abandoned": ic["abandoned"],
        "inbound_service_level": ic["within"] / offered if offered else 1.0,
        "inbound_abandon_rate": ic["abandoned"] / offered if offered else 0.0,
        "inbound_mean_wait_s": wait_answered / ic["answered"] if ic["answered"] else 0.0,
        "inbound_mean_wait_all_s": (wait_answered + wait_abandoned) / offered if offered else 0.0,
    }


def simulate_seeds(
    scenario: Scenario, policy: str, seeds: int, *, reserve: bool = True
) -> list[RunResult]:
    """``seeds`` runs (seeds 0..seeds-1) of the same scenario and policy (``reserve=False``:
    a blended scenario's baseline that holds no agents for inbound)."""
    if reserve:
        return [simulate(scenario, policy, seed) for seed in range(seeds)]
    return [
        simulate(scenario, make_policy(policy, scenario, reserve=False), seed)
        for seed in range(seeds)
    ]


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
    if results[0].blended:
        blended = (
            "outbound_utilisation",
            "inbound_occupancy",
            "inbound_service_level",
            "inbound_abandon_rate",
            "inbound_mean_wait_s",
        )
        out.update({k: float(np.mean([getattr(r, k) for r in results])) for k in blended})
        out["min_inbound_service_level"] = min(r.inbound_service_level for r in results)
    return out
