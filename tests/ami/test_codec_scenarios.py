"""Message fields per recorded scenario (02c-02g, 03b-03d, 04b, 05b-05c) as the codec gives them."""

from __future__ import annotations

from ami.codec import Message
from tests.transcripts import server_messages


def _named(name: str, event: str) -> list[Message]:
    return [m for m in server_messages(name) if m.is_event and m.name == event]


def _reply(name: str, action_id: str) -> Message:
    return next(m for m in server_messages(name) if m.is_response and m.action_id == action_id)


def _originate_response(name: str, action_id: str | None = None) -> Message:
    [resp] = [
        m
        for m in _named(name, "OriginateResponse")
        if action_id is None or m.action_id == action_id
    ]
    return resp


def test_02c_no_answer_is_reason_3_without_any_dial_end() -> None:
    name = "02c_originate_3001_noanswer"
    resp = _originate_response(name)
    assert (resp["Response"], resp["Reason"]) == ("Failure", "3")
    assert resp["Uniqueid"] == "<unknown>"
    assert resp["Channel"] == "Local/3001@sim-pstn"  # the dial string, not a channel name
    assert _named(name, "DialEnd") == []
    assert {m["Cause"] for m in _named(name, "Hangup")} == {"19"}


def test_02d_congestion_response_comes_after_the_originated_half_hung_up() -> None:
    name = "02d_originate_4001_congestion"
    msgs = server_messages(name)
    resp = _originate_response(name)
    hangup_1 = next(m for m in _named(name, "Hangup") if m["Channel"].endswith(";1"))
    assert hangup_1["Cause"] == "0"
    assert msgs.index(resp) > msgs.index(hangup_1)
    [dial_end] = _named(name, "DialEnd")
    assert dial_end["DialStatus"] == "CONGESTION"


def test_02e_answered_response_names_the_originated_half_and_its_uniqueid() -> None:
    name = "02e_originate_6001_answer_hangup"
    resp = _originate_response(name)
    assert (resp["Response"], resp["Reason"]) == ("Success", "4")
    assert resp["Channel"].endswith(";1")
    newchannel_1 = next(m for m in _named(name, "Newchannel") if m["Channel"] == resp["Channel"])
    assert resp["Uniqueid"] == newchannel_1["Uniqueid"]
    assert newchannel_1["CallerIDNum"] == "<unknown>"  # until NewCallerid arrives


def test_02e_both_halves_are_linked_to_the_originated_half() -> None:
    name = "02e_originate_6001_answer_hangup"
    halves = _named(name, "Newchannel")[:2]
    assert [m["Channel"][-2:] for m in halves] == [";1", ";2"]
    assert {m["Linkedid"] for m in halves} == {halves[0]["Uniqueid"]}
    epoch, seq = halves[0]["Uniqueid"].split(".")
    assert halves[1]["Uniqueid"] == f"{epoch}.{int(seq) + 1}"


def test_02f_synchronous_validation_errors_use_asterisk_wording() -> None:
    name = "02f_originate_failures"
    assert _reply(name, "orig-bad-dest-exten")["Message"] == "Extension does not exist."
    assert _reply(name, "orig-bad-channel")["Message"] == "Invalid channel"
    assert _reply(name, "orig-no-channel")["Message"] == "Channel not specified"
    assert (
        _reply(name, "orig-no-priority")["Message"]
        == "Originate with 'Exten' requires 'Context' and 'Priority'"
    )
    assert _reply(name, "orig-sync-busy")["Message"] == "Originate failed"


def test_02f_unknown_technology_is_acked_then_fails_with_reason_0() -> None:
    name = "02f_originate_failures"
    assert _reply(name, "orig-bad-tech")["Message"] == "Originate successfully queued"
    resp = _originate_response(name, "orig-bad-tech")
    assert (resp["Response"], resp["Reason"], resp["Channel"]) == ("Failure", "0", "Foo/123")
    assert not any((m.get("Channel") or "").startswith("Foo/") for m in _named(name, "Newchannel"))


def test_02f_application_form_reports_application_and_data() -> None:
    resp = _originate_response("02f_originate_failures", "orig-app")
    assert resp["Application"] == "Wait" and resp["Data"] == "1"
    assert "Context" not in resp and "Exten" not in resp


def test_02g_channel_id_sets_uniqueid_and_linkedid_on_both_halves() -> None:
    name = "02g_originate_channelid"
    by_uniqueid = {m["Uniqueid"]: m for m in _named(name, "Newchannel")}
    assert by_uniqueid["dialer-7-42-a"]["Channel"].endswith(";1")
    assert by_uniqueid["dialer-7-42-b"]["Channel"].endswith(";2")
    assert by_uniqueid["dialer-7-42-b"]["Linkedid"] == "dialer-7-42-a"
    assert _originate_response(name, "orig-chanid")["Uniqueid"] == "dialer-7-42-a"


def test_02g_one_variable_header_is_set_on_both_halves() -> None:
    name = "02g_originate_channelid"
    sets = {
        (m["Channel"][-2:], m["Variable"], m["Value"])
        for m in _named(name, "VarSet")
        if m["Uniqueid"].startswith("dialer-7-42-")
        and m["Variable"] in ("CAMPAIGN_ID", "CONTACT_ID")
    }
    assert sets == {
        (";1", "CAMPAIGN_ID", "7"),
        (";1", "CONTACT_ID", "42"),
        (";2", "CAMPAIGN_ID", "7"),
        (";2", "CONTACT_ID", "42"),
    }


def test_03b_agent_connect_and_complete_carry_the_timings() -> None:
    name = "03b_queue_call_connected"
    [connect] = _named(name, "AgentConnect")
    [complete] = _named(name, "AgentComplete")
    assert int(connect["HoldTime"]) >= 0 and int(connect["RingTime"]) >= 0
    assert complete["Reason"] == "caller"
    assert int(complete["TalkTime"]) >= 0
    assert connect["Queue"] == complete["Queue"] == "sales"


def test_03b_agent_legs_take_the_callers_linkedid() -> None:
    name = "03b_queue_call_connected"
    caller = _named(name, "QueueCallerJoin")[0]
    agent_legs = [m for m in _named(name, "Newchannel") if "@agents-" in m["Channel"]]
    assert agent_legs
    assert {m["Linkedid"] for m in agent_legs} == {caller["Linkedid"]}


def test_03c_abandon_then_leave() -> None:
    name = "03c_queue_abandon"
    msgs = server_messages(name)
    [abandon] = _named(name, "QueueCallerAbandon")
    for key in ("Position", "OriginalPosition", "HoldTime"):
        assert abandon[key].isdigit(), key
    leave = next(
        m for m in _named(name, "QueueCallerLeave") if m["Uniqueid"] == abandon["Uniqueid"]
    )
    assert msgs.index(leave) > msgs.index(abandon)


def test_03d_ring_no_answer_reports_the_queue_timeout() -> None:
    name = "03d_queue_agent_ringnoanswer"
    msgs = server_messages(name)
    no_answers = _named(name, "AgentRingNoAnswer")
    assert no_answers and all(m["RingTime"] == "15000" for m in no_answers)
    # The member is called again after the queue's retry delay.
    called_again = [
        m for m in _named(name, "AgentCalled") if msgs.index(m) > msgs.index(no_answers[0])
    ]
    assert called_again


def test_04b_user_event_copies_every_header_including_action_id() -> None:
    [event] = _named("04b_command_userevent_misc", "UserEvent")
    assert event["Privilege"] == "user,all"
    assert event["UserEvent"] == "DialerHeartbeat"
    assert event.action_id == "ue-1"
    assert event["Note"] == "hello world" and event["CampaignID"] == "7"


def test_04b_a_bad_command_is_an_error_that_still_has_output() -> None:
    reply = _reply("04b_command_userevent_misc", "cmd-bad")
    assert reply["Response"] == "Error"
    assert reply.get_all("Output")[0].startswith("No such command 'no such cli command'")


def test_05b_amd_result_is_visible_in_agi_exec_end() -> None:
    ends = _named("05b_fastagi_full_machine_5001", "AGIExecEnd")
    commands = [m["Command"] for m in ends]
    assert any(c.startswith("EXEC AMD") for c in commands)
    assert all(m["ResultCode"].isdigit() for m in ends)


def test_05c_far_end_hangup_during_agi() -> None:
    name = "05c_fastagi_hangup_mid_agi"
    hangups = _named(name, "Hangup")
    assert hangups and all("Cause" in m and "Cause-txt" in m for m in hangups)


def test_list_item_action_ids_sit_where_asterisk_puts_them() -> None:
    msgs = server_messages("03a_queue_member_actions")
    for event in ("QueueParams", "QueueMember", "QueueSummary"):
        item = next(m for m in msgs if m.name == event and m.action_id)
        assert item.headers[-1][0] == "ActionID", event  # last line
    complete = next(m for m in msgs if m.name == "QueueStatusComplete")
    assert complete.headers[1][0] == "ActionID"  # second line
