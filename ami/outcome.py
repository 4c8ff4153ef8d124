"""Map what Asterisk reports about an originated call to one outcome. Pure.

Ground truth: ../shared/asterisk/README.md, the Originate table (transcripts 02a-02g):

| outcome              | OriginateResponse | Reason | Hangup cause ;2 / ;1 | DialEnd DialStatus |
|----------------------|-------------------|--------|----------------------|--------------------|
| answered             | Success           | 4      | 16 / 16              | ANSWER             |
| busy                 | Failure           | 5      | 17 / **0**           | BUSY               |
| no answer (Timeout)  | Failure           | 3      | 19 / 19              | none               |
| congestion           | Failure           | 8      | 34 / **0**           | CONGESTION         |
| bad exten / context  | Failure           | 0      | 0 / 0                | none               |
| unknown technology   | Failure           | 0      | no channel at all    | none               |

The originated ``;1`` half hangs up with cause 0 on busy and congestion, so a Hangup cause alone
is not the answer: Reason decides, DialStatus refines a Reason 0 or 1, and the called party's
cause (the ``;2`` half, or a real trunk channel) tells an invalid number from a plain failure.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class CallOutcome(enum.StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    FAILED = "failed"
    INVALID = "invalid"


# OriginateResponse Reason codes (Asterisk's AST_CONTROL_* values as reported by Originate).
_REASON: Mapping[str, CallOutcome] = {
    "4": CallOutcome.ANSWERED,  # AST_CONTROL_ANSWER
    "5": CallOutcome.BUSY,  # AST_CONTROL_BUSY
    "3": CallOutcome.NO_ANSWER,  # AST_CONTROL_RINGING: was ringing when the Timeout hit
    "8": CallOutcome.CONGESTION,  # AST_CONTROL_CONGESTION
    "1": CallOutcome.NO_ANSWER,  # AST_CONTROL_HANGUP: hung up before answer (not observed)
}

_DIAL_STATUS: Mapping[str, CallOutcome] = {
    "ANSWER": CallOutcome.ANSWERED,
    "BUSY": CallOutcome.BUSY,
    "NOANSWER": CallOutcome.NO_ANSWER,
    "CANCEL": CallOutcome.NO_ANSWER,
    "CONGESTION": CallOutcome.CONGESTION,
    "CHANUNAVAIL": CallOutcome.FAILED,
    "INVALIDARGS": CallOutcome.FAILED,
}

# Q.850 causes that say the number itself is wrong: unallocated (1), no route to destination (3),
# invalid number format (28). A carrier reports these for dead or mistyped numbers; they must
# not be retried like a busy line.
INVALID_NUMBER_CAUSES = frozenset({1, 3, 28})
_CAUSE: Mapping[int, CallOutcome] = {
    16: CallOutcome.ANSWERED,
    17: CallOutcome.BUSY,
    18: CallOutcome.NO_ANSWER,  # no user responding
    19: CallOutcome.NO_ANSWER,  # user alerting, no answer
    21: CallOutcome.FAILED,  # call rejected
    34: CallOutcome.CONGESTION,
    38: CallOutcome.CONGESTION,  # network out of order
    41: CallOutcome.CONGESTION,  # temporary failure
    42: CallOutcome.CONGESTION,  # switching equipment congestion
}


def outcome_from_reason(reason: str | int | None) -> CallOutcome | None:
    """The outcome an OriginateResponse Reason alone gives, or None when it says nothing (0)."""
    if reason is None:
        return None
    return _REASON.get(str(reason).strip())


def outcome_from_dial_status(status: str | None) -> CallOutcome | None:
    return None if status is None else _DIAL_STATUS.get(status.strip().upper())


def outcome_from_cause(cause: str | int | None) -> CallOutcome | None:
    """The outcome a called party's Hangup cause gives; 0 (unknown) gives None."""
    try:
        code = int(cause) if cause is not None else 0
    except ValueError:
        return None
    if code in INVALID_NUMBER_CAUSES:
        return CallOutcome.INVALID
    return _CAUSE.get(code)


def call_outcome(
    reason: str | int | None,
    dial_status: str | None = None,
    called_cause: str | int | None = None,
) -> CallOutcome:
    """One outcome for an originated call.

    ``reason`` is the OriginateResponse Reason; ``dial_status`` the DialEnd DialStatus for the
    called leg, if one was seen; ``called_cause`` the Hangup cause of the *called* side (the
    ``;2`` Local half or the trunk channel), never the ``;1`` half's, which is 0 on failures.
    """
    cause_outcome = outcome_from_cause(called_cause)
    if cause_outcome is CallOutcome.INVALID:
        return CallOutcome.INVALID
    by_reason = outcome_from_reason(reason)
    if by_reason is not None:
        return by_reason
    # Reason 0: Asterisk could not tell. DialStatus, then the called side's cause, may.
    by_status = outcome_from_dial_status(dial_status)
    if by_status is not None and by_status is not CallOutcome.ANSWERED:
        return by_status
    if cause_outcome is not None and cause_outcome is not CallOutcome.ANSWERED:
        return cause_outcome
    return CallOutcome.FAILED


def outcome_of_originate_response(event: Mapping[str, str]) -> CallOutcome:
    """The outcome an OriginateResponse event gives on its own (no DialEnd or Hangup seen)."""
    if event.get("Response") == "Success":
        return CallOutcome.ANSWERED
    return call_outcome(event.get("Reason"))
