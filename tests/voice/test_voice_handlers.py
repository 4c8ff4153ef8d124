"""The voice-campaign FastAGI handlers (dialer/engine/outbound.py) on the simulated Asterisk.

The engine is replaced by a recorder of what the handler tells it (``OutboundCalls``), so these
tests pin the call flows themselves: DTMF from the called party's model, the prompts played (as
AMI shows them: AGIExecStart), the survey's retries and timeouts, and a hang-up mid-survey. The
end-to-end versions on the store are tests/engine/test_voice_campaigns.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

import pytest

from agi.server import AGICall, FastAGIServer
from ami.client import AMIClient
from ami.codec import Message
from dialer.clock import ScaledClock
from dialer.engine.outbound import AgentSeat, CallPlan, handle_outbound
from dialer.engine.ports import SurveyQuestion
from dialer.simasterisk import Behaviour, NumberModel, PartyKind, SimConfig, SimulatedAsterisk
from tests.waiting import until

NUMBER = "15557770001"
ATTEMPT = 41
ANSWERS = "Local/7001@agents"  # lab dialplan: answers at once, stays up
NEVER_ANSWERS = "Local/7901@agents"  # lab dialplan: rings for ever

RATING = SurveyQuestion(
    key="rating",
    prompt="dialer/survey-question",
    valid="12345",
    timeout_ms=3000,
    retries=1,
    invalid_prompt="dialer/survey-invalid",
)
AGAIN = replace(RATING, key="again", prompt="dialer/survey-again")

PLAN = CallPlan(
    campaign_id=7,
    attempt_id=ATTEMPT,
    amd=False,
    machine_message=None,
    drop_message="dialer/drop",
    hand_off_s=2.0,
    agent_ring_s=5,
    survey_thanks="dialer/survey-thanks",
)
BROADCAST = replace(PLAN, amd=True, broadcast_message="dialer/agentless")


@dataclass
class Recorder:
    """OutboundCalls as a log: every report the handler makes, in order."""

    plan_: CallPlan
    seats: list[AgentSeat] = field(default_factory=list)
    survey: bool = True
    log: list[tuple[object, ...]] = field(default_factory=list)

    def plan(self, attempt_id: int) -> CallPlan | None:
        return self.plan_ if attempt_id == self.plan_.attempt_id else None

    def answered(self, attempt_id: int, channel: str) -> None:
        self.log.append(("answered", channel))

    def machine(self, attempt_id: int, amd_cause: str) -> None:
        self.log.append(("machine",))

    def human(self, attempt_id: int, amd_cause: str | None) -> None:
        self.log.append(("human",))

    async def reserve_agent(self, attempt_id: int, within_s: float) -> AgentSeat | None:
        self.log.append(("reserve",))
        return self.seats.pop(0) if self.seats else None

    def agent_failed(self, attempt_id: int, seat: AgentSeat) -> None:
        self.log.append(("agent_failed", seat.interface))

    def connecting(self, attempt_id: int, seat: AgentSeat) -> None:
        self.log.append(("connecting", seat.interface))

    def dropped(self, attempt_id: int) -> None:
        self.log.append(("dropped",))

    def ended(self, attempt_id: int, hung_up_by: str) -> None:
        self.log.append(("ended", hung_up_by))

    def delivered(self, attempt_id: int) -> None:
        self.log.append(("delivered",))

    async def opted_out(self, attempt_id: int) -> None:
        self.log.append(("opted_out",))

    def survey_wanted(self, attempt_id: int) -> bool:
        return self.survey

    async def survey_done(self, attempt_id: int, answers: dict[str, str], complete: bool) -> None:
        self.log.append(("survey", answers, complete))

    def reports(self) -> list[str]:
        return [str(entry[0]) for entry in self.log]


@dataclass
class Rig:
    ami: AMIClient
    events: list[Message]
    finished: asyncio.Event

    def commands(self) -> list[str]:
        """The AGI commands the handler ran, as Asterisk mirrors them on AMI."""
        return [m["Command"] for m in self.events if m.name == "AGIExecStart"]

    def channel_of(self, prefix: str, half: str = ";1") -> str:
        return next(
            m["Channel"]
            for m in self.events
            if m.name == "Newchannel"
            and m["Channel"].startswith(prefix)
            and m["Channel"].endswith(half)
        )


@dataclass
class Call:
    """``async with Call(recorder, party) as rig``: the simulator, our FastAGI server running
    ``handle_outbound`` and one Originate to a number the model plays as ``party``."""

    calls: Recorder
    party: Behaviour
    _stop: list[object] = field(default_factory=list)

    async def __aenter__(self) -> Rig:
        finished = asyncio.Event()

        async def outbound(call: AGICall) -> None:
            try:
                await handle_outbound(call, self.calls)
            finally:
                finished.set()

        agi = FastAGIServer({"outbound": outbound}, port=0)
        port = await agi.start()
        model = NumberModel(seed=3, overrides={NUMBER: self.party})
        sim = SimulatedAsterisk(
            SimConfig(fastagi_url=f"agi://127.0.0.1:{port}", model=model), clock=ScaledClock(20)
        )
        _, ami_port = await sim.start()
        ami = AMIClient("127.0.0.1", ami_port, ping_interval=None)
        events: list[Message] = []
        ami.on("*", events.append)
        await ami.connect()
        self._stop = [ami, sim, agi]
        await ami.originate(
            f"Local/{NUMBER}@dialer-trunk",
            context="dialer-out",
            exten="s",
            priority=1,
            action_id=f"att-{ATTEMPT}",
            channel_id=f"att-{ATTEMPT}-1",
            other_channel_id=f"att-{ATTEMPT}-2",
            variables={"CAMPAIGN_ID": 7, "ATTEMPT_ID": ATTEMPT},
            timeout_ms=30000,
        )
        return Rig(ami, events, finished)

    async def __aexit__(self, *exc: object) -> None:
        ami, sim, agi = self._stop
        assert isinstance(ami, AMIClient)
        assert isinstance(sim, SimulatedAsterisk)
        assert isinstance(agi, FastAGIServer)
        await ami.close()
        await sim.stop()
        await agi.close()


def human(keys: str = "", talk_s: float = 600.0) -> Behaviour:
    return Behaviour(PartyKind.HUMAN, ring_s=1.0, talk_s=talk_s, patience_s=30.0, keys=keys)


def machine() -> Behaviour:
    return Behaviour(PartyKind.MACHINE, ring_s=1.0, message_s=20.0)


async def _agent_hangs_up(rig: Rig) -> None:
    """The agent ends their part from the desktop: an AMI Hangup of the agent's leg."""
    await until(lambda: any(m.name == "BridgeEnter" for m in rig.events), 15)
    await rig.ami.hangup(rig.channel_of(ANSWERS + "-"))


@pytest.fixture
def seat() -> AgentSeat:
    return AgentSeat(agent_id=1, interface=ANSWERS)


# -- the survey after the agent's call ---------------------------------------------------------


async def test_an_invalid_key_gets_the_invalid_prompt_and_the_question_again(
    seat: AgentSeat,
) -> None:
    calls = Recorder(replace(PLAN, survey=(RATING,)), seats=[seat])
    async with Call(calls, human(keys="73")) as rig:
        await _agent_hangs_up(rig)
        await asyncio.wait_for(rig.finished.wait(), 15)
    assert calls.log[-1] == ("survey", {"rating": "3"}, True)
    assert calls.reports() == ["answered", "human", "reserve", "connecting", "ended", "survey"]
    assert ("ended", "agent") in calls.log
    assert [c for c in rig.commands() if "survey" in c] == [
        "GET DATA dialer/survey-question 3000 1",
        'STREAM FILE dialer/survey-invalid ""',
        "GET DATA dialer/survey-question 3000 1",
        'STREAM FILE dialer/survey-thanks ""',
    ]


async def test_a_question_nobody_answers_is_asked_again_then_left_unanswered(
    seat: AgentSeat,
) -> None:
    # Each try times out (GET DATA's 3 s); the invalid prompt comes only before another try.
    calls = Recorder(replace(PLAN, survey=(RATING,)), seats=[seat])
    async with Call(calls, human(keys="")) as rig:
        await _agent_hangs_up(rig)
        await asyncio.wait_for(rig.finished.wait(), 15)
    assert calls.log[-1] == ("survey", {}, True)
    assert [c for c in rig.commands() if "survey" in c] == [
        "GET DATA dialer/survey-question 3000 1",
        'STREAM FILE dialer/survey-invalid ""',
        "GET DATA dialer/survey-question 3000 1",
        'STREAM FILE dialer/survey-thanks ""',
    ]


async def test_a_hang_up_during_the_second_question_keeps_the_first_answer(
    seat: AgentSeat,
) -> None:
    calls = Recorder(replace(PLAN, survey=(RATING, AGAIN)), seats=[seat])
    async with Call(calls, human(keys="4")) as rig:
        await _agent_hangs_up(rig)
        await until(lambda: any("survey-again" in c for c in rig.commands()), 15)
        await rig.ami.hangup(rig.channel_of(f"Local/{NUMBER}@dialer-trunk-"))
        await asyncio.wait_for(rig.finished.wait(), 15)
    assert calls.log[-1] == ("survey", {"rating": "4"}, False)
    assert not any("survey-thanks" in c for c in rig.commands())


async def test_no_survey_when_the_engine_does_not_want_one(seat: AgentSeat) -> None:
    calls = Recorder(replace(PLAN, survey=(RATING,)), seats=[seat], survey=False)
    async with Call(calls, human(keys="4")) as rig:
        await _agent_hangs_up(rig)
        await asyncio.wait_for(rig.finished.wait(), 15)
    assert "survey" not in calls.reports()
    assert not any("GET DATA" in c for c in rig.commands())


async def test_a_customer_who_hangs_up_on_the_agent_is_not_surveyed(seat: AgentSeat) -> None:
    # The customer's hang-up ends Dial with result -1: the call ended by the customer.
    calls = Recorder(replace(PLAN, survey=(RATING,)), seats=[seat])
    async with Call(calls, human(keys="4", talk_s=2.0)) as rig:
        await asyncio.wait_for(rig.finished.wait(), 15)
    assert calls.log[-1] == ("ended", "customer")
    assert "survey" not in calls.reports()


# -- voice broadcast ---------------------------------------------------------------------------


async def test_press_1_with_no_agent_free_in_time_hears_the_drop_message() -> None:
    calls = Recorder(BROADCAST)
    async with Call(calls, human(keys="1")) as rig:
        await asyncio.wait_for(rig.finished.wait(), 15)
    assert calls.reports() == ["answered", "human", "reserve", "dropped", "ended"]
    assert calls.log[-1] == ("ended", "dialer")
    assert rig.commands()[-2:] == ['STREAM FILE dialer/drop ""', "HANGUP"]


async def test_press_1_to_an_agent_whose_phone_never_answers_is_a_drop() -> None:
    calls = Recorder(BROADCAST, seats=[AgentSeat(agent_id=2, interface=NEVER_ANSWERS)])
    async with Call(calls, human(keys="1")) as rig:
        await asyncio.wait_for(rig.finished.wait(), 30)
    assert ("agent_failed", NEVER_ANSWERS) in calls.log
    assert calls.reports()[-2:] == ["dropped", "ended"]
    assert 'STREAM FILE dialer/drop ""' in rig.commands()


async def test_press_9_during_the_message_opts_out_and_hangs_up() -> None:
    calls = Recorder(replace(BROADCAST, amd=False))
    async with Call(calls, human(keys="9")) as rig:
        await asyncio.wait_for(rig.finished.wait(), 15)
    assert calls.reports() == ["answered", "human", "opted_out"]
    assert rig.commands() == ["STREAM FILE dialer/agentless 19", "HANGUP"]


@pytest.mark.parametrize("to_machines", [True, False])
async def test_a_machine_gets_the_message_only_when_the_campaign_says_so(
    to_machines: bool,
) -> None:
    calls = Recorder(replace(BROADCAST, broadcast_to_machines=to_machines))
    async with Call(calls, machine()) as rig:
        await asyncio.wait_for(rig.finished.wait(), 15)
    # A message left on the machine is a delivered message; one not left, a machine.
    last = "delivered" if to_machines else "ended"
    assert calls.reports() == ["answered", "machine", last]
    played = any(c.startswith("STREAM FILE dialer/agentless") for c in rig.commands())
    assert played is to_machines
