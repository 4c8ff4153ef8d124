"""The campaign records: SQLAlchemy 2 typed models, one schema on SQLite and PostgreSQL.

Seeds: 000 (campaign configuration, bulk import), 002 (campaign settings, dynamic fields,
activation rules), 003 (assignment of contacts to campaigns, block list), 004 (campaign settings,
typification tree). Migrations (store/migrations/) create exactly this metadata.

Rules that span rows (a new company gets a default campaign, deactivation is refused while agents
are assigned, ...) live in the repositories, not here.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    false,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from store.db import UTCDateTime
from store.enums import (
    AcwTimeoutAction,
    AssignmentState,
    AutoDropTarget,
    AutomaticAssignment,
    CallbackState,
    CallOutcome,
    DialMode,
    Direction,
    FieldType,
    GroupKind,
    MachineAction,
    MonthEndRegeneration,
    OperationType,
    OutOfHoursAction,
    ReminderType,
    Role,
    SurveyMode,
    TicketPriority,
    TicketState,
)

# Explicit constraint names: identical on both backends and stable across migrations.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL; INTEGER on SQLite, where only "INTEGER PRIMARY KEY" is the rowid.
Id = BigInteger().with_variant(Integer(), "sqlite")
IdPK = Annotated[int, mapped_column(Id, primary_key=True, autoincrement=True)]
Json = JSON()


def _enum(cls: type[enum.StrEnum]) -> SAEnum:
    """A string column holding the enum's values (no native PG enum: migrations stay simple)."""
    return SAEnum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


def _fk(
    target: str, *, nullable: bool = False, ondelete: str | None = "CASCADE", index: bool = True
) -> Any:
    """A foreign key column, indexed unless another index leads with it or (``index=False``)
    the table declares a partial one (:func:`_index_if_set`)."""
    return mapped_column(Id, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index)


def _index_if_set(column: Any) -> Index:
    """``ix_<table>_<column>`` over the rows where ``column`` is set. Every query on such a
    column compares it with a value (``col = x``, the foreign key's ON DELETE action), which
    implies ``IS NOT NULL``, so the partial index serves them all on both backends; rows
    without a value (most imported rows) cost no index entry."""
    set_ = column.is_not(None)
    return Index(
        f"ix_{column.table.name}_{column.name}", column, postgresql_where=set_, sqlite_where=set_
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it once, at class creation)
        datetime: UTCDateTime(),
        dict[str, Any]: Json,
        list[Any]: Json,
    }


# ---------------------------------------------------------------------------------- companies


class Company(Base):
    __tablename__ = "company"

    id: Mapped[IdPK]
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]


class Campaign(Base):
    """A campaign and every setting the seeds name (002, 004, 000)."""

    __tablename__ = "campaign"
    __table_args__ = (UniqueConstraint("company_id", "name"),)

    id: Mapped[IdPK]
    company_id: Mapped[int] = _fk("company.id")
    name: Mapped[str] = mapped_column(String(200))
    operation_type: Mapped[OperationType] = mapped_column(_enum(OperationType))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Seed 004: a VoIP trunk is required to place any call (a dialplan context that dials out).
    trunk: Mapped[str | None] = mapped_column(String(100))
    caller_id: Mapped[str | None] = mapped_column(String(100))
    # Seed 002 schedule: weekly opening hours in the campaign's timezone (see store.schedule).
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    schedule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    out_of_hours_action: Mapped[OutOfHoursAction] = mapped_column(
        _enum(OutOfHoursAction), default=OutOfHoursAction.CLOSE
    )
    out_of_hours_message: Mapped[str | None] = mapped_column(Text)
    dial_mode: Mapped[DialMode] = mapped_column(_enum(DialMode), default=DialMode.PREVIEW)
    pacing: Mapped[dict[str, Any]] = mapped_column(default=dict)
    amd_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    machine_action: Mapped[MachineAction] = mapped_column(
        _enum(MachineAction), default=MachineAction.HANGUP
    )
    machine_message: Mapped[str | None] = mapped_column(String(200))
    drop_message: Mapped[str | None] = mapped_column(String(200))
    # Seed 004 ACW timer; the default typification is in campaign_default_typification.
    acw_max_seconds: Mapped[int | None] = mapped_column(Integer)
    acw_timeout_action: Mapped[AcwTimeoutAction] = mapped_column(
        _enum(AcwTimeoutAction), default=AcwTimeoutAction.DEFAULT_RECORD
    )
    reminder_type: Mapped[ReminderType] = mapped_column(
        _enum(ReminderType), default=ReminderType.SIMPLE
    )
    auto_drop_target: Mapped[AutoDropTarget] = mapped_column(
        _enum(AutoDropTarget), default=AutoDropTarget.SCHEDULING_AGENT
    )
    month_end_regeneration: Mapped[MonthEndRegeneration] = mapped_column(
        _enum(MonthEndRegeneration), default=MonthEndRegeneration.KEEP
    )
    automatic_assignment: Mapped[AutomaticAssignment] = mapped_column(
        _enum(AutomaticAssignment), default=AutomaticAssignment.NONE
    )
    # Seed 000: "Allow assignment to another user if the assigned user is not available".
    allow_reassignment: Mapped[bool] = mapped_column(Boolean, default=True)
    # Inbound (issue 6, docs/inbound.md). Seed 000 "Allow incoming call to users in management
    # status": an agent in after-call work may still be rung by this campaign's queue.
    allow_calls_in_management: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # The queue's service level: this share of callers answered within this many seconds
    # (what the pacing core reserves agents for, and what supervisors see).
    service_level_target: Mapped[float] = mapped_column(Float, default=0.8, server_default="0.8")
    service_level_seconds: Mapped[int] = mapped_column(Integer, default=20, server_default="20")
    # A supervisor's pause (store.campaigns.set_dialing_paused, audited): no new calls, by
    # whichever process dials the campaign, across restarts and moves (migration 0008).
    dialing_paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    survey_mode: Mapped[SurveyMode] = mapped_column(_enum(SurveyMode), default=SurveyMode.OFF)
    # The survey's questions (seed 004 IVR satisfaction survey): a list of
    # {"key", "prompt", "valid" (digits), "invalid_prompt", "timeout_ms", "retries"}.
    survey_questions: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    # Agentless voice broadcast (issue 5): the message played to answered humans (and to
    # machines if asked), and the results a delivered message and an opt-out are recorded under.
    # Plain ids, checked by the repository: a foreign key here would close a cycle
    # campaign -> result -> group -> campaign.
    broadcast_message: Mapped[str | None] = mapped_column(String(200))
    broadcast_to_machines: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    broadcast_result_id: Mapped[int | None] = mapped_column(Id)
    opt_out_result_id: Mapped[int | None] = mapped_column(Id)
    script: Mapped[str | None] = mapped_column(Text)
    comments: Mapped[str | None] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(String(100))
    success_limit: Mapped[int | None] = mapped_column(Integer)
    default_max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    default_retry_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    # The contact's local calling hours, applied in each phone's own timezone.
    calling_hours_start: Mapped[time] = mapped_column(Time, default=time(8, 0))
    calling_hours_end: Mapped[time] = mapped_column(Time, default=time(21, 0))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CampaignLink(Base):
    """Seed 000 "Call Queues linked to this Campaign": an agent of ``campaign_id`` also takes
    the inbound queue of ``linked_campaign_id``."""

    __tablename__ = "campaign_link"

    campaign_id: Mapped[int] = mapped_column(
        Id, ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True
    )
    linked_campaign_id: Mapped[int] = mapped_column(
        Id, ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True
    )
    # The QueueAdd penalty of ``campaign_id``'s agents in the linked queue (app_queue rings
    # lower penalties first: a campaign's own agents, penalty 0, before borrowed ones).
    penalty: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class CampaignDid(Base):
    """An inbound number (DID) and the campaign its calls belong to (issue 6)."""

    __tablename__ = "campaign_did"

    did: Mapped[str] = mapped_column(String(32), primary_key=True)
    campaign_id: Mapped[int] = _fk("campaign.id")


# ------------------------------------------------------------------------ typification tree


class TypificationGroup(Base):
    """Seed 004: Group > Result > Motive > Submotive; only Group and Result are required."""

    __tablename__ = "typification_group"
    __table_args__ = (UniqueConstraint("campaign_id", "name"),)

    id: Mapped[IdPK]
    campaign_id: Mapped[int] = _fk("campaign.id")
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[GroupKind] = mapped_column(_enum(GroupKind))
    position: Mapped[int] = mapped_column(Integer, default=0)


class TypificationForm(Base):
    """A form of dynamic fields (seed 002), linked to results or to the whole conversation."""

    __tablename__ = "typification_form"
    __table_args__ = (UniqueConstraint("campaign_id", "name"),)

    id: Mapped[IdPK]
    campaign_id: Mapped[int] = _fk("campaign.id")
    name: Mapped[str] = mapped_column(String(200))
    conversation_level: Mapped[bool] = mapped_column(Boolean, default=False)


class FormField(Base):
    __tablename__ = "form_field"
    __table_args__ = (UniqueConstraint("form_id", "name"),)

    id: Mapped[IdPK]
    form_id: Mapped[int] = _fk("typification_form.id")
    name: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(200))
    field_type: Mapped[FieldType] = mapped_column(_enum(FieldType), default=FieldType.TEXT)
    # Seed 002: a mandatory dynamic field blocks closing the call until it is filled.
    mandatory: Mapped[bool] = mapped_column(Boolean, default=False)
    options: Mapped[list[Any]] = mapped_column(default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)


class TypificationResult(Base):
    __tablename__ = "typification_result"
    __table_args__ = (UniqueConstraint("group_id", "name"),)

    id: Mapped[IdPK]
    group_id: Mapped[int] = _fk("typification_group.id")
    name: Mapped[str] = mapped_column(String(200))
    # The retry rule: None means the campaign's default.
    retry_after_seconds: Mapped[int | None] = mapped_column(Integer)
    max_attempts: Mapped[int | None] = mapped_column(Integer)
    is_final: Mapped[bool] = mapped_column(Boolean, default=False)
    # Counts toward the campaign's success limit (seed 003).
    is_success: Mapped[bool] = mapped_column(Boolean, default=False)
    form_id: Mapped[int | None] = _fk("typification_form.id", nullable=True, ondelete="SET NULL")
    position: Mapped[int] = mapped_column(Integer, default=0)


class TypificationMotive(Base):
    __tablename__ = "typification_motive"
    __table_args__ = (UniqueConstraint("result_id", "name"),)

    id: Mapped[IdPK]
    result_id: Mapped[int] = _fk("typification_result.id")
    name: Mapped[str] = mapped_column(String(200))


class TypificationSubmotive(Base):
    __tablename__ = "typification_submotive"
    __table_args__ = (UniqueConstraint("motive_id", "name"),)

    id: Mapped[IdPK]
    motive_id: Mapped[int] = _fk("typification_motive.id")
    name: Mapped[str] = mapped_column(String(200))


class DefaultPurpose(enum.StrEnum):
    """Seed 002 default typifications (inactivity, transfer) and seed 004 ACW timeout."""

    ACW_TIMEOUT = "acw_timeout"
    INACTIVITY = "inactivity"
    TRANSFER = "transfer"


class CampaignDefaultTypification(Base):
    __tablename__ = "campaign_default_typification"

    campaign_id: Mapped[int] = mapped_column(
        Id, ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True
    )
    purpose: Mapped[DefaultPurpose] = mapped_column(_enum(DefaultPurpose), primary_key=True)
    result_id: Mapped[int] = _fk("typification_result.id")


class NoContactMapping(Base):
    """Which no-contact result records a call outcome that never reached an agent (seed 004)."""

    __tablename__ = "no_contact_mapping"

    campaign_id: Mapped[int] = mapped_column(
        Id, ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True
    )
    outcome: Mapped[CallOutcome] = mapped_column(_enum(CallOutcome), primary_key=True)
    result_id: Mapped[int] = _fk("typification_result.id")


# ------------------------------------------------------------------------------------ users


class User(Base):
    __tablename__ = "users"  # "user" is reserved on PostgreSQL

    id: Mapped[IdPK]
    company_id: Mapped[int] = _fk("company.id")
    username: Mapped[str] = mapped_column(String(100), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[Role] = mapped_column(_enum(Role))
    # SHA-256 of the API token; the token itself is shown once and never stored.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The agent's phone interface (e.g. PJSIP/7001), used to hand calls over.
    interface: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]


class CampaignMember(Base):
    """Seed 000: only users assigned to a campaign work it; supervisors monitor it."""

    __tablename__ = "campaign_member"

    campaign_id: Mapped[int] = mapped_column(
        Id, ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AgentContact(Base):
    """An agent owns a contact, in one campaign or (campaign_id NULL) in all campaigns."""

    __tablename__ = "agent_contact"
    __table_args__ = (UniqueConstraint("user_id", "contact_id", "campaign_id"),)

    id: Mapped[IdPK]
    user_id: Mapped[int] = _fk("users.id")
    contact_id: Mapped[int] = _fk("contact.id")
    campaign_id: Mapped[int | None] = _fk("campaign.id", nullable=True)


# --------------------------------------------------------------------------------- contacts


class ImportBatch(Base):
    __tablename__ = "import_batch"

    id: Mapped[IdPK]
    company_id: Mapped[int] = _fk("company.id")
    campaign_id: Mapped[int | None] = _fk("campaign.id", nullable=True, ondelete="SET NULL")
    file_name: Mapped[str] = mapped_column(String(500))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_inserted: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = _fk("users.id", nullable=True, ondelete="SET NULL")
    created_at: Mapped[datetime]


class Contact(Base):
    """A customer (seed 000); the document type and number identify it within its company."""

    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("company_id", "document_type", "document_number"),)

    id: Mapped[IdPK]
    # Served by the unique (company_id, document_type, document_number), which leads with it.
    company_id: Mapped[int] = _fk("company.id", index=False)
    customer_type: Mapped[str] = mapped_column(String(50))
    document_type: Mapped[str] = mapped_column(String(50))
    document_number: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str] = mapped_column(String(100))
    middle_name: Mapped[str] = mapped_column(String(100), default="")
    first_surname: Mapped[str] = mapped_column(String(100))
    second_surname: Mapped[str] = mapped_column(String(100), default="")
    birth_date: Mapped[date | None] = mapped_column(Date)
    social: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    additional_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    assigned_user_id: Mapped[int | None] = _fk(
        "users.id", nullable=True, ondelete="SET NULL", index=False
    )
    import_batch_id: Mapped[int | None] = _fk("import_batch.id", nullable=True, ondelete="SET NULL")
    # Seed 003: least-recently-used selection, and the date restored when records return.
    last_used_at: Mapped[datetime | None]
    previous_last_used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


_index_if_set(Contact.assigned_user_id)


class Phone(Base):
    __tablename__ = "phone"

    id: Mapped[IdPK]
    contact_id: Mapped[int] = _fk("contact.id")
    kind: Mapped[str] = mapped_column(String(20), default="phone")
    e164: Mapped[str] = mapped_column(String(20), index=True)
    # The number's IANA timezone (phonenumbers.timezone): the contact's local calling hours.
    timezone: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Email(Base):
    __tablename__ = "email"

    id: Mapped[IdPK]
    contact_id: Mapped[int] = _fk("contact.id")
    address: Mapped[str] = mapped_column(String(254))


class Account(Base):
    __tablename__ = "account"
    __table_args__ = (UniqueConstraint("contact_id", "number"),)

    id: Mapped[IdPK]
    # Served by the unique (contact_id, number), which leads with it.
    contact_id: Mapped[int] = _fk("contact.id", index=False)
    number: Mapped[str] = mapped_column(String(100))
    additional_data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Tag(Base):
    __tablename__ = "tag"
    __table_args__ = (UniqueConstraint("company_id", "name"),)

    id: Mapped[IdPK]
    company_id: Mapped[int] = _fk("company.id")
    name: Mapped[str] = mapped_column(String(100))


class ContactTag(Base):
    __tablename__ = "contact_tag"

    contact_id: Mapped[int] = mapped_column(
        Id, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        Id, ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class BlockedNumber(Base):
    """The block list ("Robinson" list, seed 003): never assigned, never dialled."""

    __tablename__ = "blocked_number"
    __table_args__ = (UniqueConstraint("company_id", "e164"),)

    id: Mapped[IdPK]
    company_id: Mapped[int] = _fk("company.id")
    e164: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]


# ------------------------------------------------------------------------ work of campaigns


class Assignment(Base):
    """A contact in a campaign: the unit the hopper leases (store.hopper)."""

    __tablename__ = "assignment"
    __table_args__ = (UniqueConstraint("campaign_id", "contact_id"),)

    id: Mapped[IdPK]
    campaign_id: Mapped[int] = mapped_column(
        Id, ForeignKey("campaign.id", ondelete="CASCADE"), nullable=False
    )
    contact_id: Mapped[int] = _fk("contact.id")
    # The number to dial; an assignment without one is never claimed.
    phone_id: Mapped[int | None] = _fk("phone.id", nullable=True, ondelete="SET NULL")
    state: Mapped[AssignmentState] = mapped_column(
        _enum(AssignmentState), default=AssignmentState.PENDING
    )
    # 0: an auto-drop callback is pending (dialled first when due); 1: everything else.
    lane: Mapped[int] = mapped_column(SmallInteger, default=1)
    # Higher first.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # True once a call was made: due retries go before fresh records.
    retry: Mapped[bool] = mapped_column(Boolean, default=False)
    order_key: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int | None] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    last_result_id: Mapped[int | None] = _fk(
        "typification_result.id", nullable=True, ondelete="SET NULL", index=False
    )
    last_outcome: Mapped[CallOutcome | None] = mapped_column(_enum(CallOutcome))
    assigned_user_id: Mapped[int | None] = _fk(
        "users.id", nullable=True, ondelete="SET NULL", index=False
    )
    # Provenance only: nothing looks assignments up by it (seed 003 filters contacts by
    # their import batch), so no index; an import batch's rare deletion scans to unset it.
    import_batch_id: Mapped[int | None] = _fk(
        "import_batch.id", nullable=True, ondelete="SET NULL", index=False
    )
    last_used_at: Mapped[datetime | None]
    previous_last_used_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


_index_if_set(Assignment.last_result_id)
_index_if_set(Assignment.assigned_user_id)
# Expired and live leases (store.hopper.reclaim_expired, renew, active_calls): every query
# compares lease_expires_at with a time, and only leased rows carry one.
Index(
    "ix_assignment_lease",
    Assignment.campaign_id,
    Assignment.state,
    Assignment.lease_expires_at,
    postgresql_where=Assignment.lease_expires_at.is_not(None),
    sqlite_where=Assignment.lease_expires_at.is_not(None),
)
# The hopper's order (store.hopper): due callbacks, priority, due retries, assignment order.
Index(
    "ix_assignment_hopper",
    Assignment.campaign_id,
    Assignment.state,
    Assignment.lane,
    Assignment.priority.desc(),
    Assignment.retry.desc(),
    Assignment.order_key,
    Assignment.id,
)


class Attempt(Base):
    """One call. Written before the Originate is sent; its outcome is written idempotently."""

    __tablename__ = "attempt"

    id: Mapped[IdPK]
    campaign_id: Mapped[int] = _fk("campaign.id")
    assignment_id: Mapped[int | None] = _fk("assignment.id", nullable=True, ondelete="SET NULL")
    contact_id: Mapped[int | None] = _fk("contact.id", nullable=True, ondelete="SET NULL")
    phone_id: Mapped[int | None] = _fk("phone.id", nullable=True, ondelete="SET NULL")
    e164: Mapped[str] = mapped_column(String(20))
    direction: Mapped[Direction] = mapped_column(_enum(Direction), default=Direction.OUTBOUND)
    created_at: Mapped[datetime]
    dialed_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    connected_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    trunk: Mapped[str | None] = mapped_column(String(100))
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[CallOutcome | None] = mapped_column(_enum(CallOutcome))
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    amd_result: Mapped[str | None] = mapped_column(String(50))
    agent_id: Mapped[int | None] = _fk("users.id", nullable=True, ondelete="SET NULL")
    result_id: Mapped[int | None] = _fk(
        "typification_result.id", nullable=True, ondelete="SET NULL"
    )
    motive_id: Mapped[int | None] = _fk(
        "typification_motive.id", nullable=True, ondelete="SET NULL"
    )
    submotive_id: Mapped[int | None] = _fk(
        "typification_submotive.id", nullable=True, ondelete="SET NULL"
    )
    field_values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    queue_wait_seconds: Mapped[float | None] = mapped_column(Float)
    # Inbound calls: the ticket the call was handled under (the contact's open one, or new).
    ticket_id: Mapped[int | None] = _fk("ticket.id", nullable=True, ondelete="SET NULL")
    survey_answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    comments: Mapped[str | None] = mapped_column(Text)
    # Inbound calls: the caller's channel Uniqueid, so that a dialer restarted while the caller
    # waits in the queue finds the attempt again (outbound calls are found by att-<id>-1).
    channel_uniqueid: Mapped[str | None] = mapped_column(String(64))


# A campaign's answers by when they ended: the guard's rolling windows are read back from them
# when a process starts dialing it (store.attempts.answers_by_minute, 30 days at most).
Index("ix_attempt_campaign_ended", Attempt.campaign_id, Attempt.ended_at)
# One attempt per inbound call, whichever of several dialers writes it: the caller's channel
# (store.inbound.record_unreached_inbound inserts on conflict do nothing; migration 0010).
Index(
    "ux_attempt_inbound_channel",
    Attempt.channel_uniqueid,
    unique=True,
    postgresql_where=Attempt.channel_uniqueid.is_not(None),
    sqlite_where=Attempt.channel_uniqueid.is_not(None),
)
# Attempts still open, by the process that owns them: what a restarted dialer must settle
# (store.attempts.open_attempts). Few rows: they are the calls in flight.
Index(
    "ix_attempt_open",
    Attempt.lease_owner,
    postgresql_where=Attempt.outcome.is_(None),
    sqlite_where=Attempt.outcome.is_(None),
)


class Ticket(Base):
    """A case (seed 001); an import may create one per record (seed 000)."""

    __tablename__ = "ticket"

    id: Mapped[IdPK]
    company_id: Mapped[int] = _fk("company.id")
    campaign_id: Mapped[int | None] = _fk("campaign.id", nullable=True)
    contact_id: Mapped[int] = _fk("contact.id")
    subject: Mapped[str] = mapped_column(String(300), default="")
    priority: Mapped[TicketPriority] = mapped_column(
        _enum(TicketPriority), default=TicketPriority.LOW
    )
    state: Mapped[TicketState] = mapped_column(_enum(TicketState), default=TicketState.OPEN)
    assigned_user_id: Mapped[int | None] = _fk("users.id", nullable=True, ondelete="SET NULL")
    import_batch_id: Mapped[int | None] = _fk("import_batch.id", nullable=True, ondelete="SET NULL")
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class Task(Base):
    """A handling entry (gestión, seed 001) with its next-action date and time."""

    __tablename__ = "task"

    id: Mapped[IdPK]
    ticket_id: Mapped[int | None] = _fk("ticket.id", nullable=True)
    contact_id: Mapped[int] = _fk("contact.id")
    campaign_id: Mapped[int | None] = _fk("campaign.id", nullable=True)
    user_id: Mapped[int | None] = _fk("users.id", nullable=True, ondelete="SET NULL")
    attempt_id: Mapped[int | None] = _fk("attempt.id", nullable=True, ondelete="SET NULL")
    result_id: Mapped[int | None] = _fk(
        "typification_result.id", nullable=True, ondelete="SET NULL"
    )
    notes: Mapped[str] = mapped_column(Text, default="")
    next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime]


class Callback(Base):
    """A reminder (seed 004): simple notifies the agent, auto-drop is dialled at ``due_at``."""

    __tablename__ = "callback"

    id: Mapped[IdPK]
    campaign_id: Mapped[int] = _fk("campaign.id")
    assignment_id: Mapped[int] = _fk("assignment.id")
    contact_id: Mapped[int] = _fk("contact.id")
    kind: Mapped[ReminderType] = mapped_column(_enum(ReminderType))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # The agent who scheduled it; with AutoDropTarget.SCHEDULING_AGENT the one who takes it.
    agent_id: Mapped[int | None] = _fk("users.id", nullable=True, ondelete="SET NULL")
    state: Mapped[CallbackState] = mapped_column(
        _enum(CallbackState), default=CallbackState.PENDING
    )
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Who changed what, when (seed 001 "change log")."""

    __tablename__ = "audit_log"

    id: Mapped[IdPK]
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    company_id: Mapped[int | None] = _fk("company.id", nullable=True, ondelete="SET NULL")
    user_id: Mapped[int | None] = _fk("users.id", nullable=True, ondelete="SET NULL")
    entity: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[int | None] = mapped_column(Id)
    action: Mapped[str] = mapped_column(String(50))
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
