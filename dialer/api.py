"""The HTTP API for agent desktops and supervisors (aiohttp), plus /metrics and /health.

Authentication: ``Authorization: Bearer <token>``; tokens are issued by the store
(``store.users.issue_token``) and only their hash is kept. Roles: agents act on themselves and
see only the campaigns they are members of; supervisors and administrators watch the campaigns
of their own company (another company's campaign is 403), tune their pacing live (validated,
written through the store, which audits the change), set their inbound numbers, and pause and
resume their dialing at any process (stored and audited, then applied by the process that dials
it: docs/architecture.md, "Several dialer processes"). Their company's only, everywhere:
``/api/queues`` lists the queues of its campaigns, and the live events (``/api/live``) are those
of its campaigns and of its agents (dialer/live_scope.py), ``?campaign=`` of another company's
campaign being a 403 too.

Errors are JSON ``{"error": "...", "field": "..."}`` with 400 (bad input, naming the field), 401
(no or bad token), 403 (not yours), 404, 409 (not possible in the current state), 422
(mandatory dynamic fields missing, naming them) or 503 (another dialer process's view is not
there: it stopped, or Redis is away). Never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from dialer.agents import AgentState, AgentStateError
from dialer.engine.engine import Engine
from dialer.engine.inbound import InboundDesk
from dialer.engine.ports import Typification
from dialer.leases import Leases
from dialer.live import KEEPALIVE, RESET, LiveEvent, position_of, sse
from dialer.live_scope import CompanyScope, company_scope, learn
from dialer.metrics import Registry
from dialer.shared_views import (
    SharedViews,
    Snapshot,
    add_agents,
    campaign_view,
    merge_queue_views,
    queue_views,
)
from store import users as store_users
from store.audit import audit
from store.campaigns import (
    companies_of_campaigns,
    company_campaign_ids,
    get_campaign,
    set_dialing_paused,
    update_campaign,
)
from store.db import SessionFactory
from store.enums import Role
from store.errors import InvalidSetting, MissingMandatoryFields, NotFound, StoreError
from store.inbound import campaign_dids, set_dids
from store.models import (
    Assignment,
    Attempt,
    Callback,
    Campaign,
    CampaignMember,
    Contact,
    Phone,
    User,
)
from store.work import complete_callback, due_reminders, schedule_callback

log = logging.getLogger(__name__)

USER: web.RequestKey[User] = web.RequestKey("user", User)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# What a supervisor may change live, and the bounds that keep it sane.
PACING_FIELDS: dict[str, tuple[type, float, float]] = {
    "dial_ratio": (float, 0.0, 10.0),
    "abandon_target": (float, 0.0, 0.03),  # never above the legal cap
    "max_channels": (int, 1, 10_000),
    "max_calls_per_s": (float, 0.1, 1_000.0),
    "hand_off_s": (float, 0.5, 2.0),  # the 2-second rule is the upper bound
    "ring_timeout_s": (float, 15.0, 120.0),  # FTC / Ofcom: at least 15 s
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


class Api:
    def __init__(
        self,
        engine: Engine,
        sessions: SessionFactory,
        metrics: Registry,
        *,
        inbound: InboundDesk | None = None,
        leases: Leases | None = None,
        views: SharedViews | None = None,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.metrics = metrics
        self.inbound = inbound
        self.leases = leases  # which process dials which campaign (dialer/leases.py)
        self.views = views  # what the other processes serve (dialer/shared_views.py)
        self.live_keepalive_s = 15.0  # a comment line this often keeps proxies from closing

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors, self._auth])
        app.add_routes(
            [
                web.get("/health", self.health),
                web.get("/metrics", self.prometheus),
                web.post("/api/agent/login", self.agent_login),
                web.post("/api/agent/ready", self.agent_ready),
                web.post("/api/agent/pause", self.agent_pause),
                web.post("/api/agent/logout", self.agent_logout),
                web.get("/api/agent", self.agent_state),
                web.post("/api/agent/typify", self.agent_typify),
                web.post("/api/agent/callback", self.agent_callback),
                web.get("/api/agent/reminders", self.agent_reminders),
                web.post("/api/agent/reminders/{id}/done", self.agent_reminder_done),
                web.post("/api/agent/survey", self.agent_survey),
                web.post("/api/agent/hangup", self.agent_hangup),
                web.get("/api/campaigns/{id}", self.campaign_state),
                web.get("/api/campaigns/{id}/pacing", self.pacing_get),
                web.patch("/api/campaigns/{id}/pacing", self.pacing_set),
                web.post("/api/campaigns/{id}/pause", self.campaign_pause),
                web.post("/api/campaigns/{id}/resume", self.campaign_resume),
                web.get("/api/queues", self.queues),
                web.get("/api/live", self.live_events),
                web.get("/api/agent/live", self.agent_live),
                web.get("/api/campaigns/{id}/queue", self.campaign_queue),
                web.get("/api/campaigns/{id}/dids", self.dids_get),
                web.put("/api/campaigns/{id}/dids", self.dids_set),
            ]
        )
        return app

    # Middlewares -----------------------------------------------------------------------------
    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            body: dict[str, Any] = {"error": exc.message}
            if exc.field:
                body["field"] = exc.field
            return _json(body, exc.status)
        except MissingMandatoryFields as exc:
            return _json({"error": str(exc), "fields": list(exc.fields)}, 422)
        except InvalidSetting as exc:
            return _json({"error": str(exc), "field": getattr(exc, "field", None)}, 400)
        except NotFound as exc:
            return _json({"error": str(exc)}, 404)
        except (AgentStateError, StoreError, ValueError) as exc:
            return _json({"error": str(exc)}, 409)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("API %s %s failed", request.method, request.path)
            return _json({"error": "internal error"}, 500)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in ("/health", "/metrics"):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise ApiError(401, "send Authorization: Bearer <token>")
        async with self.sessions() as session:
            user = await store_users.user_for_token(session, header[len("Bearer ") :].strip())
        if user is None:
            raise ApiError(401, "unknown or revoked token")
        request[USER] = user
        return await handler(request)

    # Helpers ---------------------------------------------------------------------------------
    def _user(self, request: web.Request) -> User:
        return request[USER]

    def _agent(self, request: web.Request) -> User:
        user = self._user(request)
        if user.role != Role.AGENT:
            raise ApiError(403, "agents only")
        return user

    def _supervisor(self, request: web.Request) -> User:
        user = self._user(request)
        if user.role not in (Role.SUPERVISOR, Role.ADMINISTRATOR):
            raise ApiError(403, "supervisors and administrators only")
        return user

    async def _body(self, request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            data = await request.json()
        except json.JSONDecodeError as exc:
            raise ApiError(400, f"the body is not JSON: {exc.msg} at {exc.pos}") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON object")
        return data

    async def _campaigns_of(self, user: User) -> set[int]:
        async with self.sessions() as session:
            rows = await session.scalars(
                CampaignMember.__table__.select()
                .with_only_columns(CampaignMember.campaign_id)
                .where(CampaignMember.user_id == user.id)
            )
            return set(rows)

    def _campaign_id(self, request: web.Request) -> int:
        raw = request.match_info["id"]
        if not raw.isdigit():
            raise ApiError(400, f"campaign id {raw!r} is not a number", "id")
        return int(raw)

    # Health and metrics ----------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        return _json({"status": "ok", "ami": self.engine.ami.connected})

    async def prometheus(self, request: web.Request) -> web.Response:
        roster = self.engine.roster
        for state, count in roster.counts().items():
            self.metrics.gauge("dialer_agents", "agents by state").set(count, state=state)
        if self.engine.live is not None:
            self.metrics.counter(
                "dialer_live_events_dropped", "live events lost before Redis had them"
            ).set(self.engine.live.dropped)
        now = self.engine.clock.now()
        for campaign_id, running in self.engine.campaigns.items():
            labels = {"campaign": str(campaign_id)}
            stats = running.stats
            # 1 while the campaign places no call, its lease not renewed in time (Redis away).
            self.metrics.gauge("dialer_campaign_fenced", "campaign lease not renewed").set(
                float(not running.stopped and now >= running.lease_until), **labels
            )
            self.metrics.gauge("dialer_calls_in_flight", "calls in flight").set(
                len(self.engine.in_flight(campaign_id)), **labels
            )
            self.metrics.gauge("dialer_abandon_rate", "drops / live answers").set(
                stats.abandon_rate, **labels
            )
            for name, value in (
                ("placed", stats.placed),
                ("connected", stats.connected),
                ("dropped", stats.dropped),
                ("answered", stats.answered),
            ):
                self.metrics.gauge(f"dialer_calls_{name}", f"calls {name}").set(value, **labels)
        return web.Response(text=self.metrics.render(), content_type="text/plain")

    # Agent -----------------------------------------------------------------------------------
    async def agent_login(self, request: web.Request) -> web.Response:
        user = self._agent(request)
        roster = self.engine.roster
        campaigns = await self._campaigns_of(user)
        await self._dialed_here(campaigns)
        known = roster.agents.get(user.id)
        # Read again at each login, not kept from the first: an administrator may have changed
        # the agent's campaigns or phone since (they take effect at the next login).
        if known is None or known.state is AgentState.LOGGED_OUT:
            if not user.interface:
                raise ApiError(
                    409, f"agent {user.username} has no phone interface set", "interface"
                )
            roster.add(user.id, user.full_name or user.username, user.interface, campaigns)
        agent = roster.login(user.id)
        return _json({"state": agent.state.value, "campaigns": sorted(agent.campaigns)})

    async def _dialed_here(self, campaigns: set[int]) -> None:
        """An agent logs in to the process that dials their campaigns: another process's
        calls could not reach them here."""
        if self.leases is None:
            return
        holders = {c: await self.leases.holder(c) for c in sorted(campaigns)}
        held = {c: h for c, h in holders.items() if h is not None}
        if set(held.values()) <= {self.leases.owner}:
            return
        if len(set(held.values())) > 1:
            # Linked campaigns dialed by two processes: their keepers bring them together
            # (dialer/engine/keeper.py, CampaignKeeper._mend_splits).
            where = ", ".join(f"{c} by {h!r}" for c, h in held.items())
            raise ApiError(
                409,
                f"your campaigns are dialed by more than one dialer process ({where}) until "
                "they are brought together at one: try again in a minute",
                "campaign",
            )
        campaign_id, holder = next((c, h) for c, h in held.items() if h != self.leases.owner)
        raise ApiError(
            409,
            f"campaign {campaign_id} is dialed by the dialer process {holder!r}: "
            "log in to that one",
            "campaign",
        )

    async def agent_ready(self, request: web.Request) -> web.Response:
        agent = self.engine.roster.ready(self._agent(request).id)
        return _json({"state": agent.state.value})

    async def agent_pause(self, request: web.Request) -> web.Response:
        reason = str((await self._body(request)).get("reason") or "").strip()
        if not reason:
            raise ApiError(400, "a pause needs a reason", "reason")
        agent = self.engine.roster.pause(self._agent(request).id, reason)
        return _json({"state": agent.state.value, "reason": agent.pause_reason})

    async def agent_logout(self, request: web.Request) -> web.Response:
        agent = self.engine.roster.logout(self._agent(request).id)
        return _json({"state": agent.state.value})

    async def agent_state(self, request: web.Request) -> web.Response:
        user = self._agent(request)
        agent = self.engine.roster.agents.get(user.id)
        if agent is None:
            return _json({"state": "logged_out"})
        body: dict[str, Any] = {
            "state": agent.state.value,
            "since": dt.datetime.fromtimestamp(agent.since, dt.UTC),
            "pause_reason": agent.pause_reason or None,
            "campaigns": sorted(agent.campaigns),
            "attempt_id": agent.attempt_id,
        }
        if agent.attempt_id is not None:
            body["call"] = await self._call_view(agent.attempt_id)
        return _json(body)

    async def _call_view(self, attempt_id: int) -> dict[str, Any]:
        async with self.sessions() as session:
            attempt = await session.get(Attempt, attempt_id)
            if attempt is None:
                return {}
            contact = await session.get(Contact, attempt.contact_id) if attempt.contact_id else None
            phones = []
            if contact is not None:
                phones = list(
                    await session.scalars(
                        Phone.__table__.select()
                        .with_only_columns(Phone.e164)
                        .where(Phone.contact_id == contact.id)
                    )
                )
            campaign = await get_campaign(session, attempt.campaign_id)
            return {
                "attempt_id": attempt.id,
                "campaign_id": attempt.campaign_id,
                "number": attempt.e164,
                "script": campaign.script,
                "contact": None
                if contact is None
                else {
                    "id": contact.id,
                    "first_name": contact.first_name,
                    "first_surname": contact.first_surname,
                    "document": f"{contact.document_type} {contact.document_number}",
                    "phones": phones,
                    "additional_data": contact.additional_data,
                },
            }

    async def agent_typify(self, request: web.Request) -> web.Response:
        user = self._agent(request)
        body = await self._body(request)
        agent = self.engine.roster.get(user.id)
        if agent.attempt_id is None or agent.campaign_id is None:
            raise ApiError(409, "no call to typify")
        result_id = body.get("result_id")
        if not isinstance(result_id, int):
            raise ApiError(400, "result_id must be the id of a result of the campaign", "result_id")
        fields = body.get("fields") or {}
        if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
            raise ApiError(400, "fields must map field names to text", "fields")
        await self.engine.typify(
            Typification(agent.attempt_id, user.id, result_id, dict(fields)), agent.campaign_id
        )
        return _json({"state": self.engine.roster.get(user.id).state.value})

    async def agent_callback(self, request: web.Request) -> web.Response:
        """Schedule a reminder for the current (or just finished) call's contact (seed 004)."""
        user = self._agent(request)
        body = await self._body(request)
        attempt_id = body.get("attempt_id") or self.engine.roster.get(user.id).attempt_id
        if not isinstance(attempt_id, int):
            raise ApiError(400, "attempt_id is required when no call is on", "attempt_id")
        try:
            due = dt.datetime.fromisoformat(str(body.get("at")))
        except ValueError:
            raise ApiError(400, "at must be an ISO 8601 date and time", "at") from None
        if due.tzinfo is None:
            raise ApiError(400, "at needs a timezone offset", "at")
        kind = str(body.get("kind") or "simple")
        async with self.sessions() as session, session.begin():
            attempt = await session.get(Attempt, attempt_id)
            if attempt is None or attempt.assignment_id is None:
                raise ApiError(404, f"no outbound attempt {attempt_id}")
            if attempt.campaign_id not in await self._campaigns_of(user):
                raise ApiError(403, "not a campaign you work")
            callback = await schedule_callback(
                session,
                attempt.assignment_id,
                due,
                kind,
                self.engine.now(),
                agent_id=user.id,
                note=str(body.get("note") or ""),
            )
            return _json({"callback_id": callback.id, "due_at": callback.due_at, "kind": kind}, 201)

    async def agent_reminders(self, request: web.Request) -> web.Response:
        """The agent's simple reminders that are due (seed 004: "the user sees a notification
        with the reminder"); the desktop polls this and shows each until it is marked done."""
        user = self._agent(request)
        async with self.sessions() as session:
            due = await due_reminders(session, user.id, self.engine.now())
        return _json(
            {
                "reminders": [
                    {
                        "id": r.id,
                        "campaign_id": r.campaign_id,
                        "contact_id": r.contact_id,
                        "assignment_id": r.assignment_id,
                        "due_at": r.due_at,
                        "note": r.note,
                    }
                    for r in due
                ]
            }
        )

    async def agent_reminder_done(self, request: web.Request) -> web.Response:
        user = self._agent(request)
        try:
            callback_id = int(request.match_info["id"])
        except ValueError:
            raise ApiError(400, "the reminder id must be a number", "id") from None
        async with self.sessions() as session, session.begin():
            callback = await session.get(Callback, callback_id)
            if callback is None or callback.agent_id != user.id:
                raise ApiError(404, f"no reminder {callback_id} of yours")
            await complete_callback(session, callback_id, self.engine.now())
        return _json({"id": callback_id, "state": "done"})

    async def agent_survey(self, request: web.Request) -> web.Response:
        """Survey mode "agent" (seed 004): send the customer to the IVR survey after this call."""
        attempt_id = self.engine.request_survey(self._agent(request).id)
        return _json({"survey": "requested", "attempt_id": attempt_id})

    async def agent_hangup(self, request: web.Request) -> web.Response:
        """End the call from the desktop: the agent's leg hangs up, the customer may go on to
        the survey."""
        await self.engine.hangup_agent(self._agent(request).id)
        return _json({"hung_up": True})

    # Supervisor ------------------------------------------------------------------------------
    async def _company_campaign(self, request: web.Request) -> tuple[User, Campaign]:
        """A supervisor and the campaign in the path, which must be of their company: one
        company's supervisors neither see nor steer another's campaigns. The campaign as read
        for the check, for a handler that only shows it; one that changes it reads it again in
        its own transaction."""
        user = self._supervisor(request)
        campaign_id = self._campaign_id(request)
        async with self.sessions() as session:
            campaign = await get_campaign(session, campaign_id)
        if campaign.company_id != user.company_id:
            raise ApiError(403, f"campaign {campaign_id} is not of your company", "id")
        return user, campaign

    async def campaign_state(self, request: web.Request) -> web.Response:
        """The campaign's settings and live state. Its live state comes from the process that
        dials it: this one's engine, or the snapshot that process published
        (dialer/shared_views.py), with ``process`` and ``as_of`` saying whose and how old."""
        _, campaign = await self._company_campaign(request)
        campaign_id = campaign.id
        async with self.sessions() as session:
            pending = await session.scalar(
                Assignment.__table__.select()
                .with_only_columns(Assignment.id)
                .where(Assignment.campaign_id == campaign_id)
                .limit(1)
            )
        body: dict[str, Any] = {
            "id": campaign.id,
            "name": campaign.name,
            "dial_mode": campaign.dial_mode.value,
            "active": campaign.active,
            "dialing_paused": campaign.dialing_paused,  # as stored; ``paused``: as applied
            "has_contacts": pending is not None,
            **await self._campaign_view(campaign_id),
        }
        return _json(body)

    async def _campaign_view(self, campaign_id: int) -> dict[str, Any]:
        holder = await self._holder(campaign_id)
        if holder is None:
            own = {
                **campaign_view(self.engine, campaign_id),
                "process": self.engine.owner,
                "as_of": self.engine.now().isoformat(),
            }
            if self.engine.running(campaign_id) is not None or self.views is None:
                return own  # dialed here, so its agents are logged in here; or one process
            return await self._undialed_view(campaign_id)
        assert self.views is not None  # _holder names another process only with shared views
        try:
            snapshot = await self.views.published(holder)
        except RedisError as exc:
            raise ApiError(
                503, f"campaign {campaign_id}: the shared views are unavailable ({exc})"
            ) from None
        view = None if snapshot is None else snapshot.campaigns.get(campaign_id)
        if snapshot is None or view is None:
            raise ApiError(
                503,
                f"campaign {campaign_id} is dialed by the dialer process {holder!r}, which has "
                "published no view of it (stopped, or just started): ask again shortly",
                "campaign",
            )
        return {**view, "process": snapshot.process, "as_of": snapshot.as_of_iso}

    async def _undialed_view(self, campaign_id: int) -> dict[str, Any]:
        """A campaign dialed by nobody (inactive, preview, or between holders): its agents may
        be logged in at any process, so they are added up over this engine and every live
        process's snapshot that has the campaign (``processes``: who counted; ``as_of``: the
        oldest part)."""
        assert self.views is not None
        try:
            others = await self.views.live()
        except RedisError as exc:
            raise ApiError(
                503, f"campaign {campaign_id}: the shared views are unavailable ({exc})"
            ) from None
        view = campaign_view(self.engine, campaign_id)
        own = Snapshot(self.engine.owner, self.engine.clock.now(), {campaign_id: view})
        seen = [own] + [
            s for s in others if s.process != own.process and campaign_id in s.campaigns
        ]
        return {
            **view,
            "agents": add_agents([s.campaigns[campaign_id] for s in seen]),
            "process": own.process,
            "processes": [s.process for s in seen],
            "as_of": min(seen, key=lambda s: s.as_of).as_of_iso,
        }

    async def _holder(self, campaign_id: int) -> str | None:
        """The other process whose view of the campaign to show; None: this engine's."""
        if self.engine.running(campaign_id) is not None:
            return None  # dialed here: no need to ask Redis
        if self.leases is None or self.views is None:
            return None  # one process, or no views shared: this engine's as before
        try:
            holder = await self.leases.holder(campaign_id)
        except RedisError as exc:
            raise ApiError(
                503, f"campaign {campaign_id}: the campaign leases are unavailable ({exc})"
            ) from None
        return None if holder is None or holder == self.leases.owner else holder

    # Inbound queues (docs/inbound.md) -----------------------------------------------------------
    def _desk(self) -> InboundDesk:
        if self.inbound is None:
            raise ApiError(404, "this dialer takes no inbound calls")
        return self.inbound

    async def live_events(self, request: web.Request) -> web.StreamResponse:
        """The floor as it happens (dialer/live.py), as Server-Sent Events, for supervisors.

        ``?campaign=ID`` (repeatable) keeps the events of those campaigns, ``?kind=agent,call``
        those kinds (agent, call, pacing). A reconnect's ``Last-Event-ID`` (or ``?after=``)
        resumes after that event; when some of what came since is no longer kept, a ``reset``
        event comes first: read the state again (``GET /api/campaigns/{id}``).

        Only the events of the supervisor's company (dialer/live_scope.py): those of its
        campaigns, and an agent's move that names no campaign when the agent is of the company.
        Another company's campaign in ``?campaign=`` is a 403, as on ``/api/campaigns/{id}``."""
        user = self._supervisor(request)
        try:
            campaigns = {int(c) for c in request.query.getall("campaign", [])} or None
        except ValueError:
            raise ApiError(400, "campaign must be a campaign id", "campaign") from None
        kinds = {k for k in request.query.get("kind", "").split(",") if k} or None
        scope = await company_scope(self.sessions, user.company_id)
        if campaigns is not None and not campaigns <= scope.campaigns:
            await self._refuse_campaigns(campaigns - scope.campaigns)
        return await self._stream(
            request,
            lambda e: (kinds is None or e.kind in kinds) and e.concerns(campaigns),
            scope,
        )

    async def _refuse_campaigns(self, campaigns: set[int]) -> None:
        """Raise for the first of these campaigns (none of the supervisor's company): 404 when
        it does not exist, else 403."""
        async with self.sessions() as session:
            companies = await companies_of_campaigns(session, campaigns)
        campaign_id = min(campaigns)
        if campaign_id not in companies:
            raise ApiError(404, f"no campaign {campaign_id}", "campaign")
        raise ApiError(403, f"campaign {campaign_id} is not of your company", "campaign")

    async def agent_live(self, request: web.Request) -> web.StreamResponse:
        """The agent's own desktop feed, as Server-Sent Events: their moves (a call connected
        comes with its attempt id: fetch ``GET /api/agent`` for the contact, the screen pop),
        the ends of their calls, and their simple reminders at their time
        (dialer/reminder_notices.py). Resumable like ``/api/live``."""
        me = self._agent(request).id
        return await self._stream(
            request,
            lambda e: e.kind in ("agent", "call", "reminder") and e.data.get("agent_id") == me,
        )

    async def _stream(
        self,
        request: web.Request,
        keep: Callable[[LiveEvent], bool],
        scope: CompanyScope | None = None,
    ) -> web.StreamResponse:
        """The feed's events that ``keep`` keeps and, with a ``scope``, that its company's
        supervisors see (what the scope does not know yet is read first, once)."""
        feed = self.engine.live
        if feed is None:
            raise ApiError(404, "this dialer runs without a live feed")
        after = request.headers.get("Last-Event-ID") or request.query.get("after")
        if after is not None:
            try:
                position_of(after)
            except ValueError as exc:
                raise ApiError(400, str(exc), "Last-Event-ID") from None
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        try:
            await response.write(b"retry: 2000\n\n")
            position = after if after is not None else await feed.tail()
            while True:
                batch = await feed.read(position, self.live_keepalive_s)
                if batch.lost:
                    await response.write(RESET)
                if not batch.events:
                    if batch.lost:
                        position = await feed.tail()
                    else:
                        await response.write(KEEPALIVE)
                    continue
                kept = [(i, e) for i, e in batch.events if keep(e)]
                if scope is not None and kept:
                    await learn(scope, self.sessions, [e for _, e in kept])
                    kept = [(i, e) for i, e in kept if scope.sees(e)]
                for event_id, event in kept:
                    await response.write(sse(event_id, event))
                position = batch.events[-1][0]
        except ConnectionError:  # aiohttp's ClientConnectionResetError too
            return response  # the reader went away
        except SQLAlchemyError as exc:
            # The store is away: whose an event is cannot be told, so none is shown; the
            # reader comes back after the retry advice with its Last-Event-ID.
            log.warning("live events: the store failed (%s); stream ended", exc)
            return response
        except RedisError as exc:
            # The shared feed is away: end the stream; the reader's EventSource comes back
            # after the retry advice with its Last-Event-ID and loses nothing still kept.
            log.warning("live events: the feed failed (%s); stream ended", exc)
            return response

    async def queues(self, request: web.Request) -> web.Response:
        """The inbound queues of the supervisor's company (those of its campaigns): calls
        waiting, longest wait, service level, abandon rate in the queue, agents by state; over
        every live dialer process (dialer/shared_views.py)."""
        user = self._supervisor(request)
        desk = self._desk()
        async with self.sessions() as session:
            ours = await company_campaign_ids(session, user.company_id)
        wanted = [q for q, c in sorted(desk.campaign_of_queue.items()) if c.campaign_id in ours]
        floor = await self._floor_queues(wanted)
        return _json({"queues": [floor[queue] for queue in wanted if queue in floor]})

    async def campaign_queue(self, request: web.Request) -> web.Response:
        _, checked = await self._company_campaign(request)
        campaign_id = checked.id
        desk = self._desk()
        campaign = desk.directory.by_campaign.get(campaign_id)
        if campaign is None:
            raise ApiError(404, f"campaign {campaign_id} has no inbound queue")
        floor = await self._floor_queues([campaign.queue])
        return _json({**floor[campaign.queue], "campaign_id": campaign_id})

    async def _floor_queues(self, wanted: Collection[str]) -> dict[str, dict[str, Any]]:
        """Each wanted queue merged over this process (read now) and every other live one
        (their latest snapshots): callers wait at the inbound side, agents where they logged
        in."""
        own = Snapshot(self.engine.owner, self.engine.clock.now(), queues=queue_views(self.inbound))
        snapshots = [own]
        if self.views is not None:
            try:
                others = await self.views.live()
            except RedisError as exc:
                raise ApiError(503, f"the shared views are unavailable ({exc})") from None
            snapshots += [s for s in others if s.process != own.process]
        merged: dict[str, dict[str, Any]] = {}
        for queue in set(wanted) & own.queues.keys():
            seen = [s for s in snapshots if queue in s.queues]
            merged[queue] = {
                **merge_queue_views([s.queues[queue] for s in seen]),
                "processes": [s.process for s in seen],
                "as_of": min(seen, key=lambda s: s.as_of).as_of_iso,  # the oldest part
            }
        return merged

    async def dids_get(self, request: web.Request) -> web.Response:
        _, checked = await self._company_campaign(request)
        campaign_id = checked.id
        async with self.sessions() as session:
            numbers = await campaign_dids(session, campaign_id)
        return _json({"campaign_id": campaign_id, "dids": numbers})

    async def dids_set(self, request: web.Request) -> web.Response:
        """The campaign's inbound numbers (issue 6: the DID selects the campaign), replacing
        the ones it had; audited, and routed from the next call on."""
        user, checked = await self._company_campaign(request)
        campaign_id = checked.id
        body = await self._body(request)
        wanted = body.get("dids")
        if not isinstance(wanted, list) or not all(isinstance(d, str) for d in wanted):
            raise ApiError(400, 'send {"dids": ["5716000100", ...]}: a list of numbers', "dids")
        async with self.sessions() as session, session.begin():
            campaign = await get_campaign(session, campaign_id)
            if wanted and campaign.queue is None:
                raise ApiError(
                    400,
                    f"campaign {campaign_id} has no queue: its calls could not be queued",
                    "dids",
                )
            before = await campaign_dids(session, campaign_id)
            await set_dids(session, campaign_id, wanted)
            after = await campaign_dids(session, campaign_id)
            audit(
                session,
                self.engine.now(),
                "campaign",
                campaign_id,
                "dids",
                {"before": before, "after": after},
                user_id=user.id,
                company_id=campaign.company_id,
            )
        if self.inbound is not None:
            await self.inbound.load()
        return _json({"campaign_id": campaign_id, "dids": after})

    async def pacing_get(self, request: web.Request) -> web.Response:
        _, campaign = await self._company_campaign(request)
        return _json({"dial_mode": campaign.dial_mode.value, "pacing": campaign.pacing})

    async def pacing_set(self, request: web.Request) -> web.Response:
        user, checked = await self._company_campaign(request)
        campaign_id = checked.id
        body = await self._body(request)
        if not body:
            raise ApiError(400, f"send one or more of {', '.join(PACING_FIELDS)}")
        changes: dict[str, float | int] = {}
        for name, value in body.items():
            if name not in PACING_FIELDS:
                raise ApiError(400, f"{name!r} is not a pacing parameter", name)
            kind, low, high = PACING_FIELDS[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ApiError(400, f"{name} must be a number", name)
            if not low <= value <= high:
                raise ApiError(400, f"{name} must be between {low:g} and {high:g}", name)
            changes[name] = kind(value)
        async with self.sessions() as session, session.begin():
            campaign = await get_campaign(session, campaign_id)
            pacing = {**(campaign.pacing or {}), **changes}
            await update_campaign(
                session, campaign_id, self.engine.now(), user_id=user.id, pacing=pacing
            )
        await self.engine.reload_campaign(campaign_id)
        return _json({"pacing": pacing})

    async def campaign_pause(self, request: web.Request) -> web.Response:
        return await self._set_paused(request, True)

    async def campaign_resume(self, request: web.Request) -> web.Response:
        return await self._set_paused(request, False)

    async def _set_paused(self, request: web.Request, paused: bool) -> web.Response:
        """A supervisor of the campaign's company pauses its dialing (no new calls; calls in
        flight go on) or resumes it, at any process. Stored first (and audited when it
        changes), so it holds across restarts and moves; then applied at once if this process
        dials the campaign, else by the one that does at its next keeper round, or when it
        starts. ``applied`` says which: ``here``, ``by_holder`` (``process`` names it, null
        when Redis could not say) or ``at_start`` (nobody dials it now)."""
        user, checked = await self._company_campaign(request)
        campaign_id = checked.id
        async with self.sessions() as session, session.begin():
            changed = await set_dialing_paused(
                session, campaign_id, paused, self.engine.now(), user_id=user.id
            )
        body: dict[str, Any] = {"campaign_id": campaign_id, "paused": paused, "changed": changed}
        if self.engine.running(campaign_id) is not None:
            self.engine.pause_campaign(campaign_id, paused)
            return _json({**body, "applied": "here", "process": self.engine.owner})
        if self.leases is None or not self.leases.shared:
            # One process, and it does not dial the campaign (inactive, preview, or it cannot
            # dial): it starts paused, or not, as stored.
            return _json({**body, "applied": "at_start", "process": None})
        try:
            holder = await self.leases.holder(campaign_id)
        except RedisError as exc:
            # Stored all the same: whoever dials it reads it at its next round.
            log.warning("campaign %s: pause stored, its holder unknown (%s)", campaign_id, exc)
            return _json({**body, "applied": "by_holder", "process": None})
        if holder is None:
            return _json({**body, "applied": "at_start", "process": None})
        # Another process, or this one starting it now (its next round reads the pause).
        return _json({**body, "applied": "by_holder", "process": holder})
