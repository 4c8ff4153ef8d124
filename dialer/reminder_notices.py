"""Simple reminders pushed to the agent at their time (seed 004: "simple" reminders notify the
agent at the time), on the agent's live feed (``GET /api/agent/live``, dialer/live.py).

Every ``every_s`` the logged-in agents' simple reminders that fell due since the last round are
published as ``reminder`` events; an agent's first round (after a start, or after they log in)
publishes every one already due and still pending, so a reminder that fell due while no dialer
ran, or while the agent was away, is not lost. The desktop still lists them with
``GET /api/agent/reminders`` and marks them done there.
"""

from __future__ import annotations

import datetime as dt

from dialer.clock import Clock
from dialer.engine.roster import AgentState, Roster
from dialer.live import LiveEvent, LiveFeed
from dialer.rounds import Rounds
from store.db import SessionFactory
from store.work import reminders_falling_due


class ReminderNotices:
    def __init__(
        self,
        sessions: SessionFactory,
        roster: Roster,
        feed: LiveFeed,
        clock: Clock,
        every_s: float = 15.0,
    ) -> None:
        self.sessions = sessions
        self.roster = roster
        self.feed = feed
        self.clock = clock
        self.every_s = every_s
        # Agents logged in at the last round, whose reminders due by then were published; one
        # who logs in (again) gets every reminder already due at their first round.
        self._known: set[int] = set()
        self._last: dt.datetime | None = None
        self._rounds = Rounds("reminder notices", self.step, clock, every_s)

    async def step(self) -> int:
        """Publish what fell due since the last round; how many."""
        now = dt.datetime.fromtimestamp(self.clock.now(), dt.UTC)
        here = {
            a.agent_id for a in self.roster.agents.values() if a.state is not AgentState.LOGGED_OUT
        }
        async with self.sessions() as session:
            due = await reminders_falling_due(session, here - self._known, None, now)
            due += await reminders_falling_due(session, here & self._known, self._last, now)
        self._known, self._last = here, now
        for reminder in sorted(due, key=lambda r: (r.due_at, r.id)):
            self.feed.publish(
                LiveEvent(
                    "reminder",
                    self.clock.now(),
                    (reminder.campaign_id,),
                    {
                        "agent_id": reminder.agent_id,
                        "reminder_id": reminder.id,
                        "contact_id": reminder.contact_id,
                        "due_at": reminder.due_at.isoformat(),
                        "note": reminder.note,
                    },
                )
            )
        return len(due)

    def start(self) -> None:
        self._rounds.start()

    async def stop(self) -> None:
        await self._rounds.stop()
