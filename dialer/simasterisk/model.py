"""The seeded model of the people the simulator's calls reach: called parties and agent phones.

Every decision is a pure function of (seed, number, attempt), so the same seed gives the same
calls whatever order they are placed in, and a retry of a number can behave differently from
its first attempt (a busy line may answer later).
"""

from __future__ import annotations

import enum
import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field


class PartyKind(enum.StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    INVALID = "invalid"


@dataclass(frozen=True)
class Behaviour:
    """What one call to one number does."""

    kind: PartyKind
    ring_s: float = 0.0  # ringing before answer (or before busy/congestion)
    talk_s: float = 0.0  # on the line once connected to an agent (humans)
    patience_s: float = 0.0  # how long an answered human waits for someone to speak
    message_s: float = 0.0  # an answering machine's greeting length
    keys: str = ""  # DTMF the party presses when prompted (IVR), in order


@dataclass(frozen=True)
class NumberModel:
    """Outcome probabilities and time distributions for model numbers.

    Probabilities are of an *attempt*; whatever is left after the others is ``human``. Times are
    log-normal around their medians (ring, talk) so there is a realistic long tail.
    """

    seed: int = 1
    p_machine: float = 0.15
    p_busy: float = 0.08
    p_no_answer: float = 0.30
    p_congestion: float = 0.02
    p_invalid: float = 0.03
    ring_median_s: float = 9.0
    ring_sigma: float = 0.45
    talk_median_s: float = 90.0
    talk_sigma: float = 0.6
    patience_s: float = 8.0
    machine_message_s: float = 20.0
    p_press_1: float = 0.2  # in an IVR: "press 1 for an agent"
    p_press_9: float = 0.05  # "press 9 to opt out"
    # Per number: a kind (times and keys still drawn) or a whole Behaviour (for tests).
    overrides: Mapping[str, PartyKind | Behaviour] = field(default_factory=dict)

    def __post_init__(self) -> None:
        total = self.p_machine + self.p_busy + self.p_no_answer + self.p_congestion
        total += self.p_invalid
        if total > 1.0 + 1e-9:
            raise ValueError(f"outcome probabilities add up to {total:.3f} > 1")

    def _rng(self, number: str, attempt: int) -> random.Random:
        digest = hashlib.blake2b(f"{self.seed}:{number}:{attempt}".encode(), digest_size=8)
        return random.Random(int.from_bytes(digest.digest(), "big"))

    def decide(self, number: str, attempt: int = 1) -> Behaviour:
        pinned = self.overrides.get(number)
        if isinstance(pinned, Behaviour):
            return pinned
        rng = self._rng(number, attempt)
        kind = pinned
        if kind is None:
            roll = rng.random()
            kind = PartyKind.HUMAN
            for candidate, p in (
                (PartyKind.MACHINE, self.p_machine),
                (PartyKind.BUSY, self.p_busy),
                (PartyKind.NO_ANSWER, self.p_no_answer),
                (PartyKind.CONGESTION, self.p_congestion),
                (PartyKind.INVALID, self.p_invalid),
            ):
                if roll < p:
                    kind = candidate
                    break
                roll -= p
        ring = rng.lognormvariate(0.0, self.ring_sigma) * self.ring_median_s
        talk = rng.lognormvariate(0.0, self.talk_sigma) * self.talk_median_s
        keys = ""
        roll = rng.random()
        if roll < self.p_press_1:
            keys = "1"
        elif roll < self.p_press_1 + self.p_press_9:
            keys = "9"
        if kind in (PartyKind.BUSY, PartyKind.CONGESTION, PartyKind.INVALID):
            ring = min(ring, 1.0) * 0.5
        return Behaviour(
            kind=kind,
            ring_s=round(ring, 3),
            talk_s=round(max(5.0, talk), 3),
            patience_s=self.patience_s,
            message_s=self.machine_message_s,
            keys=keys,
        )


@dataclass(frozen=True)
class InboundCaller:
    """One inbound call: who calls which DID, how long they wait, how long they talk."""

    did: str
    caller_num: str
    patience_s: float
    talk_s: float


@dataclass(frozen=True)
class InboundModel:
    """Inbound arrivals on DIDs: a Poisson process whose rate may change over the day.

    ``rate_per_hour`` maps a DID to calls per hour; ``rate_profile`` scales every rate by the
    hour of the (simulated) day, so a morning peak or a lunch dip can be modelled. Callers wait
    an exponential patience (mean ``patience_mean_s``) before abandoning, and talk a log-normal
    time once an agent answers. Seeded: the same seed gives the same arrivals.
    """

    seed: int = 1
    rate_per_hour: Mapping[str, float] = field(default_factory=dict)
    rate_profile: Mapping[int, float] = field(default_factory=dict)  # hour -> factor
    patience_mean_s: float = 60.0
    talk_median_s: float = 180.0
    talk_sigma: float = 0.5

    def rate(self, did: str, hour: int) -> float:
        return self.rate_per_hour.get(did, 0.0) * self.rate_profile.get(hour, 1.0)

    def arrivals(self, start: float, end: float) -> list[tuple[float, InboundCaller]]:
        """Every arrival between ``start`` and ``end`` (epoch seconds), in time order.

        Thinning (Lewis-Shedler) handles the time-varying rate: candidates come at the peak
        rate and each is kept with probability rate(t) / peak.
        """
        out: list[tuple[float, InboundCaller]] = []
        peak_factor = max([1.0, *self.rate_profile.values()])
        for did, base in sorted(self.rate_per_hour.items()):
            # One stream per DID from the seed alone: the same seed gives the same callers
            # whenever the window starts.
            rng = random.Random(f"{self.seed}:{did}")
            peak = base * peak_factor / 3600.0
            if peak <= 0:
                continue
            t = start
            n = 0
            while True:
                t += rng.expovariate(peak)
                if t >= end:
                    break
                hour = int((t % 86400) // 3600)
                if rng.random() * peak > self.rate(did, hour) / 3600.0:
                    continue
                n += 1
                caller = InboundCaller(
                    did=did,
                    caller_num=f"1555{rng.randrange(10**7):07d}",
                    patience_s=rng.expovariate(1.0 / self.patience_mean_s),
                    talk_s=max(5.0, rng.lognormvariate(0.0, self.talk_sigma) * self.talk_median_s),
                )
                out.append((t, caller))
        out.sort(key=lambda item: item[0])
        return out


@dataclass(frozen=True)
class AgentPhoneModel:
    """Agent phones (``Local/7XXX@agents``) auto-answer after ``answer_delay_s``."""

    answer_delay_s: float = 0.0
