"""dialer.inbound_calls: the recorded queue transcripts (03a-03d) drive the inbound tracker."""

from __future__ import annotations

from ami.codec import Banner, Message, Parser
from dialer.inbound_calls import (
    InboundOutcome,
    InboundRecord,
    InboundState,
    InboundTracker,
    InboundTransition,
    MemberEvent,
    MemberEventKind,
)
from tests.transcripts import blocks

Timed = list[tuple[float, Message]]
Change = InboundTransition | InboundRecord | MemberEvent


def timed_messages(name: str) -> Timed:
    parser = Parser()
    out: Timed = []
    for block in blocks(name):
        if block.dir == "server" and block.conn == 1:
            out.extend((block.t, m) for m in parser.feed(block.data) if not isinstance(m, Banner))
    return out


def replay(name: str, tracker: InboundTracker | None = None) -> list[Change]:
    tracker = tracker or InboundTracker()
    changes: list[Change] = []
    for t, message in timed_messages(name):
        changes.extend(tracker.handle(message, t))
    return changes


def records(changes: list[Change]) -> list[InboundRecord]:
    return [c for c in changes if isinstance(c, InboundRecord)]


def members(changes: list[Change]) -> list[tuple[MemberEventKind, str, str]]:
    return [(c.kind, c.queue, c.interface) for c in changes if isinstance(c, MemberEvent)]


def test_member_actions_alone_make_no_call() -> None:
    # 03a: QueueAdd, QueuePause, QueueStatus, QueueRemove: no caller ever joins.
    assert replay("03a_queue_member_actions") == []


def test_a_connected_queue_call_gives_one_connected_record_with_its_wait_and_talk() -> None:
    changes = replay("03b_queue_call_connected")
    [record] = records(changes)
    assert record.outcome is InboundOutcome.CONNECTED
    assert record.queue == "sales"
    assert record.interface == "Local/7001@agents"
    assert record.channel.startswith("Local/8001@sim-pstn-") and record.channel.endswith(";1")
    assert record.hold_time_s == 0  # AgentConnect HoldTime
    assert record.wait_s is not None and 0 <= record.wait_s < 1.0
    # AgentComplete came 21.9 s after AgentConnect in the capture (TalkTime: 22).
    assert record.talk_s is not None and 21 < record.talk_s < 23
    assert members(changes) == [
        (MemberEventKind.CALLED, "sales", "Local/7001@agents"),
        (MemberEventKind.CONNECTED, "sales", "Local/7001@agents"),
        (MemberEventKind.COMPLETED, "sales", "Local/7001@agents"),
    ]
    states = [c.after for c in changes if isinstance(c, InboundTransition)]
    assert states == [
        InboundState.QUEUED,
        InboundState.RINGING,
        InboundState.CONNECTED,
        InboundState.ENDED,
    ]


def test_a_caller_abandoning_a_queue_with_only_a_paused_member_is_recorded_with_the_wait() -> None:
    changes = replay("03c_queue_abandon")
    [record] = records(changes)
    assert record.outcome is InboundOutcome.ABANDONED
    assert record.interface is None and record.connected_at is None
    assert record.hold_time_s == 6  # QueueCallerAbandon HoldTime
    assert record.wait_s is not None and 5 < record.wait_s < 7
    assert members(changes) == []  # the paused member was never rung


def test_a_member_who_never_answers_is_reported_each_time_and_the_caller_abandons() -> None:
    changes = replay("03d_queue_agent_ringnoanswer")
    [record] = records(changes)
    assert record.outcome is InboundOutcome.ABANDONED
    assert record.ring_no_answers == 1
    assert record.hold_time_s == 21
    kinds = [k for k, _, _ in members(changes)]
    # Rung, no answer after the queue's 15 s timeout, rung again after retry; then the caller
    # hung up while it rang (no second AgentRingNoAnswer).
    assert kinds == [MemberEventKind.CALLED, MemberEventKind.NO_ANSWER, MemberEventKind.CALLED]
    assert {i for _, _, i in members(changes)} == {"Local/7901@agents"}


def test_late_and_duplicated_events_make_no_second_record() -> None:
    tracker = InboundTracker()
    messages = timed_messages("03b_queue_call_connected")
    first = [c for t, m in messages for c in tracker.handle(m, t)]
    # The same events again, but for a new join (which would be a new call): nothing.
    again = [c for t, m in messages if not _is_join(m) for c in tracker.handle(m, t + 100)]
    assert len(records(first)) == 1
    assert records(again) == []
    assert len(tracker) == 0


def _is_join(m: Message) -> bool:
    return m.name == "QueueCallerJoin"


def test_a_caller_announced_by_the_handler_keeps_its_number_and_queue() -> None:
    tracker = InboundTracker()
    messages = timed_messages("03c_queue_abandon")
    join = next(m for _, m in messages if m.name == "QueueCallerJoin")
    uid = join["Uniqueid"]
    tracker.arrived(uid, join["Channel"], "15551230000", 0.0)
    tracker.routed(uid, "sales", 0.0)
    changes = [c for t, m in messages for c in tracker.handle(m, t)]
    [record] = records(changes)
    assert record.caller_num == "15551230000" and record.arrived_at == 0.0
    assert record.outcome is InboundOutcome.ABANDONED


def test_waiting_callers_are_listed_until_an_agent_answers() -> None:
    tracker = InboundTracker()
    messages = timed_messages("03b_queue_call_connected")
    seen_waiting = []
    for t, m in messages:
        tracker.handle(m, t)
        if m.name in ("QueueCallerJoin", "AgentCalled"):
            seen_waiting.append([q for q, _, _ in tracker.waiting()])
        if m.name == "AgentConnect":
            assert tracker.waiting() == []
    assert seen_waiting == [["sales"], ["sales"]]


def test_the_handler_closing_an_out_of_hours_call_records_it_closed() -> None:
    tracker = InboundTracker()
    tracker.arrived("1.1", "PJSIP/trunk-00000001", "15550001", 10.0)
    tracker.routed("1.1", "campaign-1", 10.0)
    tracker.closed("1.1", 10.0)
    [record] = records(list(tracker.ended("1.1", 14.0)))
    assert record.outcome is InboundOutcome.CLOSED and record.wait_s is None


def test_a_caller_waiting_for_their_user_then_the_queue_keeps_one_wait() -> None:
    tracker = InboundTracker()
    tracker.arrived("1.2", "PJSIP/trunk-00000002", "15550002", 0.0)
    tracker.routed("1.2", "campaign-1", 0.0)
    tracker.waiting_for_user("1.2", 1.0)
    join = Message([("Event", "QueueCallerJoin"), ("Uniqueid", "1.2"), ("Queue", "campaign-1")])
    tracker.handle(join, 16.0)
    hangup = Message([("Event", "Hangup"), ("Uniqueid", "1.2")])
    [record] = records(list(tracker.handle(hangup, 20.0)))
    assert record.outcome is InboundOutcome.ABANDONED
    assert record.wait_s == 19.0  # from the moment it started waiting for the user


def test_an_assigned_user_answering_makes_a_connected_call() -> None:
    tracker = InboundTracker()
    tracker.arrived("1.3", "PJSIP/trunk-00000003", "15550003", 0.0)
    tracker.routed("1.3", "campaign-1", 0.0)
    tracker.waiting_for_user("1.3", 0.5)
    tracker.user_connected("1.3", "Local/7001@agents", 2.5)
    [record] = records(list(tracker.ended("1.3", 32.5)))
    assert record.outcome is InboundOutcome.CONNECTED
    assert record.wait_s == 2.0 and record.talk_s == 30.0
    assert record.interface == "Local/7001@agents"


def test_a_caller_listed_by_queue_status_is_adopted_and_its_abandon_recorded() -> None:
    # 03c: QueueStatus mid-wait lists the caller (QueueEntry, Wait: 1). A tracker that missed
    # the join (a restart) adopts it from there and still records the abandon with its wait.
    messages = timed_messages("03c_queue_abandon")
    entry_at, entry = next((t, m) for t, m in messages if m.name == "QueueEntry")
    tracker = InboundTracker()
    waiting_since = entry_at - int(entry["Wait"])
    tracker.adopt(
        entry["Uniqueid"],
        entry["Channel"],
        entry["CallerIDNum"],
        entry["Queue"],
        waiting_since,
        entry_at,
    )
    assert [q for q, _, _ in tracker.waiting()] == ["sales"]
    later = [(t, m) for t, m in messages if t > entry_at]
    changes = [c for t, m in later for c in tracker.handle(m, t)]
    [record] = records(changes)
    assert record.outcome is InboundOutcome.ABANDONED
    assert record.wait_s is not None and record.wait_s >= int(entry["Wait"])


def test_a_join_seen_late_takes_the_wait_from_app_queues_hold_time() -> None:
    # A busy link delivers QueueCallerJoin and QueueCallerAbandon together: our clock would
    # say the caller waited no time; app_queue counted 6 s where the caller waited.
    tracker = InboundTracker()
    changes: list[Change] = []
    messages = [m for _, m in timed_messages("03c_queue_abandon")]
    for message in messages:
        changes.extend(tracker.handle(message, 1000.0))
    [record] = records(changes)
    assert record.outcome is InboundOutcome.ABANDONED
    assert record.wait_s == 6.0


def test_a_caller_the_handler_queued_waits_from_then_though_the_join_is_seen_late() -> None:
    tracker = InboundTracker()
    tracker.arrived("1.4", "PJSIP/trunk-00000004", "15550004", 0.0)
    tracker.routed("1.4", "campaign-1", 0.0)
    tracker.queued("1.4", 1.0)
    assert [q for q, _, _ in tracker.waiting()] == ["campaign-1"]
    join = Message([("Event", "QueueCallerJoin"), ("Uniqueid", "1.4"), ("Queue", "campaign-1")])
    tracker.handle(join, 5.0)  # delivered late by a busy AMI link
    abandon = Message(
        [("Event", "QueueCallerAbandon"), ("Uniqueid", "1.4"), ("Queue", "campaign-1"),
         ("HoldTime", "7")]
    )  # fmt: skip
    [record] = records(list(tracker.handle(abandon, 8.0)))
    assert record.outcome is InboundOutcome.ABANDONED and record.wait_s == 7.0


def test_an_abandon_the_handler_sees_before_the_queue_events_keeps_its_wait() -> None:
    # The FastAGI side learns of the hang-up first (its Queue() returns); app_queue's events
    # come afterwards on the AMI link and add nothing.
    tracker = InboundTracker()
    tracker.arrived("1.5", "PJSIP/trunk-00000005", "15550005", 0.0)
    tracker.routed("1.5", "campaign-1", 0.0)
    tracker.queued("1.5", 1.0)
    [record] = records(list(tracker.ended("1.5", 9.5)))
    assert record.outcome is InboundOutcome.ABANDONED and record.wait_s == 8.5
    join = Message([("Event", "QueueCallerJoin"), ("Uniqueid", "1.5"), ("Queue", "campaign-1")])
    abandon = Message([("Event", "QueueCallerAbandon"), ("Uniqueid", "1.5"), ("HoldTime", "8")])
    assert tracker.handle(join, 9.6) == ()
    assert tracker.handle(abandon, 9.7) == ()
    assert len(tracker) == 0 and tracker.waiting() == []
