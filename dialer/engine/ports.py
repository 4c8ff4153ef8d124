"""What the engine needs from the rest of the system, as small typed interfaces.

The engine (an asyncio shell) meets the store, the pacing core and the agents only through these,
so each side can change inside without the engine noticing, and the engine's tests can name
exactly what they exercise.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from dialer.calls import Outcome  # one outcome vocabulary for tracker, engine and records

__all__ = [
    "Answers",
    "AttemptResult",
    "CampaignCannotStart",
    "CampaignPlan",
    "DialMode",
    "DialRefused",
    "Dialable",
    "OpenCall",
    "Outcome",
    "Records",
    "SurveyQuestion",
    "Typification",
]


class DialMode(enum.StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"
    AGENTLESS = "agentless"


@dataclass(frozen=True)
class SurveyQuestion:
    """One question of the IVR satisfaction survey (seed 004): a prompt, the DTMF answers."""

    key: str
    prompt: str
    valid: str
    timeout_ms: int = 5000
    retries: int = 1
    invalid_prompt: str | None = None


@dataclass(frozen=True)
class CampaignPlan:
    """A campaign's settings as the engine uses them while it runs."""

    campaign_id: int
    name: str
    dial_mode: DialMode
    trunk_context: str  # dialplan context that dials out through the campaign's trunk
    caller_id: str
    amd: bool = True
    machine_message: str | None = None
    drop_message: str | None = "dialer/drop"
    ring_timeout_s: float = 25.0
    hand_off_s: float = 2.0
    acw_max_s: float | None = 30.0  # None: no ACW timer
    abandon_target: float = 0.03
    dial_ratio: float = 1.0  # progressive calls per free agent
    max_channels: int = 100
    max_calls_per_s: float = 20.0
    # Agentless voice broadcast: the message, whether machines get it too, and the results a
    # delivered message and an opt-out are recorded under.
    broadcast_message: str | None = None
    broadcast_to_machines: bool = False
    broadcast_result_id: int | None = None
    opt_out_result_id: int | None = None
    # The IVR survey: "off", "auto" (after every agent call) or "agent" (the agent's choice).
    survey_mode: str = "off"
    survey_questions: tuple[SurveyQuestion, ...] = ()
    survey_thanks: str | None = "dialer/survey-thanks"
    # Seed 004 auto-drop reminders: the scheduling agent takes the call, or (True) any
    # available agent of the campaign when the scheduling one is not free.
    auto_drop_any_agent: bool = False
    # A supervisor's pause, as stored: the campaign starts paused (no new calls). While it
    # runs, RunningCampaign.paused follows the store (the API here, the keeper's rounds).
    paused: bool = False


@dataclass(frozen=True)
class Dialable:
    """One contact the hopper leased to the engine."""

    assignment_id: int
    contact_id: int
    phone: str  # E.164, digits only after the '+'
    agent_id: int | None = None  # an auto-drop reminder goes to this agent


@dataclass(frozen=True)
class AttemptResult:
    attempt_id: int
    outcome: Outcome
    reason: str | None = None  # OriginateResponse Reason
    hangup_cause: int | None = None
    amd: str | None = None
    agent_id: int | None = None
    result_id: int | None = None  # recorded under this result (agentless outcomes)
    dialed_at: dt.datetime | None = None
    answered_at: dt.datetime | None = None
    connected_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    note: str | None = None  # kept on the attempt: how the outcome was known


@dataclass(frozen=True)
class OpenCall:
    """A call a stopped dialer left without its outcome, outbound or inbound: a previous run
    of this one, or a process of another name that died."""

    attempt_id: int
    campaign_id: int
    dialed_at: dt.datetime | None
    # The channels Asterisk would still list for it: an outbound call's att-<id>-1 and -2,
    # an inbound caller's channel (none for an inbound attempt written before it was kept).
    uniqueids: tuple[str, ...]
    owner: str  # the dialer whose attempt it was when found


@dataclass(frozen=True)
class Answers:
    """A minute of a campaign's answers from before this process dialed it, as the store
    kept them: what the compliance guard's rolling windows are filled with again."""

    minute: dt.datetime
    lives: int  # live answers (connected or dropped)
    drops: int
    machines: int


@dataclass(frozen=True)
class Typification:
    attempt_id: int
    agent_id: int
    result_id: int | None  # None: the ACW timer's default record
    fields: dict[str, str] = field(default_factory=dict)
    callback_at: dt.datetime | None = None


class CampaignCannotStart(Exception):
    """The campaign's settings do not allow dialing (no trunk, inactive, predictive without a
    "No contact" group with a result: seed 004)."""


class DialRefused(Exception):
    """The records refuse this call now (blocked number, outside hours, attempts used up)."""


class Records(Protocol):
    """The campaign records: contacts in, attempts and outcomes out (store/ behind it)."""

    async def campaign(self, campaign_id: int) -> CampaignPlan:
        """The campaign's plan; raises CampaignCannotStart when it cannot dial."""
        ...

    async def claim(
        self, campaign_id: int, n: int, now: dt.datetime, owner: str
    ) -> Sequence[Dialable]: ...

    async def release(self, assignment_id: int, owner: str) -> None: ...

    async def renew(self, assignment_ids: Sequence[int], now: dt.datetime) -> None:
        """Keep the leases of calls still in progress (a long call must not lose its contact
        to another claim)."""
        ...

    async def may_dial(self, campaign_id: int, dialable: Dialable, now: dt.datetime) -> str | None:
        """None when the call may go out now; else why not (blocked, out of hours...)."""
        ...

    async def start_attempt(
        self, campaign_id: int, dialable: Dialable, now: dt.datetime, trunk: str
    ) -> int:
        """Write the attempt row (before the Originate); raises DialRefused."""
        ...

    async def start_attempts(
        self, campaign_id: int, dialables: Sequence[Dialable], now: dt.datetime, trunk: str
    ) -> list[int | DialRefused]:
        """``start_attempt`` for a tick's calls at once: an attempt id or the refusal each."""
        ...

    async def finish_attempt(self, campaign_id: int, result: AttemptResult) -> None: ...

    async def write_spooled(self, wait_s: float = 10.0) -> int:
        """Write the outcomes this dialer's previous run kept on disk while the database was
        away (dialer/engine/outcome_spool.py), before that run's open calls are settled: how
        many were written within ``wait_s``."""
        ...

    async def answers_since(self, campaign_id: int, since: dt.datetime) -> list[Answers]:
        """The campaign's outbound answers that ended since ``since``, per minute, oldest
        first, whoever dialed them."""
        ...

    async def open_calls(self, owner: str, before: dt.datetime | None = None) -> list[OpenCall]:
        """The attempts the dialer named ``owner`` started (before ``before``, if given) and
        never finished, outbound and inbound: a stopped run's calls in flight."""
        ...

    async def open_call_owners(self, campaign_ids: Collection[int] | None = None) -> list[str]:
        """The other dialers (owner names) with calls never finished: of these campaigns, or
        of any campaign (``None``)."""
        ...

    def owner_stopped(self, owner: str) -> AbstractAsyncContextManager[bool]:
        """Whether no process runs as ``owner`` (certain, not guessed: its owner lock is
        free); if so, none can start under that name before the block ends."""
        ...

    async def take_over(self, owner: str, calls: Sequence[OpenCall]) -> None:
        """``owner``'s open ``calls`` are this dialer's from now on: their attempts, and the
        leases of their contacts, renewed with its own calls' until the outcomes are written
        (so no claim dials a contact still on the phone)."""
        ...

    async def typify(self, campaign_id: int, typification: Typification) -> None: ...

    async def opt_out(self, campaign_id: int, attempt_id: int) -> None:
        """The called number goes on the company's block list (press 9 in a broadcast)."""
        ...

    async def save_survey(
        self, campaign_id: int, attempt_id: int, answers: dict[str, str], complete: bool
    ) -> None: ...
