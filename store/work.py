"""Tickets (cases), tasks with their next-action date and time, and callbacks (reminders).

Seed 001: a task can carry a next-action date and time; it goes to the agent's agenda and
tickets with upcoming actions come first. Seed 004: a reminder is "simple" (a notification) or
"automatic drop" (the call is placed automatically at the scheduled time: the hopper dials due
auto-drop callbacks before anything else)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.audit import audit
from store.enums import AssignmentState, CallbackState, ReminderType, TicketPriority, TicketState
from store.errors import InvalidSetting, NotFound
from store.models import Assignment, Callback, Task, Ticket


async def create_ticket(
    session: AsyncSession,
    company_id: int,
    contact_id: int,
    now: datetime,
    *,
    campaign_id: int | None = None,
    subject: str = "",
    priority: TicketPriority | str = TicketPriority.LOW,
    assigned_user_id: int | None = None,
    import_batch_id: int | None = None,
) -> Ticket:
    try:
        priority = TicketPriority(priority)
    except ValueError:
        raise InvalidSetting("ticket", "priority", f"{priority!r} is not a priority") from None
    ticket = Ticket(
        company_id=company_id,
        contact_id=contact_id,
        campaign_id=campaign_id,
        subject=subject,
        priority=priority,
        state=TicketState.OPEN,
        assigned_user_id=assigned_user_id,
        import_batch_id=import_batch_id,
        created_at=now,
    )
    session.add(ticket)
    await session.flush()
    return ticket


async def close_ticket(session: AsyncSession, ticket_id: int, now: datetime) -> Ticket:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound("ticket", ticket_id)
    if ticket.state != TicketState.CLOSED:
        ticket.state = TicketState.CLOSED
        ticket.closed_at = now
        audit(session, now, "ticket", ticket.id, "close", company_id=ticket.company_id)
        await session.flush()
    return ticket


async def close_open_tickets(session: AsyncSession, campaign_id: int, now: datetime) -> int:
    """Seed 000 import option "close the campaign's open tickets": how many were closed."""
    result = await session.execute(
        update(Ticket)
        .where(Ticket.campaign_id == campaign_id, Ticket.state == TicketState.OPEN)
        .values(state=TicketState.CLOSED, closed_at=now)
    )
    closed = int(getattr(result, "rowcount", 0) or 0)
    if closed:
        audit(session, now, "campaign", campaign_id, "close_open_tickets", {"closed": closed})
    return closed


async def add_task(
    session: AsyncSession,
    contact_id: int,
    now: datetime,
    *,
    ticket_id: int | None = None,
    campaign_id: int | None = None,
    user_id: int | None = None,
    attempt_id: int | None = None,
    result_id: int | None = None,
    notes: str = "",
    next_action_at: datetime | None = None,
) -> Task:
    task = Task(
        contact_id=contact_id,
        ticket_id=ticket_id,
        campaign_id=campaign_id,
        user_id=user_id,
        attempt_id=attempt_id,
        result_id=result_id,
        notes=notes,
        next_action_at=next_action_at,
        created_at=now,
    )
    session.add(task)
    await session.flush()
    return task


async def agenda(session: AsyncSession, user_id: int, until: datetime) -> list[Task]:
    """The agent's tasks with a next action up to ``until``, soonest first."""
    return list(
        await session.scalars(
            select(Task)
            .where(Task.user_id == user_id, Task.next_action_at <= until)
            .order_by(Task.next_action_at, Task.id)
        )
    )


async def pending_tickets(session: AsyncSession, user_id: int, now: datetime) -> list[Ticket]:
    """The agent's open tickets: those with an upcoming next action first, soonest first
    (seed 001), then the rest, oldest first."""
    next_action = (
        select(func.min(Task.next_action_at))
        .where(Task.ticket_id == Ticket.id, Task.next_action_at >= now)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Ticket, next_action)
        .where(Ticket.assigned_user_id == user_id, Ticket.state == TicketState.OPEN)
        .order_by(Ticket.id)
    )
    pairs = [(ticket, when) for ticket, when in rows]
    with_action = sorted((p for p in pairs if p[1] is not None), key=lambda p: (p[1], p[0].id))
    without = [p for p in pairs if p[1] is None]
    return [ticket for ticket, _ in with_action + without]


async def schedule_callback(
    session: AsyncSession,
    assignment_id: int,
    due_at: datetime,
    kind: ReminderType | str,
    now: datetime,
    *,
    agent_id: int | None = None,
    note: str = "",
) -> Callback:
    """A reminder for the assignment's contact. An auto-drop one puts the assignment first in
    the hopper from ``due_at`` on (seed 004 caída automática)."""
    try:
        kind = ReminderType(kind)
    except ValueError:
        raise InvalidSetting("callback", "kind", f"{kind!r} is not simple or auto_drop") from None
    if due_at <= now:
        raise InvalidSetting("callback", "due_at", f"{due_at.isoformat()} is not in the future")
    assignment = await session.get(Assignment, assignment_id)
    if assignment is None:
        raise NotFound("assignment", assignment_id)
    callback = Callback(
        campaign_id=assignment.campaign_id,
        assignment_id=assignment.id,
        contact_id=assignment.contact_id,
        kind=kind,
        due_at=due_at,
        agent_id=agent_id,
        state=CallbackState.PENDING,
        note=note,
        created_at=now,
    )
    session.add(callback)
    if kind == ReminderType.AUTO_DROP and assignment.state != AssignmentState.LEASED:
        # A leased assignment picks the callback up when its call is settled.
        pending = await session.scalars(
            select(Callback.due_at).where(
                Callback.assignment_id == assignment.id,
                Callback.kind == ReminderType.AUTO_DROP,
                Callback.state == CallbackState.PENDING,
            )
        )
        assignment.state = AssignmentState.PENDING
        assignment.lane = 0
        assignment.next_attempt_at = min([due_at, *pending])
    await session.flush()
    return callback


async def due_reminders(session: AsyncSession, agent_id: int, now: datetime) -> list[Callback]:
    """The agent's simple reminders that are due (notifications for the agenda)."""
    return list(
        await session.scalars(
            select(Callback)
            .where(
                Callback.agent_id == agent_id,
                Callback.kind == ReminderType.SIMPLE,
                Callback.state == CallbackState.PENDING,
                Callback.due_at <= now,
            )
            .order_by(Callback.due_at, Callback.id)
        )
    )


async def reminders_falling_due(
    session: AsyncSession, agent_ids: Collection[int], after: datetime | None, now: datetime
) -> list[Callback]:
    """The simple reminders of these agents that fall due in (``after``, ``now``], still
    pending (all those due by ``now`` when ``after`` is None): what to notify them of now."""
    if not agent_ids:
        return []
    due = [
        Callback.agent_id.in_(list(agent_ids)),
        Callback.kind == ReminderType.SIMPLE,
        Callback.state == CallbackState.PENDING,
        Callback.due_at <= now,
    ]
    if after is not None:
        due.append(Callback.due_at > after)
    return list(await session.scalars(select(Callback).where(*due).order_by(Callback.due_at)))


async def auto_drop_agents(
    session: AsyncSession, assignment_ids: list[int], now: datetime
) -> dict[int, int | None]:
    """For assignments claimed because an auto-drop reminder is due: who scheduled it (the
    earliest due one's agent; None if that user is gone), so the call goes to them."""
    if not assignment_ids:
        return {}
    rows = await session.execute(
        select(Callback.assignment_id, Callback.agent_id)
        .where(
            Callback.assignment_id.in_(assignment_ids),
            Callback.kind == ReminderType.AUTO_DROP,
            Callback.state == CallbackState.PENDING,
            Callback.due_at <= now,
        )
        .order_by(Callback.due_at.desc(), Callback.id.desc())
    )
    # Latest first, so the earliest due reminder of each assignment is written last and wins.
    return {assignment_id: agent_id for assignment_id, agent_id in rows}


async def complete_callback(session: AsyncSession, callback_id: int, now: datetime) -> None:
    callback = await session.get(Callback, callback_id)
    if callback is None:
        raise NotFound("callback", callback_id)
    if callback.state == CallbackState.PENDING:
        callback.state = CallbackState.DONE
        callback.done_at = now
        await session.flush()
