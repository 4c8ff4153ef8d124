"""One outcome per originated call, exactly as Asterisk 22 reports it (every Originate of
transcripts 02a-05c, and results.json)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ami.codec import Message
from ami.outcome import (
    CallOutcome,
    call_outcome,
    outcome_from_cause,
    outcome_of_originate_response,
)
from tests.transcripts import TRANSCRIPTS, names, server_messages


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


# Every OriginateResponse Asterisk sent in the recorded scenarios (01-05; the 06 bursts are all
# answered) and the outcome the dialer must take from it. A transcript that gains or loses an
# Originate fails the completeness test below until this table says what it means.
RECORDED_OUTCOMES: dict[tuple[str, str], CallOutcome] = {
    ("02a_originate_1001_human", "orig-1001"): CallOutcome.ANSWERED,
    ("02b_originate_2001_busy", "orig-2001"): CallOutcome.BUSY,
    ("02c_originate_3001_noanswer", "orig-3001"): CallOutcome.NO_ANSWER,
    ("02d_originate_4001_congestion", "orig-4001"): CallOutcome.CONGESTION,
    ("02e_originate_6001_answer_hangup", "orig-6001"): CallOutcome.ANSWERED,
    ("02f_originate_failures", "orig-bad-local-exten"): CallOutcome.FAILED,
    ("02f_originate_failures", "orig-bad-local-ctx"): CallOutcome.FAILED,
    ("02f_originate_failures", "orig-bad-tech"): CallOutcome.FAILED,
    ("02f_originate_failures", "orig-app"): CallOutcome.ANSWERED,
    ("02g_originate_channelid", "orig-chanid"): CallOutcome.ANSWERED,
    ("02g_originate_channelid", "orig-chanid-busy"): CallOutcome.BUSY,
    ("03b_queue_call_connected", "orig-8001"): CallOutcome.ANSWERED,
    ("03c_queue_abandon", "orig-1001"): CallOutcome.ANSWERED,
    ("03d_queue_agent_ringnoanswer", "orig-8001"): CallOutcome.ANSWERED,
    ("04a_channels_status_vars_redirect_hangup", "orig-8001"): CallOutcome.ANSWERED,
    ("05a_fastagi_full_human_1001", "orig-1001-full"): CallOutcome.ANSWERED,
    ("05b_fastagi_full_machine_5001", "orig-5001-full"): CallOutcome.ANSWERED,
    ("05c_fastagi_hangup_mid_agi", "orig-1002-hangup"): CallOutcome.ANSWERED,
}


def _recorded_responses() -> dict[tuple[str, str], Message]:
    out: dict[tuple[str, str], Message] = {}
    for name in names():
        if name.startswith("06"):
            continue
        for conn in range(1, 6):
            for m in server_messages(name, conn):
                if m.name == "OriginateResponse":
                    out[(name, m.action_id or "")] = m
    return out


def test_the_table_covers_every_recorded_originate_response() -> None:
    assert set(_recorded_responses()) == set(RECORDED_OUTCOMES)


@pytest.mark.parametrize(("key", "expected"), sorted(RECORDED_OUTCOMES.items()))
def test_every_recorded_originate_response_maps_to_its_outcome(
    key: tuple[str, str], expected: CallOutcome
) -> None:
    resp = _recorded_responses()[key]
    # An answered call is Response Success with Reason 4; everything else is Failure.
    assert (resp["Response"] == "Success") is (expected is CallOutcome.ANSWERED)
    assert outcome_of_originate_response(resp) is expected
    assert call_outcome(resp["Reason"]) is expected


def _results() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((TRANSCRIPTS / "results.json").read_text())
    return data


@pytest.mark.parametrize(
    "scenario",
    [
        "02a_originate_1001_human",
        "02b_originate_2001_busy",
        "02c_originate_3001_noanswer",
        "02d_originate_4001_congestion",
        "02e_originate_6001_answer_hangup",
    ],
)
def test_results_json_agrees_with_the_transcript_and_the_mapper(scenario: str) -> None:
    # results.json is the capture's own extraction: same Reason and Response as the stream,
    # and the called half's (;2) cause with the Reason gives the same outcome; the ;1 cause
    # alone does not on busy and congestion (it is 0 there).
    recorded = _results()[scenario[:3]]
    [resp] = _originate_response(scenario)
    assert (recorded["Response"], recorded["Reason"]) == (resp["Response"], resp["Reason"])
    causes = {channel[-2:]: cause for channel, cause, _ in recorded["HangupCauses"]}
    expected = RECORDED_OUTCOMES[(scenario, resp.action_id or "")]
    assert call_outcome(recorded["Reason"], None, causes[";2"]) is expected
    assert outcome_from_cause(causes[";1"]) in (expected, None)


def test_results_json_async_failures_are_reason_0_and_failed() -> None:
    failures = _results()["02f"]
    assert failures == {"bad_local_ctx": "0", "bad_local_exten": "0", "bad_tech": "0"}
    assert {call_outcome(reason) for reason in failures.values()} == {CallOutcome.FAILED}


def test_a_synchronous_originate_failure_has_no_reason_and_is_failed() -> None:
    # Without Async, Asterisk answers "Originate failed" with no Reason code (02f).
    reply = next(
        m
        for m in server_messages("02f_originate_failures")
        if m.is_response and m.action_id == "orig-sync-busy"
    )
    assert (reply["Response"], reply["Message"], reply.get("Reason")) == (
        "Error",
        "Originate failed",
        None,
    )
    assert call_outcome(reply.get("Reason")) is CallOutcome.FAILED
