"""Pacing policies behind one interface: ``observe(event)`` and ``decide(snapshot)``.

- :class:`Preview`: no automatic calls; the agent asks for the next contact.
- :class:`Progressive`: calls = free agents x ratio, less the calls already in flight.
- :class:`Predictive`: the agents likely to be free when the calls placed now would be answered
  (conditional residual talk/ACW/pause times given each agent's time in state), against the live
  answers already in the pipe; places the largest number of calls whose marginal drop risk is
  under a threshold steered by feedback on the realised abandon rate (EIS patents US 5,640,445 /
  5,926,528; research: pacing-rules-and-methods.md §2.3).
- :class:`Agentless`: a fixed number of channels at a fixed calls-per-second rate.
- :class:`AdaptTapered`: VICIdial's ADAPT_TAPERED controller, as a baseline (dialers.md §2.3).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from pacing.abandon import RollingAbandon
from pacing.decision import Decision
from pacing.estimators import CampaignEstimators, Priors, normal_cdf
from pacing.events import Event, EventKind
from pacing.snapshot import AgentState, FloatArray, Snapshot

HANDOFF_S = 2.0  # FTC 310.4(b)(1)(iv): connected within 2 s of the greeting, else abandoned


class Policy(Protocol):
    name: str

    def observe(self, event: Event) -> None: ...

    def decide(self, snapshot: Snapshot) -> Decision: ...


def progressive_calls(snapshot: Snapshot, ratio: float = 1.0) -> int:
    """Free agents x ratio, less calls in flight and live answers waiting (never < 0)."""
    free = snapshot.available_agents()
    return max(0, math.floor(free * ratio + 1e-9) - snapshot.in_flight() - snapshot.calls_waiting)


class Preview:
    """The agent asks for each contact: the dialer places nothing by itself."""

    name = "preview"

    def observe(self, event: Event) -> None:
        return None

    def decide(self, snapshot: Snapshot) -> Decision:
        return Decision(self.name, snapshot.now, 0, "preview: agents ask for their next contact")


class Progressive:
    """Calls = free agents x ratio - calls in flight - live answers waiting."""

    def __init__(self, ratio: float = 1.0) -> None:
        if not ratio > 0:
            raise ValueError(f"ratio must be > 0, got {ratio}")
        self.ratio = ratio
        self.name = "progressive" if ratio == 1.0 else f"ratio{ratio:g}"

    def observe(self, event: Event) -> None:
        return None

    def decide(self, snapshot: Snapshot) -> Decision:
        free = snapshot.available_agents()
        calls = progressive_calls(snapshot, self.ratio)
        return Decision(
            self.name,
            snapshot.now,
            calls,
            f"{free:g} free agents x {self.ratio:g} - {snapshot.in_flight()} in flight "
            f"- {snapshot.calls_waiting} waiting -> {calls}",
            inputs={
                "free_agents": free,
                "in_flight": snapshot.in_flight(),
                "waiting": snapshot.calls_waiting,
                "ratio": self.ratio,
            },
        )


class Agentless:
    """No agents: keep ``channels`` calls up, placing at most ``calls_per_s`` per tick."""

    name = "agentless"

    def __init__(self, channels: int, calls_per_s: float) -> None:
        if channels < 0:
            raise ValueError(f"channels must be >= 0, got {channels}")
        if not calls_per_s > 0:
            raise ValueError(f"calls_per_s must be > 0, got {calls_per_s}")
        self.channels = channels
        self.calls_per_s = calls_per_s

    def observe(self, event: Event) -> None:
        return None

    def decide(self, snapshot: Snapshot) -> Decision:
        busy = snapshot.channels_in_use or snapshot.in_flight()
        calls = max(0, min(self.channels - busy, math.floor(self.calls_per_s)))
        return Decision(
            self.name,
            snapshot.now,
            calls,
            f"{busy} of {self.channels} channels busy, {self.calls_per_s:g} calls/s -> {calls}",
            inputs={"channels_busy": busy, "channels": self.channels, "cps": self.calls_per_s},
        )


class Predictive:
    """Agents likely free at answer time vs live answers in the pipe, under a drop-risk bound.

    Each tick, for new calls routed at delay rho (K quantiles of the learned dial-to-routing
    delay), the marginal call is dropped when the live answers routed before it (waiting now,
    in flight, the other new calls) are at least the agents free by rho + 2 s. Both counts are
    sums of Bernoullis (Normal approximation); the policy places the largest n whose marginal
    drop probability, averaged over rho, is <= theta. theta follows the realised abandon rate
    by integral feedback: up by gain x target per live answer, down by gain per drop, so drops
    / live answers converge on the target (EIS US 5,926,528: window adjusted by the realised
    abandon ratio). Progressive until ``warmup_routed`` routed calls and ``warmup_talks`` talk
    ends have been observed.
    """

    name = "predictive"

    def __init__(
        self,
        target: float = 0.02,
        *,
        priors: Priors | None = None,
        theta: float = 0.08,
        gain: float = 0.05,
        theta_bounds: tuple[float, float] = (0.005, 0.4),
        warmup_routed: int = 30,
        warmup_talks: int = 20,
        half_life: float = 200.0,
        refresh_s: float = 120.0,
        horizons: int = 8,
        oracle: bool = False,
    ) -> None:
        if not 0 < target < 1:
            raise ValueError(f"target must be in (0, 1), got {target}")
        lo, hi = theta_bounds
        if not 0 < lo <= theta <= hi < 1:
            raise ValueError(f"theta must be within theta_bounds in (0, 1), got {theta}")
        self.target = target
        self.gain = gain
        self.theta_bounds = theta_bounds
        self._log_theta = math.log(theta)
        self.warmup_routed = warmup_routed
        self.warmup_talks = warmup_talks
        self.refresh_s = refresh_s
        self.oracle = oracle
        self.name = "oracle" if oracle else "predictive"
        self.est = CampaignEstimators(priors, half_life=half_life)
        self.risk_scale = 1.0  # set by the guard: < 1 while tightening near the cap
        self._probs = (np.arange(horizons) + 0.5) / horizons
        self._tables_at = -math.inf
        self._active = False
        self.shift = RollingAbandon(86400.0, 1440)
        # Tables filled by _refresh: horizons rho, per-state release probabilities by elapsed.
        self._rho = np.zeros(horizons)
        self._e_step = 2.0
        self._p_talk = np.zeros((1, horizons))
        self._p_acw = np.zeros((1, horizons))
        self._p_pause = np.zeros((1, horizons))
        self._r_edges = np.zeros(1)
        self._r_cdf = np.zeros(1)

    # -- learning -------------------------------------------------------------------------

    @property
    def theta(self) -> float:
        return math.exp(self._log_theta)

    def observe(self, event: Event) -> None:
        self.est.observe(event)
        kind = event.kind
        if kind is EventKind.CALL_CONNECTED:
            self.shift.add(event.at, 1.0, 0.0)
            if self._active:
                self._nudge(self.gain * self.target)
        elif kind is EventKind.CALL_DROPPED:
            self.shift.add(event.at, 1.0, 1.0)
            if self._active:
                self._nudge(-self.gain * (1.0 - self.target))

    def _nudge(self, step: float) -> None:
        lo, hi = self.theta_bounds
        self._log_theta = min(max(self._log_theta + step, math.log(lo)), math.log(hi))

    def _refresh(self, now: float) -> None:
        """Rebuild the release-probability tables from the current distributions."""
        est = self.est
        self._rho = est.route_delay.quantiles(self._probs)
        x = self._rho + HANDOFF_S  # an agent freed up to 2 s after the answer still connects
        stay = 1.0 - est.pause.value  # an agent who pauses after ACW is not coming back soon
        w = est.acw.quantiles((np.arange(16) + 0.5) / 16)
        self._p_talk = stay * _residual_table(est.talk.cdf(), est.talk.bin_s, self._e_step, x, w)
        self._p_acw = stay * _residual_table(est.acw.cdf(), est.acw.bin_s, self._e_step, x, None)
        self._p_pause = _residual_table(
            est.pause_length.cdf(), est.pause_length.bin_s, self._e_step, x, None
        )
        bins = est.route_delay.bins
        self._r_edges = np.arange(bins + 1) * est.route_delay.bin_s
        self._r_cdf = np.concatenate(([0.0], est.route_delay.cdf()))
        self._tables_at = now

    # -- deciding -------------------------------------------------------------------------

    def decide(self, snapshot: Snapshot) -> Decision:
        est = self.est
        warm = est.routed.count >= self.warmup_routed and est.talk.count >= self.warmup_talks
        if self.oracle and snapshot.agent_release_at is not None:
            warm = est.routed.count >= self.warmup_routed
        if not warm:
            self._active = False
            calls = progressive_calls(snapshot)
            return Decision(
                self.name,
                snapshot.now,
                calls,
                f"warming up ({est.routed.count}/{self.warmup_routed} routed calls, "
                f"{est.talk.count}/{self.warmup_talks} talks observed): progressive -> {calls}",
                inputs={
                    "free_agents": snapshot.available_agents(),
                    "in_flight": snapshot.in_flight(),
                },
            )
        self._active = True
        if snapshot.now - self._tables_at >= self.refresh_s:
            self._refresh(snapshot.now)
        return self._decide(snapshot)

    def _supply(self, snapshot: Snapshot) -> tuple[float, FloatArray, FloatArray]:
        """Agents free now, and per horizon the expected extra agents freed and its variance."""
        state = snapshot.agent_state
        share = snapshot.shares
        free_now = float(share[state == AgentState.AVAILABLE].sum())
        k = self._rho.shape[0]
        mean = np.zeros(k)
        var = np.zeros(k)
        x = self._rho + HANDOFF_S
        release = snapshot.agent_release_at
        if self.oracle and release is not None:
            busy = (state != AgentState.AVAILABLE) & (state != AgentState.LOGGED_OUT)
            left = release[busy] - snapshot.now
            hit = (left[:, None] <= x[None, :]).astype(np.float64)
            mean += share[busy] @ hit
            return free_now, mean, var
        tis = snapshot.agent_time_in_state
        step = self._e_step
        for code, table in (
            (AgentState.ON_CALL, self._p_talk),
            (AgentState.ACW, self._p_acw),
            (AgentState.PAUSED, self._p_pause),
            (AgentState.RESERVED, self._p_talk),
        ):
            sel = state == code
            if not sel.any():
                continue
            if code is AgentState.RESERVED:
                idx = np.zeros(int(np.count_nonzero(sel)), dtype=np.intp)
            else:
                idx = np.minimum((tis[sel] / step).astype(np.intp), table.shape[0] - 1)
            p = table[idx]
            s = share[sel]
            mean += s @ p
            var += (s * s) @ (p * (1.0 - p))
        return free_now, mean, var

    def _decide(self, snapshot: Snapshot) -> Decision:
        est = self.est
        q = est.live_rate
        rho = self._rho
        free_now, sup_mean, sup_var = self._supply(snapshot)
        # Live answers routed before each horizon from the calls in flight: P(routes and
        # routes by age + rho | not routed by its age), from the route-delay distribution.
        ages = snapshot.now - snapshot.call_dial_times
        if ages.shape[0]:
            f_age = np.interp(ages, self._r_edges, self._r_cdf)
            f_by = np.interp(ages[:, None] + rho[None, :], self._r_edges, self._r_cdf)
            denom = q * (1.0 - f_age) + (1.0 - q)
            p_in = q * (f_by - f_age[:, None]) / denom[:, None]
            dem_mean = p_in.sum(axis=0)
            dem_var = (p_in * (1.0 - p_in)).sum(axis=0)
        else:
            dem_mean = np.zeros_like(rho)
            dem_var = np.zeros_like(rho)
        waiting = float(snapshot.calls_waiting)
        theta = self.theta * self.risk_scale
        f_new = q * self._probs  # P(a new call is live and routed before horizon k)
        base_mu = waiting + dem_mean - free_now - sup_mean
        base_var = dem_var + sup_var + 0.25
        calls = 0
        risk_next = 0.0
        block = 32
        while True:
            others = np.arange(calls, calls + block, dtype=np.float64)[:, None]
            mu = base_mu[None, :] + others * f_new[None, :]
            sd = np.sqrt(base_var[None, :] + others * (f_new * (1.0 - f_new))[None, :])
            risk = normal_cdf((mu + 0.5) / sd).mean(axis=1)
            over = np.flatnonzero(risk > theta)
            if over.shape[0]:
                calls += int(over[0])
                risk_next = float(risk[over[0]])
                break
            calls += block
            if calls >= 100_000:
                break
        return Decision(
            self.name,
            snapshot.now,
            calls,
            f"{free_now:g} free + {float(sup_mean.mean()):.1f} freeing by answer time vs "
            f"{waiting:g} waiting + {float(dem_mean.mean()):.1f} live in flight; live rate "
            f"{q:.3f}; {calls} calls keep each call's drop risk <= {theta:.3f}",
            inputs={
                "free_agents": free_now,
                "in_flight": snapshot.in_flight(),
                "waiting": waiting,
                "agents": float(snapshot.agent_state.shape[0]),
            },
            quantities={
                "live_rate": q,
                "answer_rate": est.answer.value,
                "route_delay_median_s": float(np.median(rho)),
                "agents_freeing": float(sup_mean.mean()),
                "live_in_flight": float(dem_mean.mean()),
                "theta": theta,
                "risk_of_next_call": risk_next,
                "shift_abandon_rate": self.shift.rate(),
            },
        )


def _residual_table(
    cdf: FloatArray, bin_s: float, e_step: float, x: FloatArray, extra: FloatArray | None
) -> FloatArray:
    """P(residual + extra <= x_k | elapsed e) for e on a grid of ``e_step``, shape (E, K).

    ``cdf[i]`` is P(D < (i+1) bin_s); ``extra`` are equal-probability points of an independent
    time added after the residual (ACW after talk), or None.
    """
    edges = np.arange(cdf.shape[0] + 1) * bin_s
    cdf0 = np.concatenate(([0.0], cdf))
    e = np.arange(0.0, edges[-1], e_step)
    f_e = np.interp(e, edges, cdf0)
    surv = np.maximum(1.0 - f_e, 1e-12)
    if extra is None:
        f_ex = np.interp(e[:, None] + x[None, :], edges, cdf0)
        p = (f_ex - f_e[:, None]) / surv[:, None]
    else:
        t = e[:, None, None] + x[None, :, None] - extra[None, None, :]
        gained = np.maximum(np.interp(t, edges, cdf0) - f_e[:, None, None], 0.0)
        p = gained.mean(axis=2) / surv[:, None]
    # Past the observed tail the estimate is noise: treat the agent as about to finish.
    p[1.0 - f_e < 1e-9] = 1.0
    return np.clip(p, 0.0, 1.0)
