"""Estimators learned from observations only, with recency weighting and cold-start priors.

Each observation's weight grows geometrically (w_n = g^-n, g = 2^(-1/half_life)), which is the
same as decaying all earlier weights by g: an exponentially weighted estimate that follows a
change mid-shift (Samuelson 1999, "real-time estimation updating"). Priors are pseudo-
observations that never decay, so a cold campaign starts from sensible values and a long
silence never leaves an empty distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pacing.events import Event, EventKind
from pacing.snapshot import FloatArray

_RENORM_AT = 1e200


def _growth(half_life: float) -> float:
    if half_life <= 0:
        raise ValueError(f"half_life must be > 0, got {half_life}")
    return float(2.0 ** (1.0 / half_life))


class RateEstimator:
    """A recency-weighted proportion (answer rate, routing rate, pause rate)."""

    def __init__(self, prior: float, prior_weight: float = 5.0, half_life: float = 200.0) -> None:
        if not 0.0 <= prior <= 1.0:
            raise ValueError(f"prior must be in [0, 1], got {prior}")
        if prior_weight <= 0:
            raise ValueError(f"prior_weight must be > 0, got {prior_weight}")
        self._prior = prior
        self._prior_weight = prior_weight
        self._g = _growth(half_life)
        self._w = 1.0  # weight of the next observation, before renormalisation
        self._hits = 0.0
        self._total = 0.0
        self.count = 0

    def observe(self, hit: bool) -> None:
        self.count += 1
        self._w *= self._g
        self._total += self._w
        if hit:
            self._hits += self._w
        if self._w > _RENORM_AT:
            self._hits /= self._w
            self._total /= self._w
            self._w = 1.0

    @property
    def effective_weight(self) -> float:
        """The decayed observation weight, in units of the latest observation."""
        return self._total / self._w

    @property
    def value(self) -> float:
        scale = self._w
        hits = self._hits / scale + self._prior * self._prior_weight
        return hits / (self._total / scale + self._prior_weight)


class DurationEstimator:
    """A recency-weighted histogram of durations on a fixed grid of ``bin_s`` seconds.

    The prior is a log-normal with the given mean and sd, worth ``prior_weight`` observations.
    """

    def __init__(
        self,
        prior_mean_s: float,
        prior_sd_s: float,
        *,
        bin_s: float = 1.0,
        max_s: float = 3600.0,
        prior_weight: float = 3.0,
        half_life: float = 300.0,
    ) -> None:
        if prior_mean_s <= 0 or prior_sd_s <= 0:
            raise ValueError("prior_mean_s and prior_sd_s must be > 0")
        if bin_s <= 0 or max_s <= bin_s:
            raise ValueError("bin_s must be > 0 and max_s > bin_s")
        self.bin_s = bin_s
        self.bins = int(np.ceil(max_s / bin_s))
        self._g = _growth(half_life)
        self._w = 1.0
        self._hist = np.zeros(self.bins, dtype=np.float64)
        self._prior = prior_weight * lognormal_pmf(prior_mean_s, prior_sd_s, bin_s, self.bins)
        self.count = 0
        self.version = 0

    def observe(self, seconds: float) -> None:
        if not seconds >= 0:  # also rejects NaN
            raise ValueError(f"a duration must be >= 0 seconds, got {seconds}")
        self.count += 1
        self.version += 1
        self._w *= self._g
        i = min(int(seconds / self.bin_s), self.bins - 1)
        self._hist[i] += self._w
        if self._w > _RENORM_AT:
            self._hist /= self._w
            self._w = 1.0

    def pmf(self) -> FloatArray:
        """Probability of each bin (observations and prior)."""
        h = self._hist / self._w + self._prior
        return np.asarray(h / h.sum(), dtype=np.float64)

    def cdf(self) -> FloatArray:
        """P(duration < upper edge of bin i)."""
        return np.minimum(np.cumsum(self.pmf()), 1.0)

    def mean(self) -> float:
        centres = (np.arange(self.bins) + 0.5) * self.bin_s
        return float(self.pmf() @ centres)

    def quantiles(self, probs: FloatArray) -> FloatArray:
        """Durations at the given cumulative probabilities (bin upper edges, interpolated)."""
        cdf = self.cdf()
        edges = np.arange(1, self.bins + 1) * self.bin_s
        return np.interp(probs, np.concatenate(([0.0], cdf)), np.concatenate(([0.0], edges)))


def lognormal_pmf(mean_s: float, sd_s: float, bin_s: float, bins: int) -> FloatArray:
    """A log-normal with this mean and sd, discretised to ``bins`` bins of ``bin_s``."""
    sigma2 = np.log1p((sd_s / mean_s) ** 2)
    mu = np.log(mean_s) - sigma2 / 2
    edges = np.arange(bins + 1) * bin_s
    with np.errstate(divide="ignore"):
        z = (np.log(edges) - mu) / np.sqrt(2 * sigma2)
    cdf = 0.5 * (1.0 + erf(z))
    cdf[-1] = 1.0  # the last bin holds the tail
    p = np.diff(cdf)
    return np.asarray(p / p.sum(), dtype=np.float64)


def erf(x: FloatArray) -> FloatArray:
    """Vectorised error function (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7)."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (
        ((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592
    ) * t * np.exp(-a * a)
    return np.asarray(s * y, dtype=np.float64)


def normal_cdf(x: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + erf(x / np.sqrt(2.0))), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Priors:
    """Cold-start values for a campaign, before anything is observed."""

    answer_rate: float = 0.3
    routed_rate: float = 0.8  # of answered calls, the share sent to agents (live, AMD misses)
    route_delay_mean_s: float = 12.0  # dial to routing (ring + AMD)
    route_delay_sd_s: float = 6.0
    talk_mean_s: float = 180.0
    talk_sd_s: float = 120.0
    acw_mean_s: float = 30.0
    acw_sd_s: float = 15.0
    pause_rate: float = 0.05
    pause_mean_s: float = 300.0
    pause_sd_s: float = 300.0


class CampaignEstimators:
    """Everything a predictive policy learns about one campaign."""

    def __init__(
        self,
        priors: Priors | None = None,
        half_life: float = 200.0,
        duration_half_life: float = 1000.0,
    ) -> None:
        p = priors or Priors()
        dh = duration_half_life
        self.answer = RateEstimator(p.answer_rate, half_life=half_life)
        self.routed = RateEstimator(p.routed_rate, half_life=half_life)
        self.pause = RateEstimator(p.pause_rate, half_life=half_life)
        self.route_delay = DurationEstimator(
            p.route_delay_mean_s, p.route_delay_sd_s, bin_s=0.5, max_s=120.0, half_life=dh
        )
        self.talk = DurationEstimator(p.talk_mean_s, p.talk_sd_s, max_s=3600.0, half_life=dh)
        self.acw = DurationEstimator(p.acw_mean_s, p.acw_sd_s, max_s=1200.0, half_life=dh)
        self.pause_length = DurationEstimator(
            p.pause_mean_s, p.pause_sd_s, max_s=3600.0, half_life=50.0
        )

    @property
    def live_rate(self) -> float:
        """P(a placed call is routed to an agent)."""
        return self.answer.value * self.routed.value

    @property
    def version(self) -> int:
        return self.route_delay.version + self.talk.version + self.acw.version

    def observe(self, event: Event) -> None:
        kind = event.kind
        if kind is EventKind.CALL_UNANSWERED:
            self.answer.observe(False)
        elif kind is EventKind.CALL_MACHINE:
            self.answer.observe(True)
            self.routed.observe(False)
        elif kind is EventKind.CALL_ROUTED:
            self.answer.observe(True)
            self.routed.observe(True)
            self.route_delay.observe(event.seconds)
        elif kind is EventKind.TALK_ENDED:
            self.talk.observe(event.seconds)
        elif kind is EventKind.ACW_ENDED:
            self.acw.observe(event.seconds)
        elif kind is EventKind.AGENT_PAUSED:
            self.pause.observe(True)
        elif kind is EventKind.AGENT_READY:
            self.pause.observe(False)
        elif kind is EventKind.PAUSE_ENDED:
            self.pause_length.observe(event.seconds)
