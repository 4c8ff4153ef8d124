"""What to write back for an attempt: its typification result and the assignment's next step.

Pure: plain values in (an outcome, the campaign's rules, the attempt count, ``now``), plain
values out. The engine reads the rules from the store and writes the answer back.

Seed 004 (typification tree, predictive strategy): calls that never reach an agent are
typified automatically under the campaign's "No contact" group; the predictive strategy needs
that group with at least one result, so a predictive campaign without it cannot start
(:func:`check_campaign_can_start`). Each outcome maps to one result of the group; an outcome
not mapped takes the group's first result (the store's ``no_contact_result`` rule).

Retry rules (each result): retry after N seconds, at most M attempts, or final. A final result,
or an assignment out of attempts, is closed; otherwise it is due again at ``now + retry``.

Reminders (seed 004 "Tipo de recordatorio"): a typification or task may schedule a next action,
"simple" (notify the agent at the time) or "auto_drop" (caída automática: dialed by itself at
the time and connected to the scheduling agent, direct contact, or per the campaign setting to
any available agent). An assignment with a pending reminder is held for it: the hopper does not
dial it on its own.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from dialer.calls import Outcome

__all__ = [
    "NO_CONTACT_OUTCOMES",
    "AssignmentNext",
    "AutoDropTarget",
    "CampaignCannotStart",
    "DialReminder",
    "Disposition",
    "DispositionError",
    "NoContactGroup",
    "NotifyAgent",
    "Reminder",
    "ReminderKind",
    "RetryRule",
    "check_campaign_can_start",
    "dispose",
    "due_reminders",
    "next_step",
    "no_contact_result",
]

# Outcomes that never reach an agent (seed 004). CUSTOMER_HUNG_UP is an answer that left before
# the hand-off; UNKNOWN a call lost with the AMI link: neither had an agent to typify them.
NO_CONTACT_OUTCOMES: Final = frozenset(
    {
        Outcome.NO_ANSWER,
        Outcome.BUSY,
        Outcome.CONGESTION,
        Outcome.FAILED,
        Outcome.INVALID,
        Outcome.MACHINE,
        Outcome.DROPPED,
        Outcome.CUSTOMER_HUNG_UP,
        Outcome.UNKNOWN,
    }
)

PREDICTIVE: Final = "predictive"


class DispositionError(ValueError):
    """Rules or input that do not allow a disposition; the message names the field."""


class CampaignCannotStart(DispositionError):
    """The campaign's settings do not allow it to dial (seed 004)."""


@dataclass(frozen=True)
class RetryRule:
    """A typification result's retry rule. None fields take the campaign's defaults."""

    result_id: int
    retry_after_s: float | None = None
    max_attempts: int | None = None
    final: bool = False

    def __post_init__(self) -> None:
        if self.retry_after_s is not None and self.retry_after_s < 0:
            raise DispositionError(f"result {self.result_id}: retry_after_s must be >= 0")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise DispositionError(f"result {self.result_id}: max_attempts must be >= 1")


@dataclass(frozen=True)
class NoContactGroup:
    """The campaign's "No contact" group: its result ids (in tree order) and the mapping
    outcome -> result id."""

    result_ids: tuple[int, ...]
    mapping: Mapping[Outcome, int] = field(default_factory=dict)


def check_campaign_can_start(
    campaign_id: int, dial_mode: str, no_contact: NoContactGroup | None
) -> None:
    """Raise :class:`CampaignCannotStart` when the campaign may not dial.

    Seed 004: the predictive strategy needs the campaign's "No contact" group equivalent with
    at least one result; calls that never reach an agent are recorded there. For every mode a
    mapping must name only no-contact outcomes and results of that group.
    """
    if no_contact is None or not no_contact.result_ids:
        if dial_mode == PREDICTIVE:
            what = (
                'no "No contact" group'
                if no_contact is None
                else ('a "No contact" group without results')
            )
            raise CampaignCannotStart(
                f"campaign {campaign_id} is predictive but has {what}: create the group with "
                "at least one result and map the outcomes that never reach an agent to it "
                "(no_answer, busy, congestion, failed, invalid, machine, dropped)"
            )
        if no_contact is None:
            return
    for outcome, result_id in no_contact.mapping.items():
        if outcome not in NO_CONTACT_OUTCOMES:
            raise CampaignCannotStart(
                f"campaign {campaign_id}: no-contact mapping of {outcome!s}: "
                "a call connected to an agent is typified by the agent"
            )
        if result_id not in no_contact.result_ids:
            raise CampaignCannotStart(
                f"campaign {campaign_id}: no-contact mapping of {outcome!s} names result "
                f'{result_id}, which is not in the "No contact" group'
            )


def no_contact_result(outcome: Outcome, group: NoContactGroup | None) -> int | None:
    """The result that records ``outcome``, or None for a connected call (the agent
    typifies it) or when the campaign has no usable group."""
    if outcome not in NO_CONTACT_OUTCOMES or group is None or not group.result_ids:
        return None
    return group.mapping.get(outcome, group.result_ids[0])


@dataclass(frozen=True)
class AssignmentNext:
    """The assignment after this attempt.

    ``closed``: done (final result or out of attempts). Otherwise due again at
    ``next_attempt_at``; ``held_for_reminder``: only the reminder dials it (seed 004).
    """

    closed: bool
    next_attempt_at: datetime | None
    why: str
    held_for_reminder: bool = False


def next_step(
    rule: RetryRule,
    attempts_made: int,
    now: datetime,
    *,
    default_max_attempts: int,
    default_retry_s: float,
) -> AssignmentNext:
    """Apply a result's retry rule after ``attempts_made`` attempts (this one included)."""
    if attempts_made < 1:
        raise DispositionError(f"attempts_made must be >= 1, got {attempts_made}")
    if rule.final:
        return AssignmentNext(True, None, f"result {rule.result_id} is final")
    limit = rule.max_attempts if rule.max_attempts is not None else default_max_attempts
    if attempts_made >= limit:
        return AssignmentNext(True, None, f"{attempts_made} of {limit} attempts made")
    delay = rule.retry_after_s if rule.retry_after_s is not None else default_retry_s
    return AssignmentNext(
        False,
        now + timedelta(seconds=delay),
        f"retry in {delay:g} s ({attempts_made} of {limit} attempts made)",
    )


class ReminderKind(enum.StrEnum):
    """Same values as ``store.enums.ReminderType``."""

    SIMPLE = "simple"
    AUTO_DROP = "auto_drop"


class AutoDropTarget(enum.StrEnum):
    """Same values as ``store.enums.AutoDropTarget``."""

    SCHEDULING_AGENT = "scheduling_agent"
    ANY_AGENT = "any_agent"


@dataclass(frozen=True)
class Reminder:
    reminder_id: int
    assignment_id: int
    agent_id: int  # who scheduled it
    due_at: datetime
    kind: ReminderKind


@dataclass(frozen=True)
class Disposition:
    """What to write for one attempt: the result (None: the ACW default record, no result),
    whether it was typified automatically (no-contact), and the assignment's next step."""

    attempt_id: int
    result_id: int | None
    automatic: bool
    next: AssignmentNext


def dispose(
    attempt_id: int,
    outcome: Outcome,
    *,
    attempts_made: int,
    now: datetime,
    rules: Mapping[int, RetryRule],
    no_contact: NoContactGroup | None,
    default_max_attempts: int,
    default_retry_s: float,
    agent_result_id: int | None = None,
    reminder_at: datetime | None = None,
) -> Disposition:
    """The disposition of an attempt.

    A no-contact outcome is typified under the "No contact" group (``agent_result_id`` is
    ignored). A connected call takes the agent's result; ``agent_result_id`` None is the ACW
    default record (seed 004: phone, agent, date and time only), retried per the campaign's
    defaults. ``reminder_at`` (a reminder scheduled with the typification) holds the
    assignment for the reminder instead of the retry rule, unless the result is final.
    """
    if outcome in NO_CONTACT_OUTCOMES:
        result_id = no_contact_result(outcome, no_contact)
        if result_id is None:
            raise DispositionError(
                f"attempt {attempt_id}: outcome {outcome!s} needs the campaign's "
                '"No contact" group with at least one result'
            )
        automatic = True
    else:
        result_id, automatic = agent_result_id, False
    if result_id is None:
        rule = RetryRule(0)
    else:
        try:
            rule = rules[result_id]
        except KeyError:
            raise DispositionError(
                f"attempt {attempt_id}: result_id {result_id} has no retry rule in this campaign"
            ) from None
    step = next_step(
        rule,
        attempts_made,
        now,
        default_max_attempts=default_max_attempts,
        default_retry_s=default_retry_s,
    )
    if reminder_at is not None and not rule.final:
        if reminder_at <= now:
            raise DispositionError(f"reminder_at {reminder_at.isoformat()} is not in the future")
        step = AssignmentNext(False, reminder_at, "held for a reminder", held_for_reminder=True)
    return Disposition(attempt_id, result_id, automatic, step)


@dataclass(frozen=True)
class NotifyAgent:
    """A simple reminder is due: tell ``agent_id`` about ``assignment_id``."""

    reminder_id: int
    agent_id: int
    assignment_id: int


@dataclass(frozen=True)
class DialReminder:
    """An auto-drop reminder is due: dial ``assignment_id`` now and hand the answer to
    ``prefer_agent``; ``any_agent`` says whether another available agent may take it."""

    reminder_id: int
    assignment_id: int
    prefer_agent: int
    any_agent: bool


def due_reminders(
    reminders: Iterable[Reminder], now: datetime, target: AutoDropTarget
) -> list[NotifyAgent | DialReminder]:
    """The actions of every reminder due at ``now``, earliest first.

    ``target`` is the campaign's auto-drop setting: the scheduling agent only (direct contact),
    or any available agent, the scheduling one first (``pick_agent(prefer=...)``).
    """
    actions: list[NotifyAgent | DialReminder] = []
    for r in sorted(reminders, key=lambda r: (r.due_at, r.reminder_id)):
        if r.due_at > now:
            continue
        if r.kind is ReminderKind.SIMPLE:
            actions.append(NotifyAgent(r.reminder_id, r.agent_id, r.assignment_id))
        else:
            actions.append(
                DialReminder(
                    r.reminder_id,
                    r.assignment_id,
                    r.agent_id,
                    any_agent=target is AutoDropTarget.ANY_AGENT,
                )
            )
    return actions
