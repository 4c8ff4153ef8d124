"""dialer.disposition: no-contact typification, retry rules, the predictive start check,
reminders (seed 004)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.calls import Outcome
from dialer.disposition import (
    NO_CONTACT_OUTCOMES,
    AutoDropTarget,
    CampaignCannotStart,
    DialReminder,
    Disposition,
    DispositionError,
    NoContactGroup,
    NotifyAgent,
    Reminder,
    ReminderKind,
    RetryRule,
    check_campaign_can_start,
    dispose,
    due_reminders,
    next_step,
)

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
NO_ANSWER_R, BUSY_R, BAD_NUMBER_R, SALE_R, CALL_LATER_R = 11, 12, 13, 21, 22
GROUP = NoContactGroup(
    (NO_ANSWER_R, BUSY_R, BAD_NUMBER_R),
    {Outcome.BUSY: BUSY_R, Outcome.INVALID: BAD_NUMBER_R},
)
RULES = {
    NO_ANSWER_R: RetryRule(NO_ANSWER_R, retry_after_s=3600, max_attempts=5),
    BUSY_R: RetryRule(BUSY_R, retry_after_s=600),
    BAD_NUMBER_R: RetryRule(BAD_NUMBER_R, final=True),
    SALE_R: RetryRule(SALE_R, final=True),
    CALL_LATER_R: RetryRule(CALL_LATER_R, retry_after_s=86400, max_attempts=10),
}


def run(
    outcome: Outcome,
    attempts: int = 1,
    agent_result_id: int | None = None,
    reminder_at: datetime | None = None,
) -> Disposition:
    return dispose(
        99,
        outcome,
        attempts_made=attempts,
        now=NOW,
        rules=RULES,
        no_contact=GROUP,
        default_max_attempts=3,
        default_retry_s=1800,
        agent_result_id=agent_result_id,
        reminder_at=reminder_at,
    )


def test_predictive_without_a_no_contact_group_cannot_start() -> None:
    with pytest.raises(
        CampaignCannotStart, match='campaign 7 is predictive but has no "No contact"'
    ):
        check_campaign_can_start(7, "predictive", None)


def test_predictive_with_an_empty_no_contact_group_cannot_start() -> None:
    with pytest.raises(CampaignCannotStart, match="without results"):
        check_campaign_can_start(7, "predictive", NoContactGroup(()))


def test_progressive_may_start_without_the_group() -> None:
    check_campaign_can_start(7, "progressive", None)


def test_a_mapping_to_a_result_outside_the_group_is_refused() -> None:
    group = NoContactGroup((11,), {Outcome.BUSY: 21})
    with pytest.raises(CampaignCannotStart, match="mapping of busy names result 21"):
        check_campaign_can_start(7, "predictive", group)


def test_a_mapping_of_a_connected_call_is_refused() -> None:
    group = NoContactGroup((11,), {Outcome.CONNECTED: 11})
    with pytest.raises(CampaignCannotStart, match="mapping of connected"):
        check_campaign_can_start(7, "predictive", group)


def test_a_mapped_outcome_takes_its_result_and_retry() -> None:
    d = run(Outcome.BUSY)
    assert (d.result_id, d.automatic, d.next.closed) == (BUSY_R, True, False)
    assert d.next.next_attempt_at == NOW + timedelta(seconds=600)


def test_an_unmapped_outcome_takes_the_groups_first_result() -> None:
    assert run(Outcome.DROPPED).result_id == NO_ANSWER_R


def test_a_final_result_closes_the_assignment() -> None:
    d = run(Outcome.INVALID)
    assert (d.result_id, d.next.closed, d.next.next_attempt_at) == (BAD_NUMBER_R, True, None)


def test_out_of_attempts_closes_the_assignment() -> None:
    assert run(Outcome.NO_ANSWER, attempts=4).next.closed is False
    assert run(Outcome.NO_ANSWER, attempts=5).next.closed is True


def test_a_connected_call_takes_the_agents_result() -> None:
    d = run(Outcome.CONNECTED, agent_result_id=SALE_R)
    assert (d.result_id, d.automatic, d.next.closed) == (SALE_R, False, True)


def test_the_acw_default_record_retries_per_campaign_defaults() -> None:
    d = run(Outcome.CONNECTED, agent_result_id=None)
    assert d.result_id is None
    assert d.next.next_attempt_at == NOW + timedelta(seconds=1800)


def test_a_result_without_a_rule_is_named() -> None:
    with pytest.raises(DispositionError, match="result_id 77 has no retry rule"):
        run(Outcome.CONNECTED, agent_result_id=77)


def test_no_contact_outcome_without_a_group_is_an_error() -> None:
    with pytest.raises(DispositionError, match='outcome busy needs the campaign\'s "No contact"'):
        dispose(
            1,
            Outcome.BUSY,
            attempts_made=1,
            now=NOW,
            rules=RULES,
            no_contact=None,
            default_max_attempts=3,
            default_retry_s=60,
        )


def test_a_reminder_holds_the_assignment_until_its_time() -> None:
    later = NOW + timedelta(days=1)
    d = run(Outcome.CONNECTED, agent_result_id=CALL_LATER_R, reminder_at=later)
    assert (d.next.closed, d.next.next_attempt_at, d.next.held_for_reminder) == (
        False,
        later,
        True,
    )


def test_a_reminder_in_the_past_is_refused() -> None:
    with pytest.raises(DispositionError, match=r"reminder_at .* is not in the future"):
        run(Outcome.CONNECTED, agent_result_id=CALL_LATER_R, reminder_at=NOW)


def test_due_reminders_notify_or_dial_in_time_order() -> None:
    reminders = [
        Reminder(1, 100, 7, NOW - timedelta(minutes=1), ReminderKind.AUTO_DROP),
        Reminder(2, 101, 8, NOW - timedelta(minutes=5), ReminderKind.SIMPLE),
        Reminder(3, 102, 7, NOW + timedelta(minutes=1), ReminderKind.AUTO_DROP),
    ]
    assert due_reminders(reminders, NOW, AutoDropTarget.SCHEDULING_AGENT) == [
        NotifyAgent(2, 8, 101),
        DialReminder(1, 100, prefer_agent=7, any_agent=False),
    ]
    dial = due_reminders(reminders, NOW, AutoDropTarget.ANY_AGENT)[1]
    assert dial == DialReminder(1, 100, prefer_agent=7, any_agent=True)


@settings(max_examples=60, deadline=None)
@given(
    retry=st.one_of(st.none(), st.integers(0, 10**6)),
    max_attempts=st.one_of(st.none(), st.integers(1, 20)),
    final=st.booleans(),
    attempts=st.integers(1, 30),
)
def test_next_step_either_closes_or_schedules_in_the_future(
    retry: int | None, max_attempts: int | None, final: bool, attempts: int
) -> None:
    rule = RetryRule(5, retry, max_attempts, final)
    step = next_step(rule, attempts, NOW, default_max_attempts=3, default_retry_s=60)
    limit = max_attempts if max_attempts is not None else 3
    assert step.closed is (final or attempts >= limit)
    if step.closed:
        assert step.next_attempt_at is None
    else:
        assert step.next_attempt_at is not None and step.next_attempt_at >= NOW


def test_every_no_contact_outcome_is_typified_automatically() -> None:
    for outcome in NO_CONTACT_OUTCOMES:
        assert run(outcome).automatic is True
