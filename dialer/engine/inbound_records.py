"""The inbound side's campaign records on the store: the directory of DIDs and queues, the
caller's contact, and one attempt (and ticket) per inbound call with its outcome.

Like :class:`dialer.engine.records.StoreRecords`, each step is one short transaction; on SQLite
the writes take turns with the outbound ones through the same lock (one writer).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Collection
from dataclasses import dataclass, field

from dialer.engine.queues import QueueSeat
from dialer.engine.records import StoreRecords
from dialer.inbound_calls import InboundOutcome
from dialer.inbound_routing import InboundCampaign
from dialer.queue_stats import QueueStats
from dialer.schedule import parse_schedule
from store import inbound as store_inbound
from store.attempts import AttemptOutcome
from store.enums import CallOutcome
from store.inbound import Caller

__all__ = ["Caller", "Directory", "InboundRecords", "StoredOutcome"]

log = logging.getLogger(__name__)

# The tracker's outcome -> the store's (an abandon in the queue is its own outcome, with the
# wait on the attempt; issue 6 "Abandons in queue are recorded with their wait").
_OUTCOMES = {
    InboundOutcome.CONNECTED: CallOutcome.ANSWERED,
    InboundOutcome.ABANDONED: CallOutcome.ABANDONED,
    InboundOutcome.CLOSED: CallOutcome.CLOSED,
    InboundOutcome.HUNG_UP: CallOutcome.ABANDONED,
}


@dataclass(frozen=True)
class Directory:
    """What inbound routing and queue membership need, read at start and on reload."""

    by_did: dict[str, InboundCampaign]
    by_campaign: dict[int, InboundCampaign]
    seats: dict[int, list[QueueSeat]]  # agent's campaign -> the queues its agents join
    acw_max_s: dict[int, float]
    # Any campaign -> the queues its members also serve (through their other campaigns): the
    # inbound queues whose service level its outbound dialing must leave agents for.
    shared_queues: dict[int, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredOutcome:
    attempt_id: int
    outcome: InboundOutcome
    ended_at: dt.datetime
    queue_wait_s: float | None
    agent_id: int | None
    connected_at: dt.datetime | None


class InboundRecords:
    def __init__(self, records: StoreRecords) -> None:
        self.records = records
        self.sessions = records.sessions

    def _writing(self) -> contextlib.AbstractAsyncContextManager[object]:
        return self.records._writing()

    async def directory(self) -> Directory:
        async with self.sessions() as session:
            campaigns = await store_inbound.inbound_campaigns(session)
            dids = await store_inbound.dids(session)
            links = await store_inbound.links(session)
            members = await store_inbound.memberships(session)
        by_campaign: dict[int, InboundCampaign] = {}
        for c in campaigns:
            assert c.queue is not None
            by_campaign[c.id] = InboundCampaign(
                campaign_id=c.id,
                name=c.name,
                queue=c.queue,
                schedule=parse_schedule(c.schedule, c.timezone),
                out_of_hours_action=c.out_of_hours_action.value,
                out_of_hours_message=c.out_of_hours_message,
                allow_reassignment=c.allow_reassignment,
                allow_calls_in_management=c.allow_calls_in_management,
                service_level=c.service_level_target,
                service_level_s=float(c.service_level_seconds),
            )
        seats: dict[int, list[QueueSeat]] = {}
        for ic in by_campaign.values():
            seats.setdefault(ic.campaign_id, []).append(
                QueueSeat(ic.queue, ic.campaign_id, 0, ic.allow_calls_in_management)
            )
        for campaign_id, linked_id, penalty in links:
            linked = by_campaign.get(linked_id)
            if linked is not None:
                seats.setdefault(campaign_id, []).append(
                    QueueSeat(linked.queue, linked_id, penalty, linked.allow_calls_in_management)
                )
        by_did = {did: by_campaign[cid] for did, cid in dids.items() if cid in by_campaign}
        acw = {c.id: float(c.acw_max_seconds) for c in campaigns if c.acw_max_seconds}
        campaigns_of: dict[int, set[int]] = {}
        for campaign_id, user_id in members:
            campaigns_of.setdefault(user_id, set()).add(campaign_id)
        shared: dict[int, set[str]] = {}
        for joined in campaigns_of.values():
            queues = {seat.queue for cid in joined for seat in seats.get(cid, ())}
            for cid in joined:
                shared.setdefault(cid, set()).update(queues)
        return Directory(
            by_did, by_campaign, seats, acw, {cid: frozenset(q) for cid, q in shared.items() if q}
        )

    async def arrived(
        self, campaign_id: int, caller_number: str, now: dt.datetime, uniqueid: str = ""
    ) -> tuple[int, Caller]:
        """The caller identified by number, and the call's attempt (and ticket) written."""
        async with self._writing(), self.sessions() as session, session.begin():
            caller = await store_inbound.identify_caller(session, campaign_id, caller_number)
            attempt = await store_inbound.start_inbound_attempt(
                session,
                campaign_id,
                caller_number,
                caller,
                now,
                owner=self.records.owner,
                channel_uniqueid=uniqueid or None,
            )
            return attempt.id, caller

    async def recorded(self, uniqueids: Collection[str]) -> set[str]:
        """Of these caller channels, the calls already recorded (by any dialer)."""
        async with self.sessions() as session:
            return await store_inbound.recorded_channels(session, uniqueids)

    async def unreached(
        self, campaign_id: int, caller_number: str, now: dt.datetime, uniqueid: str
    ) -> int | None:
        """A call the dialplan could not bring to the FastAGI, recorded once among all the
        dialers told of it: its attempt id, or None when another dialer recorded it."""
        async with self._writing(), self.sessions() as session, session.begin():
            caller = await store_inbound.identify_caller(session, campaign_id, caller_number)
            return await store_inbound.record_unreached_inbound(
                session,
                campaign_id,
                caller_number,
                caller,
                now,
                channel_uniqueid=uniqueid,
                owner=self.records.owner,
            )

    async def day_of_queue(self, campaign_id: int, since: dt.datetime, stats: QueueStats) -> None:
        """Count into ``stats`` the campaign's inbound calls finished since ``since`` (the
        supervisor's figures of the day survive a restart)."""
        async with self.sessions() as session:
            rows = await store_inbound.finished_inbound_calls(session, campaign_id, since)
        for outcome, wait, connected_at, ended_at in rows:
            talk = (
                (ended_at - connected_at).total_seconds()
                if connected_at is not None and ended_at is not None
                else None
            )
            stats.count(
                unreached=outcome is CallOutcome.UNREACHED,
                closed=outcome is CallOutcome.CLOSED,
                connected=outcome is CallOutcome.ANSWERED,
                wait_s=wait,
                talk_s=talk,
            )

    async def finished(self, outcome: StoredOutcome) -> None:
        """The call's outcome, written in the outbound outcomes' group commit
        (StoreRecords.write_outcome): while the database is away it waits and is tried again,
        kept in the outcome spool, rather than being lost. One the database refuses raises."""
        await self.records.write_outcome(
            AttemptOutcome(
                outcome.attempt_id,
                _OUTCOMES[outcome.outcome],
                outcome.ended_at,
                agent_id=outcome.agent_id,
                connected_at=outcome.connected_at,
                queue_wait_seconds=outcome.queue_wait_s,
            )
        )
