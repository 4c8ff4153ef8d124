"""One outcome per originated call, exactly as Asterisk 22 reports it (transcripts 02a-02g)."""

from __future__ import annotations

import pytest

from ami.outcome import CallOutcome, call_outcome, outcome_of_originate_response
from tests.transcripts import server_messages


def _originate_response(name: str, action_id: str | None = None):  # type: ignore[no-untyped-def]
    return [
        m
        for m in server_messages(name)
        if m.name == "OriginateResponse" and (action_id is None or m.action_id == action_id)
    ]


def _called_cause(name: str, channel_prefix: str) -> str | None:
    for m in server_messages(name):
        if (
            m.name == "Hangup"
            and m["Channel"].startswith(channel_prefix)
            and m["Channel"].endswith(";2")
        ):
            return m["Cause"]
    return None


def _dial_status(name: str) -> str | None:
    ends = [m for m in server_messages(name) if m.name == "DialEnd"]
    return ends[0]["DialStatus"] if ends else None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("02a_originate_1001_human", CallOutcome.ANSWERED),
        ("02b_originate_2001_busy", CallOutcome.BUSY),
        ("02c_originate_3001_noanswer", CallOutcome.NO_ANSWER),
        ("02d_originate_4001_congestion", CallOutcome.CONGESTION),
        ("02e_originate_6001_answer_hangup", CallOutcome.ANSWERED),
    ],
)
def test_each_recorded_scenario_maps_to_its_outcome(name: str, expected: CallOutcome) -> None:
    [resp] = _originate_response(name)
    assert outcome_of_originate_response(resp) is expected
    channel = resp["Channel"].split("-0000")[0]
    cause = _called_cause(name, channel)
    assert call_outcome(resp["Reason"], _dial_status(name), cause) is expected


def test_the_originated_half_hangs_up_with_cause_zero_on_busy() -> None:
    hangups = {
        m["Channel"][-2:]: m["Cause"]
        for m in server_messages("02b_originate_2001_busy")
        if m.name == "Hangup"
    }
    assert hangups == {";1": "0", ";2": "17"}
    # ... so the ;1 cause alone would say nothing, while Reason says busy.
    assert call_outcome("5", None, hangups[";1"]) is CallOutcome.BUSY


def test_congestion_is_reason_8_even_though_the_first_hangup_is_cause_0() -> None:
    [resp] = _originate_response("02d_originate_4001_congestion")
    assert resp["Reason"] == "8"
    assert call_outcome(resp["Reason"], "CONGESTION", "0") is CallOutcome.CONGESTION


@pytest.mark.parametrize(
    "action_id", ["orig-bad-local-exten", "orig-bad-local-ctx", "orig-bad-tech"]
)
def test_async_failures_with_reason_zero_are_failed(action_id: str) -> None:
    [resp] = _originate_response("02f_originate_failures", action_id)
    assert resp["Reason"] == "0"
    assert outcome_of_originate_response(resp) is CallOutcome.FAILED


def test_channel_id_failure_still_maps_by_reason() -> None:
    [resp] = _originate_response("02g_originate_channelid", "orig-chanid-busy")
    assert resp["Uniqueid"] == "dialer-7-43-a"
    assert outcome_of_originate_response(resp) is CallOutcome.BUSY


@pytest.mark.parametrize("cause", [1, 3, 28, "1"])
def test_an_unallocated_or_malformed_number_is_invalid(cause: int | str) -> None:
    assert call_outcome("0", None, cause) is CallOutcome.INVALID


def test_reason_zero_is_refined_by_dial_status() -> None:
    assert call_outcome("0", "CHANUNAVAIL") is CallOutcome.FAILED
    assert call_outcome("0", "NOANSWER") is CallOutcome.NO_ANSWER
    assert call_outcome("0", "BUSY") is CallOutcome.BUSY


def test_unknown_inputs_fall_back_to_failed() -> None:
    assert call_outcome(None) is CallOutcome.FAILED
    assert call_outcome("99", None, "garbage") is CallOutcome.FAILED
