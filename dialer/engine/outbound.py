"""The FastAGI ``/outbound`` handler: what happens to an answered outbound call.

docs/architecture.md, step 3: the answered ``;1`` half runs
``AGI(agi://<dialer>:4573/outbound,${CAMPAIGN_ID},${ATTEMPT_ID})``. Here:

1. answering-machine detection when the campaign has it (``EXEC AMD``, then ``AMDSTATUS``);
   a machine gets the campaign's machine message or nothing, and the call ends;
2. a live answer waits for a free agent of the campaign at most the hand-off limit (2 s: the
   FTC/Ofcom rule counts from the end of the called person's greeting, which is when AMD
   answers); got one: ``EXEC Dial`` to the agent's phone, which lasts as long as the talk;
3. nobody free in time: the drop (safe-harbor) message, then hang up: an abandoned call.

The handler knows nothing of the store or of pacing: it reports each step to the engine through
:class:`OutboundCalls`, which owns the call's state and the agents.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from agi.server import AGICall, ChannelHungUp
from dialer.engine.ports import SurveyQuestion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallPlan:
    """What the campaign wants done with an answered call of one attempt."""

    campaign_id: int
    attempt_id: int
    amd: bool
    machine_message: str | None  # sound to leave on a machine; None: hang up
    drop_message: str | None  # safe-harbor message when no agent is free in time
    hand_off_s: float  # how long a live answer may wait for an agent
    agent_ring_s: int = 15  # how long an agent's phone may ring before we try another
    broadcast_message: str | None = None  # agentless: the message (press 1 agent, 9 opt out)
    broadcast_to_machines: bool = False
    survey: tuple[SurveyQuestion, ...] = ()  # asked after the agent's call when wanted
    survey_thanks: str | None = None


AGENT_KEY = "1"  # "press 1 to speak to an agent"
# The pre-dial handler in configs/asterisk/extensions_dialer.conf asks SIP phones that honour
# Call-Info to answer at once, so the customer hears the agent as soon as Dial starts.
AGENT_DIAL_OPTIONS = "b(dialer-agent-autoanswer^s^1)"
OPT_OUT_KEY = "9"  # "press 9 to stop receiving these calls"


@dataclass(frozen=True)
class AgentSeat:
    """An agent reserved for one call, and the phone to reach them on."""

    agent_id: int
    interface: str  # for Dial: "PJSIP/agent1001", "Local/7001@agents"


class OutboundCalls(Protocol):
    """The engine, as the handler sees it. Every method is keyed by the attempt id."""

    def plan(self, attempt_id: int) -> CallPlan | None: ...

    def answered(self, attempt_id: int, channel: str) -> None: ...

    def machine(self, attempt_id: int, amd_cause: str) -> None: ...

    def human(self, attempt_id: int, amd_cause: str | None) -> None: ...

    async def reserve_agent(self, attempt_id: int, within_s: float) -> AgentSeat | None: ...

    def agent_failed(self, attempt_id: int, seat: AgentSeat) -> None: ...

    def connecting(self, attempt_id: int, seat: AgentSeat) -> None: ...

    def dropped(self, attempt_id: int) -> None: ...

    def ended(self, attempt_id: int, hung_up_by: str) -> None: ...

    def delivered(self, attempt_id: int) -> None:
        """Agentless: the message was played to the end to a person (or machine)."""
        ...

    async def opted_out(self, attempt_id: int) -> None: ...

    def survey_wanted(self, attempt_id: int) -> bool: ...

    async def survey_done(
        self, attempt_id: int, answers: dict[str, str], complete: bool
    ) -> None: ...


def _attempt_id(call: AGICall) -> int | None:
    args = call.arguments
    if len(args) < 2:
        return None
    try:
        return int(args[1])
    except ValueError:
        return None


async def handle_outbound(call: AGICall, calls: OutboundCalls) -> None:
    """Run one answered outbound call to its end. Never raises for a caller hanging up."""
    attempt_id = _attempt_id(call)
    plan = calls.plan(attempt_id) if attempt_id is not None else None
    if attempt_id is None or plan is None:
        # Not a call this dialer placed (or a restart lost it): do not leave a customer in
        # silence with nobody coming.
        log.warning("outbound AGI for unknown attempt %r on %s", call.arguments, call.channel)
        await call.hangup()
        return
    calls.answered(attempt_id, call.channel)
    if plan.broadcast_message is not None:
        await _broadcast(call, calls, plan)
        return
    seat: AgentSeat | None = None
    try:
        if plan.amd:
            await call.exec("AMD")
            status = await call.get_variable("AMDSTATUS") or "NOTSURE"
            cause = await call.get_variable("AMDCAUSE") or ""
            if status == "MACHINE":
                calls.machine(attempt_id, cause)
                if plan.machine_message:
                    await call.stream_file(plan.machine_message)
                await call.hangup()
                calls.ended(attempt_id, "dialer")
                return
            calls.human(attempt_id, cause)
        else:
            calls.human(attempt_id, None)
        seat = await _hand_off(call, calls, plan)
        if seat is None:
            await _drop(call, calls, plan)
            return
        # Dial returned: the agent's leg ended and the customer is still on the line.
        calls.ended(attempt_id, "agent")
        if plan.survey and calls.survey_wanted(attempt_id):
            await _survey(call, calls, plan)
        await call.hangup()
    except ChannelHungUp:
        calls.ended(attempt_id, "customer")


async def _hand_off(call: AGICall, calls: OutboundCalls, plan: CallPlan) -> AgentSeat | None:
    """Connect to an agent within the hand-off limit; the seat that talked, or None."""
    seat = await calls.reserve_agent(plan.attempt_id, plan.hand_off_s)
    if seat is None:
        return None
    calls.connecting(plan.attempt_id, seat)
    # Agent phones auto-answer, so the customer hears the agent as Dial starts; Dial returns
    # when the agent's leg ends.
    await call.exec("Dial", seat.interface, plan.agent_ring_s, AGENT_DIAL_OPTIONS)
    if await call.get_variable("DIALSTATUS") == "ANSWER":
        return seat
    # The phone did not answer: the agent was not really there, and the caller has waited
    # past the hand-off window meanwhile. Counted as a drop.
    calls.agent_failed(plan.attempt_id, seat)
    return None


async def _drop(call: AGICall, calls: OutboundCalls, plan: CallPlan) -> None:
    """No agent within the hand-off limit: an abandoned call, with the campaign's drop message."""
    calls.dropped(plan.attempt_id)
    if plan.drop_message:
        await call.stream_file(plan.drop_message)
    await call.hangup()
    calls.ended(plan.attempt_id, "dialer")


async def _broadcast(call: AGICall, calls: OutboundCalls, plan: CallPlan) -> None:
    """Agentless voice broadcast (issue 5): the message, then press 1 for an agent or 9 to
    opt out (the number goes on the block list). Results are written like any outcome."""
    attempt_id = plan.attempt_id
    message = plan.broadcast_message or ""
    try:
        if plan.amd:
            await call.exec("AMD")
            if (await call.get_variable("AMDSTATUS")) == "MACHINE":
                calls.machine(attempt_id, await call.get_variable("AMDCAUSE") or "")
                if plan.broadcast_to_machines:
                    # Left on the machine: a delivered message (the attempt's AMD result still
                    # says MACHINE), written under the campaign's broadcast result.
                    await call.stream_file(message)
                    calls.delivered(attempt_id)
                    await call.hangup()
                    return
                await call.hangup()
                calls.ended(attempt_id, "dialer")
                return
        calls.human(attempt_id, "HUMAN" if plan.amd else None)
        digit, _ = await call.stream_file(message, AGENT_KEY + OPT_OUT_KEY)
        if digit is None:
            digit = await call.wait_for_digit(5000)
        if digit == OPT_OUT_KEY:
            await calls.opted_out(attempt_id)
            await call.hangup()
            return
        if digit == AGENT_KEY:
            seat = await _hand_off(call, calls, plan)
            if seat is None:
                await _drop(call, calls, plan)
                return
            calls.ended(attempt_id, "agent")
            await call.hangup()
            return
        calls.delivered(attempt_id)
        await call.hangup()
    except ChannelHungUp:
        calls.ended(attempt_id, "customer")


async def _survey(call: AGICall, calls: OutboundCalls, plan: CallPlan) -> None:
    """The IVR satisfaction survey (seed 004): each question with its retries; answers are
    saved even when the customer hangs up half way."""
    answers: dict[str, str] = {}
    complete = False
    try:
        for question in plan.survey:
            tries = question.retries + 1
            for attempt in range(1, tries + 1):
                # GET DATA answers "" when its timeout passes with no key: a try like a wrong key.
                digits = await call.get_data(question.prompt, question.timeout_ms, 1)
                if digits and digits in question.valid:
                    answers[question.key] = digits
                    break
                # "Sorry, that is not a valid answer. Please press..." only when the question
                # is asked again; after the last try the survey moves on, unanswered.
                if question.invalid_prompt and attempt < tries:
                    await call.stream_file(question.invalid_prompt)
        complete = True
        if plan.survey_thanks:
            await call.stream_file(plan.survey_thanks)
    except ChannelHungUp:
        pass
    finally:
        await calls.survey_done(plan.attempt_id, answers, complete)
