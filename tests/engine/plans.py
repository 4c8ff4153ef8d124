"""The campaign plan the engine tests run with: one builder, each test changing what it needs."""

from __future__ import annotations

import dataclasses
from typing import Any

from dialer.engine.ports import CampaignPlan, DialMode

# A progressive campaign with AMD on the simulated Asterisk's trunk context, short enough
# timers for tests at a scaled clock.
TEST_PLAN = CampaignPlan(
    campaign_id=1,
    name="Test",
    dial_mode=DialMode.PROGRESSIVE,
    trunk_context="dialer-trunk",
    caller_id='"Sales" <5551000>',
    amd=True,
    ring_timeout_s=20.0,
    hand_off_s=2.0,
    acw_max_s=10.0,
    dial_ratio=1.0,
)


def campaign_plan(**changes: Any) -> CampaignPlan:
    """``TEST_PLAN`` with ``changes`` (CampaignPlan's field names)."""
    return dataclasses.replace(TEST_PLAN, **changes)


# How long the engine tests' called parties wait for someone to speak (the model's default is
# 8 s). At 20-40x, 8 s of patience is 0.2-0.4 s of wall time for the FastAGI round trips, AMD
# and the agent's leg, so one event-loop stall under load turned a connected call into a
# customer who hung up (reproduced by stalling 5 % of callbacks up to 80 ms). No engine test
# is about patience; the engine is right either way.
PATIENT_S = 3600.0
