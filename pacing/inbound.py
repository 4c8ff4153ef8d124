"""Inbound queues for blended agents: what the queues need, learned from events.

- Erlang C for a dedicated group of agents (M/M/N, Erlang 1917; Gans, Koole & Mandelbaum 2003
  §4.1): P(wait), service level P(wait <= t) = 1 - C e^{-(N - A) t / h}, and the agents needed.
- The blended pool (Bhulai & Koole 2003, "A queueing model for call blending in call centers":
  the optimal policy keeps a threshold of idle agents and gives outbound work only to agents
  beyond it): all N agents share inbound and outbound work, inbound first. An inbound caller
  who finds none of the ``k`` reserved idle agents waits for the next release of *any* busy
  agent, so the queue is served at the pool's release rate ``nu = N_active / h_pool``, not by
  a dedicated group. :func:`blended_service_level` is the stationary service level of that
  birth-death chain, for every threshold k at once; :func:`reserve_for` picks the smallest k
  meeting every queue's target.
- Recency-weighted estimators of each queue's arrival rate (per second, following a changing
  rate), handle time (talk + ACW), answer waits and abandons, and of the pool's handle time.

Pure: no I/O, no clock (``now`` is always passed in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pacing.events import Event, EventKind
from pacing.snapshot import FloatArray

_LN2 = math.log(2.0)


# -- Erlang C (a dedicated group) ---------------------------------------------------------


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of M/M/N/N with ``load`` erlangs (the stable recursion
    B(n) = A B(n-1) / (n + A B(n-1)), B(0) = 1)."""
    if agents < 0 or load < 0:
        raise ValueError("agents and load must be >= 0")
    b = 1.0
    for n in range(1, agents + 1):
        b = load * b / (n + load * b)
    return b


def erlang_c(agents: int, load: float) -> float:
    """P(an arriving caller waits) in M/M/N with ``load`` = arrival rate x handle time (erlangs).

    1.0 when the queue is unstable (load >= agents). C = N B / (N - A (1 - B)).
    """
    if agents <= load:
        return 1.0
    b = erlang_b(agents, load)
    return agents * b / (agents - load * (1.0 - b))


def service_level(agents: int, rate_per_s: float, handle_s: float, threshold_s: float) -> float:
    """P(wait <= threshold) for a dedicated group of ``agents`` (Erlang C, exponential waits)."""
    load = rate_per_s * handle_s
    if agents <= load:
        return 0.0
    c = erlang_c(agents, load)
    return 1.0 - c * math.exp(-(agents - load) * threshold_s / handle_s)


def agents_for_service_level(
    rate_per_s: float, handle_s: float, target: float, threshold_s: float, max_agents: int = 10_000
) -> int:
    """The fewest dedicated agents whose Erlang C service level is >= ``target``.

    One pass of the Erlang B recursion (O(N)), testing each N as it goes."""
    load = rate_per_s * handle_s
    b = 1.0
    for n in range(1, max_agents + 1):
        b = load * b / (n + load * b)
        if n > load:
            c = n * b / (n - load * (1.0 - b))
            if 1.0 - c * math.exp(-(n - load) * threshold_s / handle_s) >= target:
                return n
    return max_agents


# -- the blended pool ---------------------------------------------------------------------


def blended_service_level(
    max_reserve: int,
    active_agents: float,
    rate_per_s: float,
    pool_handle_s: float,
    threshold_s: float,
) -> FloatArray:
    """Predicted service level for each idle-agent reserve k = 0..max_reserve (an array).

    State x = idle reserved agents - callers queued, x <= k. An arrival moves x down (it takes
    an idle agent, or joins the queue). For 0 <= j < k, the reserve refills at the release
    rate of the busy agents, (N - j) / h; with x <= 0 every agent is busy and the queue is
    served at nu = N / h (releases of inbound and outbound calls alike; the dialer holds
    outbound while callers wait). The chain is birth-death, so pi_j is proportional to
    exp(-S_j), S_j = sum_{i<j} log(lambda / up_i), and the tail x <= 0 is geometric with ratio
    lambda / nu. By PASTA an arrival waits with P(x <= 0), and a waiting caller's wait is
    exponential with rate nu - lambda (as in Erlang C), so SL(k) = 1 - P_k(x <= 0)
    e^{-(nu - lambda) t}. Caller patience is ignored: abandons only shorten the queue, so the
    prediction errs on the safe side.
    """
    k = np.arange(max_reserve + 1, dtype=np.float64)
    nu = active_agents / pool_handle_s
    if rate_per_s <= 0:
        return np.ones(max_reserve + 1, dtype=np.float64)
    if nu <= rate_per_s:
        return np.zeros(max_reserve + 1, dtype=np.float64)
    rho = rate_per_s / nu
    # up_j for j = 0..K-1 (refill from j idle agents to j + 1); fewer busy agents refill slower
    up = np.maximum(active_agents - k[:-1], 1e-9) / pool_handle_s
    s = np.concatenate(([0.0], np.cumsum(np.log(rate_per_s / up))))
    w = np.exp(-(s - s.min()))  # relative pi_j, j = 0..K (scaled against overflow)
    tail = w[0] / (1.0 - rho)  # sum over x <= 0
    above = np.concatenate(([0.0], np.cumsum(w[1:])))  # sum of pi_j for 1 <= j <= k
    with np.errstate(invalid="ignore", divide="ignore"):  # tail may underflow for large k
        p_wait = np.where(above > 0, tail / (tail + above), 1.0)
    return np.asarray(1.0 - p_wait * math.exp(-(nu - rate_per_s) * threshold_s), np.float64)


# -- estimators ---------------------------------------------------------------------------


class ArrivalRate:
    """A Poisson rate per second, recency-weighted in time (half-life ``half_life_s``).

    Decayed count of arrivals over decayed exposure time, plus a prior worth ``prior_s``
    seconds of exposure at the queue's opening, which decays with the observations' weight
    (once the queue has been open a few half-lives, only what it showed counts: a prior that
    never decayed weighed 300 s against the 866 s of a 10-min half-life, and put long10's 25
    calls/h at 34); follows a rate that changes through the shift with a lag of about a
    half-life (the same recency weighting as pacing.estimators, in time).
    """

    def __init__(
        self, prior_per_s: float, *, prior_s: float = 300.0, half_life_s: float = 600.0
    ) -> None:
        if prior_per_s < 0 or prior_s <= 0 or half_life_s <= 0:
            raise ValueError("prior_per_s must be >= 0, prior_s and half_life_s > 0")
        self._prior = prior_per_s * prior_s
        self._prior_s = prior_s
        self._tau = half_life_s / _LN2
        self._count = 0.0
        self._exposure = 0.0
        self._at: float | None = None
        self._opened: float | None = None  # the exposure clock's start: the prior decays from it
        self.count = 0

    def _decayed(self, now: float) -> tuple[float, float]:
        if self._at is None:
            return 0.0, 0.0
        dt = max(0.0, now - self._at)
        d = math.exp(-dt / self._tau)
        return self._count * d, self._exposure * d + self._tau * (1.0 - d)

    def start(self, now: float) -> None:
        """Start the exposure clock (the queue opened) without an arrival."""
        if self._at is None:
            self._at = self._opened = now

    def observe(self, at: float) -> None:
        if self._at is None:
            self._at = self._opened = at
        self._count, self._exposure = self._decayed(at)
        self._at = max(at, self._at)
        self._count += 1.0
        self.count += 1

    def value(self, now: float) -> float:
        count, exposure = self._decayed(now)
        w = 1.0 if self._opened is None else math.exp(-max(0.0, now - self._opened) / self._tau)
        return (count + self._prior * w) / (exposure + self._prior_s * w)


class MeanEstimator:
    """A recency-weighted mean (half-life in observations) with a prior worth a few of them."""

    def __init__(self, prior: float, *, prior_weight: float = 5.0, half_life: float = 200.0):
        if prior_weight <= 0 or half_life <= 0:
            raise ValueError("prior_weight and half_life must be > 0")
        self._g = 2.0 ** (-1.0 / half_life)
        self._sum = prior * prior_weight
        self._weight = prior_weight
        self._prior = prior
        self._prior_weight = prior_weight
        self.count = 0

    def observe(self, x: float) -> None:
        if not x >= 0:  # also rejects NaN
            raise ValueError(f"a duration must be >= 0, got {x}")
        self.count += 1
        # decay the observed part only; the prior never decays
        obs_sum = (self._sum - self._prior * self._prior_weight) * self._g + x
        obs_w = (self._weight - self._prior_weight) * self._g + 1.0
        self._sum = obs_sum + self._prior * self._prior_weight
        self._weight = obs_w + self._prior_weight

    @property
    def value(self) -> float:
        return self._sum / self._weight


@dataclass(frozen=True, slots=True)
class QueueTarget:
    """A queue's service-level target: ``service_level`` answered within ``threshold_s``."""

    service_level: float = 0.8
    threshold_s: float = 20.0

    def __post_init__(self) -> None:
        if not 0 < self.service_level < 1:
            raise ValueError(f"service_level must be in (0, 1), got {self.service_level}")
        if not self.threshold_s >= 0:
            raise ValueError(f"threshold_s must be >= 0, got {self.threshold_s}")


@dataclass(frozen=True, slots=True)
class InboundPriors:
    """Cold-start values for a queue before anything is observed."""

    rate_per_hour: float = 60.0
    talk_mean_s: float = 180.0
    acw_mean_s: float = 30.0


class QueueEstimators:
    """What one inbound queue has shown so far."""

    def __init__(self, priors: InboundPriors, half_life_s: float) -> None:
        self.arrivals = ArrivalRate(priors.rate_per_hour / 3600.0, half_life_s=half_life_s)
        self.talk = MeanEstimator(priors.talk_mean_s)
        self.acw = MeanEstimator(priors.acw_mean_s)
        self.wait = MeanEstimator(0.0, prior_weight=1.0)  # of answered callers
        self.offered = 0
        self.answered = 0
        self.abandoned = 0
        self.within = 0  # answered within the threshold
        self.offset = 0.0  # agents added to the model's reserve, steered by outcomes

    @property
    def handle_s(self) -> float:
        return self.talk.value + self.acw.value


@dataclass(frozen=True, slots=True)
class Reservation:
    """Idle agents held for the inbound queues, and why (one decision's explanation)."""

    reserve: float  # idle agents held back from outbound (the last one may be a fraction)
    model_reserve: float  # the model's alone, for the binding queue's target
    rate_per_s: float  # all queues
    handle_s: float  # inbound talk + ACW, arrival-weighted over the queues
    pool_handle_s: float  # mean talk + ACW of any call the agents take
    active_agents: float  # logged in and not paused
    predicted_service_level: float  # of the binding queue, with ``reserve``, by the model
    binding_queue: str
    dedicated_agents: int  # Erlang C: a dedicated group for the same queues would need this
    per_queue: dict[str, float] = field(default_factory=dict)  # queue -> predicted SL
    per_queue_reserve: dict[str, float] = field(default_factory=dict)  # what each queue asks

    @property
    def load_erlangs(self) -> float:
        return self.rate_per_s * self.handle_s


class Inbound:
    """Every inbound queue of a pool of agents, and the pool's handle time.

    Share one instance between the blended campaigns of the same agents and feed it each event
    once: the reservation is then computed once for the pool and every campaign masks the same
    agents (an agent is counted once, pacing.snapshot.shares_for_campaigns).
    """

    def __init__(
        self,
        targets: dict[str, QueueTarget] | None = None,
        *,
        priors: InboundPriors | None = None,
        half_life_s: float = 600.0,
        aim: float = 0.05,
        gain: float = 0.1,
        pool_handle_prior_s: float = 200.0,
    ) -> None:
        if not 0 <= aim < 1:
            raise ValueError(f"aim must be in [0, 1), got {aim}")
        if gain < 0:
            raise ValueError(f"gain must be >= 0, got {gain}")
        self.targets = dict(targets) if targets else {"": QueueTarget()}
        self.priors = priors or InboundPriors()
        self.half_life_s = half_life_s
        # The realised service level is steered to target + aim (a run's service level over a
        # few hundred calls has a spread of a few points: the target is a floor, not a mean).
        self.aim = aim
        self.gain = gain  # agents per caller's outcome
        # per queue: the last reserve it asked for, and the most that can be held
        self._last: dict[str, tuple[float, float]] = {}
        self.queues: dict[str, QueueEstimators] = {}
        for q in self.targets:
            self.queue(q)
        # Any call's talk and ACW, inbound and outbound: the busy pool's release rate.
        self.pool_talk = MeanEstimator(pool_handle_prior_s * 0.85, half_life=500.0)
        self.pool_acw = MeanEstimator(pool_handle_prior_s * 0.15, half_life=500.0)
        self._cache: dict[tuple[float, ...], Reservation] = {}

    def queue(self, name: str) -> QueueEstimators:
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = QueueEstimators(self.priors, self.half_life_s)
            self.targets.setdefault(name, QueueTarget())
        return q

    def open(self, now: float) -> None:
        """The queues are open from ``now`` (a quiet start then counts as a low rate)."""
        for q in self.queues.values():
            q.arrivals.start(now)

    @property
    def pool_handle_s(self) -> float:
        return self.pool_talk.value + self.pool_acw.value

    def observe(self, event: Event) -> None:
        kind = event.kind
        if kind is EventKind.TALK_ENDED:
            self.pool_talk.observe(event.seconds)
            return
        if kind is EventKind.ACW_ENDED:
            self.pool_acw.observe(event.seconds)
            return
        if kind not in _INBOUND:
            return
        q = self.queue(event.queue)
        if kind is EventKind.INBOUND_ARRIVED:
            q.arrivals.observe(event.at)
            q.offered += 1
        elif kind is EventKind.INBOUND_ANSWERED:
            q.answered += 1
            q.wait.observe(event.seconds)
            hit = event.seconds <= self.targets[event.queue].threshold_s
            q.within += hit
            self._steer(event.queue, q, hit)
        elif kind is EventKind.INBOUND_ABANDONED:
            q.abandoned += 1
            self._steer(event.queue, q, False)
        elif kind is EventKind.INBOUND_TALK_ENDED:
            q.talk.observe(event.seconds)
            self.pool_talk.observe(event.seconds)
        elif kind is EventKind.INBOUND_ACW_ENDED:
            q.acw.observe(event.seconds)
            self.pool_acw.observe(event.seconds)

    def _steer(self, name: str, q: QueueEstimators, hit: bool) -> None:
        """Integral feedback on each caller's outcome, as the predictive policy's theta on the
        abandon rate (EIS US 5,926,528): the model ignores the idle time the outbound dialer
        leaves anyway and real releases are not Poisson, so the realised service level
        corrects the model's reserve, in agents: + gain x (1 - p) per miss, - gain x p per
        hit, p = target + aim, which settles where the hit rate is p. Conditional integration
        (anti-windup): no lowering while nothing is held, no raising while every agent is."""
        step = self.gain * (self.targets[name].service_level + self.aim - float(hit))
        held, most = self._last.get(name, (0.0, 0.0))
        if (step < 0 and held <= 0) or (step > 0 and held >= most):
            return
        q.offset = min(max(q.offset + step, -most), most)

    def reservation(self, now: float, active_agents: float) -> Reservation:
        """The idle agents to hold for the queues at ``now`` with this many active agents."""
        rates = {n: q.arrivals.value(now) for n, q in self.queues.items()}
        total = sum(rates.values())
        handle = (
            sum(rates[n] * q.handle_s for n, q in self.queues.items()) / total
            if total > 0
            else self.priors.talk_mean_s + self.priors.acw_mean_s
        )
        offsets = {n: q.offset for n, q in self.queues.items()}
        # Rounded inputs key a small cache: the answer changes only when they move.
        key = (
            round(total * 3600.0, 1),
            round(handle),
            round(self.pool_handle_s),
            active_agents,
            *(round(o, 2) for o in offsets.values()),
        )
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            hit = self._cache[key] = reserve_for(
                {n: (self.targets[n], rates[n]) for n in self.queues},
                handle,
                self.pool_handle_s,
                active_agents,
                offsets,
            )
        most = float(max(0, math.floor(active_agents)))
        for name, held in hit.per_queue_reserve.items():
            self._last[name] = (held, most)
        return hit


_INBOUND = frozenset(
    {
        EventKind.INBOUND_ARRIVED,
        EventKind.INBOUND_ANSWERED,
        EventKind.INBOUND_ABANDONED,
        EventKind.INBOUND_TALK_ENDED,
        EventKind.INBOUND_ACW_ENDED,
    }
)


def _crossing(sl: FloatArray, want: float) -> float:
    """The (fractional) reserve where the increasing curve ``sl`` reaches ``want``."""
    ok = np.flatnonzero(sl >= want)
    if not ok.shape[0]:
        return float(sl.shape[0] - 1)
    j = int(ok[0])
    if j == 0:
        return 0.0
    lo, hi = float(sl[j - 1]), float(sl[j])
    return j - 1 + (want - lo) / (hi - lo) if hi > lo else float(j)


def reserve_for(
    queues: dict[str, tuple[QueueTarget, float]],
    handle_s: float,
    pool_handle_s: float,
    active_agents: float,
    offsets: dict[str, float] | None = None,
) -> Reservation:
    """The idle reserve whose predicted service level meets every queue's target.

    The model's reserve for a queue is where SL(k) reaches the target, interpolated between
    whole agents (pacing.blend holds a fraction of an agent in that share of the ticks), plus
    the queue's steered offset, within [0, active agents]. Queues share the agents first come,
    first served, so every queue sees the same wait distribution (of the merged arrivals) and
    the largest reserve holds for all.
    """
    total = sum(rate for _, rate in queues.values())
    n_max = max(0, math.floor(active_agents))
    best = 0.0
    model = 0.0
    binding = next(iter(queues), "")
    curves: dict[str, FloatArray] = {}
    per_queue_reserve: dict[str, float] = {}
    for name, (target, _) in queues.items():
        sl = blended_service_level(n_max, active_agents, total, pool_handle_s, target.threshold_s)
        curves[name] = sl
        k_model = _crossing(sl, target.service_level)
        offset = offsets.get(name, 0.0) if offsets else 0.0
        k = min(max(k_model + offset, 0.0), float(n_max))
        per_queue_reserve[name] = k
        if k >= best:
            best, model, binding = k, k_model, name
    grid = np.arange(n_max + 1, dtype=np.float64)
    per_queue = {name: float(np.interp(best, grid, sl)) for name, sl in curves.items()}
    target = queues[binding][0] if queues else QueueTarget()
    dedicated = (
        agents_for_service_level(total, handle_s, target.service_level, target.threshold_s)
        if total > 0
        else 0
    )
    return Reservation(
        reserve=best,
        model_reserve=model,
        rate_per_s=total,
        handle_s=handle_s,
        pool_handle_s=pool_handle_s,
        active_agents=active_agents,
        predicted_service_level=per_queue.get(binding, 1.0),
        binding_queue=binding,
        dedicated_agents=dedicated,
        per_queue=per_queue,
        per_queue_reserve=per_queue_reserve,
    )
