"""Blended agents: inbound first, outbound gets only the agents the inbound queues can spare.

:class:`Blended` wraps any outbound policy (same ``observe``/``decide`` interface, so the
:class:`~pacing.guard.Guard` goes around it as around any policy):

- while inbound callers wait for the shared agents (``Snapshot.inbound_waiting``), it places
  no outbound calls (issue 6: "when inbound callers are waiting, outbound dialing for the
  shared agents pauses");
- otherwise it asks :meth:`pacing.inbound.Inbound.reservation` for the idle agents to hold for
  the queues (Bhulai & Koole 2003 threshold, sized on the pool's release rate to meet each
  queue's service level) and hands the wrapped policy a snapshot in which those agents are
  logged out: the longest-idle available agents first (the ones an inbound caller would take),
  and while fewer are idle, the busy agents most likely to be released next (ACW before talk,
  longest in state first), so the outbound policy does not dial for the releases that refill
  the reserve. Whole agents only: the fraction of the next one is held in that share of the
  ticks (every tick near the abandon cap), so the predictive policy keeps its exact drop risk;
- the callers expected before the calls placed now are routed take agents first: a policy
  with a priority demand term (``uses_priority_demand``, pacing.policies.Predictive) gets their
  rate and the number of idle agents held for them in its view (``Snapshot.priority_rate``,
  ``priority_absorbed``), and counts them in its drop risk (a Poisson
  demand beyond the held idle agents); for other policies, and near the abandon cap, their
  part of an agent is held (``horizon_s`` of arrivals);
- inbound talk and ACW are passed on to the wrapped policy as TALK_ENDED / ACW_ENDED: its
  release model covers every agent in the snapshot, on inbound calls too.

``reserve=False`` gives the baseline of bench/blended.py: the same outbound policy that knows
nothing of inbound (inbound callers just take whoever is free).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from pacing.decision import Decision
from pacing.events import Event, EventKind
from pacing.inbound import Inbound, Reservation
from pacing.policies import Policy
from pacing.snapshot import AgentState, Snapshot

_LOGGED_OUT = int(AgentState.LOGGED_OUT)
_PAUSED = int(AgentState.PAUSED)
# Order in which agents are held for inbound: free now first, then the likeliest releases.
_HOLD_RANK = np.full(len(AgentState), 9, dtype=np.int8)
_HOLD_RANK[int(AgentState.AVAILABLE)] = 0
_HOLD_RANK[int(AgentState.ACW)] = 1
_HOLD_RANK[int(AgentState.ON_CALL)] = 2
_HOLD_RANK[int(AgentState.RESERVED)] = 3

_FORWARD = {
    EventKind.INBOUND_TALK_ENDED: EventKind.TALK_ENDED,
    EventKind.INBOUND_ACW_ENDED: EventKind.ACW_ENDED,
}


_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def _dither(now: float) -> float:
    """A number in [0, 1) for the instant ``now``: on whole-second ticks the Weyl sequence
    {k x golden ratio}, spread evenly over [0, 1) whatever the run of ticks."""
    return (now * _GOLDEN) % 1.0


class Blended:
    """An outbound policy that leaves the inbound queues the agents they need."""

    def __init__(
        self,
        policy: Policy,
        inbound: Inbound | None = None,
        *,
        reserve: bool = True,
        horizon_s: float = 16.0,
    ) -> None:
        if horizon_s < 0:
            raise ValueError(f"horizon_s must be >= 0, got {horizon_s}")
        self.policy = policy
        self.inbound = inbound or Inbound()
        self.reserve = reserve
        # Callers arriving before the calls placed now are answered (ring + AMD + the 2-s
        # hand-off) take the agents first: that part of an agent is held too, unless the
        # policy counts them in its drop risk.
        self.horizon_s = horizon_s
        # A policy with a priority demand term (pacing.policies.Predictive) takes the expected
        # callers into its drop risk instead: only the reserve is held.
        self._priority = reserve and bool(getattr(policy, "uses_priority_demand", False))
        self.name = policy.name if reserve else f"{policy.name}_unreserved"
        self._view: tuple[Snapshot, Snapshot, Reservation | None] | None = None

    def observe(self, event: Event) -> None:
        self.inbound.observe(event)
        forward = _FORWARD.get(event.kind)
        if forward is not None:
            self.policy.observe(Event(forward, event.at, event.seconds))
        else:
            self.policy.observe(event)

    def outbound_view(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot the outbound policy sees: the reserved agents logged out."""
        return self._mask(snapshot)[0]

    def _mask(self, snapshot: Snapshot) -> tuple[Snapshot, Reservation | None]:
        cached = self._view
        if cached is not None and cached[0] is snapshot:
            return cached[1], cached[2]
        if not self.reserve:
            self._view = (snapshot, snapshot, None)
            return snapshot, None
        state = snapshot.agent_state
        # The pool is every logged-in agent of the snapshot, whatever its share here: each
        # blended campaign of the same agents then holds the same ones (counted once).
        pooled = state != _LOGGED_OUT
        active = float(np.count_nonzero(pooled & (state != _PAUSED)))
        r = self.inbound.reservation(snapshot.now, active)
        changes: dict[str, Any] = {}
        # Near the abandon cap (the guard scales the risk down; at the cap it allows only
        # progressive calls, for which a risk that never reaches 0 would allow none) the
        # arrivals are held as agents instead, whole.
        priority = self._priority and snapshot.risk_scale >= 1.0
        hold = r.reserve if priority else r.reserve + r.rate_per_s * self.horizon_s
        absorbed = 0
        if hold > 0:
            rank = _HOLD_RANK[state]
            rank = np.where(pooled, rank, 9)
            order = np.lexsort((-snapshot.agent_time_in_state, rank))
            whole = int(hold)
            # The fraction of the next agent in line is held in that share of the ticks (a
            # low-discrepancy sequence of the time, the same in every campaign at the same
            # instant), so the view keeps whole agents: the predictive policy's exact drop
            # risk applies, where a fractional share sent it to the Normal approximation.
            # Near the abandon cap (the guard scales the risk down; at the cap it allows only
            # progressive calls) the fraction is held whole: a call placed for an agent an
            # inbound caller then takes is dropped, progressive or not.
            frac = hold - whole
            if frac > 0 and (snapshot.risk_scale < 1.0 or _dither(snapshot.now) < frac):
                whole += 1
            held = order[:whole]
            held = held[rank[held] < 9]
            absorbed = int(np.count_nonzero(rank[held] == 0))
            vstate = state.copy()
            vstate[held] = _LOGGED_OUT
            changes["agent_state"] = vstate
        if priority:
            # The callers expected before the calls placed now are routed take agents first:
            # the held idle ones, then any the outbound policy counts on (a Poisson demand in
            # its drop risk, exact where its risk is).
            changes.update(priority_rate=r.rate_per_s, priority_absorbed=absorbed)
        view = dataclasses.replace(snapshot, **changes) if changes else snapshot
        self._view = (snapshot, view, r)
        return view, r

    def decide(self, snapshot: Snapshot) -> Decision:
        waiting = snapshot.inbound_waiting
        view, r = self._mask(snapshot)
        explain: dict[str, float] = {"inbound_waiting": float(waiting)}
        if r is not None:
            explain.update(
                {
                    "reserved_agents": float(r.reserve),
                    "held_for_arrivals": r.rate_per_s * self.horizon_s,
                    "inbound_rate_per_h": r.rate_per_s * 3600.0,
                    "inbound_handle_s": r.handle_s,
                    "pool_handle_s": r.pool_handle_s,
                    "active_agents": r.active_agents,
                    "predicted_service_level": r.predicted_service_level,
                    "erlang_c_dedicated_agents": float(r.dedicated_agents),
                    "model_reserve": r.model_reserve,
                    "reserve_offset": self.inbound.queues[r.binding_queue].offset,
                }
            )
            target = self.inbound.targets[r.binding_queue]
            head = (
                f"inbound {r.rate_per_s * 3600.0:.0f}/h x {r.handle_s:.0f} s handle: "
                f"{r.reserve:.2f} idle agent(s) held of {r.active_agents:g} (+ "
                f"{r.rate_per_s * self.horizon_s:.2f} for the next {self.horizon_s:g} s of "
                f"arrivals) for a predicted "
                f"{r.predicted_service_level:.0%} within {target.threshold_s:g} s (model "
                f"{r.model_reserve:.2f} {self.inbound.queues[r.binding_queue].offset:+.2f} "
                f"steered by the realised level; target "
                f"{target.service_level:.0%}; a dedicated group would need "
                f"{r.dedicated_agents})"
            )
        else:
            head = "inbound not reserved"
        if waiting > 0 and self.reserve:
            return Decision(
                self.name,
                snapshot.now,
                0,
                f"{head}; {waiting} inbound caller(s) waiting: outbound paused",
                inputs={"inbound_waiting": float(waiting)},
                quantities=explain,
            )
        inner = self.policy.decide(view)
        return Decision(
            self.name,
            inner.at,
            inner.calls,
            f"{head}; {inner.reason}",
            {**inner.inputs, "inbound_waiting": float(waiting)},
            {**inner.quantities, **explain},
            inner.ring_timeout_s,
            inner.guard,
        )
