"""The engine's side of pacing: the pacing core's policy for the campaign's dial mode, inside
the compliance guard, fed with the engine's snapshots and what happens to its calls and agents.

pacing/ is pure numpy (docs/pacing.md); this module only translates:

- dial mode -> policy: preview places nothing; progressive is free agents x ratio; predictive
  is the pacing core's drop-risk policy, aimed below the campaign's abandon target; agentless
  keeps a fixed number of channels at a fixed calls per second;
- the guard around every policy keeps the rolling 24-hour and 30-day abandon rates under the
  3 % cap (tightening before it, progressive at it), the 15-s minimum ring time and the trunk's
  channels and calls per second;
- calls and agents -> pacing events, at the moment they happen (as the simulator does, so the
  engine runs the same policy code the simulator measured);
- every decision is kept with its inputs and reason for supervisors (the API's campaign view).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dialer.calls import CallRecord, Outcome
from dialer.engine.ports import Answers, CampaignPlan, DialMode
from pacing.blend import Blended
from pacing.decision import Decision, DecisionLog
from pacing.events import Event, EventKind
from pacing.guard import MONTH_S, Guard, GuardConfig
from pacing.inbound import Inbound
from pacing.policies import Agentless, Policy, Predictive, Preview, Progressive
from pacing.snapshot import AgentState, Snapshot

__all__ = [
    "ABANDON_CAP",
    "MIN_RING_S",
    "PREDICTIVE_AIM",
    "Decision",
    "Pacer",
    "Snapshot",
    "policy_for",
]

# The legal cap: FTC TSR 310.4(b)(4) 3 % of live answers over 30 days per campaign; Ofcom 3 %
# over 24 hours (research/pacing-rules-and-methods.md §1).
ABANDON_CAP = 0.03
# The predictive policy aims below the campaign's target, so that the feedback loop's swings
# stay under the cap the guard enforces (the simulator's scenarios aim at 2 % for a 3 % cap).
PREDICTIVE_AIM = 0.7
# FTC TSR 310.4(b)(1)(iii)(A): ring at least 15 s or four rings; Ofcom: at least 15 s.
MIN_RING_S = 15.0
# Answers that Asterisk could not bring to the dialer's FastAGI are each an abandon (the
# dialplan plays the drop message). After this many in a row the campaign places nothing
# until UNREACHED_HOLD_S have passed since the last: dialing on would drop every answer. Then
# it places one call at a time, until an answer reaches the FastAGI (dialing resumes) or does
# not (the hold again): at most about one abandon a minute while the FastAGI is unreachable.
UNREACHED_HOLD_AFTER = 3
UNREACHED_HOLD_S = 60.0
# Calls that fail in the network (congestion: the trunk unregistered or unreachable gives
# CHANUNAVAIL, which [dialer-trunk] turns into Congestion; failed: Reason 0) say nothing of
# the called party. This many in a row, with nothing in between that got through (answered,
# busy, no answer, invalid number), is the trunk or the carrier: each further call would only
# spend a contact's attempt, so the campaign holds and then tests one call at a time, as above.
NETWORK_HOLD_AFTER = 10
NETWORK_HOLD_S = 30.0
_NETWORK_FAILURES = frozenset({Outcome.CONGESTION, Outcome.FAILED})

# Outcomes of calls that were never answered: what the answer-rate estimator counts as misses.
_UNANSWERED = frozenset(
    {
        Outcome.NO_ANSWER,
        Outcome.BUSY,
        Outcome.CONGESTION,
        Outcome.FAILED,
        Outcome.INVALID,
        Outcome.UNKNOWN,
    }
)


@dataclass
class FailureStreak:
    """Calls in a row that failed for one cause outside the called party (see above)."""

    after: int  # this many in a row hold the campaign
    hold_s: float  # for this long after the last
    what: str  # the decision's reason while it holds
    input_name: str  # the decision input that counts them
    count: int = 0
    last_at: float = 0.0

    def failed(self, at: float) -> None:
        self.count += 1
        self.last_at = at

    def passed(self) -> None:
        self.count = 0

    @property
    def holding(self) -> bool:
        return self.count >= self.after


def policy_for(plan: CampaignPlan) -> Policy:
    """The pacing core's policy for the campaign's dial mode and settings."""
    mode = plan.dial_mode
    if mode is DialMode.PREVIEW:
        return Preview()
    if mode is DialMode.AGENTLESS:
        return Agentless(plan.max_channels, plan.max_calls_per_s)
    if mode is DialMode.PREDICTIVE:
        return Predictive(target=_predictive_target(plan))
    return Progressive(plan.dial_ratio if plan.dial_ratio > 0 else 1.0)


def _predictive_target(plan: CampaignPlan) -> float:
    # A target of 0 (a supervisor's "no drops at all") still needs a positive aim for the
    # policy; the guard's cap and budget keep the realised rate down.
    return max(min(plan.abandon_target, ABANDON_CAP) * PREDICTIVE_AIM, 0.001)


def _guard_config(plan: CampaignPlan) -> GuardConfig:
    # The abandon cap bounds the calls placed beyond the agents free for them. An agentless
    # campaign hands no call to an agent unasked (the message plays on answer), so capping it
    # at progressive would mean no calls at all without agents logged in. Its drops (press 1
    # and nobody free) are still counted in the guard's windows; ring time, channels and calls
    # per second are enforced as for every mode.
    return GuardConfig(
        cap=ABANDON_CAP,
        enforce_cap=plan.dial_mode is not DialMode.AGENTLESS,
        min_ring_s=MIN_RING_S,
        max_channels=plan.max_channels,
        max_calls_per_s=plan.max_calls_per_s,
    )


class Pacer:
    """One campaign's policy inside the guard, the events it learns from, its decision log."""

    REMEMBERS_S = MONTH_S  # how far back :meth:`remember` needs the answers: the longest window

    def __init__(
        self, plan: CampaignPlan, log: DecisionLog | None = None, inbound: Inbound | None = None
    ) -> None:
        """``inbound``: the pool of inbound queues the campaign's agents also serve
        (dialer/engine/inbound.py, one per pool, fed each inbound event once); progressive and
        predictive campaigns then dial only for the agents the queues' service levels can
        spare (pacing.blend.Blended, docs/blending.md)."""
        self.plan = plan
        self.log = log or DecisionLog(maxlen=300)
        self.inbound = inbound
        self.unreached = FailureStreak(
            UNREACHED_HOLD_AFTER,
            UNREACHED_HOLD_S,
            "answered calls never reached the dialer's FastAGI (Asterisk played them the drop "
            "message; check DIALER_FASTAGI)",
            "unreached_in_a_row",
        )
        self.network = FailureStreak(
            NETWORK_HOLD_AFTER,
            NETWORK_HOLD_S,
            "calls failed in the network (congestion or failed: check the trunk and the carrier)",
            "network_failures_in_a_row",
        )
        self.guard = Guard(
            self._blend(policy_for(plan)),
            _guard_config(plan),
            campaign=str(plan.campaign_id),
            log=self.log,
        )

    def _blend(self, policy: Policy) -> Policy:
        if self.inbound is None or not isinstance(policy, Progressive | Predictive):
            return policy
        return Blended(policy, self.inbound)

    @property
    def policy(self) -> Policy:
        return self.guard.policy

    def retune(self, plan: CampaignPlan) -> None:
        """A supervisor changed the campaign's pacing: keep what was learned where possible."""
        policy = self.guard.policy
        if isinstance(policy, Blended):
            policy = policy.policy  # tuned inside, wrapped again below
        if plan.dial_mode is not self.plan.dial_mode:
            policy = policy_for(plan)
        elif isinstance(policy, Progressive):
            policy = policy_for(plan)  # nothing learned; the ratio may have changed
        elif isinstance(policy, Agentless):
            policy.channels, policy.calls_per_s = plan.max_channels, plan.max_calls_per_s
        elif isinstance(policy, Predictive):
            policy.target = _predictive_target(plan)
        policy = self._blend(policy)
        self.guard.policy = policy
        self.guard.name = policy.name
        self.guard.config = _guard_config(plan)
        self.plan = plan

    def decide(self, snapshot: Snapshot, inbound_waiting: int = 0) -> Decision:
        """Calls to place now. ``inbound_waiting``: inbound callers queued for agents this
        campaign shares (dialer/engine/inbound.py); while there are any, outbound places
        nothing for them (issue 6: "when inbound callers are waiting, outbound dialing for the
        shared agents pauses"). The decision is logged like the guard's, with that reason."""
        for streak in (self.unreached, self.network):
            if streak.holding:
                return self._streak_hold(snapshot, streak)
        if inbound_waiting > 0:
            return self.hold(
                snapshot,
                f"{inbound_waiting} inbound caller(s) waiting for shared agents: outbound paused",
                {"inbound_waiting": float(inbound_waiting)},
            )
        return self.guard.decide(snapshot)

    def _streak_hold(self, snapshot: Snapshot, failures: FailureStreak) -> Decision:
        streak = f"the last {failures.count} {failures.what}"
        inputs = {failures.input_name: float(failures.count)}
        if snapshot.now - failures.last_at < failures.hold_s:
            why = f"{streak}: dialing held for {failures.hold_s:.0f} s after the last"
            return self.hold(snapshot, why, inputs)
        mode = self.plan.dial_mode
        if mode is DialMode.PREVIEW:
            return self.hold(snapshot, streak, inputs)  # its calls are the agents' to ask for
        free = int(np.count_nonzero(snapshot.agent_state == int(AgentState.AVAILABLE)))
        needs_agent = mode is not DialMode.AGENTLESS
        if snapshot.call_dial_times.size or (needs_agent and not free):
            return self.hold(snapshot, f"{streak}: one test call at a time", inputs)
        return self._decided(snapshot, 1, f"{streak}: a test call, until one gets through", inputs)

    def hold(
        self, snapshot: Snapshot, reason: str, inputs: dict[str, float] | None = None
    ) -> Decision:
        """No calls now, for ``reason``: logged and explained like any decision."""
        return self._decided(snapshot, 0, reason, inputs)

    def _decided(
        self, snapshot: Snapshot, calls: int, reason: str, inputs: dict[str, float] | None
    ) -> Decision:
        """A decision made here, not by the policy: logged with the guard's."""
        decision = Decision(
            self.guard.name,
            snapshot.now,
            calls,
            reason,
            inputs=inputs or {},
            ring_timeout_s=self.ring_timeout_s,
        )
        self.log.record(str(self.plan.campaign_id), decision)
        return decision

    @property
    def ring_timeout_s(self) -> float:
        """How long the campaign's calls ring: its setting, never under the legal minimum."""
        return max(self.plan.ring_timeout_s, self.guard.config.min_ring_s)

    @property
    def history(self) -> list[Decision]:
        return self.log.recent(str(self.plan.campaign_id))

    def remember(self, answers: Sequence[Answers]) -> None:
        """The campaign's answers from before this process dialed it (a restart, a takeover):
        the 24-hour and 30-day windows start where the store says they were, not empty, so a
        campaign at the cap stays at it across a restart."""
        for minute in sorted(answers, key=lambda a: a.minute):
            self.guard.remember(
                minute.minute.timestamp(), minute.lives, minute.drops, minute.machines
            )

    # What happens to calls ---------------------------------------------------------------
    def routed(self, at: float, dial_to_route_s: float) -> None:
        """A live answer (after AMD) asks for an agent."""
        self._event(EventKind.CALL_ROUTED, at, dial_to_route_s)

    def connected(self, at: float) -> None:
        """A routed call reached an agent: a live answer that was not abandoned."""
        self._event(EventKind.CALL_CONNECTED, at)

    def dropped(self, at: float) -> None:
        """A routed call nobody was free for within the hand-off limit: an abandon."""
        self._event(EventKind.CALL_DROPPED, at)

    def ended(self, record: CallRecord, routed: bool, counted: bool) -> None:
        """A call's one record. ``routed``: :meth:`routed` was reported for it; ``counted``:
        its live answer was already reported as connected or dropped."""
        outcome = record.outcome
        if record.unreached:
            self.unreached.failed(record.ended_at)
        elif record.answered_at is not None:
            self.unreached.passed()  # the FastAGI ran for it
        if outcome in _NETWORK_FAILURES:
            self.network.failed(record.ended_at)
        elif outcome is not Outcome.UNKNOWN:
            self.network.passed()  # it reached the called party's side
        if outcome in (Outcome.MESSAGE_DELIVERED, Outcome.OPTED_OUT):
            return  # agentless: nothing for an agent policy to learn
        since_dial = record.ended_at - record.dialed_at
        if outcome in _UNANSWERED:
            self._event(EventKind.CALL_UNANSWERED, record.ended_at, since_dial)
        elif record.unreached:
            # Nobody knows whether a person answered (no AMD ran) and the drop message
            # played: counted as a live answer abandoned, the conservative reading.
            self._event(EventKind.CALL_DROPPED, record.ended_at)
        elif not routed:
            # Answered and never sent to an agent (AMD hung up, or the person left during
            # AMD): an answer that asked for no agent, as the estimators count machines.
            self._event(EventKind.CALL_MACHINE, record.ended_at, since_dial)
        elif record.connected_at is not None:
            self._event(EventKind.TALK_ENDED, record.ended_at, record.talk_s)
        elif not counted:
            # Routed, never connected, not reported as dropped: the person hung up while the
            # hand-off ran. Counted as an abandon (FTC: not connected within 2 s), the
            # conservative reading.
            self._event(EventKind.CALL_DROPPED, record.ended_at)

    # What happens to agents --------------------------------------------------------------
    def acw_ended(self, at: float, acw_s: float, paused: bool) -> None:
        self._event(EventKind.ACW_ENDED, at, acw_s)
        self._event(EventKind.AGENT_PAUSED if paused else EventKind.AGENT_READY, at)

    def pause_ended(self, at: float, pause_s: float) -> None:
        self._event(EventKind.PAUSE_ENDED, at, pause_s)

    def _event(self, kind: EventKind, at: float, seconds: float = 0.0) -> None:
        self.guard.observe(Event(kind, at, max(0.0, seconds)))
