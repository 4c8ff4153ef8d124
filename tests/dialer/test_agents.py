"""dialer.agents: legal moves, the hand-off pick, reservations and the ACW timer (seed 004)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.agents import (
    STATE_CODES,
    TRANSITIONS,
    AcwAction,
    AcwPolicy,
    AcwTimeout,
    AgentBook,
    AgentState,
    AgentStateError,
    ReservationExpired,
)

SALES, SUPPORT = 1, 2


def book_with(*agents: tuple[int, set[int], float]) -> AgentBook:
    """Agents logged in at the given times."""
    book = AgentBook()
    for agent_id, campaigns, login_at in agents:
        book.add(agent_id, campaigns, 0.0)
        book.login(agent_id, login_at)
    return book


def on_call(book: AgentBook, agent_id: int, attempt_id: int, now: float) -> None:
    book.reserve(agent_id, SALES, attempt_id, now, hold_s=2.0)
    book.connected(agent_id, now + 0.5)


def test_an_illegal_move_names_the_agent_and_both_states() -> None:
    book = book_with((7, {SALES}, 0.0))
    with pytest.raises(AgentStateError, match="agent 7 cannot go from available to acw"):
        book.call_ended(7, 1.0)


def test_a_pause_needs_a_reason_and_keeps_it() -> None:
    book = book_with((7, {SALES}, 0.0))
    with pytest.raises(AgentStateError, match="needs a reason"):
        book.pause(7, " ", 1.0)
    assert book.pause(7, "lunch", 1.0).pause_reason == "lunch"
    assert book.ready(7, 2.0).pause_reason == ""


def test_time_in_state_counts_from_the_last_move() -> None:
    book = book_with((7, {SALES}, 10.0))
    book.pause(7, "break", 25.0)
    assert book.get(7).time_in_state(40.0) == 15.0


def test_pick_takes_the_agent_available_longest() -> None:
    book = book_with((1, {SALES}, 30.0), (2, {SALES}, 10.0), (3, {SUPPORT}, 0.0))
    assert book.pick_agent(SALES, 40.0) == 2


def test_pick_takes_the_preferred_agent_when_available() -> None:
    book = book_with((1, {SALES}, 30.0), (2, {SALES}, 10.0))
    assert book.pick_agent(SALES, 40.0, prefer=1) == 1


def test_pick_falls_back_to_any_agent_only_when_allowed() -> None:
    book = book_with((1, {SALES}, 30.0), (2, {SALES}, 10.0))
    book.pause(1, "coaching", 35.0)
    assert book.pick_agent(SALES, 40.0, prefer=1) == 2
    assert book.pick_agent(SALES, 40.0, prefer=1, fallback=False) is None


def test_pick_finds_nobody_when_no_one_is_free() -> None:
    book = book_with((1, {SALES}, 0.0))
    on_call(book, 1, 100, 5.0)
    assert book.pick_agent(SALES, 6.0) is None


def test_a_reservation_that_never_connects_expires_to_available() -> None:
    book = book_with((1, {SALES}, 0.0))
    book.reserve(1, SALES, 100, 10.0, hold_s=2.0)
    assert book.tick(11.9) == []
    assert book.tick(12.0) == [ReservationExpired(1, SALES, 100, 12.0)]
    assert book.get(1).state is AgentState.AVAILABLE


def test_reserving_for_a_campaign_the_agent_does_not_work_is_refused() -> None:
    book = book_with((1, {SALES}, 0.0))
    with pytest.raises(AgentStateError, match="does not work campaign 2"):
        book.reserve(1, SUPPORT, 100, 1.0, hold_s=2.0)


def test_acw_timeout_applies_the_default_typification() -> None:
    book = book_with((1, {SALES}, 0.0))
    book.set_acw_policy(SALES, AcwPolicy(30.0, AcwAction.DEFAULT_TYPIFICATION, 55))
    on_call(book, 1, 100, 5.0)
    book.call_ended(1, 65.0)
    assert book.tick(94.9) == []
    assert book.tick(95.0) == [AcwTimeout(1, SALES, 100, AcwAction.DEFAULT_TYPIFICATION, 55, 95.0)]
    assert book.get(1).state is AgentState.AVAILABLE
    assert book.tick(200.0) == []  # fires once


def test_acw_timeout_saves_a_default_record_when_so_configured() -> None:
    book = book_with((1, {SALES}, 0.0))
    book.set_acw_policy(SALES, AcwPolicy(10.0))
    on_call(book, 1, 101, 5.0)
    book.call_ended(1, 20.0)
    assert book.tick(30.0) == [AcwTimeout(1, SALES, 101, AcwAction.DEFAULT_RECORD, None, 30.0)]


def test_typifying_in_time_stops_the_timer() -> None:
    book = book_with((1, {SALES}, 0.0))
    book.set_acw_policy(SALES, AcwPolicy(10.0))
    on_call(book, 1, 102, 5.0)
    book.call_ended(1, 20.0)
    book.typified(1, 25.0)
    assert book.get(1).state is AgentState.AVAILABLE
    assert book.tick(40.0) == []


def test_a_paused_agent_still_gets_the_acw_default_but_stays_paused() -> None:
    book = book_with((1, {SALES}, 0.0))
    book.set_acw_policy(SALES, AcwPolicy(10.0))
    on_call(book, 1, 103, 5.0)
    book.call_ended(1, 20.0)
    book.pause(1, "toilet", 22.0)
    book.ready(1, 25.0)
    fired = book.tick(30.0)
    assert [(f.attempt_id, f.campaign_id) for f in fired if isinstance(f, AcwTimeout)] == [
        (103, SALES)
    ]


def test_leaving_a_pause_taken_before_typifying_makes_the_default_due_at_once() -> None:
    book = book_with((1, {SALES}, 0.0))
    book.set_acw_policy(SALES, AcwPolicy(60.0))
    on_call(book, 1, 104, 5.0)
    book.call_ended(1, 20.0)
    book.pause(1, "toilet", 22.0)
    book.ready(1, 25.0)
    assert book.tick(25.0) == [AcwTimeout(1, SALES, 104, AcwAction.DEFAULT_RECORD, None, 25.0)]


def test_the_acw_default_is_written_before_the_agent_is_free() -> None:
    book = book_with((1, {SALES}, 0.0))
    book.set_acw_policy(SALES, AcwPolicy(10.0))
    on_call(book, 1, 105, 5.0)
    book.call_ended(1, 20.0)
    assert book.acw_expired(1, 105, 29.0) is None  # not yet due
    fired = book.acw_expired(1, 105, 30.0)
    assert fired == AcwTimeout(1, SALES, 105, AcwAction.DEFAULT_RECORD, None, 30.0)
    assert book.get(1).state is AgentState.ACW  # until the shell has written it
    assert book.acw_expired(1, 105, 31.0) is None  # fires once
    assert book.acw_applied(1, 105, 31.0).state is AgentState.AVAILABLE


def test_a_queue_takes_an_available_agent_or_an_outbound_one_not_yet_dialed() -> None:
    book = book_with((1, {SALES}, 0.0), (2, {SALES}, 0.0), (3, {SALES}, 0.0))
    book.reserve(2, SALES, 200, 5.0)
    book.reserve(3, SALES, 201, 5.0)
    book.get(3).committed = True  # past its fence: the hand-off is dialing them
    assert book.take_for_queue(1, SUPPORT, 300, 6.0)
    assert book.take_for_queue(2, SUPPORT, 301, 6.0)
    assert not book.take_for_queue(3, SUPPORT, 302, 6.0)
    assert [(a.state, a.attempt_id, a.inbound) for a in book] == [
        (AgentState.RESERVED, 300, True),
        (AgentState.RESERVED, 301, True),
        (AgentState.RESERVED, 201, False),
    ]
    assert not book.take_for_queue(2, SUPPORT, 303, 6.5)  # a queue call is not taken twice


def test_a_reminder_holds_its_agent_or_with_any_agent_the_longest_available() -> None:
    book = book_with((1, {SALES}, 10.0), (2, {SALES}, 0.0))
    book.pause(1, "lunch", 20.0)
    assert book.hold_for_reminder(SALES, 1, False, 400, 30.0) is None
    held = book.hold_for_reminder(SALES, 1, True, 400, 30.0)
    assert held is not None and (held.agent_id, held.committed) == (2, True)


def test_every_move_is_queued_for_the_shell_with_the_call_it_left() -> None:
    book = book_with((1, {SALES}, 0.0))
    book.moves.clear()
    on_call(book, 1, 106, 5.0)
    book.call_ended(1, 65.0)
    book.typified(1, 80.0)
    assert [(m.before, m.after, m.seconds_before, m.campaign_id) for m in book.moves] == [
        (AgentState.AVAILABLE, AgentState.RESERVED, 5.0, None),
        (AgentState.RESERVED, AgentState.ON_CALL, 0.5, SALES),
        (AgentState.ON_CALL, AgentState.ACW, 59.5, SALES),
        (AgentState.ACW, AgentState.AVAILABLE, 15.0, SALES),
    ]
    assert (book.get(1).calls, book.get(1).talk_s) == (1, 59.5)


def test_default_typification_without_an_id_is_refused() -> None:
    with pytest.raises(ValueError, match="default_typification_id"):
        AcwPolicy(30.0, AcwAction.DEFAULT_TYPIFICATION)


def test_snapshot_marks_shared_agents_and_leaves_out_logged_out_ones() -> None:
    book = book_with((1, {SALES}, 0.0), (2, {SALES, SUPPORT}, 5.0))
    book.add(3, {SALES}, 0.0)  # never logs in
    on_call(book, 1, 100, 10.0)
    snap = book.snapshot(SALES, 20.0)
    assert snap.agent_ids.tolist() == [1, 2]
    assert snap.states.tolist() == [
        STATE_CODES[AgentState.ON_CALL],
        STATE_CODES[AgentState.AVAILABLE],
    ]
    assert snap.time_in_state.tolist() == [9.5, 15.0]
    assert snap.shared.tolist() == [False, True]
    assert snap.count(AgentState.AVAILABLE) == 1


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(
            ["login", "pause", "ready", "logout", "reserve", "release", "connect", "end", "typify"]
        ),
        st.floats(0.0, 5.0),
    ),
    max_size=30,
)


@settings(max_examples=80, deadline=None)
@given(ACTIONS)
def test_any_sequence_of_requests_keeps_the_agent_in_a_legal_state(
    actions: list[tuple[str, float]],
) -> None:
    book = AgentBook()
    book.set_acw_policy(SALES, AcwPolicy(3.0))
    book.add(1, {SALES}, 0.0)
    now = 0.0
    calls = {
        "login": lambda: book.login(1, now),
        "pause": lambda: book.pause(1, "x", now),
        "ready": lambda: book.ready(1, now),
        "logout": lambda: book.logout(1, now),
        "reserve": lambda: book.reserve(1, SALES, 9, now, 2.0),
        "release": lambda: book.release(1, now),
        "connect": lambda: book.connected(1, now),
        "end": lambda: book.call_ended(1, now),
        "typify": lambda: book.typified(1, now),
    }
    for name, step in actions:
        now += step
        before = book.get(1).state
        try:
            calls[name]()
        except AgentStateError:
            assert book.get(1).state is before  # a refused move changes nothing
        after = book.get(1).state
        assert after is before or after in TRANSITIONS[before]
        book.tick(now)
        assert book.get(1).since <= now


def test_leaving_a_pause_before_typifying_makes_the_default_due_without_a_timer_too() -> None:
    book = book_with((1, {SALES}, 0.0))  # no ACW maximum for SALES
    on_call(book, 1, 107, 5.0)
    book.call_ended(1, 20.0)
    book.pause(1, "toilet", 22.0)
    assert book.tick(500.0) == []  # no timer: the agent may still come back and typify
    book.logout(1, 600.0)
    assert book.tick(600.0) == [AcwTimeout(1, SALES, 107, AcwAction.DEFAULT_RECORD, None, 600.0)]


def test_a_call_typified_during_the_pause_gets_no_default() -> None:
    book = book_with((1, {SALES}, 0.0))
    book.set_acw_policy(SALES, AcwPolicy(10.0))
    on_call(book, 1, 108, 5.0)
    book.call_ended(1, 20.0)
    book.pause(1, "toilet", 22.0)
    assert book.typified(1, 24.0).state is AgentState.PAUSED
    book.ready(1, 25.0)
    assert book.tick(40.0) == []


def test_a_default_written_during_the_pause_is_not_written_again_on_return() -> None:
    book = book_with((1, {SALES}, 0.0))
    book.set_acw_policy(SALES, AcwPolicy(10.0))
    on_call(book, 1, 109, 5.0)
    book.call_ended(1, 20.0)
    book.pause(1, "toilet", 22.0)
    assert len(book.tick(30.0)) == 1
    book.ready(1, 90.0)
    assert book.tick(90.0) == []
    with pytest.raises(AgentStateError, match="not in after-call work"):
        book.typified(1, 91.0)
