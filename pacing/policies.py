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

# FTC 310.4(b)(1)(iv): connected within 2 s of the greeting, else abandoned
HANDOFF_S = 2.0
_AVAILABLE = int(AgentState.AVAILABLE)
_RESERVED = int(AgentState.RESERVED)
_ON_CALL = int(AgentState.ON_CALL)
_ACW = int(AgentState.ACW)
_PAUSED = int(AgentState.PAUSED)


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
    # Counts callers with priority (Snapshot.priority_rate) in its drop risk: a blended
    # wrapper need not hold agents for them (pacing.blend).
    uses_priority_demand = True

    def __init__(
        self,
        target: float = 0.02,
        *,
        priors: Priors | None = None,
        theta: float = 0.03,
        gain: float = 0.15,
        rate_gain: float = 0.5,
        theta_bounds: tuple[float, float] = (0.005, 0.4),
        warmup_routed: int = 30,
        warmup_talks: int = 20,
        half_life: float = 200.0,
        refresh_s: float = 300.0,
        horizons: int = 16,
        exact_max_terms: int = 48,
        oracle: bool = False,
        amd_false_positive: float = 0.0,
    ) -> None:
        if not 0 < target < 1:
            raise ValueError(f"target must be in (0, 1), got {target}")
        lo, hi = theta_bounds
        if not 0 < lo <= theta <= hi < 1:
            raise ValueError(f"theta must be within theta_bounds in (0, 1), got {theta}")
        self.target = target
        self.amd_false_positive = amd_false_positive  # share of AMD hang-ups that were live
        self.gain = gain
        self.rate_gain = rate_gain
        self.theta_bounds = theta_bounds
        self._log_theta = math.log(theta)
        self.warmup_routed = warmup_routed
        self.warmup_talks = warmup_talks
        self.refresh_s = refresh_s
        # Agents + calls in flight up to which the drop risk is computed exactly (the same
        # rule for the oracle, so the gap to it measures prediction only).
        self.exact_max_terms = exact_max_terms
        self.oracle = oracle
        self.name = "oracle" if oracle else "predictive"
        self.est = CampaignEstimators(priors, half_life=half_life)
        self._probs = (np.arange(horizons) + 0.5) / horizons
        self._tables_at = -math.inf
        self._active = False
        self.shift = RollingAbandon(86400.0, 1440)
        # Tables filled by _refresh: horizons rho, per-state release probabilities by elapsed.
        self._rho = np.zeros(horizons)
        self._e_step = 1.0
        self._e_per_s = 1.0 / self._e_step
        self._table = np.zeros((len(AgentState), 1, horizons))
        self._x = np.zeros(horizons)
        self._zero_k = np.zeros(horizons)
        self._first_block = np.arange(4.0)[:, None]
        self._next_block = np.arange(64.0)[:, None]
        self._weights = np.full(horizons, 1.0 / horizons)
        self._rho_median = 0.0
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
            self._feedback(event.at, 1.0, 0.0)
        elif kind is EventKind.CALL_DROPPED:
            self._feedback(event.at, 1.0, 1.0)
        elif kind is EventKind.CALL_MACHINE and self.amd_false_positive > 0:
            # Ofcom counts AMD hang-ups on live people as abandons: an estimate of them
            # spends the same budget as drops.
            fp = self.amd_false_positive
            self._feedback(event.at, fp, fp)

    def _feedback(self, at: float, lives: float, drops: float) -> None:
        self.shift.add(at, lives, drops)
        if not self._active:
            return
        # Integral term on each outcome (drops / live answers converge on the target), plus a
        # slower term on the shift's rate so far, which removes the offset the first term
        # keeps when theta settles away from its starting value.
        target = self.target
        shift_rate = (self.shift.drops + target * 50.0) / (self.shift.lives + 50.0)
        self._nudge(
            self.gain * (target * lives - drops) + self.rate_gain * lives * (target - shift_rate)
        )

    def _nudge(self, step: float) -> None:
        lo, hi = self.theta_bounds
        self._log_theta = min(max(self._log_theta + step, math.log(lo)), math.log(hi))

    def _refresh(self, now: float) -> None:
        """Rebuild the release-probability tables from the current distributions."""
        est = self.est
        self._rho = est.route_delay.quantiles(self._probs)
        x = self._rho + HANDOFF_S  # an agent freed up to 2 s after the answer still connects
        stay = 1.0 - est.pause.value  # an agent who pauses after ACW is not coming back soon
        w = est.acw.quantiles((np.arange(8) + 0.5) / 8)
        p_talk = stay * _residual_table(est.talk.cdf(), est.talk.bin_s, self._e_step, x, w)
        p_acw = stay * _residual_table(est.acw.cdf(), est.acw.bin_s, self._e_step, x, None)
        p_pause = _residual_table(
            est.pause_length.cdf(), est.pause_length.bin_s, self._e_step, x, None
        )
        # One table indexed by [agent state, elapsed step, horizon]: available agents count 1,
        # logged-out 0, a reserved agent is about to start a talk.
        rows = max(p_talk.shape[0], p_acw.shape[0], p_pause.shape[0])
        table = np.zeros((len(AgentState), rows, x.shape[0]))
        table[_AVAILABLE] = 1.0
        table[_RESERVED] = p_talk[0]
        for code, part in ((_ON_CALL, p_talk), (_ACW, p_acw), (_PAUSED, p_pause)):
            table[code, : part.shape[0]] = part
            table[code, part.shape[0] :] = part[-1]
        self._table = table
        self._x = x
        self._rho_median = float(np.median(self._rho))
        bins = est.route_delay.bins
        self._r_edges = np.arange(bins + 1, dtype=np.float64) * est.route_delay.bin_s
        self._r_cdf = np.concatenate(([0.0], est.route_delay.cdf()))
        self._tables_at = now

    # -- deciding -------------------------------------------------------------------------

    def decide(self, snapshot: Snapshot) -> Decision:
        est = self.est
        warm = est.routed.count >= self.warmup_routed and est.talk.count >= self.warmup_talks
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

    def _release_probabilities(self, snapshot: Snapshot) -> FloatArray:
        """P(agent free by horizon k), shape (agents, K): 1 for agents free now, 0 logged out;
        for busy agents the conditional residual tables, or their exact release (oracle)."""
        state = snapshot.agent_state
        release = snapshot.agent_release_at
        if self.oracle and release is not None:
            left = release - snapshot.now  # NaN for agents not busy: compares False
            p = (left[:, None] <= self._x[None, :]).astype(np.float64)
            p[state == _AVAILABLE] = 1.0
            return p
        table = self._table
        idx = np.minimum(snapshot.agent_time_in_state * self._e_per_s, table.shape[1] - 1)
        return table[state, idx.astype(np.intp)]

    def _normal_calls(
        self, base: FloatArray, var: FloatArray, f_new: FloatArray, theta: float
    ) -> tuple[int, float]:
        """As :func:`_exact_calls`, with both sums as Normals (continuity-corrected): a few
        array operations for hundreds of agents and calls, where the Normal is accurate."""
        v_new = f_new * (1.0 - f_new)
        base_mu = base + 0.5
        base_var = var + 0.25
        calls = 0
        others = self._first_block  # most ticks place a few calls: try a small block first
        while True:
            z = (base_mu + others * f_new) / np.sqrt(base_var + others * v_new)
            risk = normal_cdf(z) @ self._weights
            over = np.flatnonzero(risk > theta)
            if over.shape[0]:
                return calls + int(over[0]), float(risk[over[0]])
            calls += others.shape[0]
            if calls >= 100_000:
                return calls, 0.0
            others = self._next_block + calls

    def _decide(self, snapshot: Snapshot) -> Decision:
        est = self.est
        q = est.live_rate
        rho = self._rho
        share = snapshot.shares
        free_now = float(share[snapshot.agent_state == _AVAILABLE].sum())
        p_sup = self._release_probabilities(snapshot)  # free now included
        sup_mean = share @ p_sup
        # Live answers routed before each horizon from the calls in flight: P(routes and
        # routes by age + rho | not routed by its age), from the route-delay distribution.
        ages = snapshot.now - snapshot.call_dial_times
        if ages.shape[0]:
            f_age = np.interp(ages, self._r_edges, self._r_cdf)
            f_by = np.interp(ages[:, None] + rho, self._r_edges, self._r_cdf)
            # P(routed by age + rho | not routed by age) = q (F(a+rho) - F(a)) / (1 - q F(a))
            p_in = (f_by - f_age[:, None]) * (q / (1.0 - q * f_age))[:, None]
            dem_mean = p_in.sum(axis=0)
        else:
            p_in = np.zeros((0, rho.shape[0]))
            dem_mean = self._zero_k
        waiting = float(snapshot.calls_waiting)
        theta = self.theta * snapshot.risk_scale  # the guard's tightening near the cap
        f_new = q * self._probs  # P(a new call is live and routed before horizon k)
        # Callers with priority (inbound, set by pacing.blend) arriving at priority_rate per
        # second take agents before the calls placed now are routed; the first
        # priority_absorbed of them take agents held out of this view. A Poisson demand term
        # in the drop risk; at rate 0 (outbound only) the decision is exactly as without it.
        extra = (
            _spill_pmf(snapshot.priority_rate * self._x, snapshot.priority_absorbed)
            if snapshot.priority_rate > 0
            else None
        )
        whole_agents = snapshot.agent_share is None or bool(np.all(share == 1.0))
        if whole_agents and p_sup.shape[0] + p_in.shape[0] <= self.exact_max_terms:
            calls, risk_next = _exact_calls(
                p_sup, p_in, waiting, f_new, self._weights, theta, extra=extra
            )
            method = "exact"
        else:
            sup_var = (share * share) @ (p_sup * (1.0 - p_sup))
            dem_var = (p_in * (1.0 - p_in)).sum(axis=0)
            base = waiting + dem_mean - sup_mean
            if extra is not None:
                j = np.arange(extra.shape[1], dtype=np.float64)
                e_mean = extra @ j
                base = base + e_mean
                dem_var = dem_var + extra @ (j * j) - e_mean * e_mean
            calls, risk_next = self._normal_calls(base, dem_var + sup_var, f_new, theta)
            method = "normal"
        agents_by = float(sup_mean @ self._weights)
        live_by = float(dem_mean @ self._weights)
        return Decision(
            self.name,
            snapshot.now,
            calls,
            f"{free_now:g} free, {agents_by:.1f} free by answer time vs "
            f"{waiting:g} waiting + {live_by:.1f} live in flight; live rate "
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
                "route_delay_median_s": self._rho_median,
                "agents_free_by_answer": agents_by,
                "live_in_flight": live_by,
                "theta": theta,
                "risk_of_next_call": risk_next,
                "exact_risk": 1.0 if method == "exact" else 0.0,
                "shift_abandon_rate": self.shift.rate(),
            },
        )


def _exact_calls(
    p_sup: FloatArray,
    p_dem: FloatArray,
    waiting: float,
    f_new: FloatArray,
    weights: FloatArray,
    theta: float,
    limit: int = 10_000,
    extra: FloatArray | None = None,
) -> tuple[int, float]:
    """The largest number of new calls whose marginal drop risk is <= theta, exactly.

    Per horizon k, Y = (live answers routed from the calls in flight) - (agents free) is a
    difference of sums of independent Bernoullis (Poisson-binomial): its distribution is
    built by convolution, one term at a time (terms certain either way are a shift or
    nothing). The m-th new call is dropped when waiting + Y + B(m-1 others) >= 0 agents left.
    For small teams the Normal approximation misjudges these tails badly (5 agents: several
    points of utilisation at the same abandon rate, docs/pacing.md); convolution is cheap there.
    ``extra[k, j]``: P(j more demand before horizon k), independent of the rest (callers with
    priority, :func:`_spill_pmf`), convolved in as well.
    """
    k = f_new.shape[0]
    sure_free = int(np.count_nonzero(p_sup.min(axis=1) >= 1.0))
    sup = p_sup[(p_sup.max(axis=1) > 0.0) & (p_sup.min(axis=1) < 1.0)]
    dem = p_dem[p_dem.max(axis=1) > 0.0] if p_dem.shape[0] else p_dem
    n_sup = sup.shape[0]
    pmf = np.zeros((k, n_sup + dem.shape[0] + 1))
    pmf[:, n_sup] = 1.0  # index i holds P(Y' = i - n_sup), Y' = Y without the sure agents
    for p in sup:
        q = p[:, None]
        nxt = pmf * (1.0 - q)
        nxt[:, :-1] += pmf[:, 1:] * q
        pmf = nxt
    for p in dem:
        q = p[:, None]
        nxt = pmf * (1.0 - q)
        nxt[:, 1:] += pmf[:, :-1] * q
        pmf = nxt
    if extra is not None and extra.shape[1] > 1:
        width = pmf.shape[1]
        nxt = np.zeros((k, width + extra.shape[1] - 1))
        for j in range(extra.shape[1]):
            nxt[:, j : j + width] += pmf * extra[:, j : j + 1]
        pmf = nxt
    # Dropped when waiting + Y' - sure_free + B >= 0, i.e. index >= sure_free - waiting + n_sup.
    first = max(0, math.ceil(sure_free - waiting - 1e-9) + n_sup)
    f = f_new[:, None]
    calls = 0
    while True:
        tail = pmf[:, first:].sum(axis=1) if first < pmf.shape[1] else np.zeros(k)
        risk = float(tail @ weights)
        if risk > theta or calls >= limit:
            return calls, risk
        calls += 1
        nxt = np.zeros((k, pmf.shape[1] + 1))
        nxt[:, :-1] = pmf * (1.0 - f)
        nxt[:, 1:] += pmf * f
        pmf = nxt


def _spill_pmf(mean: FloatArray, absorbed: int = 0) -> FloatArray:
    """P(max(0, A - absorbed) = j) for A ~ Poisson(mean[k]), shape (K, J): the callers with
    priority arriving by each horizon beyond the ``absorbed`` agents held for them, truncated
    where the Poisson tail is under 1e-12 (the rest is put on the last term)."""
    top = float(mean.max()) if mean.shape[0] else 0.0
    n = absorbed + int(top + 8.0 * math.sqrt(top) + 10.0)
    j = np.arange(n + 1, dtype=np.float64)
    log_fact = np.concatenate(([0.0], np.cumsum(np.log(j[1:]))))
    log_mu = np.log(np.maximum(mean, 1e-300))[:, None]
    pois = np.exp(j[None, :] * log_mu - mean[:, None] - log_fact)
    pois[:, -1] += np.maximum(0.0, 1.0 - pois.sum(axis=1))
    out = pois[:, absorbed:].copy()
    out[:, 0] += pois[:, :absorbed].sum(axis=1)
    return out


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
