"""The engine's live events (dialer/live.py), built from what the engine holds: pure functions,
so the engine only says when."""

from __future__ import annotations

from dialer.calls import CallRecord
from dialer.engine.ports import Outcome
from dialer.engine.roster import Agent, Move
from dialer.live import LiveEvent
from pacing.decision import Decision


def agent_moved(agent: Agent, move: Move, at: float) -> LiveEvent:
    """An agent's move, for every campaign the agent works."""
    return LiveEvent(
        "agent",
        at,
        tuple(sorted(agent.campaigns)),
        {
            "agent_id": agent.agent_id,
            "name": agent.name,
            "state": move.after.value,
            "before": move.before.value,
            "seconds_before": move.seconds_before,
            "pause_reason": agent.pause_reason or None,
            "attempt_id": agent.attempt_id,
        },
    )


def call_ended(campaign_id: int, record: CallRecord, outcome: Outcome, at: float) -> LiveEvent:
    talk = (
        record.ended_at - record.connected_at
        if record.connected_at is not None and record.ended_at is not None
        else None
    )
    return LiveEvent(
        "call",
        at,
        (campaign_id,),
        {
            "attempt_id": record.attempt_id,
            "outcome": outcome.value,
            "reason": record.reason,
            "agent_id": record.agent_id,
            "talk_s": talk,
        },
    )


def decided(
    campaign_id: int, decision: Decision, dial_level: float, abandon_rate: float, at: float
) -> LiveEvent:
    """A pacing decision, explained (pacing/decision.py), with the campaign's dial level and
    abandon rate."""
    return LiveEvent(
        "pacing",
        at,
        (campaign_id,),
        {
            "calls": decision.calls,
            "dial_level": dial_level,
            "abandon_rate": abandon_rate,
            "decision": decision.to_json(),
        },
    )
