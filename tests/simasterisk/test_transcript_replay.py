"""The simulated Asterisk reproduces every recorded scenario under the order rules.

Each test replays the capture's client side (same actions, same timing, scaled x10; the
capture's own FastAGI script for the AGI scenarios) and compares what the simulator sends with
what Asterisk 22.10.1 sent: see tests/simasterisk/replay.py for exactly what is compared.
"""

from __future__ import annotations

import pytest

from tests.simasterisk.replay import differences, replay

SCENARIOS = [
    "01_login_ping_logoff",
    "02a_originate_1001_human",
    "02b_originate_2001_busy",
    "02c_originate_3001_noanswer",
    "02d_originate_4001_congestion",
    "02e_originate_6001_answer_hangup",
    "02f_originate_failures",
    "02g_originate_channelid",
    "03a_queue_member_actions",
    "03b_queue_call_connected",
    "03c_queue_abandon",
    "03d_queue_agent_ringnoanswer",
    "04a_channels_status_vars_redirect_hangup",
    "04b_command_userevent_misc",
    "05a_fastagi_full_human_1001",
    "05b_fastagi_full_machine_5001",
    "05c_fastagi_hangup_mid_agi",
]


@pytest.mark.parametrize("name", SCENARIOS)
async def test_the_simulator_speaks_like_the_recording(name: str) -> None:
    result = await replay(name)
    assert result.simulated, "the simulator sent nothing"
    assert differences(result) == []


async def test_the_comparison_catches_a_wrong_code() -> None:
    # The harness must be able to fail: corrupt one Reason code in the simulated stream.
    result = await replay("02b_originate_2001_busy")
    from ami.codec import Message

    for conn, messages in result.simulated.items():
        result.simulated[conn] = [
            Message([(k, "8" if k == "Reason" else v) for k, v in m.headers]) for m in messages
        ]
    assert any("Reason" in problem for problem in differences(result))


async def test_the_comparison_catches_a_wrong_variable_value() -> None:
    # Variable values are compared too (CAMPAIGN_ID=7 on both halves, 02g), durations aside.
    result = await replay("02g_originate_channelid")
    from ami.codec import Message

    for conn, messages in result.simulated.items():
        result.simulated[conn] = [
            Message(
                [
                    (k, "8" if k == "Value" and m.get("Variable") == "CAMPAIGN_ID" else v)
                    for k, v in m.headers
                ]
            )
            for m in messages
        ]
    assert any("Value=7" in problem for problem in differences(result))


async def test_the_comparison_catches_a_half_linked_to_itself() -> None:
    # Both halves' Linkedid is the ;1 Uniqueid (README "Local channel halves"): a ;2 that
    # reports its own Uniqueid instead must be caught.
    result = await replay("02e_originate_6001_answer_hangup")
    from ami.codec import Message

    def own(m: Message) -> Message:
        if not (m.get("Channel") or "").endswith(";2"):
            return m
        return Message([(k, m["Uniqueid"] if k == "Linkedid" else v) for k, v in m.headers])

    for conn, messages in result.simulated.items():
        result.simulated[conn] = [own(m) for m in messages]
    assert any("Linkedid" in problem for problem in differences(result))


async def test_the_comparison_catches_a_wrong_fastagi_reply() -> None:
    # The FastAGI replies are compared too: an endpos that is not the recorded one is caught.
    result = await replay("05a_fastagi_full_human_1001")
    assert "200 result=0 endpos=3520" in result.agi_simulated[0]
    result.agi_simulated[0] = [
        line.replace("endpos=3520", "endpos=3521") for line in result.agi_simulated[0]
    ]
    assert any("FastAGI session 0" in problem for problem in differences(result))


async def test_a_session_without_its_hangup_line_is_caught() -> None:
    result = await replay("05c_fastagi_hangup_mid_agi")
    assert result.agi_simulated[0][-1] == "HANGUP"
    result.agi_simulated[0][-1] = "no HANGUP"
    assert any("FastAGI session 0" in problem for problem in differences(result))
