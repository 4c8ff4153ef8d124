"""dialer.calls: the recorded Asterisk 22 transcripts drive the call tracker; one outcome each."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from ami.codec import Banner, Message, Parser
from dialer.calls import (
    UNREACHED_DB_NOTE,
    CallRecord,
    CallState,
    CallTracker,
    Change,
    Outcome,
    Transition,
    unreached_mark,
)
from tests.transcripts import blocks

Timed = list[tuple[float, Message]]


def timed_messages(name: str, conn: int = 1) -> Timed:
    """(time, message) for every server message of a transcript, time from its capture."""
    parser = Parser()
    out: Timed = []
    for block in blocks(name):
        if block.dir == "server" and block.conn == conn:
            out.extend((block.t, m) for m in parser.feed(block.data) if not isinstance(m, Banner))
    return out


def renamed(messages: Timed, names: dict[str, str]) -> Timed:
    """The transcript as if the Originate had set ChannelId/OtherChannelId: every header value
    equal to an old Uniqueid is replaced (README: ChannelId sets ;1's Uniqueid and Linkedid,
    and the Failure OriginateResponse then names it instead of ``<unknown>``)."""
    out: Timed = []
    for t, m in messages:
        headers = [(k, names.get(v, v)) for k, v in m.headers]
        out.append((t, Message(headers)))
    return out


def uids(messages: Timed) -> tuple[str, str]:
    """The ;1 and ;2 Uniqueids of the first Local pair in a one-call transcript."""
    one = next(m["Uniqueid"] for _, m in messages if m.name == "Newchannel")
    two = next(
        m["Uniqueid"]
        for _, m in messages
        if m.name == "Newchannel" and m["Uniqueid"] != one and m.get("Linkedid") == one
    )
    return one, two


def with_channel_ids(name: str, attempt: int) -> Timed:
    """A one-call transcript as our Originate would give it: ActionID ``att-<attempt>`` and
    ChannelId/OtherChannelId ``att-<attempt>-1``/``-2`` (docs/architecture.md)."""
    messages = timed_messages(name)
    one, two = uids(messages)
    action = next(m.action_id for _, m in messages if m.name == "OriginateResponse")
    assert action is not None
    names = {one: f"att-{attempt}-1", two: f"att-{attempt}-2", action: f"att-{attempt}"}
    return renamed(messages, names)


def feed(tracker: CallTracker, messages: Timed) -> list[Change]:
    changes: list[Change] = []
    for t, m in messages:
        changes.extend(tracker.handle(m, t))
    return changes


def records(changes: list[Change]) -> list[CallRecord]:
    return [c for c in changes if isinstance(c, CallRecord)]


def only_record(changes: list[Change]) -> CallRecord:
    found = records(changes)
    assert len(found) == 1, found
    return found[0]


# Without ChannelId (the transcripts as captured) -----------------------------------------------


def test_answered_then_hung_up_without_an_agent_is_customer_hung_up() -> None:
    messages = timed_messages("02e_originate_6001_answer_hangup")
    tracker = CallTracker()
    tracker.dialed(1, messages[0][0], action="orig-6001", use_channel_ids=False)
    rec = only_record(feed(tracker, messages))
    assert rec.outcome is Outcome.CUSTOMER_HUNG_UP
    assert (rec.reason, rec.dial_status, rec.hangup_cause) == ("4", "ANSWER", 16)
    assert rec.answered_at is not None and rec.answered_at <= rec.ended_at
    assert rec.channel is not None and rec.channel.endswith(";1")
    assert len(tracker) == 0


def test_busy_without_channel_id_closes_on_the_originate_response() -> None:
    messages = timed_messages("02b_originate_2001_busy")
    tracker = CallTracker()
    tracker.dialed(2, 0.0, action="orig-2001", use_channel_ids=False)
    changes = feed(tracker, messages)
    rec = only_record(changes)
    assert (rec.outcome, rec.reason, rec.answered_at, rec.talk_s) == (Outcome.BUSY, "5", None, 0.0)


def test_no_answer_after_the_timeout() -> None:
    messages = timed_messages("02c_originate_3001_noanswer")
    tracker = CallTracker()
    t0 = messages[0][0]
    tracker.dialed(3, t0, action="orig-3001", use_channel_ids=False)
    rec = only_record(feed(tracker, messages))
    assert (rec.outcome, rec.reason, rec.dial_status) == (Outcome.NO_ANSWER, "3", None)
    assert rec.ring_s >= 19.0  # Timeout: 20000 in the capture, counted from our dial


def test_congestion() -> None:
    tracker = CallTracker()
    tracker.dialed(4, 0.0, action="orig-4001", use_channel_ids=False)
    rec = only_record(feed(tracker, timed_messages("02d_originate_4001_congestion")))
    assert (rec.outcome, rec.reason, rec.dial_status) == (Outcome.CONGESTION, "8", None)


def test_async_failures_are_failed_and_the_application_form_answers() -> None:
    tracker = CallTracker()
    actions = ["orig-bad-local-exten", "orig-bad-local-ctx", "orig-bad-tech", "orig-app"]
    for i, action in enumerate(actions, start=10):
        tracker.dialed(i, 0.0, action=action, use_channel_ids=False)
    found = records(feed(tracker, timed_messages("02f_originate_failures")))
    by_attempt = {r.attempt_id: (r.outcome, r.reason) for r in found}
    assert by_attempt == {
        10: (Outcome.FAILED, "0"),
        11: (Outcome.FAILED, "0"),
        12: (Outcome.FAILED, "0"),
        13: (Outcome.CUSTOMER_HUNG_UP, "4"),  # OriginateResponse came before Newchannel
    }


def test_a_refused_originate_is_failed_with_its_message() -> None:
    tracker = CallTracker()
    tracker.dialed(20, 0.0)
    rec = only_record(list(tracker.rejected(20, "Extension does not exist.", 0.1)))
    assert rec.outcome is Outcome.FAILED
    assert rec.notes == ("Originate refused: Extension does not exist.",)


def test_queue_connected_call_is_connected_from_the_ami_dial_of_the_first_half() -> None:
    messages = timed_messages("03b_queue_call_connected")
    tracker = CallTracker()
    tracker.dialed(30, messages[0][0], action="orig-8001", use_channel_ids=False)
    rec = only_record(feed(tracker, messages))
    assert rec.outcome is Outcome.CONNECTED
    assert rec.connected_at is not None and rec.talk_s == rec.ended_at - rec.connected_at
    # Without ChannelId the Originate's own DialEnd (before the OriginateResponse named the
    # ;1 half) cannot be attributed; with it, it is.
    assert rec.dial_status is None
    tracker.dialed(31, messages[0][0])
    rec = only_record(feed(tracker, with_channel_ids("03b_queue_call_connected", 31)))
    assert (rec.outcome, rec.dial_status, rec.reason) == (Outcome.CONNECTED, "ANSWER", "4")


def test_events_of_calls_we_do_not_know_are_ignored() -> None:
    tracker = CallTracker()
    tracker.dialed(40, 0.0)  # att-40: appears nowhere in the capture
    assert feed(tracker, timed_messages("02a_originate_1001_human")) == []
    assert tracker.state(40) is CallState.DIALING


# With ChannelId (our Originates always set it) ------------------------------------------------


def test_channel_id_transcript_gives_each_call_its_outcome() -> None:
    messages = timed_messages("02g_originate_channelid")
    tracker = CallTracker()
    tracker.dialed(
        42, 0.0, action="orig-chanid", channel_id="dialer-7-42-a", other_channel_id="dialer-7-42-b"
    )
    tracker.dialed(
        43,
        0.0,
        action="orig-chanid-busy",
        channel_id="dialer-7-43-a",
        other_channel_id="dialer-7-43-b",
    )
    found = {r.attempt_id: r for r in records(feed(tracker, messages))}
    assert (found[42].outcome, found[42].hangup_cause) == (Outcome.CUSTOMER_HUNG_UP, 16)
    assert (found[43].outcome, found[43].hangup_cause, found[43].dial_status) == (
        Outcome.BUSY,
        17,  # the called side's cause; the ;1 half says 0
        "BUSY",
    )


def test_a_failed_call_waits_for_the_called_sides_hangup() -> None:
    messages = with_channel_ids("02d_originate_4001_congestion", 5)
    tracker = CallTracker()
    tracker.dialed(5, 0.0)
    last_hangup = max(t for t, m in messages if m.name == "Hangup")
    changes: list[Change] = []
    for t, m in messages:
        changes.extend(tracker.handle(m, t))
        if m.name == "OriginateResponse":
            assert tracker.state(5) is CallState.FAILING
    rec = only_record(changes)
    assert (rec.outcome, rec.hangup_cause, rec.ended_at) == (Outcome.CONGESTION, 34, last_hangup)


def test_ringing_is_a_transition_before_the_failure() -> None:
    tracker = CallTracker()
    tracker.dialed(6, 0.0)
    changes = feed(tracker, with_channel_ids("02c_originate_3001_noanswer", 6))
    path = [(c.before, c.after) for c in changes if isinstance(c, Transition)]
    assert path == [
        (CallState.DIALING, CallState.RINGING),
        (CallState.RINGING, CallState.FAILING),
        (CallState.FAILING, CallState.ENDED),
    ]
    assert only_record(changes).hangup_cause == 19


def test_a_failed_call_whose_hangups_never_come_is_closed_by_expire() -> None:
    messages = [
        (t, m) for t, m in with_channel_ids("02b_originate_2001_busy", 7) if m.name != "Hangup"
    ]
    tracker = CallTracker(settle_s=5.0)
    tracker.dialed(7, 0.0)
    assert records(feed(tracker, messages)) == []
    t_response = next(t for t, m in messages if m.name == "OriginateResponse")
    assert tracker.expire(t_response + 4.9) == ()
    rec = only_record(list(tracker.expire(t_response + 5.0)))
    assert (rec.outcome, rec.hangup_cause) == (Outcome.BUSY, None)


# The dialer's FastAGI unreachable --------------------------------------------------------------


def user_event(attempt: int, half: int, name: str, **fields: str) -> Message:
    """A dialplan UserEvent on one half, shaped as 02a's (the channel's headers, then ours)."""
    uid = f"att-{attempt}-{half}"
    headers = [("Event", "UserEvent"), ("Privilege", "user,all")]
    headers += [("Channel", f"Local/6001@sim-pstn-00000000;{half}"), ("ChannelState", "6")]
    headers += [("Context", "dialer-out"), ("Exten", "s"), ("Uniqueid", uid)]
    headers += [("Linkedid", f"att-{attempt}-1"), ("UserEvent", name), *fields.items()]
    return Message(headers)


def with_user_event_before_the_first_halfs_hangup(attempt: int, event: Message) -> Timed:
    messages = with_channel_ids("02e_originate_6001_answer_hangup", attempt)
    at = next(
        i
        for i, (_, m) in enumerate(messages)
        if m.name == "Hangup" and m["Uniqueid"] == f"att-{attempt}-1"
    )
    return [*messages[:at], (messages[at][0], event), *messages[at:]]


def test_an_answer_the_dialplan_could_not_bring_to_the_fastagi_is_dropped_and_says_so() -> None:
    # configs/asterisk/extensions_dialer.conf [dialer-out]: AGISTATUS FAILURE -> UserEvent
    # DialerUnreached, Playback(dialer/drop). Nobody ran the call: an abandon.
    event = user_event(9, 1, "DialerUnreached", AttemptID="9", AGIStatus="FAILURE")
    tracker = CallTracker()
    tracker.dialed(9, 0.0)
    rec = only_record(feed(tracker, with_user_event_before_the_first_halfs_hangup(9, event)))
    assert (rec.outcome, rec.unreached, rec.connected_at) == (Outcome.DROPPED, True, None)
    assert any("AGISTATUS FAILURE" in note for note in rec.notes)


def test_other_user_events_or_the_called_halfs_change_nothing() -> None:
    for event in (
        user_event(9, 1, "DialerHuman", CampaignID="7"),
        user_event(9, 2, "DialerUnreached", AttemptID="9", AGIStatus="FAILURE"),
    ):
        tracker = CallTracker()
        tracker.dialed(9, 0.0)
        rec = only_record(feed(tracker, with_user_event_before_the_first_halfs_hangup(9, event)))
        assert (rec.outcome, rec.unreached) == (Outcome.CUSTOMER_HUNG_UP, False)


# FastAGI progress --------------------------------------------------------------------------------


def answered_call(tracker: CallTracker, attempt: int) -> None:
    tracker.dialed(attempt, 100.0)
    tracker.answered(attempt, 104.0, channel="Local/1001@t-00000001;1")


def hangup(attempt: int, half: int, cause: int = 16) -> Message:
    return Message(
        [("Event", "Hangup"), ("Uniqueid", f"att-{attempt}-{half}"), ("Cause", str(cause))]
    )


def test_machine_detected_then_hung_up_is_machine() -> None:
    tracker = CallTracker()
    answered_call(tracker, 50)
    tracker.amd_result(50, "MACHINE", 107.0)
    rec = only_record(list(tracker.handle(hangup(50, 1), 108.0)))
    assert (rec.outcome, rec.amd, rec.ring_s) == (Outcome.MACHINE, "MACHINE", 4.0)


def test_dropped_after_the_hand_off_limit_is_dropped() -> None:
    tracker = CallTracker()
    answered_call(tracker, 51)
    tracker.amd_result(51, "HUMAN", 106.0)
    tracker.dropped(51, 108.0)
    rec = only_record(list(tracker.ended(51, 111.0)))
    assert (rec.outcome, rec.amd, rec.connected_at) == (Outcome.DROPPED, "HUMAN", None)


def test_connected_to_an_agent_records_agent_and_talk_time() -> None:
    tracker = CallTracker()
    answered_call(tracker, 52)
    reserved = tracker.agent_reserved(52, 7, 105.0)
    assert [(c.before, c.after) for c in reserved if isinstance(c, Transition)] == [
        (CallState.ANSWERED, CallState.CONNECTING)
    ]
    tracker.agent_connected(52, 7, 106.0)
    rec = only_record(list(tracker.handle(hangup(52, 1), 166.0)))
    assert (rec.outcome, rec.agent_id, rec.talk_s, rec.connected_at) == (
        Outcome.CONNECTED,
        7,
        60.0,
        106.0,
    )
    assert tracker.ended(52, 167.0) == ()  # the handler's own end is a duplicate now


def test_an_explicit_outcome_from_the_handler_wins() -> None:
    tracker = CallTracker()
    answered_call(tracker, 53)
    rec = only_record(list(tracker.ended(53, 105.0, Outcome.MACHINE)))
    assert rec.outcome is Outcome.MACHINE


# Link loss ----------------------------------------------------------------------------------


def test_link_loss_marks_every_call_unknown() -> None:
    tracker = CallTracker()
    tracker.dialed(60, 0.0)
    answered_call(tracker, 61)
    changes = tracker.link_lost(200.0)
    assert {(c.attempt_id, c.after) for c in changes if isinstance(c, Transition)} == {
        (60, CallState.UNKNOWN),
        (61, CallState.UNKNOWN),
    }
    assert tracker.state(60) is CallState.UNKNOWN


def test_reconcile_reattaches_calls_found_by_channel_id() -> None:
    tracker = CallTracker()
    answered_call(tracker, 62)
    tracker.link_lost(200.0)
    assert records(list(tracker.reconcile(["att-62-1", "other"], 201.0))) == []
    assert tracker.state(62) is CallState.ANSWERED
    rec = only_record(list(tracker.handle(hangup(62, 1), 230.0)))
    assert rec.outcome is Outcome.CUSTOMER_HUNG_UP


def test_reconcile_closes_the_rest_with_what_was_known_never_redialing() -> None:
    tracker = CallTracker()
    tracker.dialed(63, 0.0)  # the Originate's fate never seen
    answered_call(tracker, 64)
    tracker.agent_connected(64, 3, 105.0)
    tracker.link_lost(200.0)
    found = {r.attempt_id: r.outcome for r in records(list(tracker.reconcile([], 210.0)))}
    assert found == {63: Outcome.UNKNOWN, 64: Outcome.CONNECTED}
    assert len(tracker) == 0


def test_calls_closed_without_a_verdict_are_dropped_when_astdb_marks_them_unreached() -> None:
    """The AMI link and the FastAGI cut by one fault: the fallback's UserEvent reached nobody,
    but its AstDB mark says the drop message played; only calls whose end is unknown ask."""
    tracker = CallTracker()
    tracker.dialed(65, 100.0)  # its fate never seen
    answered_call(tracker, 66)  # answered, no FastAGI seen: would be customer_hung_up
    answered_call(tracker, 67)
    tracker.agent_connected(67, 3, 105.0)  # connected: known, never asked
    tracker.dialed(68, 100.0)
    tracker.link_lost(200.0)
    assert sorted(a for a, _ in tracker.without_verdict(["att-68-1"])) == [65, 66]
    closed = records(list(tracker.reconcile(["att-68-1"], 210.0, unreached={65, 66, 67})))
    found = {r.attempt_id: (r.outcome, r.unreached) for r in closed}
    assert found == {
        65: (Outcome.DROPPED, True),
        66: (Outcome.DROPPED, True),
        67: (Outcome.CONNECTED, False),
    }
    notes = {r.attempt_id: r.notes for r in closed}
    assert UNREACHED_DB_NOTE in notes[66] and UNREACHED_DB_NOTE not in notes[67]


# What was known of a call before the link dropped, and the outcome reconcile owes it.
_KNOWN = {
    "nothing": Outcome.UNKNOWN,
    "answered": Outcome.CUSTOMER_HUNG_UP,
    "connected": Outcome.CONNECTED,
    "machine": Outcome.MACHINE,
    "dropped": Outcome.DROPPED,
}


@settings(max_examples=200, deadline=None)
@given(
    known=st.lists(st.sampled_from(sorted(_KNOWN)), min_size=1, max_size=8),
    marked=st.sets(st.integers(0, 7)),
)
def test_an_astdb_mark_turns_only_a_guess_into_a_drop(known: list[str], marked: set[int]) -> None:
    tracker = CallTracker()
    for attempt, what in enumerate(known):
        if what == "nothing":
            tracker.dialed(attempt, 100.0)
            continue
        answered_call(tracker, attempt)
        if what == "connected":
            tracker.agent_connected(attempt, 3, 105.0)
        elif what == "machine":
            tracker.amd_result(attempt, "MACHINE", 106.0)
        elif what == "dropped":
            tracker.dropped(attempt, 106.0)
    tracker.link_lost(200.0)
    asked = {attempt for attempt, _ in tracker.without_verdict([])}
    assert asked == {a for a, what in enumerate(known) if what in ("nothing", "answered")}
    closed = {r.attempt_id: r for r in records(list(tracker.reconcile([], 210.0, marked)))}
    assert sorted(closed) == list(range(len(known)))  # one outcome each
    for attempt, what in enumerate(known):
        guessed = attempt in asked and attempt in marked
        assert closed[attempt].outcome is (Outcome.DROPPED if guessed else _KNOWN[what])
        assert closed[attempt].unreached is guessed


def test_an_astdb_mark_counts_only_if_written_after_the_attempt_was_dialed() -> None:
    assert unreached_mark("1000", dialed_at=990.0)
    assert unreached_mark("950", dialed_at=990.0)  # Asterisk's clock a little behind
    assert not unreached_mark("100", dialed_at=990.0)  # another database's attempt 17
    assert not unreached_mark(None, dialed_at=990.0)
    assert not unreached_mark("soon", dialed_at=990.0)


def test_bursts_give_every_originate_exactly_one_outcome() -> None:
    for name in ("06a_burst_200_at_once", "06e_burst_200_at_once_human_flow"):
        messages = timed_messages(name)
        tracker = CallTracker()
        for i in range(200):
            tracker.dialed(i, 0.0, action=f"b{i:04d}", use_channel_ids=False)
        during = records(feed(tracker, messages))
        # The captures stop at 400 blocks, mid-burst: the link "drops" there.
        end = messages[-1][0]
        tracker.link_lost(end)
        after = records(list(tracker.reconcile([], end + 1)))
        counts = Counter(r.attempt_id for r in during + after)
        assert sorted(counts) == list(range(200))
        assert set(counts.values()) == {1}


# Properties ---------------------------------------------------------------------------------

CHANNEL_ID_CALLS = {
    "02b_originate_2001_busy": Outcome.BUSY,
    "02c_originate_3001_noanswer": Outcome.NO_ANSWER,
    "02d_originate_4001_congestion": Outcome.CONGESTION,
    "02e_originate_6001_answer_hangup": Outcome.CUSTOMER_HUNG_UP,
}
_RELEVANT: dict[str, list[Message]] = {}
for _name in CHANNEL_ID_CALLS:
    _RELEVANT[_name] = [
        m
        for _, m in with_channel_ids(_name, 9)
        if m.name in ("OriginateResponse", "Newchannel", "Newstate", "DialEnd", "DialState")
        or m.name in ("Hangup", "DialBegin")
    ]


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(CHANNEL_ID_CALLS)),
    data=st.data(),
)
def test_any_order_and_duplication_gives_exactly_one_outcome(
    name: str, data: st.DataObject
) -> None:
    events = _RELEVANT[name]
    order = data.draw(st.permutations(range(len(events))))
    extra = data.draw(st.lists(st.integers(0, len(events) - 1), max_size=8))
    sequence = [events[i] for i in order] + [events[i] for i in extra]
    tracker = CallTracker()
    tracker.dialed(9, 0.0)
    changes = [c for i, m in enumerate(sequence) for c in tracker.handle(m, float(i))]
    assert len(records(changes)) == 1
    assert len(tracker) == 0


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(CHANNEL_ID_CALLS)), data=st.data())
def test_the_originate_response_anywhere_gives_the_same_outcome(
    name: str, data: st.DataObject
) -> None:
    events = _RELEVANT[name]
    response = next(m for m in events if m.name == "OriginateResponse")
    rest = [m for m in events if m is not response]
    at = data.draw(st.integers(0, len(rest)))
    sequence = [*rest[:at], response, *rest[at:]]
    tracker = CallTracker()
    tracker.dialed(9, 0.0)
    changes = [c for i, m in enumerate(sequence) for c in tracker.handle(m, float(i))]
    assert only_record(changes).outcome is CHANNEL_ID_CALLS[name]
