"""Inbound calls no dialer took, told by their AstDB mark when nobody heard their UserEvent.

One fault often cuts both links to the dialer: the FastAGI (so [dialer-inbound] plays
dialer/unavailable, configs/asterisk/extensions_dialer.conf) and the AMI session (so the
fallback's UserEvent DialerUnreachedInbound reaches nobody), or every dialer is down. The
fallback also marks the call in AstDB under its day; after the reconnect, or at the start,
the dialer lists the days it missed (DBGetTree) and records each call once. Both backends,
against the simulated Asterisk.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest

from dialer.calls import CLOCK_SKEW_S
from dialer.engine.inbound_records import InboundRecords
from dialer.inbound_marks import UNREACHED_INBOUND_DB_FAMILY
from store.db import SessionFactory
from store.enums import CallOutcome
from tests.engine.test_inbound import (
    KNOWN_CALLER,
    SERVICE_DID,
    Floor,
    dialer_run,
    floor,
    inbound_attempts,
    kill,
    restart,
    unreached,
    until_written,
)
from tests.waiting import until

LOST = "could not reach the dialer's FastAGI"


def marks(f: Floor) -> dict[str, str]:
    db = f.sim.asterisk.astdb
    return {
        key: value for (family, key), value in db.items() if family == UNREACHED_INBOUND_DB_FAMILY
    }


async def cut_off(f: Floor) -> None:
    """The network fault: no FastAGI and no AMI session for the dialer; calls still come."""
    await f.agi.close()
    f.sim.drop_sessions()
    await f.sim.ami.stop()


async def reconnected(f: Floor) -> None:
    before = f.ami.connections
    await f.sim.ami.start()
    await until(lambda: f.ami.connections > before, 30)


async def test_a_call_lost_while_the_ami_link_was_down_is_recorded_after_the_reconnect(
    session_factory: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async with floor(session_factory) as f:
        await cut_off(f)
        uniqueid = await f.call(SERVICE_DID, KNOWN_CALLER)
        await until(lambda: bool(marks(f)), 10)
        assert await inbound_attempts(f) == []  # nobody heard it
        with caplog.at_level(logging.ERROR, logger="dialer.engine.inbound"):
            await reconnected(f)
            await until(lambda: unreached(f.desk) == 1, 10)
        [attempt] = await inbound_attempts(f)
        figures = f.desk.stats["service"].figures()
        [(key, value)] = marks(f).items()
    day = dt.datetime.fromtimestamp(f.clock.now(), dt.UTC).strftime("%Y%m%d")
    assert key == f"{day}/{uniqueid}"  # the dialplan's key: the day, then the call
    assert value.split(" ")[1:] == [SERVICE_DID, KNOWN_CALLER]
    assert attempt.outcome is CallOutcome.UNREACHED
    assert (attempt.campaign_id, attempt.e164) == (f.center.service, "+" + KNOWN_CALLER)
    assert attempt.channel_uniqueid == uniqueid and attempt.ticket_id is not None
    assert attempt.contact_id == f.center.contact_id
    assert (figures["unreached"], figures["offered"]) == (1, 0)
    [logged] = [r.getMessage() for r in caplog.records if LOST in r.getMessage()]
    assert f"attempt {attempt.id}" in logged and "(its AstDB mark)" in logged  # when, and how


async def test_a_call_lost_while_every_dialer_was_down_is_recorded_at_the_start(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory) as f:
        await kill(f)
        uniqueid = await f.call(SERVICE_DID, KNOWN_CALLER)
        await until(lambda: bool(marks(f)), 10)
        await restart(f)
        [attempt] = await until_written(f, 1)
        counted = unreached(f.desk)
    assert attempt.outcome is CallOutcome.UNREACHED and attempt.channel_uniqueid == uniqueid
    assert counted == 1


async def test_a_call_its_userevent_told_of_is_not_recorded_again_from_its_mark(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory) as f:
        await f.agi.close()  # the FastAGI only: the AMI link hears the UserEvent
        await f.call(SERVICE_DID, KNOWN_CALLER)
        await until(lambda: unreached(f.desk) == 1, 10)
        read_before = f.desk._marks_read_at
        f.sim.drop_sessions()  # a reconnect reads the marks again
        await until(lambda: f.ami.connections >= 2 and f.desk._marks_read_at != read_before, 30)
        other = await dialer_run(f.sessions, f.center, f.clock, f.sim, 0, f.reserve, "test-2")
        try:
            await f.desk.drain()
            await other.desk.drain()
            attempts = await inbound_attempts(f)
            counted = [unreached(f.desk), unreached(other.desk)]
        finally:
            await kill(other)
    assert len(marks(f)) == 1
    assert [a.outcome for a in attempts] == [CallOutcome.UNREACHED]
    assert counted == [1, 1]  # the other one's figure is the day read from the store


async def test_a_mark_from_an_earlier_day_is_recorded_but_not_in_todays_figures(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory) as f:
        yesterday = f.clock.now() - 86400
        day = dt.datetime.fromtimestamp(yesterday, dt.UTC).strftime("%Y%m%d")
        uniqueid = f"{int(yesterday)}.7"
        f.sim.asterisk.astdb[(UNREACHED_INBOUND_DB_FAMILY, f"{day}/{uniqueid}")] = (
            f"{int(yesterday)} {SERVICE_DID} {KNOWN_CALLER}"
        )
        await restart(f)  # a start reads the last week's marks
        attempts = await until_written(f, 1)
        figures = f.desk.stats["service"].figures()
    [attempt] = attempts
    assert attempt.channel_uniqueid == uniqueid and attempt.ended_at is not None
    assert attempt.ended_at.replace(tzinfo=dt.UTC).timestamp() == pytest.approx(int(yesterday))
    assert figures["unreached"] == 0


async def test_a_mark_whose_record_failed_is_read_again_at_the_next_reconnect(
    session_factory: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with floor(session_factory) as f:
        await cut_off(f)
        await f.call(SERVICE_DID, KNOWN_CALLER)
        await until(lambda: bool(marks(f)), 10)
        written = f.desk.records.unreached
        tries: list[str] = []

        async def database_away(*args: object) -> int | None:
            tries.append("failed")
            raise ConnectionError("the database is away")

        monkeypatch.setattr(f.desk.records, "unreached", database_away)
        await f.clock.sleep(2 * CLOCK_SKEW_S)  # an outage longer than the reads' margin
        await reconnected(f)
        await until(lambda: bool(tries), 10)
        monkeypatch.setattr(f.desk.records, "unreached", written)
        f.sim.drop_sessions()
        attempts = await until_written(f, 1)
    assert [a.outcome for a in attempts] == [CallOutcome.UNREACHED]


async def test_a_start_reads_the_marks_of_calls_already_recorded_without_writing_them_again(
    session_factory: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with floor(session_factory) as f:
        await f.agi.close()  # heard by its UserEvent, recorded at once
        await f.call(SERVICE_DID, KNOWN_CALLER)
        await until(lambda: unreached(f.desk) == 1, 10)
        writes: list[str] = []
        write = InboundRecords.unreached

        async def counted(self: InboundRecords, *args: Any) -> int | None:
            writes.append(args[-1])
            return await write(self, *args)

        monkeypatch.setattr(InboundRecords, "unreached", counted)
        await restart(f)  # the week's marks read again: this one is recorded already
        await f.desk.drain()
        attempts = await inbound_attempts(f)
    assert len(marks(f)) == 1 and writes == []
    assert [a.outcome for a in attempts] == [CallOutcome.UNREACHED]
