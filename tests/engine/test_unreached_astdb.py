"""Answers the dialplan played the drop message to while nobody heard its UserEvent.

One fault often cuts both links to the dialer: its FastAGI (so [dialer-out] plays the drop
message, configs/asterisk/extensions_dialer.conf) and its AMI session (so the fallback's
UserEvent DialerUnreached reaches nobody), or the dialer is down altogether. The fallback also
marks the attempt in AstDB; after the reconnect, or at the restart, the dialer reads the marks
of the calls it cannot otherwise account for and counts them as the abandons they were.
Both backends, against the simulated Asterisk.
"""

from __future__ import annotations

from dialer.calls import UNREACHED_DB_FAMILY, UNREACHED_DB_NOTE, CallState
from dialer.clock import ScaledClock
from dialer.demo_seed import DemoCenter
from dialer.engine.engine import RunningCampaign
from dialer.simasterisk import NumberModel, SimulatedAsterisk
from store.db import SessionFactory
from store.enums import CallOutcome
from store.models import Attempt
from tests.engine.plans import PATIENT_S
from tests.engine.test_restart import Run, attempts, center_on_sim, kill, start_run, stop
from tests.waiting import until

# Everybody answers, after 15 s or so of ringing: the calls ringing when the fault comes are
# answered during it.
RING_S = 15.0
PEOPLE = NumberModel(
    seed=3,
    ring_median_s=RING_S,
    ring_sigma=0.05,
    p_machine=0.0,
    p_busy=0.0,
    p_no_answer=0.0,
    p_congestion=0.0,
    p_invalid=0.0,
    patience_s=PATIENT_S,
)


async def three_ringing(
    sessions: SessionFactory,
    center: DemoCenter,
    clock: ScaledClock,
    sim: SimulatedAsterisk,
    agi_port: int,
) -> tuple[Run, RunningCampaign]:
    """A run of the dialer whose campaign has three calls ringing (answered in ~15 s)."""
    run = await start_run(sessions, center, clock, sim.port, agi_port)
    running = await run.engine.start_campaign(center.campaign_id)

    def ringing() -> int:
        calls = run.engine.in_flight(center.campaign_id)
        return sum(state is CallState.RINGING for _, _, state in calls)

    await until(lambda: ringing() >= 3, 30)
    return run, running


async def answered_meanwhile(clock: ScaledClock, sim: SimulatedAsterisk) -> set[int]:
    """The attempts marked unreached while the calls rang out or were answered and dropped."""
    await clock.sleep(3 * RING_S + 30)
    found = marked(sim)
    assert found, "no call was answered during the fault: the test shows nothing"
    return found


def marked(sim: SimulatedAsterisk) -> set[int]:
    return {int(key) for family, key in sim.asterisk.astdb if family == UNREACHED_DB_FAMILY}


async def dropped_as_marked(sessions: SessionFactory, marked: set[int]) -> dict[int, Attempt]:
    """Every attempt, after checking that each marked one is stored as a drop that says why."""
    rows = {a.id: a for a in await attempts(sessions)}
    for attempt_id in marked:
        assert rows[attempt_id].outcome is CallOutcome.DROPPED
        assert UNREACHED_DB_NOTE in (rows[attempt_id].comments or "")
    return rows


async def test_answers_dropped_during_an_ami_and_fastagi_outage_are_counted_as_drops(
    session_factory: SessionFactory,
) -> None:
    async with center_on_sim(session_factory, model=PEOPLE) as (center, clock, sim, agi_port):
        run, running = await three_ringing(session_factory, center, clock, sim, agi_port)
        run.engine.pause_campaign(center.campaign_id)  # only the calls in flight from here
        # The cut: no FastAGI, no AMI, until the calls in flight have rung out or been dropped.
        await run.agi.close()
        sim.drop_sessions()
        await sim.ami.stop()
        during = await answered_meanwhile(clock, sim)
        await sim.ami.start()
        await until(
            lambda: run.ami.connections >= 2 and not run.engine.in_flight(center.campaign_id), 30
        )
        dropped = running.stats.outcomes.get("dropped", 0)
        await stop(run)
    await dropped_as_marked(session_factory, during)
    assert dropped == len(during)  # the pacer counted each as an abandon


async def test_answers_dropped_while_the_dialer_was_down_are_drops_after_its_restart(
    session_factory: SessionFactory,
) -> None:
    async with center_on_sim(session_factory, model=PEOPLE) as (center, clock, sim, agi_port):
        first, _ = await three_ringing(session_factory, center, clock, sim, agi_port)
        await kill(first)
        during = await answered_meanwhile(clock, sim)  # with no dialer: the drop message
        second = await start_run(session_factory, center, clock, sim.port, agi_port)
        await until(lambda: not second.engine._writes, 30)
        await stop(second)
    rows = await dropped_as_marked(session_factory, during)
    unmarked = [a for a in rows.values() if a.id not in during]
    assert all(a.outcome is not CallOutcome.DROPPED for a in unmarked)
