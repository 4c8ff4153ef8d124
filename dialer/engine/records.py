"""The engine's campaign records on the store (SQLite or PostgreSQL): ``Records`` for real.

Each call is one short transaction: the hopper's claim, the attempt row (written before the
Originate; the store re-checks block list, schedule, calling hours and attempt limits there and
refuses with ``AttemptRefused``), the outcome (idempotent; a call that never reached an agent is
typified under the campaign's "No contact" group by the store, seed 004), and the agent's
typification (mandatory dynamic fields enforced by the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.calls import CLOCK_SKEW_S, channel_ids
from dialer.clock import Clock
from dialer.engine.outcome_spool import OutcomeSpool
from dialer.engine.ports import (
    Answers,
    AttemptResult,
    CampaignCannotStart,
    CampaignPlan,
    Dialable,
    DialMode,
    DialRefused,
    OpenCall,
    Outcome,
    SurveyQuestion,
    Typification,
)
from store import attempts as store_attempts
from store import hopper
from store.blocklist import block_number
from store.campaigns import default_typification, get_campaign, require_dialable
from store.db import SessionFactory, owner_stopped
from store.enums import AcwTimeoutAction, AutoDropTarget, CallOutcome, Direction, MachineAction
from store.errors import AttemptRefused, CannotDial
from store.models import Attempt, DefaultPurpose
from store.work import auto_drop_agents

log = logging.getLogger(__name__)

# While the database is unavailable, outcomes are tried again after 0.5 s, then twice as long
# each time, up to 30 s.
OUTCOME_RETRY_MIN_S = 0.5
OUTCOME_RETRY_MAX_S = 30.0
# Outcomes whose commit has not come back after this long (wall seconds; a commit takes
# milliseconds) are kept on disk too, as if the database had failed: it hangs instead.
KEEP_AFTER_S = 5.0
# Written on the attempt when the ACW timer, not the agent, closed the after-call work.
ACW_TIMEOUT_NOTE = "acw timeout: default applied"

# The engine's outcome -> the store's. An answered person who hung up before an agent came
# is stored as a drop: on the safe side of the abandon cap.
_OUTCOMES = {
    Outcome.CONNECTED: CallOutcome.ANSWERED,
    Outcome.NO_ANSWER: CallOutcome.NO_ANSWER,
    Outcome.BUSY: CallOutcome.BUSY,
    Outcome.CONGESTION: CallOutcome.CONGESTION,
    Outcome.FAILED: CallOutcome.FAILED,
    Outcome.INVALID: CallOutcome.INVALID,
    Outcome.MACHINE: CallOutcome.MACHINE,
    Outcome.DROPPED: CallOutcome.DROPPED,
    Outcome.CUSTOMER_HUNG_UP: CallOutcome.DROPPED,
    Outcome.UNKNOWN: CallOutcome.FAILED,
    Outcome.MESSAGE_DELIVERED: CallOutcome.ANSWERED,
    Outcome.OPTED_OUT: CallOutcome.ANSWERED,
}


# An outcome to write and its waiter.
_Queued = tuple[store_attempts.AttemptOutcome, asyncio.Future[None]]


class StoreRecords:
    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        *,
        owner: str = "dialer-1",
        lease_seconds: int = 300,
        outcome_batch: int = 200,
        spool: OutcomeSpool | None = None,
    ) -> None:
        """``spool``: where outcomes waiting for an unavailable database are kept on disk
        (dialer/engine/outcome_spool.py); None keeps them in memory only."""
        self.sessions = sessions
        self.clock = clock  # the engine's clock: retry times and leases follow its time
        self._outcomes: list[_Queued] = []  # in order
        self.spool = spool
        self._spooled: set[int] = set()  # attempts whose waiting outcome the spool holds
        # SQLite has one writer: two transactions that collide wait in SQLite's busy handler,
        # which sleeps in steps of up to 100 ms. Taking turns in the process costs nothing.
        url = sessions.kw["bind"].url
        self._serialise_writes = url.get_backend_name() == "sqlite"
        self._write_lock = asyncio.Lock()
        self._flusher: asyncio.Future[None] | None = None
        self.owner = owner  # the lease owner: the same for claim, attempt and release
        self.lease_seconds = lease_seconds
        self.outcome_batch = outcome_batch  # outcomes written per transaction at most
        self.keep_after_s = KEEP_AFTER_S
        # Attempt -> assignment, from the attempt row to its outcome's commit: the leases this
        # process must keep, whatever the engine's view of its calls.
        self._live: dict[int, int] = {}
        # Every live lease lasts at least until this + lease_seconds (None: no bound known).
        self._renewed_at: dt.datetime | None = None
        self._claimed_at: dict[int, dt.datetime] = {}  # claimed, attempt not yet started

    async def campaign(self, campaign_id: int) -> CampaignPlan:
        async with self.sessions() as session:
            c = await get_campaign(session, campaign_id)
            try:
                await require_dialable(session, c)
            except CannotDial as exc:
                raise CampaignCannotStart(str(exc)) from exc
            pacing = dict(c.pacing or {})
            return CampaignPlan(
                campaign_id=c.id,
                name=c.name,
                dial_mode=DialMode(c.dial_mode.value),
                trunk_context=c.trunk or "",
                caller_id=c.caller_id or "",
                amd=c.amd_enabled,
                machine_message=(
                    c.machine_message if c.machine_action == MachineAction.MESSAGE else None
                ),
                drop_message=c.drop_message,
                ring_timeout_s=float(pacing.get("ring_timeout_s", 25.0)),
                hand_off_s=float(pacing.get("hand_off_s", 2.0)),
                acw_max_s=float(c.acw_max_seconds) if c.acw_max_seconds else None,
                abandon_target=float(pacing.get("abandon_target", 0.03)),
                dial_ratio=float(pacing.get("dial_ratio", 1.0)),
                max_channels=int(pacing.get("max_channels", 100)),
                max_calls_per_s=float(pacing.get("max_calls_per_s", 20.0)),
                broadcast_message=c.broadcast_message,
                broadcast_to_machines=c.broadcast_to_machines,
                broadcast_result_id=c.broadcast_result_id,
                opt_out_result_id=c.opt_out_result_id,
                survey_mode=c.survey_mode.value,
                auto_drop_any_agent=c.auto_drop_target == AutoDropTarget.ANY_AGENT,
                paused=c.dialing_paused,
                survey_questions=tuple(
                    SurveyQuestion(
                        key=q["key"],
                        prompt=q["prompt"],
                        valid=q["valid"],
                        timeout_ms=int(q.get("timeout_ms", 5000)),
                        retries=int(q.get("retries", 1)),
                        invalid_prompt=q.get("invalid_prompt"),
                    )
                    for q in (c.survey_questions or [])
                ),
            )

    async def claim(
        self, campaign_id: int, n: int, now: dt.datetime, owner: str
    ) -> Sequence[Dialable]:
        async with self._writing(), self.sessions() as session, session.begin():
            # First our calls in progress keep their leases (even past expiry, after a stall):
            # the claim below takes expired leases back and must never get one of them.
            if self._live_renewal_due(now):
                await self._renew_live(session, now)
            claims = await hopper.claim_in(
                session, campaign_id, n, now, self.owner, self.lease_seconds
            )
            self._claimed_at.update((c.assignment_id, now) for c in claims)
            agents = await auto_drop_agents(
                session, [c.assignment_id for c in claims if c.callback], now
            )
        return [
            Dialable(c.assignment_id, c.contact_id, c.e164.lstrip("+"), agents.get(c.assignment_id))
            for c in claims
        ]

    async def release(self, assignment_id: int, owner: str) -> None:
        self._claimed_at.pop(assignment_id, None)
        async with self._writing(), self.sessions() as session, session.begin():
            await hopper.release_in(session, [assignment_id], self.owner, self._now())

    async def renew(self, assignment_ids: Sequence[int], now: dt.datetime) -> None:
        async with self._writing(), self.sessions() as session, session.begin():
            await hopper.renew_in(
                session, list(assignment_ids), self.owner, now, self.lease_seconds
            )
            # Every campaign renews its own calls, and each renewal would renew all of this
            # process's calls too: once in a third of a lease is enough.
            if self._live_renewal_due(now):
                await self._renew_live(session, now)

    def _live_renewal_due(self, now: dt.datetime) -> bool:
        """Renewed a third of a lease ago or less, none of our calls' leases can have expired
        yet, nor will before the next renewal is due."""
        renewed = self._renewed_at
        return renewed is None or (now - renewed).total_seconds() >= self.lease_seconds / 3

    async def _renew_live(self, session: AsyncSession, now: dt.datetime) -> None:
        """The leases of every call this process has an attempt for and no outcome yet
        written: still ringing or talking, or ended with its outcome on its way."""
        self._renewed_at = now
        await hopper.renew_in(
            session, list(self._live.values()), self.owner, now, self.lease_seconds
        )

    async def may_dial(self, campaign_id: int, dialable: Dialable, now: dt.datetime) -> str | None:
        # The store checks everything again inside start_attempt, in the same transaction
        # that writes the attempt: nothing to ask separately.
        return None

    async def start_attempt(
        self, campaign_id: int, dialable: Dialable, now: dt.datetime, trunk: str
    ) -> int:
        [result] = await self.start_attempts(campaign_id, [dialable], now, trunk)
        if isinstance(result, DialRefused):
            raise result
        return result

    async def start_attempts(
        self, campaign_id: int, dialables: Sequence[Dialable], now: dt.datetime, trunk: str
    ) -> list[int | DialRefused]:
        """The attempt rows of one tick's calls, in one transaction (SQLite has one writer:
        a transaction per call would queue them all behind each other). The store checks each
        call again and refuses it without writing anything for it."""
        async with self._writing(), self.sessions() as session, session.begin():
            started = await store_attempts.start_attempts(
                session, [d.assignment_id for d in dialables], now, owner=self.owner
            )
        out: list[int | DialRefused] = []
        for dialable, attempt in zip(dialables, started, strict=True):
            claimed_at = self._claimed_at.pop(dialable.assignment_id, None)
            if isinstance(attempt, AttemptRefused):
                out.append(DialRefused(str(attempt)))
                continue
            self._live[attempt] = dialable.assignment_id
            if claimed_at is None:
                self._renewed_at = None  # not claimed here: renew at the next claim
            elif self._renewed_at is not None and claimed_at < self._renewed_at:
                self._renewed_at = claimed_at
            out.append(attempt)
        return out

    async def finish_attempt(self, campaign_id: int, result: AttemptResult) -> None:
        """Written with the other outcomes of the moment in one transaction (group commit);
        returns once it is committed."""
        await self.write_outcome(self._outcome(result))

    async def write_outcome(self, outcome: store_attempts.AttemptOutcome) -> None:
        """The group commit of any call's outcome, outbound or inbound (inbound_records.py):
        queued in order, waiting for a database that is away, kept in the spool meanwhile;
        returns once it is committed, or raises the store's refusal of it."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outcomes.append((outcome, future))
        self._start_flusher()
        await future

    def _start_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())

    async def write_spooled(self, wait_s: float = 10.0) -> int:
        """Write the outcomes a previous run of this process left in the spool (it stopped
        while they waited for the database), ahead of anything newer: called at start, before
        that run's open attempts are settled, so the real outcome wins over the settle's
        guess. Only attempts still open and ours take one (`_spooled_for`). Waits up to
        ``wait_s`` for them; those not written by then stay first in the queue, and in the
        spool. How many were written."""
        if self.spool is None:
            return 0
        left = await asyncio.to_thread(self.spool.read)
        if not left:
            return 0
        try:
            async with self.sessions() as session:
                still_open = await store_attempts.open_attempts(session, self.owner)
        except Exception:
            # Kept for the next start (the settle that follows cannot read the store either).
            log.exception("reading the attempts of the %d spooled outcomes failed", len(left))
            return 0
        mine = _spooled_for(left, {a.attempt_id: a for a in still_open})
        if not mine:
            await self.spool.clear()
            log.warning(
                "%s: none of the %d outcomes kept there is for an attempt still open here "
                "(written already, or settled by the process that took our calls over)",
                self.spool.path,
                len(left),
            )
            return 0
        loop = asyncio.get_running_loop()
        entries: list[_Queued] = []
        for outcome in mine:
            future: asyncio.Future[None] = loop.create_future()
            future.add_done_callback(functools.partial(_logged_refusal, outcome.attempt_id))
            entries.append((outcome, future))
        self._outcomes[:0] = entries
        self._spooled.update(outcome.attempt_id for outcome in mine)
        self._start_flusher()
        done, _ = await asyncio.wait([f for _, f in entries], timeout=wait_s)
        written = sum(1 for f in done if not f.cancelled() and f.exception() is None)
        log.warning(
            "%d outcomes the last run kept in %s while the database was away: %d written now",
            len(mine),
            self.spool.path,
            written,
        )
        return written

    async def _flush(self) -> None:
        while self._outcomes:
            await self._write_queue()
            if self._spooled and self.spool is not None and not self._outcomes:
                # Every outcome the spool holds is committed (or refused, with its error
                # raised to its waiter): nothing there is needed any more. Outcomes queued
                # meanwhile are written by the loop.
                await self.spool.clear()
                self._spooled.clear()

    async def _write_queue(self) -> None:
        """Write the queue until it is empty, however long the database is away."""
        pause = 0.0  # before the next try while the database is unavailable
        while self._outcomes:
            batch, self._outcomes = (
                self._outcomes[: self.outcome_batch],
                self._outcomes[self.outcome_batch :],
            )
            async with self._kept_while_slow(batch):
                waiting = await self._write_batch(batch)
            if not waiting:
                pause = 0.0
                continue
            # The database is away (restarting, the network): the outcomes wait in order,
            # ahead of the newer ones, rather than being lost, and on disk in case this
            # process stops before it comes back.
            self._outcomes[:0] = waiting
            await self._keep(o for o, _ in waiting)
            pause = retry_pause(pause)
            log.error(
                "the database is unavailable: %d outcomes wait to be written, the next try "
                "in %.1f s",
                len(self._outcomes),
                pause,
            )
            await self.clock.sleep(pause)

    async def _write_batch(self, batch: list[_Queued]) -> list[_Queued]:
        """One transaction for the batch; the outcomes the database could not take for being
        unavailable are given back, to wait. Each other outcome's waiter is answered."""
        try:
            async with self._writing(), self.sessions() as session, session.begin():
                written = await store_attempts.record_outcomes(session, [o for o, _ in batch])
        except Exception:  # written one by one below: the error is each outcome's own
            pass
        else:
            # Committed, conflicts included (their audit entries with the rest).
            for (outcome, future), answer in zip(batch, written, strict=True):
                self._live.pop(outcome.attempt_id, None)
                _answer(future, answer)
            return []
        # The batch could not be written (a database error): one by one, so one bad outcome
        # does not lose the others.
        waiting: list[_Queued] = []
        for outcome, future in batch:
            try:
                async with self._writing(), self.sessions() as session, session.begin():
                    [answer] = await store_attempts.record_outcomes(session, [outcome])
            except Exception as exc:
                if database_unavailable(exc):
                    waiting.append((outcome, future))  # kept, and tried again
                else:
                    future.set_exception(exc)  # its contact stays leased while we run
            else:
                self._live.pop(outcome.attempt_id, None)
                _answer(future, answer)
        return waiting

    @contextlib.asynccontextmanager
    async def _kept_while_slow(self, batch: list[_Queued]) -> AsyncIterator[None]:
        """While the batch's commit takes longer than ``keep_after_s`` (a database that hangs
        instead of failing: a network partition, a failover, every pooled connection stuck),
        its outcomes and those queued behind it are kept on disk, as they are when the
        database fails, so that a process stopped meanwhile loses none of them."""
        if self.spool is None:
            yield
            return
        done = asyncio.Event()

        async def watch() -> None:
            while not done.is_set():
                try:
                    await asyncio.wait_for(done.wait(), self.keep_after_s)
                except TimeoutError:
                    await self._keep(o for o, _ in [*batch, *self._outcomes])

        watching = asyncio.ensure_future(watch())
        try:
            yield
        finally:
            done.set()
            await watching  # a keep under way ends first: the spool is never cleared under it

    async def _keep(self, outcomes: Iterable[store_attempts.AttemptOutcome]) -> None:
        """Put in the spool the waiting outcomes it does not hold yet."""
        if self.spool is None:
            return
        new = [o for o in outcomes if o.attempt_id not in self._spooled]
        try:
            await self.spool.keep(new)
        except OSError:
            log.exception("keeping %d waiting outcomes in %s failed", len(new), self.spool.path)
            return
        self._spooled.update(o.attempt_id for o in new)

    def _outcome(self, result: AttemptResult) -> store_attempts.AttemptOutcome:
        return store_attempts.AttemptOutcome(
            result.attempt_id,
            _OUTCOMES[result.outcome],
            result.ended_at or self._now(),
            result_id=result.result_id,
            hangup_cause=result.hangup_cause,
            amd_result=result.amd,
            agent_id=result.agent_id,
            dialed_at=result.dialed_at,
            answered_at=result.answered_at,
            connected_at=result.connected_at,
            comments=result.note,
        )

    async def open_calls(self, owner: str, before: dt.datetime | None = None) -> list[OpenCall]:
        async with self.sessions() as session:
            left = await store_attempts.open_attempts(session, owner, before)
        calls = []
        for a in left:
            if a.direction is Direction.INBOUND:
                uniqueids: tuple[str, ...] = (a.channel_uniqueid,) if a.channel_uniqueid else ()
            else:
                uniqueids = channel_ids(a.attempt_id)
            calls.append(OpenCall(a.attempt_id, a.campaign_id, a.dialed_at, uniqueids, owner))
        return calls

    async def answers_since(self, campaign_id: int, since: dt.datetime) -> list[Answers]:
        async with self.sessions() as session:
            minutes = await store_attempts.answers_by_minute(session, campaign_id, since)
        return [Answers(m.minute, m.lives, m.drops, m.machines) for m in minutes]

    async def open_call_owners(self, campaign_ids: Collection[int] | None = None) -> list[str]:
        async with self.sessions() as session:
            return await store_attempts.open_attempt_owners(session, campaign_ids, self.owner)

    def owner_stopped(self, owner: str) -> contextlib.AbstractAsyncContextManager[bool]:
        return owner_stopped(self.sessions.kw["bind"], owner)

    async def take_over(self, owner: str, calls: Sequence[OpenCall]) -> None:
        now = self._now()
        async with self._writing(), self.sessions() as session, session.begin():
            taken = await store_attempts.take_over_attempts(
                session, [c.attempt_id for c in calls], owner, self.owner
            )
            ours = {a: assignment for a, assignment in taken if assignment is not None}
            await hopper.take_over_in(
                session, sorted(set(ours.values())), owner, self.owner, now, self.lease_seconds
            )
            # Renewed with our own calls until their outcomes are written (set before the
            # commit: an outcome committed after it finds them here to drop).
            self._live.update(ours)

    async def opt_out(self, campaign_id: int, attempt_id: int) -> None:
        now = self._now()
        async with self._writing(), self.sessions() as session, session.begin():
            attempt = await session.get(Attempt, attempt_id)
            if attempt is None:
                return
            campaign = await get_campaign(session, campaign_id)
            await block_number(
                session, campaign.company_id, attempt.e164, now, reason="opted out in a broadcast"
            )

    async def save_survey(
        self, campaign_id: int, attempt_id: int, answers: dict[str, str], complete: bool
    ) -> None:
        async with self._writing(), self.sessions() as session, session.begin():
            await store_attempts.save_survey(
                session, attempt_id, answers, self._now(), complete=complete
            )

    def _writing(self) -> contextlib.AbstractAsyncContextManager[object]:
        return self._write_lock if self._serialise_writes else contextlib.nullcontext()

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock.now(), dt.UTC)

    async def typify(self, campaign_id: int, typification: Typification) -> None:
        now = self._now()
        timed_out = typification.result_id is None
        async with self._writing(), self.sessions() as session, session.begin():
            result_id = typification.result_id
            if result_id is None:
                # Seed 004, the ACW timer: apply the campaign's default typification, or save
                # the default record (phone, agent, date and time, which the attempt has).
                campaign = await get_campaign(session, campaign_id)
                if campaign.acw_timeout_action == AcwTimeoutAction.DEFAULT_TYPIFICATION:
                    result_id = await default_typification(
                        session, campaign_id, DefaultPurpose.ACW_TIMEOUT
                    )
                if result_id is None:
                    attempt = await session.get(Attempt, typification.attempt_id)
                    if attempt is not None:
                        attempt.agent_id = typification.agent_id
                        attempt.comments = ACW_TIMEOUT_NOTE
                    return
            await store_attempts.typify(
                session,
                typification.attempt_id,
                result_id,
                now,
                agent_id=typification.agent_id,
                field_values=typification.fields,
                comments=ACW_TIMEOUT_NOTE if timed_out else None,
            )


def retry_pause(previous: float) -> float:
    """The wait before the next try of a write the database was away for: 0.5 s, doubling
    to 30 s."""
    return min(max(2 * previous, OUTCOME_RETRY_MIN_S), OUTCOME_RETRY_MAX_S)


def database_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or dropped the connection, as opposed to refusing
    this outcome: worth trying again."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # PoolTimeout: no pooled connection came free in time, every one held by a database that
    # does not answer. OSError includes the builtin TimeoutError.
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout | OSError)


# How long after its attempt was created a spooled outcome may have ended and be its own.
SPOOLED_CALL_MAX_S = 86400.0


def _spooled_for(
    kept: Sequence[store_attempts.AttemptOutcome],
    still_open: Mapping[int, store_attempts.OpenAttempt],
) -> list[store_attempts.AttemptOutcome]:
    """The spooled outcomes of attempts still open and ours, in order. One that ended before
    its attempt was created (clock skew aside) or a day after is another database's attempt
    of the same id (a spool left from an earlier database), and is passed over."""

    def ours(o: store_attempts.AttemptOutcome) -> bool:
        row = still_open.get(o.attempt_id)
        if row is None:
            return False
        return -CLOCK_SKEW_S <= (o.now - row.created_at).total_seconds() <= SPOOLED_CALL_MAX_S

    return [o for o in kept if ours(o)]


def _logged_refusal(attempt_id: int, future: asyncio.Future[None]) -> None:
    """Nobody else waits for a spooled outcome: one the store refused (a conflict, the
    attempt has another outcome already; a constraint) is logged here with its reason."""
    if not future.cancelled() and future.exception() is not None:
        log.warning(
            "attempt %s: the outcome kept in the spool was refused: %s",
            attempt_id,
            future.exception(),
        )


def _answer(future: asyncio.Future[None], answer: object) -> None:
    """The waiter of one outcome: done, or the store's error for that outcome alone."""
    if isinstance(answer, Exception):
        future.set_exception(answer)
    else:
        future.set_result(None)
