"""The closed vocabularies of the campaign records (stored as their string values)."""

from __future__ import annotations

from enum import StrEnum


class OperationType(StrEnum):
    """Seed 004 "Tipo de operación"."""

    CUSTOMER_SERVICE = "customer_service"
    TELEMARKETING = "telemarketing"
    TELESALES = "telesales"
    COLLECTIONS = "collections"


class DialMode(StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"
    AGENTLESS = "agentless"


class OutOfHoursAction(StrEnum):
    """Seed 002: outside the schedule an inbound contact is closed or queued."""

    CLOSE = "close"
    QUEUE = "queue"


class MachineAction(StrEnum):
    """What to do when AMD detects an answering machine."""

    HANGUP = "hangup"
    MESSAGE = "message"


class AcwTimeoutAction(StrEnum):
    """Seed 004: on ACW timeout save a default record (phone, agent, date and time only) or
    apply one default typification."""

    DEFAULT_RECORD = "default_record"
    DEFAULT_TYPIFICATION = "default_typification"


class ReminderType(StrEnum):
    """Seed 004: "simple" notifies the agent; "auto_drop" (caída automática) dials by itself."""

    SIMPLE = "simple"
    AUTO_DROP = "auto_drop"


class AutoDropTarget(StrEnum):
    """Who takes an auto-drop callback: the agent who scheduled it, or any agent."""

    SCHEDULING_AGENT = "scheduling_agent"
    ANY_AGENT = "any_agent"


class MonthEndRegeneration(StrEnum):
    """Seed 004: contacts regenerate blank, or keep their typification results."""

    BLANK = "blank"
    KEEP = "keep"


class AutomaticAssignment(StrEnum):
    """Seed 004: none (any agent next time) or direct contact (back to the agent who handled it)."""

    NONE = "none"
    DIRECT_CONTACT = "direct_contact"


class SurveyMode(StrEnum):
    """Seed 004 IVR satisfaction survey: off, automatic at the end of the call, agent's choice."""

    OFF = "off"
    AUTO = "auto"
    AGENT = "agent"


class GroupKind(StrEnum):
    """Seed 004: the typification groups; the predictive strategy needs a no-contact one."""

    DIRECT_CONTACT = "direct_contact"
    INDIRECT_CONTACT = "indirect_contact"
    NO_CONTACT = "no_contact"


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    SUPERVISOR = "supervisor"
    AGENT = "agent"


class AssignmentState(StrEnum):
    PENDING = "pending"  # in the pool of the campaign, dialable when due
    LEASED = "leased"  # claimed by a dialer, a call may be in flight
    DONE = "done"  # final result or out of attempts
    RETURNED = "returned"  # given back to the contact database (seed 003, success limit)


class CallOutcome(StrEnum):
    """How a call ended, as far as the network is concerned (the typification comes later)."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    CONGESTION = "congestion"
    FAILED = "failed"
    INVALID = "invalid"
    MACHINE = "machine"
    DROPPED = "dropped"
    # Inbound (issue 6): the caller hung up waiting in the queue (with its wait recorded), or
    # called outside the campaign's schedule with out-of-hours action "close" (seed 002).
    ABANDONED = "abandoned"
    CLOSED = "closed"
    # Inbound: Asterisk could not bring the call to the dialer's FastAGI; the caller heard
    # dialer/unavailable ([dialer-inbound]'s fallback, configs/asterisk/extensions_dialer.conf).
    UNREACHED = "unreached"


# Outcomes that never reach an agent: recorded in the campaign's no-contact group (seed 004).
NO_CONTACT_OUTCOMES: tuple[CallOutcome, ...] = (
    CallOutcome.NO_ANSWER,
    CallOutcome.BUSY,
    CallOutcome.CONGESTION,
    CallOutcome.FAILED,
    CallOutcome.INVALID,
    CallOutcome.MACHINE,
    CallOutcome.DROPPED,
)


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class TicketState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class TicketPriority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class CallbackState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class FieldType(StrEnum):
    """Dynamic field types of a typification form (seed 002)."""

    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    CHOICE = "choice"
    BOOLEAN = "boolean"
