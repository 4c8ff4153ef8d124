"""Whose a live event is: the pure scope a supervisor's stream keeps (dialer/live_scope.py)."""

from __future__ import annotations

from dialer.live import LiveEvent
from dialer.live_scope import CompanyScope

OURS, THEIRS = 1, 2


def call(*campaigns: int) -> LiveEvent:
    return LiveEvent("call", 1.0, campaigns, {"attempt_id": 9, "agent_id": 30})


def agent_move(agent_id: int) -> LiveEvent:
    """An agent who works no campaign moved: the event names none."""
    return LiveEvent("agent", 1.0, (), {"agent_id": agent_id, "state": "available"})


def test_an_event_is_seen_when_one_of_its_campaigns_is_the_company_s() -> None:
    scope = CompanyScope(OURS, campaigns={10}, other_campaigns={20})
    assert scope.sees(call(10)) and scope.sees(call(20, 10))
    assert not scope.sees(call(20))


def test_an_event_naming_no_campaign_is_the_company_s_of_its_agent() -> None:
    scope = CompanyScope(OURS, agents={30}, other_agents={40})
    assert scope.sees(agent_move(30))
    assert not scope.sees(agent_move(40))
    assert scope.sees(LiveEvent("notice", 1.0, (), {"text": "hello"}))  # of no company


def test_what_the_events_name_is_asked_about_once_and_then_known() -> None:
    scope = CompanyScope(OURS, campaigns={10})
    events = [call(10), call(11), call(12, 10), agent_move(30), agent_move(40)]
    assert scope.unknown(events) == ({11, 12}, {30, 40})
    scope.learn({11: OURS, 12: THEIRS}, {30: THEIRS, 40: OURS})
    assert scope.unknown(events) == (set(), set())
    assert [scope.sees(e) for e in events] == [True, True, True, False, True]


def test_a_campaign_or_agent_the_store_does_not_hold_is_not_the_company_s() -> None:
    scope = CompanyScope(OURS)
    scope.learn({99: None}, {98: None})
    assert not scope.sees(call(99)) and not scope.sees(agent_move(98))
    assert scope.unknown([call(99), agent_move(98)]) == (set(), set())
