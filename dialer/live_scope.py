"""What one company's supervisors see of the live feed (``GET /api/live``, dialer/live.py).

The feed carries every company's events; a supervisor sees those of their own company:

- an event that names campaigns (a call's end, a pacing decision, an agent's move, which names
  every campaign the agent works) is the company's when one of them is;
- an event that names none is an agent's move when the agent works no campaign (a user with no
  campaign memberships who logged in): it is still that agent's company's, since an agent
  belongs to one company (``users.company_id``), and must not show another company's agents;
- an event with neither campaigns nor an agent belongs to no company: every supervisor sees it
  (none is published today).

A stream starts knowing its company's campaigns and learns the rest as they appear, once each,
a batch of events at a time (:meth:`CompanyScope.unknown`, then :func:`learn`): a campaign
created while the stream is open is read when its first event comes. A campaign's company and
a user's never change (the store has no way to), so what was learned holds for the stream's
life, and the test of each event is set lookups (:meth:`CompanyScope.sees`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dialer.live import LiveEvent
from store.campaigns import companies_of_campaigns, company_campaign_ids
from store.db import SessionFactory
from store.users import companies_of_users


@dataclass
class CompanyScope:
    """The campaigns and agents known to be, or not to be, of one company."""

    company_id: int
    campaigns: set[int] = field(default_factory=set)
    agents: set[int] = field(default_factory=set)
    other_campaigns: set[int] = field(default_factory=set)  # another company's, or none's
    other_agents: set[int] = field(default_factory=set)

    def sees(self, event: LiveEvent) -> bool:
        """Whether the company's supervisors see the event (what it names already learned)."""
        if event.campaigns:
            return any(c in self.campaigns for c in event.campaigns)
        agent = agent_of(event)
        return agent is None or agent in self.agents

    def unknown(self, events: Iterable[LiveEvent]) -> tuple[set[int], set[int]]:
        """The campaigns and the agents these events name whose company is not known yet."""
        campaigns: set[int] = set()
        agents: set[int] = set()
        for event in events:
            if event.campaigns:
                for c in event.campaigns:
                    if c not in self.campaigns and c not in self.other_campaigns:
                        campaigns.add(c)
            else:
                agent = agent_of(event)
                if agent is None or agent in self.agents or agent in self.other_agents:
                    continue
                agents.add(agent)
        return campaigns, agents

    def learn(self, campaigns: Mapping[int, int | None], agents: Mapping[int, int | None]) -> None:
        """What the store says of the ids asked about: each one's company (None: the store
        holds no such campaign or user, so it is of no company, not this one's)."""
        for campaign_id, company_id in campaigns.items():
            mine = company_id == self.company_id
            (self.campaigns if mine else self.other_campaigns).add(campaign_id)
        for agent_id, company_id in agents.items():
            mine = company_id == self.company_id
            (self.agents if mine else self.other_agents).add(agent_id)


def agent_of(event: LiveEvent) -> int | None:
    """The agent an event is about (``agent_id`` in its data), if any."""
    agent = event.data.get("agent_id")
    return agent if isinstance(agent, int) and not isinstance(agent, bool) else None


async def company_scope(sessions: SessionFactory, company_id: int) -> CompanyScope:
    """A scope that starts knowing every campaign of the company."""
    async with sessions() as session:
        return CompanyScope(company_id, await company_campaign_ids(session, company_id))


async def learn(scope: CompanyScope, sessions: SessionFactory, events: list[LiveEvent]) -> None:
    """Read the company of whatever the events name that the scope does not know yet; most
    batches name nothing new, and read nothing."""
    campaigns, agents = scope.unknown(events)
    if not campaigns and not agents:
        return
    async with sessions() as session:
        of_campaign = await companies_of_campaigns(session, campaigns) if campaigns else {}
        of_agent = await companies_of_users(session, agents) if agents else {}
    scope.learn({c: of_campaign.get(c) for c in campaigns}, {a: of_agent.get(a) for a in agents})
