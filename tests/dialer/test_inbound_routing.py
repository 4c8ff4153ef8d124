"""dialer.inbound_routing: DID and schedule (seed 002), assigned user first (seed 000)."""

from __future__ import annotations

import datetime as dt

from dialer.inbound_routing import (
    AssignedUser,
    InboundCampaign,
    RouteAction,
    TargetKind,
    first_target,
    route,
)
from dialer.schedule import parse_schedule

WEEKDAYS = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
# Monday 2026-11-30, Bogota (UTC-5).
MONDAY_10 = dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.UTC)
MONDAY_20 = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)


def campaign(action: str = "close", message: str | None = "dialer/out-of-hours") -> InboundCampaign:
    return InboundCampaign(
        campaign_id=1,
        name="Service",
        queue="campaign-1",
        schedule=parse_schedule(WEEKDAYS, "America/Bogota"),
        out_of_hours_action=action,
        out_of_hours_message=message,
    )


def test_the_did_selects_the_campaign_and_in_hours_the_call_joins_its_queue() -> None:
    r = route("+5716000100", {"5716000100": campaign()}, MONDAY_10)
    assert r.action is RouteAction.QUEUE and r.in_hours and r.message is None
    assert r.campaign is not None and r.campaign.queue == "campaign-1"


def test_out_of_hours_close_plays_the_message_and_hangs_up() -> None:
    r = route("5716000100", {"5716000100": campaign("close")}, MONDAY_20)
    assert r.action is RouteAction.CLOSE and not r.in_hours
    assert r.message == "dialer/out-of-hours"


def test_out_of_hours_queue_plays_the_message_then_queues() -> None:
    r = route("5716000100", {"5716000100": campaign("queue")}, MONDAY_20)
    assert r.action is RouteAction.QUEUE and not r.in_hours
    assert r.message == "dialer/out-of-hours"


def test_an_unknown_did_has_no_campaign() -> None:
    r = route("5716000999", {"5716000100": campaign()}, MONDAY_10)
    assert r.action is RouteAction.UNKNOWN and r.campaign is None


def test_an_available_assigned_user_is_rung_first_with_the_campaigns_fallback() -> None:
    allowed = campaign()
    target = first_target(AssignedUser(7, available=True), allowed)
    assert target.kind is TargetKind.USER and target.agent_id == 7 and target.fallback
    strict = InboundCampaign(**{**allowed.__dict__, "allow_reassignment": False})
    assert first_target(AssignedUser(7, available=True), strict).fallback is False


def test_a_busy_assigned_user_falls_back_to_the_queue_only_when_the_campaign_allows_it() -> None:
    allowed = campaign()
    assert first_target(AssignedUser(7, available=False), allowed).kind is TargetKind.QUEUE
    strict = InboundCampaign(**{**allowed.__dict__, "allow_reassignment": False})
    target = first_target(AssignedUser(7, available=False), strict)
    assert target.kind is TargetKind.WAIT_FOR_USER and target.agent_id == 7


def test_a_caller_without_an_assigned_user_goes_to_the_queue() -> None:
    assert first_target(None, campaign()).kind is TargetKind.QUEUE
