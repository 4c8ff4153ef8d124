"""The HTTP API: tokens and roles, agent actions, typification rules, live pacing changes."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from ami.client import AMIClient
from dialer import live_scope
from dialer.api import Api
from dialer.clock import ScaledClock
from dialer.demo import shift_start
from dialer.demo_seed import DemoCenter, seed_center
from dialer.engine.engine import Engine
from dialer.engine.inbound import InboundDesk
from dialer.engine.inbound_records import InboundRecords
from dialer.engine.keeper import CampaignKeeper
from dialer.engine.records import StoreRecords
from dialer.engine.roster import AgentState, Roster
from dialer.leases import RedisLeases
from dialer.live import Batch, LiveEvent, MemoryFeed
from dialer.metrics import Registry
from dialer.service import active_campaigns
from dialer.shared_views import RedisViews, Snapshot, queue_views, snapshot_of
from store import hopper
from store.attempts import start_attempt
from store.campaigns import create_campaign, create_company, get_campaign
from store.db import SessionFactory
from store.enums import CallbackState, OperationType, ReminderType, Role
from store.models import AuditEntry, Callback, Campaign, TypificationResult, User
from store.typifications import add_form, add_form_field
from store.users import add_member, create_user, issue_token, remove_member


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Desk:
    client: TestClient  # type: ignore[type-arg]
    engine: Engine
    center: DemoCenter
    sessions: SessionFactory
    agent_token: str
    supervisor_token: str

    def as_agent(self) -> dict[str, str]:
        return bearer(self.agent_token)

    def as_supervisor(self) -> dict[str, str]:
        return bearer(self.supervisor_token)


@pytest.fixture
async def desk(session_factory: SessionFactory) -> AsyncIterator[Desk]:
    start = shift_start()
    clock = ScaledClock(1, start=start.timestamp())
    center = await seed_center(session_factory, agents=2, contacts=3, now=start)
    async with session_factory() as session, session.begin():
        boss = await create_user(session, center.company_id, "boss", Role.SUPERVISOR, start)
        supervisor_token = await issue_token(session, boss.id, start)
        agent_token = await issue_token(session, center.agents[0].user_id, start)
    ami = AMIClient("127.0.0.1", 9, ping_interval=None)  # never connected: no calls here
    records = StoreRecords(session_factory, clock, owner="api")
    engine = Engine(records, ami, Roster(clock), clock, live=MemoryFeed())
    client = TestClient(TestServer(Api(engine, session_factory, Registry()).app()))
    await client.start_server()
    try:
        yield Desk(client, engine, center, session_factory, agent_token, supervisor_token)
    finally:
        await client.close()
        await engine.roster.close()


async def test_no_token_or_a_bad_one_is_401(desk: Desk) -> None:
    assert (await desk.client.get("/api/agent")).status == 401
    bad = await desk.client.get("/api/agent", headers={"Authorization": "Bearer nope"})
    assert bad.status == 401
    assert "token" in (await bad.json())["error"]


async def test_health_and_metrics_need_no_token(desk: Desk) -> None:
    assert (await (await desk.client.get("/health")).json())["status"] == "ok"
    await desk.client.post("/api/agent/login", headers=desk.as_agent())
    text = await (await desk.client.get("/metrics")).text()
    assert 'dialer_agents{state="available"} 1' in text
    assert "dialer_live_events_dropped 0" in text


async def test_metrics_show_a_campaign_fenced_while_its_lease_is_not_renewed(desk: Desk) -> None:
    running = await desk.engine.start_campaign(desk.center.campaign_id)
    await desk.engine.stop_dialing()  # no ticks: the test moves the lease itself
    label = f'{{campaign="{desk.center.campaign_id}"}}'
    text = await (await desk.client.get("/metrics")).text()
    assert f"dialer_campaign_fenced{label} 0" in text
    running.lease_until = desk.engine.clock.now() - 1.0
    text = await (await desk.client.get("/metrics")).text()
    assert f"dialer_campaign_fenced{label} 1" in text


async def test_an_agent_logs_in_to_its_campaigns_pauses_with_a_reason_and_is_ready(
    desk: Desk,
) -> None:
    login = await desk.client.post("/api/agent/login", headers=desk.as_agent())
    assert await login.json() == {"state": "available", "campaigns": [desk.center.campaign_id]}
    no_reason = await desk.client.post("/api/agent/pause", headers=desk.as_agent(), json={})
    assert no_reason.status == 400 and (await no_reason.json())["field"] == "reason"
    paused = await desk.client.post(
        "/api/agent/pause", headers=desk.as_agent(), json={"reason": "coffee"}
    )
    assert await paused.json() == {"state": "paused", "reason": "coffee"}
    ready = await desk.client.post("/api/agent/ready", headers=desk.as_agent())
    assert (await ready.json())["state"] == "available"


async def test_an_agent_logging_in_again_works_the_campaigns_stored_now(desk: Desk) -> None:
    # An administrator changed the agent's campaigns while they were logged out: the next
    # login works the new set, not the one the process learnt at the first login.
    first = desk.center.campaign_id
    await desk.client.post("/api/agent/login", headers=desk.as_agent())
    await desk.client.post("/api/agent/logout", headers=desk.as_agent())
    now = desk.engine.now()
    agent_id = desk.center.agents[0].user_id
    async with desk.sessions() as session, session.begin():
        second = await create_campaign(
            session, desk.center.company_id, "Second line", OperationType.TELESALES, now
        )
        await add_member(session, second.id, agent_id, now)
        await remove_member(session, first, agent_id, now)
    login = await desk.client.post("/api/agent/login", headers=desk.as_agent())
    assert await login.json() == {"state": "available", "campaigns": [second.id]}
    assert [a.agent_id for a in desk.engine.roster.free_for(second.id)] == [agent_id]
    assert desk.engine.roster.free_for(first) == []


async def test_typifying_without_a_call_is_refused(desk: Desk) -> None:
    await desk.client.post("/api/agent/login", headers=desk.as_agent())
    response = await desk.client.post(
        "/api/agent/typify", headers=desk.as_agent(), json={"result_id": 1}
    )
    assert response.status == 409


async def test_mandatory_dynamic_fields_are_enforced_naming_them(desk: Desk) -> None:
    agent_id = desk.center.agents[0].user_id
    sale = desk.center.direct_results["Sale"]
    now = desk.engine.now()
    async with desk.sessions() as session, session.begin():
        form = await add_form(session, desk.center.campaign_id, "Sale form")
        await add_form_field(session, form.id, "contract", mandatory=True)
        result = await session.get(TypificationResult, sale)
        assert result is not None
        result.form_id = form.id
        [claimed] = await hopper.claim_in(session, desk.center.campaign_id, 1, now, "api", 300)
        attempt = await start_attempt(session, claimed.assignment_id, now, owner="api")
        attempt_id = attempt.id
    await desk.client.post("/api/agent/login", headers=desk.as_agent())
    roster = desk.engine.roster
    await roster.reserve(desk.center.campaign_id, attempt_id, 1.0)
    roster.on_call(agent_id)
    roster.call_ended(agent_id)
    missing = await desk.client.post(
        "/api/agent/typify", headers=desk.as_agent(), json={"result_id": sale}
    )
    assert missing.status == 422
    assert (await missing.json())["fields"] == ["contract"]
    assert roster.get(agent_id).state is AgentState.ACW  # still wrapping up
    done = await desk.client.post(
        "/api/agent/typify",
        headers=desk.as_agent(),
        json={"result_id": sale, "fields": {"contract": "C-1"}},
    )
    assert done.status == 200 and (await done.json())["state"] == "available"


async def test_supervisors_only_see_campaign_state(desk: Desk) -> None:
    path = f"/api/campaigns/{desk.center.campaign_id}"
    assert (await desk.client.get(path, headers=desk.as_agent())).status == 403
    body = await (await desk.client.get(path, headers=desk.as_supervisor())).json()
    assert body["name"] == "Demo predictive" and body["dial_mode"] == "predictive"
    assert body["running"] is False
    assert body["process"] == desk.engine.owner  # one process: its own engine answers


async def test_pacing_is_validated_naming_the_field(desk: Desk) -> None:
    path = f"/api/campaigns/{desk.center.campaign_id}/pacing"
    unknown = await desk.client.patch(path, headers=desk.as_supervisor(), json={"speed": 2})
    assert unknown.status == 400 and (await unknown.json())["field"] == "speed"
    over_cap = await desk.client.patch(
        path, headers=desk.as_supervisor(), json={"abandon_target": 0.05}
    )
    assert over_cap.status == 400 and (await over_cap.json())["field"] == "abandon_target"
    text = await desk.client.patch(path, headers=desk.as_supervisor(), json={"dial_ratio": "2"})
    assert text.status == 400


async def test_pacing_changes_are_stored_and_audited(desk: Desk) -> None:
    path = f"/api/campaigns/{desk.center.campaign_id}/pacing"
    changed = await desk.client.patch(
        path, headers=desk.as_supervisor(), json={"dial_ratio": 1.5, "max_channels": 40}
    )
    assert changed.status == 200
    read = await (await desk.client.get(path, headers=desk.as_supervisor())).json()
    assert read["pacing"]["dial_ratio"] == 1.5 and read["pacing"]["max_channels"] == 40
    async with desk.sessions() as session:
        campaign = await session.get(Campaign, desk.center.campaign_id)
        assert campaign is not None and campaign.pacing["dial_ratio"] == 1.5
        audits = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.entity == "campaign"))
        )
    assert any("pacing" in str(a.changes) for a in audits)


async def _pause_audits(desk: Desk) -> list[AuditEntry]:
    async with desk.sessions() as session:
        return list(
            await session.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.entity == "campaign",
                    AuditEntry.entity_id == desk.center.campaign_id,
                    AuditEntry.action.in_(("pause", "resume")),
                )
                .order_by(AuditEntry.id)
            )
        )


async def _stored_pause(desk: Desk) -> bool:
    async with desk.sessions() as session:
        campaign = await session.get(Campaign, desk.center.campaign_id)
        assert campaign is not None
        return campaign.dialing_paused


async def test_a_pause_where_the_campaign_is_dialed_is_stored_audited_and_applied_at_once(
    desk: Desk,
) -> None:
    campaign_id = desk.center.campaign_id
    running = await desk.engine.start_campaign(campaign_id)
    await desk.engine.stop_dialing()  # no ticks: this is about the pause
    path = f"/api/campaigns/{campaign_id}/pause"
    response = await desk.client.post(path, headers=desk.as_supervisor())
    assert response.status == 200
    assert await response.json() == {
        "campaign_id": campaign_id,
        "paused": True,
        "changed": True,
        "applied": "here",
        "process": desk.engine.owner,
    }
    assert running.paused is True and await _stored_pause(desk) is True
    [entry] = await _pause_audits(desk)
    boss = await _user_id(desk, "boss")
    assert (entry.action, entry.user_id, entry.company_id) == (
        "pause",
        boss,
        desk.center.company_id,
    )
    assert entry.changes == {"dialing_paused": {"old": False, "new": True}}


async def test_pausing_a_paused_campaign_changes_and_audits_nothing_more(desk: Desk) -> None:
    path = f"/api/campaigns/{desk.center.campaign_id}/pause"
    first = await (await desk.client.post(path, headers=desk.as_supervisor())).json()
    again = await desk.client.post(path, headers=desk.as_supervisor())
    assert again.status == 200
    assert (first["changed"], (await again.json())["changed"]) == (True, False)
    assert [e.action for e in await _pause_audits(desk)] == ["pause"]
    resume = f"/api/campaigns/{desk.center.campaign_id}/resume"
    resumed = await (await desk.client.post(resume, headers=desk.as_supervisor())).json()
    assert (resumed["paused"], resumed["changed"]) == (False, True)
    assert [e.action for e in await _pause_audits(desk)] == ["pause", "resume"]
    assert await _stored_pause(desk) is False


async def test_a_campaign_paused_while_nobody_dials_it_starts_paused(desk: Desk) -> None:
    campaign_id = desk.center.campaign_id
    response = await desk.client.post(
        f"/api/campaigns/{campaign_id}/pause", headers=desk.as_supervisor()
    )
    body = await response.json()
    assert response.status == 200 and (body["applied"], body["process"]) == ("at_start", None)
    state = await desk.client.get(f"/api/campaigns/{campaign_id}", headers=desk.as_supervisor())
    assert (await state.json())["dialing_paused"] is True
    running = await desk.engine.start_campaign(campaign_id)
    await desk.engine.stop_dialing()
    assert running.paused is True


async def test_only_a_supervisor_of_the_campaigns_company_pauses_it(desk: Desk) -> None:
    path = f"/api/campaigns/{desk.center.campaign_id}/pause"
    assert (await desk.client.post(path, headers=desk.as_agent())).status == 403
    now = desk.engine.now()
    async with desk.sessions() as session, session.begin():
        other = await create_company(session, "Other Co", now)
        stranger = await create_user(session, other.id, "stranger", Role.SUPERVISOR, now)
        token = await issue_token(session, stranger.id, now)
    refused = await desk.client.post(path, headers=bearer(token))
    assert refused.status == 403 and (await refused.json())["field"] == "id"
    assert await _stored_pause(desk) is False and await _pause_audits(desk) == []


async def test_another_companys_supervisor_neither_sees_nor_steers_the_campaign(
    desk: Desk,
) -> None:
    now = desk.engine.now()
    async with desk.sessions() as session, session.begin():
        other = await create_company(session, "Elsewhere Co", now)
        stranger = await create_user(session, other.id, "outsider", Role.SUPERVISOR, now)
        token = await issue_token(session, stranger.id, now)
    as_stranger = bearer(token)
    base = f"/api/campaigns/{desk.center.campaign_id}"
    for method, path, body in (
        ("GET", base, None),
        ("GET", f"{base}/pacing", None),
        ("PATCH", f"{base}/pacing", {"abandon_target": 0.01}),
        ("GET", f"{base}/dids", None),
        ("PUT", f"{base}/dids", {"dids": []}),
        ("POST", f"{base}/resume", None),
    ):
        r = await desk.client.request(method, path, headers=as_stranger, json=body)
        assert r.status == 403, (method, path, r.status)
        assert "not of your company" in (await r.json())["error"]
    async with desk.sessions() as session:
        campaign = await get_campaign(session, desk.center.campaign_id)
        assert "abandon_target" not in (campaign.pacing or {})
    missing = await desk.client.get("/api/campaigns/999999", headers=desk.as_supervisor())
    assert missing.status == 404


@dataclass
class Rival:
    """A second company on the desk's floor: a campaign of its own, one agent working it, and
    a supervisor."""

    company_id: int
    campaign_id: int
    agent_id: int
    supervisor_token: str

    def as_supervisor(self) -> dict[str, str]:
        return bearer(self.supervisor_token)


async def rival_company(desk: Desk, *, queue: str | None = None) -> Rival:
    now = desk.engine.now()
    async with desk.sessions() as session, session.begin():
        company = await create_company(session, "Rival Co", now)
        campaign = await create_campaign(
            session, company.id, "Rival line", OperationType.CUSTOMER_SERVICE, now, queue=queue
        )
        agent = await create_user(
            session, company.id, "rival-agent", Role.AGENT, now, interface="PJSIP/9001"
        )
        await add_member(session, campaign.id, agent.id, now)
        boss = await create_user(session, company.id, "rival-boss", Role.SUPERVISOR, now)
        token = await issue_token(session, boss.id, now)
    return Rival(company.id, campaign.id, agent.id, token)


async def _user_id(desk: Desk, username: str) -> int:
    async with desk.sessions() as session:
        user_id = await session.scalar(select(User.id).where(User.username == username))
        assert user_id is not None
        return user_id


async def test_a_callback_is_scheduled_for_the_contact(desk: Desk) -> None:
    now = desk.engine.now()
    async with desk.sessions() as session, session.begin():
        [claimed] = await hopper.claim_in(session, desk.center.campaign_id, 1, now, "api", 300)
        attempt = await start_attempt(session, claimed.assignment_id, now, owner="api")
        attempt_id = attempt.id
    due = (now + dt.timedelta(hours=2)).isoformat()
    made = await desk.client.post(
        "/api/agent/callback",
        headers=desk.as_agent(),
        json={"attempt_id": attempt_id, "at": due, "kind": "auto_drop"},
    )
    assert made.status == 201, await made.text()
    naive = await desk.client.post(
        "/api/agent/callback",
        headers=desk.as_agent(),
        json={"attempt_id": attempt_id, "at": "2030-01-01T10:00:00"},
    )
    assert naive.status == 400 and (await naive.json())["field"] == "at"
    async with desk.sessions() as session:
        [callback] = list(await session.scalars(select(Callback)))
    assert callback.assignment_id == claimed.assignment_id
    assert callback.agent_id == desk.center.agents[0].user_id
    assert callback.kind.value == "auto_drop"
    assert callback.due_at == dt.datetime.fromisoformat(due)


async def _simple_reminder(desk: Desk, agent_index: int, due: dt.datetime) -> int:
    async with desk.sessions() as session, session.begin():
        [claimed] = await hopper.claim_in(session, desk.center.campaign_id, 1, due, "api", 300)
        await hopper.release_in(session, [claimed.assignment_id], "api", due)
        callback = Callback(
            campaign_id=desk.center.campaign_id,
            assignment_id=claimed.assignment_id,
            contact_id=claimed.contact_id,
            kind=ReminderType.SIMPLE,
            due_at=due,
            agent_id=desk.center.agents[agent_index].user_id,
            state=CallbackState.PENDING,
            note="call back about the renewal",
            created_at=due - dt.timedelta(days=1),
        )
        session.add(callback)
        await session.flush()
        return callback.id


async def test_a_due_simple_reminder_is_the_agents_notification_until_done(desk: Desk) -> None:
    now = desk.engine.now()
    mine = await _simple_reminder(desk, 0, now - dt.timedelta(minutes=1))
    await _simple_reminder(desk, 0, now + dt.timedelta(hours=1))  # not due yet
    theirs = await _simple_reminder(desk, 1, now - dt.timedelta(minutes=1))
    listed = await (await desk.client.get("/api/agent/reminders", headers=desk.as_agent())).json()
    assert [r["id"] for r in listed["reminders"]] == [mine]
    assert listed["reminders"][0]["note"] == "call back about the renewal"
    other = await desk.client.post(f"/api/agent/reminders/{theirs}/done", headers=desk.as_agent())
    assert other.status == 404  # another agent's reminder is not yours to close
    done = await desk.client.post(f"/api/agent/reminders/{mine}/done", headers=desk.as_agent())
    assert done.status == 200 and (await done.json())["state"] == "done"
    again = await (await desk.client.get("/api/agent/reminders", headers=desk.as_agent())).json()
    assert again["reminders"] == []
    bad = await desk.client.post("/api/agent/reminders/x/done", headers=desk.as_agent())
    assert bad.status == 400 and (await bad.json())["field"] == "id"


# -- the live feed -----------------------------------------------------------------------------


async def next_frame(response: ClientResponse, timeout: float = 5.0) -> dict[str, str]:
    """The next Server-Sent Event's fields (a comment line is a frame of its own: ``{}``)."""
    fields: dict[str, str] = {}
    async with asyncio.timeout(timeout):
        while True:
            line = (await response.content.readline()).decode().rstrip("\n")
            if not line:
                return fields
            if not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value


async def next_event(response: ClientResponse) -> dict[str, str]:
    """The next frame that is an event (skips the retry advice and keep-alives)."""
    while True:
        frame = await next_frame(response)
        if "event" in frame:
            return frame


async def test_a_supervisor_watches_an_agent_log_in_and_pause_live(desk: Desk) -> None:
    live = await desk.client.get("/api/live", headers=desk.as_supervisor())
    assert live.status == 200 and live.headers["Content-Type"] == "text/event-stream"
    await next_frame(live)  # retry advice: the stream is up, at the feed's tail
    await desk.client.post("/api/agent/login", headers=desk.as_agent())
    await desk.client.post("/api/agent/pause", headers=desk.as_agent(), json={"reason": "coffee"})
    logged_in = await next_event(live)
    paused = await next_event(live)
    event = LiveEvent.decode(paused["data"])
    assert logged_in["event"] == "agent" and json_of(logged_in)["state"] == "available"
    assert event.campaigns == (desk.center.campaign_id,)
    assert event.data["state"] == "paused" and event.data["pause_reason"] == "coffee"
    assert event.data["agent_id"] == desk.center.agents[0].user_id
    assert int(paused["id"]) == int(logged_in["id"]) + 1
    live.close()


def json_of(frame: dict[str, str]) -> dict[str, object]:
    return dict(LiveEvent.decode(frame["data"]).data)


async def test_a_reconnect_with_the_last_event_id_gets_what_came_after_it(desk: Desk) -> None:
    live = await desk.client.get("/api/live", headers=desk.as_supervisor())
    await next_frame(live)
    await desk.client.post("/api/agent/login", headers=desk.as_agent())
    seen = await next_event(live)
    live.close()
    await desk.client.post("/api/agent/pause", headers=desk.as_agent(), json={"reason": "coffee"})
    again = await desk.client.get(
        "/api/live", headers={**desk.as_supervisor(), "Last-Event-ID": seen["id"]}
    )
    missed = await next_event(again)
    assert json_of(missed)["state"] == "paused"
    again.close()


async def test_a_resume_from_events_no_longer_kept_starts_with_a_reset(desk: Desk) -> None:
    desk.engine.live = feed = MemoryFeed(maxlen=2)
    for n in range(3):
        feed.publish(LiveEvent("call", float(n), (desk.center.campaign_id,)))
    live = await desk.client.get("/api/live?after=0", headers=desk.as_supervisor())
    await next_frame(live)
    assert (await next_event(live))["event"] == "reset"  # event 1 was trimmed
    live.close()


async def test_the_live_feed_keeps_to_the_campaigns_and_kinds_asked_for(desk: Desk) -> None:
    now = desk.engine.now()
    async with desk.sessions() as session, session.begin():
        second = await create_campaign(
            session, desk.center.company_id, "Second line", OperationType.TELESALES, now
        )
    other = second.id
    live = await desk.client.get(
        f"/api/live?campaign={other}&kind=call", headers=desk.as_supervisor()
    )
    await next_frame(live)
    feed = desk.engine.live
    assert feed is not None
    await desk.client.post("/api/agent/login", headers=desk.as_agent())  # an agent event
    feed.publish(LiveEvent("call", 1.0, (desk.center.campaign_id,), {"attempt_id": 1}))
    feed.publish(LiveEvent("call", 2.0, (other,), {"attempt_id": 2}))
    frame = await next_event(live)
    assert frame["event"] == "call" and json_of(frame)["attempt_id"] == 2
    live.close()


async def test_the_live_feed_is_for_supervisors_and_refuses_a_bad_id_naming_it(
    desk: Desk,
) -> None:
    assert (await desk.client.get("/api/live", headers=desk.as_agent())).status == 403
    bad = await desk.client.get(
        "/api/live", headers={**desk.as_supervisor(), "Last-Event-ID": "yesterday"}
    )
    assert bad.status == 400 and (await bad.json())["field"] == "Last-Event-ID"
    campaign = await desk.client.get("/api/live?campaign=x", headers=desk.as_supervisor())
    assert campaign.status == 400 and (await campaign.json())["field"] == "campaign"


async def open_live(desk: Desk, headers: dict[str, str], query: str = "") -> ClientResponse:
    """A supervisor's live stream, up (its retry advice read): it gets what is published next."""
    live = await desk.client.get(f"/api/live{query}", headers=headers)
    assert live.status == 200
    assert await next_frame(live) == {"retry": "2000"}
    return live


def pacing_event(campaign_id: int) -> LiveEvent:
    return LiveEvent("pacing", 2.0, (campaign_id,), {"calls": 3, "dial_level": 1.5})


async def test_a_supervisor_s_live_feed_brings_their_company_s_events_and_no_other_s(
    desk: Desk,
) -> None:
    rival = await rival_company(desk)
    live = await open_live(desk, rival.as_supervisor())
    feed = desk.engine.live
    assert feed is not None
    ours = desk.center.campaign_id
    await desk.client.post("/api/agent/login", headers=desk.as_agent())  # the desk's company
    feed.publish(LiveEvent("call", 1.0, (ours,), {"attempt_id": 1}))
    feed.publish(pacing_event(ours))
    roster = desk.engine.roster
    roster.add(rival.agent_id, "Rita", "PJSIP/9001", {rival.campaign_id})
    roster.login(rival.agent_id)  # the rival company's, from here on
    feed.publish(LiveEvent("call", 3.0, (rival.campaign_id,), {"attempt_id": 2}))
    feed.publish(pacing_event(rival.campaign_id))
    seen = [LiveEvent.decode((await next_event(live))["data"]) for _ in range(3)]
    live.close()
    assert [(e.kind, e.campaigns) for e in seen] == [
        ("agent", (rival.campaign_id,)),
        ("call", (rival.campaign_id,)),
        ("pacing", (rival.campaign_id,)),
    ]
    assert seen[0].data["agent_id"] == rival.agent_id and seen[1].data["attempt_id"] == 2


async def test_an_agent_who_works_no_campaign_is_seen_live_by_their_company_only(
    desk: Desk,
) -> None:
    rival = await rival_company(desk)
    theirs = await open_live(desk, rival.as_supervisor())
    ours = await open_live(desk, desk.as_supervisor())
    feed = desk.engine.live
    assert feed is not None
    idle = desk.center.agents[1]
    roster = desk.engine.roster
    roster.add(idle.user_id, idle.name, idle.interface, set())  # a member of no campaign
    roster.login(idle.user_id)  # an agent event that names no campaign
    feed.publish(LiveEvent("call", 1.0, (rival.campaign_id,), {"attempt_id": 7}))
    moved = LiveEvent.decode((await next_event(ours))["data"])
    first_of_theirs = LiveEvent.decode((await next_event(theirs))["data"])
    theirs.close()
    ours.close()
    assert moved.kind == "agent" and moved.campaigns == ()
    assert moved.data["agent_id"] == idle.user_id and moved.data["state"] == "available"
    assert first_of_theirs.kind == "call" and first_of_theirs.data["attempt_id"] == 7


async def test_an_event_of_no_company_is_seen_live_by_every_company(desk: Desk) -> None:
    rival = await rival_company(desk)
    theirs = await open_live(desk, rival.as_supervisor())
    ours = await open_live(desk, desk.as_supervisor())
    feed = desk.engine.live
    assert feed is not None
    feed.publish(LiveEvent("notice", 1.0, (), {"text": "maintenance at 22:00"}))
    for live in (theirs, ours):
        frame = await next_event(live)
        live.close()
        assert frame["event"] == "notice" and json_of(frame)["text"] == "maintenance at 22:00"


async def test_an_event_of_a_campaign_created_after_the_stream_opened_reaches_its_company(
    desk: Desk,
) -> None:
    rival = await rival_company(desk)
    live = await open_live(desk, rival.as_supervisor())
    now = desk.engine.now()
    async with desk.sessions() as session, session.begin():
        new_of_ours = await create_campaign(
            session, desk.center.company_id, "Night sales", OperationType.TELESALES, now
        )
        new_of_theirs = await create_campaign(
            session, rival.company_id, "Rival night line", OperationType.TELESALES, now
        )
    feed = desk.engine.live
    assert feed is not None
    feed.publish(LiveEvent("call", 1.0, (new_of_ours.id,), {"attempt_id": 1}))
    feed.publish(LiveEvent("call", 2.0, (new_of_theirs.id,), {"attempt_id": 2}))
    frame = await next_event(live)
    live.close()
    assert LiveEvent.decode(frame["data"]).campaigns == (new_of_theirs.id,)
    assert json_of(frame)["attempt_id"] == 2


async def test_a_live_stream_ends_when_the_store_cannot_say_whose_an_event_is(
    desk: Desk, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def store_away(*_: object) -> dict[int, int]:
        raise OperationalError("SELECT campaign.company_id", {}, ConnectionRefusedError())

    monkeypatch.setattr(live_scope, "companies_of_campaigns", store_away)
    live = await open_live(desk, desk.as_supervisor())
    feed = desk.engine.live
    assert feed is not None
    feed.publish(LiveEvent("call", 1.0, (desk.center.campaign_id + 1000,), {"attempt_id": 1}))
    assert await live.content.read() == b""  # ended, nothing shown: the reader comes back
    [logged] = [r for r in caplog.records if r.name == "dialer.api"]  # a warning, no traceback
    assert logged.levelname == "WARNING" and logged.exc_info is None
    assert logged.getMessage().startswith("live events: the store failed")


async def test_a_live_feed_of_another_company_s_campaign_is_403_naming_the_field(
    desk: Desk,
) -> None:
    rival = await rival_company(desk)
    refused = await desk.client.get(
        f"/api/live?campaign={desk.center.campaign_id}", headers=rival.as_supervisor()
    )
    body = await refused.json()
    assert refused.status == 403 and body["field"] == "campaign"
    assert f"campaign {desk.center.campaign_id} is not of your company" in body["error"]


async def test_a_live_feed_of_a_campaign_that_does_not_exist_is_404_naming_the_field(
    desk: Desk,
) -> None:
    missing = await desk.client.get("/api/live?campaign=999999", headers=desk.as_supervisor())
    assert missing.status == 404 and (await missing.json())["field"] == "campaign"


async def test_an_agent_s_feed_shows_their_own_moves_and_no_one_else_s(desk: Desk) -> None:
    live = await desk.client.get("/api/agent/live", headers=desk.as_agent())
    assert live.status == 200
    await next_frame(live)
    other = desk.center.agents[1]
    roster = desk.engine.roster
    roster.add(other.user_id, other.name, other.interface, {desk.center.campaign_id})
    roster.login(other.user_id)  # another agent's move: not on this feed
    await desk.client.post("/api/agent/login", headers=desk.as_agent())
    frame = await next_event(live)
    assert json_of(frame)["agent_id"] == desk.center.agents[0].user_id
    assert json_of(frame)["state"] == "available"
    live.close()
    supervisor = await desk.client.get("/api/agent/live", headers=desk.as_supervisor())
    assert supervisor.status == 403  # agents only: supervisors watch /api/live


@pytest.mark.redis
async def test_an_agent_is_sent_to_the_process_that_dials_their_campaign(
    desk: Desk, redis_url: str, redis_key_prefix: str
) -> None:
    here = RedisLeases(redis_url, "dialer-1", prefix=redis_key_prefix)
    there = RedisLeases(redis_url, "dialer-2", prefix=redis_key_prefix)
    try:
        assert await there.acquire([desk.center.campaign_id]) is None
        api = Api(desk.engine, desk.sessions, Registry(), leases=here)
        client = TestClient(TestServer(api.app()))
        await client.start_server()
        try:
            refused = await client.post("/api/agent/login", headers=desk.as_agent())
            body = await refused.json()
            assert refused.status == 409 and body["field"] == "campaign"
            assert "'dialer-2'" in body["error"]
            await there.release(desk.center.campaign_id)
            accepted = await client.post("/api/agent/login", headers=desk.as_agent())
            assert accepted.status == 200
        finally:
            await client.close()
    finally:
        await there.release(desk.center.campaign_id)
        await here.close()
        await there.close()


class _FeedAway(MemoryFeed):
    """A shared feed whose Redis went away."""

    async def read(self, after: str, timeout_s: float) -> Batch:
        raise RedisConnectionError("Connection refused")


async def test_a_live_stream_ends_when_its_feed_goes_away_for_the_reader_to_come_back(
    desk: Desk,
) -> None:
    desk.engine.live = _FeedAway()
    live = await desk.client.get("/api/live", headers=desk.as_supervisor())
    assert live.status == 200
    assert (await next_frame(live)) == {"retry": "2000"}  # come back in 2 s
    assert await live.content.read() == b""  # then the stream ends, cleanly


async def test_an_agent_s_feed_brings_their_reminders_and_not_others(desk: Desk) -> None:
    me, other = desk.center.agents[0].user_id, desk.center.agents[1].user_id
    live = await desk.client.get("/api/agent/live", headers=desk.as_agent())
    await next_frame(live)
    feed = desk.engine.live
    assert feed is not None
    for agent_id in (other, me):
        feed.publish(LiveEvent("reminder", 1.0, (desk.center.campaign_id,), {"agent_id": agent_id}))
    frame = await next_event(live)
    assert frame["event"] == "reminder" and json_of(frame)["agent_id"] == me
    live.close()


@dataclass
class TwoProcesses:
    """The desk's process (``dialer-1``, the one asked, with an inbound desk) and another one,
    ``dialer-2``, on one Redis: its own engine, leases and shared views."""

    client: TestClient  # type: ignore[type-arg]
    there: Engine
    there_leases: RedisLeases
    there_views: RedisViews
    here_desk: InboundDesk
    here_leases: RedisLeases


@pytest.fixture
async def two_processes(
    desk: Desk, redis_url: str, redis_key_prefix: str
) -> AsyncIterator[TwoProcesses]:
    here_leases = RedisLeases(redis_url, "dialer-1", prefix=f"{redis_key_prefix}lease:")
    here_views = RedisViews(redis_url, "dialer-1", prefix=f"{redis_key_prefix}views:")
    there_leases = RedisLeases(redis_url, "dialer-2", prefix=f"{redis_key_prefix}lease:")
    there_views = RedisViews(redis_url, "dialer-2", prefix=f"{redis_key_prefix}views:")
    clock = desk.engine.clock
    ami = AMIClient("127.0.0.1", 9, ping_interval=None)
    records = StoreRecords(desk.sessions, clock, owner="dialer-2")
    there = Engine(records, ami, Roster(clock), clock, owner="dialer-2")
    inbound = InboundDesk(desk.engine, InboundRecords(StoreRecords(desk.sessions, clock)))
    api = Api(
        desk.engine,
        desk.sessions,
        Registry(),
        inbound=inbound,
        leases=here_leases,
        views=here_views,
    )
    client = TestClient(TestServer(api.app()))
    await client.start_server()
    try:
        yield TwoProcesses(client, there, there_leases, there_views, inbound, here_leases)
    finally:
        await client.close()
        await there.roster.close()
        for opened in (here_leases, here_views, there_leases, there_views):
            await opened.close()


@pytest.mark.redis
async def test_a_campaign_dialed_by_another_process_is_shown_from_its_snapshot(
    desk: Desk, two_processes: TwoProcesses
) -> None:
    campaign_id = desk.center.campaign_id
    assert await two_processes.there_leases.acquire([campaign_id]) is None
    agent = desk.center.agents[0].user_id
    two_processes.there.roster.add(agent, "Ana", "PJSIP/ana", {campaign_id})
    two_processes.there.roster.login(agent)  # at dialer-2, where the campaign is dialed
    await two_processes.there_views.publish(snapshot_of(two_processes.there, None))
    response = await two_processes.client.get(
        f"/api/campaigns/{campaign_id}", headers=desk.as_supervisor()
    )
    body = await response.json()
    assert response.status == 200 and body["process"] == "dialer-2"
    assert (
        body["agents"]["available"] == 1
        and desk.engine.roster.counts(campaign_id)["available"] == 0
    )
    assert body["name"] == "Demo predictive"  # the settings still from the store
    assert dt.datetime.fromisoformat(body["as_of"]).tzinfo is not None


@pytest.mark.redis
async def test_a_campaign_dialed_by_nobody_counts_its_agents_at_every_process(
    desk: Desk, two_processes: TwoProcesses
) -> None:
    # Nobody holds its lease (a preview campaign, say): its agents log in anywhere.
    campaign_id, there = desk.center.campaign_id, two_processes.there
    there_agent = desk.center.agents[1].user_id
    await two_processes.client.post("/api/agent/login", headers=desk.as_agent())
    there.roster.add(there_agent, "Bea", "PJSIP/bea", {campaign_id})
    there.roster.login(there_agent)
    there.roster.pause(there_agent, "coffee")
    await two_processes.there_views.publish(snapshot_of(there, None))
    response = await two_processes.client.get(
        f"/api/campaigns/{campaign_id}", headers=desk.as_supervisor()
    )
    body = await response.json()
    assert response.status == 200
    assert (body["agents"]["available"], body["agents"]["paused"]) == (1, 1)
    assert desk.engine.roster.counts(campaign_id)["paused"] == 0  # here: only its own agent
    assert (body["process"], body["processes"]) == ("dialer-1", ["dialer-1", "dialer-2"])
    assert body["running"] is False


@pytest.mark.redis
async def test_a_campaign_whose_process_published_no_view_is_a_503_naming_it(
    desk: Desk, two_processes: TwoProcesses
) -> None:
    campaign_id = desk.center.campaign_id
    assert await two_processes.there_leases.acquire([campaign_id]) is None  # and nothing since
    response = await two_processes.client.get(
        f"/api/campaigns/{campaign_id}", headers=desk.as_supervisor()
    )
    body = await response.json()
    assert response.status == 503 and body["field"] == "campaign"
    assert f"campaign {campaign_id}" in body["error"] and "'dialer-2'" in body["error"]


@pytest.mark.redis
async def test_a_pause_asked_where_the_campaign_is_not_dialed_reaches_its_process_in_a_round(
    desk: Desk, two_processes: TwoProcesses
) -> None:
    campaign_id = desk.center.campaign_id
    there = two_processes.there
    assert await two_processes.there_leases.acquire([campaign_id]) is None
    running = await there.start_campaign(campaign_id)  # dialer-2 dials it
    await there.stop_dialing()  # no ticks: this is about the pause
    response = await two_processes.client.post(
        f"/api/campaigns/{campaign_id}/pause", headers=desk.as_supervisor()
    )
    body = await response.json()
    assert response.status == 200
    assert (body["paused"], body["applied"], body["process"]) == (True, "by_holder", "dialer-2")
    assert running.paused is False  # not yet: dialer-2 learns it at its keeper's next round
    keeper = CampaignKeeper(
        there,
        two_processes.there_leases,
        lambda: active_campaigns(desk.sessions),
        there.clock,
        settle_s=0,
    )
    await keeper.step()
    assert there.running(campaign_id) is running and running.paused is True


@pytest.mark.redis
async def test_an_agent_given_campaigns_of_two_processes_can_log_in_once_they_join(
    desk: Desk, two_processes: TwoProcesses
) -> None:
    first, there = desk.center.campaign_id, two_processes.there
    now = desk.engine.now()
    async with desk.sessions() as session, session.begin():
        second = await create_campaign(
            session,
            desk.center.company_id,
            "Second line",
            OperationType.TELESALES,
            now,
            trunk="dialer-trunk",
            dial_mode="progressive",
        )
    keepers = [
        CampaignKeeper(
            engine, leases, lambda: active_campaigns(desk.sessions), engine.clock, settle_s=0
        )
        for engine, leases in (
            (desk.engine, two_processes.here_leases),
            (there, two_processes.there_leases),
        )
    ]
    for engine in (desk.engine, there):
        await engine.stop_dialing()  # no ticks: this is about who dials what
    assert await two_processes.there_leases.acquire([second.id]) is None  # dialer-2's, first
    for keeper in keepers:
        await keeper.step()
    assert (keepers[0].dialing(), keepers[1].dialing()) == ({first}, {second.id})
    async with desk.sessions() as session, session.begin():  # the agent works both now
        await add_member(session, second.id, desk.center.agents[0].user_id, now)
    refused = await two_processes.client.post("/api/agent/login", headers=desk.as_agent())
    assert refused.status == 409
    assert (await refused.json())["error"] == (
        f"your campaigns are dialed by more than one dialer process ({first} by 'dialer-1', "
        f"{second.id} by 'dialer-2') until they are brought together at one: try again in a "
        "minute"
    )
    for _ in range(2):
        for keeper in keepers:
            await keeper.step()
    assert (keepers[0].dialing(), keepers[1].dialing()) == ({first, second.id}, set())
    login = await two_processes.client.post("/api/agent/login", headers=desk.as_agent())
    assert await login.json() == {"state": "available", "campaigns": [first, second.id]}


@pytest.mark.redis
async def test_the_queues_add_up_over_every_live_process(
    desk: Desk, two_processes: TwoProcesses
) -> None:
    async with desk.sessions() as session, session.begin():
        campaign = await session.get(Campaign, desk.center.campaign_id)
        assert campaign is not None
        campaign.queue = "sales"
    await two_processes.here_desk.load()
    # dialer-2 takes the inbound side: two callers wait there, for an agent logged in there.
    seen_there = queue_views(two_processes.here_desk)["sales"]
    seen_there.update(calls_waiting=2, longest_wait_s=8.0, agents={"available": 1})
    await two_processes.there_views.publish(
        Snapshot("dialer-2", desk.engine.clock.now(), queues={"sales": seen_there})
    )
    response = await two_processes.client.get("/api/queues", headers=desk.as_supervisor())
    [sales] = (await response.json())["queues"]
    assert sales["queue"] == "sales" and sales["campaign_id"] == desk.center.campaign_id
    assert sales["processes"] == ["dialer-1", "dialer-2"]
    assert sales["calls_waiting"] == 2 and sales["longest_wait_s"] == 8.0
    assert sales["agents"]["available"] == 1 and sales["agents"]["paused"] == 0


async def test_a_supervisor_sees_the_queues_of_their_company_and_no_other(desk: Desk) -> None:
    async with desk.sessions() as session, session.begin():
        campaign = await session.get(Campaign, desk.center.campaign_id)
        assert campaign is not None
        campaign.queue = "sales"
    rival = await rival_company(desk, queue="support")
    records = InboundRecords(StoreRecords(desk.sessions, desk.engine.clock))
    inbound = InboundDesk(desk.engine, records)
    await inbound.load()
    assert sorted(inbound.campaign_of_queue) == ["sales", "support"]  # both on this floor
    client = TestClient(
        TestServer(Api(desk.engine, desk.sessions, Registry(), inbound=inbound).app())
    )
    await client.start_server()
    try:
        theirs = await (await client.get("/api/queues", headers=rival.as_supervisor())).json()
        ours = await (await client.get("/api/queues", headers=desk.as_supervisor())).json()
    finally:
        await client.close()
    assert [(q["queue"], q["campaign_id"]) for q in theirs["queues"]] == [
        ("support", rival.campaign_id)
    ]
    assert [(q["queue"], q["campaign_id"]) for q in ours["queues"]] == [
        ("sales", desk.center.campaign_id)
    ]


async def test_a_campaign_not_dialed_here_is_a_503_while_redis_is_away(desk: Desk) -> None:
    away = "redis://127.0.0.1:9/0"  # nobody listens
    leases = RedisLeases(away, "dialer-1")
    views = RedisViews(away, "dialer-1", timeout_s=0.2)
    api = Api(desk.engine, desk.sessions, Registry(), leases=leases, views=views)
    client = TestClient(TestServer(api.app()))
    await client.start_server()
    try:
        response = await client.get(
            f"/api/campaigns/{desk.center.campaign_id}", headers=desk.as_supervisor()
        )
        body = await response.json()
    finally:
        await client.close()
        await leases.close()
        await views.close()
    assert response.status == 503
    assert f"campaign {desk.center.campaign_id}" in body["error"] and "unavailable" in body["error"]
