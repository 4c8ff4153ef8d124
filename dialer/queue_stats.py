"""What supervisors see of an inbound queue: offered, answered, abandoned, service level.

Pure (``now`` passed in), fed with the inbound tracker's records (dialer/inbound_calls.py).

- **service level**: the share of calls offered to the queue (answered + abandoned) that were
  answered within the campaign's threshold (issue 6: "80% answered within 20 s"). Abandons
  count against it, whatever their wait: the strict reading (app_queue's ServicelevelPerf2
  also counts abandons; ServicelevelPerf leaves them out, which flatters a queue whose
  callers give up);
- **abandon rate in queue**: abandoned / offered;
- calls closed out of hours never entered the queue and are counted apart; so are the calls
  Asterisk could not bring to the dialer (``unreached``: a fault to fix, not a queue figure).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from dialer.inbound_calls import InboundOutcome, InboundRecord

__all__ = ["QueueStats"]


@dataclass
class QueueStats:
    threshold_s: float = 20.0
    target: float = 0.8
    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    closed: int = 0
    unreached: int = 0
    wait_total_s: float = 0.0  # of answered calls
    talk_total_s: float = 0.0
    day: dt.date | None = None  # the campaign's local day the figures are of

    def add(self, record: InboundRecord) -> None:
        self.count(
            closed=record.outcome is InboundOutcome.CLOSED,
            connected=record.outcome is InboundOutcome.CONNECTED,
            wait_s=record.wait_s if record.waiting_since is not None else None,
            talk_s=record.talk_s,
        )

    def count(
        self,
        *,
        closed: bool,
        connected: bool,
        wait_s: float | None,
        talk_s: float | None,
        unreached: bool = False,
    ) -> None:
        """One finished call: closed out of hours, or offered (``wait_s`` set: it waited
        for an agent) and then connected or abandoned; ``wait_s`` None: it hung up before
        waiting for anyone, never offered to the queue. Fed by live records and, after a
        restart, by the day's stored attempts."""
        if closed:
            self.closed += 1
            return
        if unreached:
            self.unreached += 1
            return
        if wait_s is None:
            return
        self.offered += 1
        if connected:
            self.answered += 1
            self.wait_total_s += wait_s
            self.talk_total_s += talk_s or 0.0
            if wait_s <= self.threshold_s:
                self.answered_within += 1
        else:
            self.abandoned += 1

    @property
    def service_level(self) -> float | None:
        """None until a call was offered."""
        return self.answered_within / self.offered if self.offered else None

    @property
    def abandon_rate(self) -> float | None:
        return self.abandoned / self.offered if self.offered else None

    @property
    def average_wait_s(self) -> float | None:
        return self.wait_total_s / self.answered if self.answered else None

    def figures(self) -> dict[str, Any]:
        """The day's figures as a supervisor's queue view shows them (the API's names)."""
        return {
            "service_level": self.service_level,
            "abandon_rate": self.abandon_rate,
            "offered": self.offered,
            "answered": self.answered,
            "answered_within_threshold": self.answered_within,
            "abandoned": self.abandoned,
            "closed_out_of_hours": self.closed,
            "unreached": self.unreached,
            "average_wait_s": self.average_wait_s,
            "day": self.day.isoformat() if self.day is not None else None,
        }
