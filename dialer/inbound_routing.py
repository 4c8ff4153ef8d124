"""Where an inbound call goes: by DID and schedule, then to the caller's assigned user or the queue.

Pure decisions (``now`` passed in), used by the FastAGI ``inbound`` handler:

- :func:`route`: the DID selects the campaign; inside the campaign's schedule the call joins its
  queue; outside it the campaign's out-of-hours action applies (seed 002: "outside them an
  inbound contact is either closed or queued, with an optional out-of-hours message");
- :func:`first_target`: a known caller with an assigned user goes to that user first; when the
  user is not available, to the first available agent of the campaign (the queue) if the
  campaign allows it (seed 000: "Allow assignment to another user if the assigned user is not
  available ... assign the ticket to the first available user within the campaign"), else the
  caller waits for their user.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass

from dialer.schedule import WeeklySchedule, is_open

__all__ = [
    "AssignedUser",
    "InboundCampaign",
    "Route",
    "RouteAction",
    "Target",
    "TargetKind",
    "did_key",
    "first_target",
    "route",
]


@dataclass(frozen=True)
class InboundCampaign:
    """A campaign as inbound routing and its queue use it (from the store's settings)."""

    campaign_id: int
    name: str
    queue: str  # the app_queue queue (configs/asterisk/queues.conf: campaign-<id>)
    schedule: WeeklySchedule
    out_of_hours_action: str = "close"  # "close" | "queue" (store.enums.OutOfHoursAction)
    out_of_hours_message: str | None = None  # sound played outside the schedule
    allow_reassignment: bool = True  # seed 000: fall back to another agent
    allow_calls_in_management: bool = False  # seed 000: ring agents in after-call work
    service_level: float = 0.8  # answered within service_level_s (a share, 0-1)
    service_level_s: float = 20.0
    max_wait_s: float = 0.0  # Queue()'s timeout; 0: wait until answered or abandoned
    user_ring_s: int = 15  # how long the assigned user's phone rings


class RouteAction(enum.StrEnum):
    QUEUE = "queue"  # join the campaign's queue (after the message, out of hours)
    CLOSE = "close"  # play the out-of-hours message (if any) and hang up
    UNKNOWN = "unknown"  # no campaign has this DID


@dataclass(frozen=True)
class Route:
    action: RouteAction
    campaign: InboundCampaign | None
    in_hours: bool
    message: str | None  # the out-of-hours message to play first
    why: str


def did_key(did: str) -> str:
    """A DID as the store keeps it: digits only (``${EXTEN}`` may come with E.164's '+')."""
    return did.strip().lstrip("+")


def route(did: str, campaigns: Mapping[str, InboundCampaign], now: dt.datetime) -> Route:
    """The campaign of ``did`` and what its schedule says about a call at ``now``."""
    campaign = campaigns.get(did_key(did))
    if campaign is None:
        return Route(RouteAction.UNKNOWN, None, False, None, f"no campaign has DID {did!r}")
    if is_open(campaign.schedule, now):
        return Route(RouteAction.QUEUE, campaign, True, None, "inside the schedule")
    message = campaign.out_of_hours_message or None
    if campaign.out_of_hours_action == "queue":
        return Route(
            RouteAction.QUEUE, campaign, False, message, "out of hours: queued with the message"
        )
    return Route(RouteAction.CLOSE, campaign, False, message, "out of hours: closed")


@dataclass(frozen=True)
class AssignedUser:
    """The caller's assigned user as the agents' states show them now."""

    agent_id: int
    available: bool  # logged in, free, and working this campaign (or its linked queues)


class TargetKind(enum.StrEnum):
    QUEUE = "queue"  # the first available agent of the campaign
    USER = "user"  # ring the assigned user first
    WAIT_FOR_USER = "wait_for_user"  # the user is busy and the campaign allows no other


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    agent_id: int | None = None
    fallback: bool = True  # when the user cannot take it: the queue (True) or wait for them


def first_target(user: AssignedUser | None, campaign: InboundCampaign) -> Target:
    """Who takes the call first (seed 000)."""
    if user is None:
        return Target(TargetKind.QUEUE)
    if user.available:
        return Target(TargetKind.USER, user.agent_id, campaign.allow_reassignment)
    if campaign.allow_reassignment:
        return Target(TargetKind.QUEUE)
    return Target(TargetKind.WAIT_FOR_USER, user.agent_id, False)
