"""AstDB marks of the inbound calls Asterisk could not bring to any dialer.

[dialer-inbound]'s fallback (configs/asterisk/extensions_dialer.conf) plays dialer/unavailable
to a caller when no dialer's FastAGI answers, sends the UserEvent DialerUnreachedInbound, and
writes a mark first, because the fault that cuts the FastAGI often cuts the AMI link too, and
then nobody hears the event:

    /dialer_unreached_inbound/<YYYYMMDD, UTC>/<caller's Uniqueid> = "<epoch> <DID> <number>"

After a reconnect or a restart the dialer lists the days it may have missed (AMI DBGetTree,
main/db.c) and records each call as the event would have. Pure: keys and values in, marks out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

__all__ = [
    "LOOKBACK_S",
    "UNREACHED_INBOUND_DB_FAMILY",
    "InboundMark",
    "mark_days",
    "parse_mark",
]

UNREACHED_INBOUND_DB_FAMILY: Final = "dialer_unreached_inbound"
# How far back a starting dialer reads: the marks outlive any outage of all the dialers, but
# are never deleted (manager.conf grants no "system"), so the days read are bounded.
LOOKBACK_S: Final = 7 * 86400.0


@dataclass(frozen=True)
class InboundMark:
    """One lost inbound call, as its mark tells it."""

    uniqueid: str  # the caller's channel: the same call's UserEvent names it too
    at: float  # epoch seconds, Asterisk's clock
    did: str
    caller_num: str  # "" when the call came without a number


def parse_mark(key: str, value: str) -> InboundMark | None:
    """The mark of a DBGetTreeResponse (Key is the full key), or None when the entry is not
    one (another writer's key under the family, or a value that does not parse)."""
    parts = key.split("/")
    if len(parts) != 4 or parts[:2] != ["", UNREACHED_INBOUND_DB_FAMILY] or not parts[3]:
        return None
    epoch, _, rest = value.partition(" ")
    did, _, number = rest.partition(" ")
    try:
        at = float(epoch)
    except ValueError:
        return None
    if not did:
        return None
    return InboundMark(uniqueid=parts[3], at=at, did=did, caller_num=number.strip())


def mark_days(since: float, now: float) -> list[str]:
    """The keys of the UTC days from ``since`` to ``now`` (both included), oldest first: the
    subtrees to list for the marks written in that span."""
    first = dt.datetime.fromtimestamp(since, dt.UTC).date()
    last = dt.datetime.fromtimestamp(max(since, now), dt.UTC).date()
    return [
        (first + dt.timedelta(days=n)).strftime("%Y%m%d") for n in range((last - first).days + 1)
    ]
