"""Linked campaigns go to one process together (dialer/engine/keeper.py): the groups, and the
keeper taking a group whole or not at all; and the rest of a keeper's round, on fakes: shares,
the fence, hand-overs, pauses, and when it has dead processes' calls settled."""

from __future__ import annotations

import logging
import math
from collections.abc import Collection
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.engine.keeper import (
    FENCE_MARGIN_S,
    SPLIT_ROUNDS,
    SWEEP_S,
    Active,
    CampaignKeeper,
    linked_groups,
)
from dialer.engine.ports import CampaignCannotStart


@given(
    st.dictionaries(
        st.integers(1, 30), st.sets(st.integers(100, 115), max_size=4), min_size=1, max_size=12
    )
)
def test_groups_split_the_campaigns_so_that_no_agent_works_two_groups(
    members: dict[int, set[int]],
) -> None:
    groups = linked_groups(members)
    assert sorted(c for g in groups for c in g) == sorted(members)  # each campaign once
    group_of = {c: g for g in groups for c in g}
    for one in members:
        for other in members:
            if members[one] & members[other]:
                assert group_of[one] == group_of[other]
    for group in groups:  # and a group is linked through: shared agents reach all of it
        start = min(group)
        reached, frontier = {start}, [start]
        while frontier:
            c = frontier.pop()
            for o in group - reached:
                if members[c] & members[o]:
                    reached.add(o)
                    frontier.append(o)
        assert reached == group


def test_campaigns_linked_through_a_chain_of_agents_are_one_group() -> None:
    members = {1: {100}, 2: {100, 101}, 3: {101}, 4: {102}, 5: set()}
    assert linked_groups(members) == [frozenset({1, 2, 3}), frozenset({4}), frozenset({5})]


class Leases:
    """Leases in memory, shared by the processes of a test."""

    ttl_s = 15.0
    shared = True

    def __init__(self, owner: str, held: dict[int, str], processes: int = 1) -> None:
        self.owner, self.held, self.processes = owner, held, processes

    async def heartbeat(self, holding: int = 0) -> dict[str, int]:
        # The others as the shared leases show them, and silent ones up to ``processes``.
        alive = {self.owner: holding}
        for owner in sorted(set(self.held.values()) - {self.owner}):
            alive[owner] = sum(1 for o in self.held.values() if o == owner)
        for n in range(self.processes - len(alive)):
            alive[f"idle-{n}"] = 0
        return alive

    async def leave(self) -> None:
        return None

    async def acquire(self, campaign_ids: Collection[int]) -> str | None:
        for campaign_id in campaign_ids:
            holder = self.held.get(campaign_id, self.owner)
            if holder != self.owner:
                return holder
        self.held.update((c, self.owner) for c in campaign_ids)
        return None

    async def renew(self, campaign_ids: Collection[int]) -> set[int]:
        return {c for c in campaign_ids if self.held.get(c) == self.owner}

    async def release(self, campaign_id: int) -> None:
        if self.held.get(campaign_id) == self.owner:
            del self.held[campaign_id]

    async def holder(self, campaign_id: int) -> str | None:
        return self.held.get(campaign_id)

    async def close(self) -> None:
        return None


@dataclass
class Running:
    lease_until: float = math.inf
    stopped: bool = False
    agents: int = 0  # logged in here
    paused: bool = False
    pause_change: int = 0


class Engine:
    """What the keeper asks of the engine: start, stop, and what it dials."""

    def __init__(
        self,
        cannot: set[int] = frozenset(),  # type: ignore[assignment]
        stored_paused: set[int] | None = None,
    ) -> None:
        self.campaigns: dict[int, Running] = {}
        self.cannot = cannot
        self.stored_paused = stored_paused if stored_paused is not None else set()
        self.pause_changes = 0
        self.settled: list[Settle] = []

    async def start_campaign(self, campaign_id: int) -> None:
        if campaign_id in self.cannot:
            raise CampaignCannotStart("no trunk")
        self.pause_changes += 1
        paused = campaign_id in self.stored_paused  # as the plan read from the store says
        self.campaigns[campaign_id] = Running(paused=paused, pause_change=self.pause_changes)

    def pause_campaign(self, campaign_id: int, paused: bool = True) -> None:
        self.pause_changes += 1
        self.campaigns[campaign_id].paused = paused
        self.campaigns[campaign_id].pause_change = self.pause_changes

    async def stop_campaign(self, campaign_id: int) -> None:
        self.campaigns[campaign_id].stopped = True

    def movable(self, campaign_id: int) -> bool:
        running = self.running(campaign_id)
        return running is not None and running.agents == 0

    def running(self, campaign_id: int) -> Running | None:
        running = self.campaigns.get(campaign_id)
        return running if running is not None and not running.stopped else None

    async def settle_dead_owners(
        self, campaign_ids: Collection[int] | None = None, *, running: Collection[str] = ()
    ) -> None:
        self.settled.append(
            Settle(
                None if campaign_ids is None else frozenset(campaign_ids),
                frozenset(running),
                frozenset(c for c in self.campaigns if self.running(c) is not None),
            )
        )


@dataclass(frozen=True)
class Settle:
    """One call of settle_dead_owners: which campaigns (None: the sweep over all of them),
    the owners not tried (known to run), and what was dialed here then."""

    campaigns: frozenset[int] | None
    running: frozenset[str]
    dialing: frozenset[int]


class Clock:
    speed = 1.0

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t


def keeper(
    owner: str,
    held: dict[int, str],
    groups: list[frozenset[int]],
    processes: int = 1,
    clock: Clock | None = None,
    settle_s: float = 0.0,
    paused: set[int] | None = None,
) -> CampaignKeeper:
    """A process of the test; ``paused``: the pauses stored on the campaigns, shared by the
    processes as the database is (each round reads them, as each start does)."""
    stored = paused if paused is not None else set()

    async def active() -> Active:
        return Active(groups, frozenset(stored))

    leases = Leases(owner, held, processes)
    engine = Engine(stored_paused=stored)
    return CampaignKeeper(engine, leases, active, clock or Clock(), settle_s=settle_s)  # type: ignore[arg-type]


async def test_a_group_goes_to_one_process_whole() -> None:
    held: dict[int, str] = {}
    groups = [frozenset({1, 2}), frozenset({3})]
    a, b = keeper("a", held, groups), keeper("b", held, groups)
    await a.step()
    await b.step()
    assert a.dialing() == {1, 2, 3} and b.dialing() == set()


async def test_no_campaign_of_a_group_is_taken_while_another_process_holds_one_of_it() -> None:
    held = {2: "a"}  # dialer-a holds 2 (say 1 was activated later, linked to 2 since)
    b = keeper("b", held, [frozenset({1, 2}), frozenset({3})])
    await b.step()
    assert b.dialing() == {3}
    assert held == {2: "a", 3: "b"}  # 1 stays free for dialer-a, whose agents work 2


async def test_a_campaign_that_cannot_dial_gives_its_lease_back_and_its_group_runs() -> None:
    held: dict[int, str] = {}

    async def active() -> Active:
        return Active([frozenset({1, 2})])

    k = CampaignKeeper(Engine(cannot={2}), Leases("a", held), active, Clock(), settle_s=0)  # type: ignore[arg-type]
    await k.step()
    assert k.dialing() == {1} and held == {1: "a"}
    assert k.refused == {2: "no trunk"}


async def test_live_processes_share_the_campaigns_out_evenly_in_whole_groups() -> None:
    held: dict[int, str] = {}
    groups = [frozenset({1}), frozenset({2}), frozenset({3, 4}), frozenset({5}), frozenset({6})]
    a, b, c = (keeper(name, held, groups, processes=3) for name in "abc")
    for k in (a, b, c):
        await k.step()
    # two each; b's turn came at {3, 4}, which fits its share of 2 whole
    assert (a.dialing(), b.dialing(), c.dialing()) == ({1, 2}, {3, 4}, {5, 6})


async def test_a_process_alone_with_one_big_group_still_takes_it() -> None:
    held: dict[int, str] = {}
    big = keeper("a", held, [frozenset({1, 2, 3})], processes=2)  # its share is 2 of 3
    await big.step()
    assert big.dialing() == {1, 2, 3}


async def test_a_process_takes_nothing_before_it_has_seen_the_others() -> None:
    clock = Clock()
    k = keeper("a", {}, [frozenset({1})], clock=clock, settle_s=15.0)
    await k.step()
    assert k.dialing() == set()
    clock.t = 15.0
    await k.step()
    assert k.dialing() == {1}


async def test_a_restarted_process_dials_at_once_what_redis_still_holds_for_it() -> None:
    held = {1: "a", 2: "b"}  # its lease outlived its stop; 2 is another process's
    k = keeper("a", held, [frozenset({1}), frozenset({2}), frozenset({3})], settle_s=15.0)
    await k.step()
    assert k.dialing() == {1}  # not 3: nothing free is taken before it has seen the others


async def test_a_process_holding_part_of_a_group_takes_the_rest_beyond_its_share() -> None:
    held = {1: "a"}  # a restart: 2 was activated since, linked to 1 through an agent
    k = keeper("a", held, [frozenset({1, 2}), frozenset({3}), frozenset({4})], processes=4)
    await k.step()
    assert k.dialing() == {1, 2}


async def test_each_renewal_moves_the_fence_to_the_leases_life_from_when_it_was_sent() -> None:
    clock = Clock()
    k = keeper("a", {}, [frozenset({1})], clock=clock)
    await k.step()
    running = k.engine.running(1)
    assert running is not None
    assert running.lease_until == 15.0 - FENCE_MARGIN_S
    clock.t = 5.0
    await k.step()
    assert running.lease_until == 20.0 - FENCE_MARGIN_S


async def test_a_lease_that_lapsed_while_redis_was_away_is_taken_back_if_still_free() -> None:
    held: dict[int, str] = {}
    clock = Clock()
    k = keeper("a", held, [frozenset({1})], clock=clock)
    await k.step()
    running = k.engine.running(1)
    del held[1]  # lapsed: Redis away for longer than a lease's life; nobody took it
    clock.t = 40.0
    await k.step()
    assert k.engine.running(1) is running  # not stopped and started again
    assert held == {1: "a"}
    assert running is not None and running.lease_until == 55.0 - FENCE_MARGIN_S


async def test_a_lease_that_lapsed_and_went_to_another_process_is_lost() -> None:
    held: dict[int, str] = {}
    k = keeper("a", held, [frozenset({1})])
    await k.step()
    held[1] = "b"
    await k.step()
    assert k.dialing() == set()


async def test_a_process_over_its_share_hands_a_group_without_agents_to_one_with_room() -> None:
    held: dict[int, str] = {}
    groups = [frozenset({1}), frozenset({2}), frozenset({3}), frozenset({4})]
    clock = Clock()
    a = keeper("a", held, groups, clock=clock)
    await a.step()  # alone: it takes everything
    assert a.dialing() == {1, 2, 3, 4}
    b = keeper("b", held, groups, processes=2, clock=clock)
    a.leases.processes = 2  # type: ignore[attr-defined]
    for _ in range(6):  # rounds of both, b joined
        clock.t += 5.0
        await a.step()
        await b.step()
    assert (len(a.dialing()), len(b.dialing())) == (2, 2)
    assert a.dialing() | b.dialing() == {1, 2, 3, 4}
    for _ in range(6):  # and it stays so: nothing passed back and forth
        before = (a.dialing(), b.dialing())
        clock.t += 5.0
        await a.step()
        await b.step()
        assert (a.dialing(), b.dialing()) == before


async def test_a_group_whose_agents_are_logged_in_here_is_not_handed_over() -> None:
    held: dict[int, str] = {}
    groups = [frozenset({1}), frozenset({2})]
    a = keeper("a", held, groups)
    await a.step()
    for running in a.engine.campaigns.values():  # type: ignore[attr-defined]
        running.agents = 1
    b = keeper("b", held, groups, processes=2)
    a.leases.processes = 2  # type: ignore[attr-defined]
    await a.step()
    await b.step()
    assert a.dialing() == {1, 2} and b.dialing() == set()


async def test_a_group_handed_over_that_nobody_takes_is_taken_back_and_kept() -> None:
    held: dict[int, str] = {}
    groups = [frozenset({1}), frozenset({2}), frozenset({3})]
    clock = Clock()
    a = keeper("a", held, groups, clock=clock)
    await a.step()
    assert a.dialing() == {1, 2, 3}
    held[9] = "b"  # b started and took campaign 9, just activated: it has room for one more
    groups.append(frozenset({9}))
    clock.t += 5.0
    await a.step()  # share 2 of 4: it hands one over (b, with 1, has room)
    assert len(a.dialing()) == 2
    handed = ({1, 2, 3} - a.dialing()).pop()
    clock.t += 5.0
    await a.step()  # b has not taken it yet
    assert handed not in a.dialing()
    clock.t += 5.0
    await a.step()  # nobody did: back
    assert a.dialing() == {1, 2, 3}
    for _ in range(10):
        clock.t += 5.0
        await a.step()
        assert a.dialing() == {1, 2, 3}  # kept: nothing handed over again for a while


async def test_a_pause_stored_at_another_process_reaches_the_holder_at_its_next_round() -> None:
    stored: set[int] = set()
    a = keeper("a", {}, [frozenset({1}), frozenset({2})], paused=stored)
    await a.step()
    running = a.engine.running(1)
    assert running is not None and running.paused is False
    stored.add(1)  # a supervisor paused 1 through dialer-b's API: in the database only
    await a.step()
    assert (running.paused, a.engine.running(2).paused) == (True, False)  # type: ignore[union-attr]
    stored.discard(1)  # and resumed it there
    await a.step()
    assert running.paused is False


async def test_a_campaign_stored_paused_starts_paused() -> None:
    a = keeper("a", {}, [frozenset({1})], paused={1})  # paused while nobody dialed it
    await a.step()
    running = a.engine.running(1)
    assert running is not None and running.paused is True


async def test_a_pause_applied_here_during_the_rounds_read_is_not_undone_by_that_read() -> None:
    held: dict[int, str] = {}
    k = keeper("a", held, [frozenset({1})])
    await k.step()
    engine = k.engine

    async def read_then_paused_here() -> Active:
        # The read saw the campaign not paused; before it came back, this process's API
        # stored a pause and applied it.
        engine.pause_campaign(1, True)
        return Active([frozenset({1})], frozenset())

    k.active = read_then_paused_here
    await k.step()
    running = engine.running(1)
    assert running is not None and running.paused is True


async def test_a_paused_campaign_handed_over_starts_paused_at_the_other_process() -> None:
    held: dict[int, str] = {}
    stored = {1, 2}  # both paused: whichever moves is paused there
    groups = [frozenset({1}), frozenset({2})]
    clock = Clock()
    a = keeper("a", held, groups, clock=clock, paused=stored)
    await a.step()
    b = keeper("b", held, groups, processes=2, clock=clock, paused=stored)
    a.leases.processes = 2  # type: ignore[attr-defined]
    for _ in range(3):
        clock.t += 5.0
        await a.step()
        await b.step()
    assert len(a.dialing()) == 1 and len(b.dialing()) == 1
    [moved] = b.dialing()
    assert b.engine.running(moved).paused is True  # type: ignore[union-attr]


def sweeps(k: CampaignKeeper) -> list[Settle]:
    """The sweeps so far: dead processes' calls settled whatever their campaign."""
    return [c for c in k.engine.settled if c.campaigns is None]  # type: ignore[attr-defined]


async def test_the_sweep_for_dead_processes_calls_runs_every_30_s_not_every_round() -> None:
    clock = Clock()
    k = keeper("a", {}, [frozenset({1})], clock=clock)
    await k.step()
    assert len(sweeps(k)) == 1  # at the first round it may take campaigns
    for t in (5.0, 10.0, 15.0, 20.0, 25.0):
        clock.t = t
        await k.step()
    assert len(sweeps(k)) == 1
    clock.t = SWEEP_S
    await k.step()
    assert len(sweeps(k)) == 2


async def test_the_sweep_for_dead_processes_calls_waits_as_taking_campaigns_does() -> None:
    clock = Clock()
    k = keeper("a", {}, [frozenset({1})], clock=clock, settle_s=15.0)
    await k.step()
    assert sweeps(k) == []
    clock.t = 15.0
    await k.step()
    assert len(sweeps(k)) == 1


async def test_the_sweep_leaves_untried_the_processes_whose_heartbeat_is_live() -> None:
    k = keeper("a", {2: "b"}, [frozenset({1}), frozenset({2})], processes=3)
    await k.step()
    [sweep] = sweeps(k)
    assert sweep.running == {"a", "b", "idle-0"}  # as the heartbeat says


async def test_a_campaign_taken_between_sweeps_has_its_calls_settled_before_it_dials() -> None:
    held = {1: "b"}
    clock = Clock()
    k = keeper("a", held, [frozenset({1})], clock=clock, processes=2)
    await k.step()
    assert k.dialing() == set()
    del held[1]  # dialer-b died: its lease lapsed (its heartbeat may outlive it a little)
    clock.t = 5.0
    await k.step()
    assert k.dialing() == {1}
    assert len(sweeps(k)) == 1  # the sweep is not due yet
    taken = [c for c in k.engine.settled if c.campaigns is not None]  # type: ignore[attr-defined]
    # Every owner tried (none left out for its heartbeat), before campaign 1 was started.
    assert taken == [Settle(frozenset({1}), frozenset(), frozenset())]


async def two_processes_then_linked(
    held: dict[int, str], groups: list[frozenset[int]], clock: Clock
) -> tuple[CampaignKeeper, CampaignKeeper]:
    """dialer-a and dialer-b each take a share of the campaigns; then an administrator links
    them (an agent given campaigns of both): one group, split between the two."""
    a = keeper("a", held, groups, processes=2, clock=clock)
    b = keeper("b", held, groups, processes=2, clock=clock)
    await a.step()
    await b.step()
    assert a.dialing() and b.dialing()
    groups[:] = [frozenset().union(*groups)]
    return a, b


async def rounds(clock: Clock, *keepers: CampaignKeeper, n: int = 1) -> None:
    for _ in range(n):
        clock.t += 5.0
        for k in keepers:
            await k.step()


async def test_a_group_split_between_two_processes_is_brought_together_at_one() -> None:
    held: dict[int, str] = {}
    clock = Clock()
    a, b = await two_processes_then_linked(held, [frozenset({1}), frozenset({2})], clock)
    assert (a.dialing(), b.dialing()) == ({1}, {2})
    await rounds(clock, a, b)  # a tie: the process whose name sorts last gives its part up
    assert b.dialing() == set() and held == {1: "a"}
    await rounds(clock, a, b)
    assert (a.dialing(), b.dialing()) == ({1, 2}, set())
    assert held == {1: "a", 2: "a"}
    await rounds(clock, a, b, n=6)  # and it stays whole: a is over its share, but the group
    assert (a.dialing(), b.dialing()) == ({1, 2}, set())  # cannot be cut to fit it


async def test_the_smaller_part_of_a_split_group_moves_to_the_larger() -> None:
    held: dict[int, str] = {}
    clock = Clock()
    groups = [frozenset({1}), frozenset({2}), frozenset({3}), frozenset({4})]
    a, b = await two_processes_then_linked(held, groups, clock)
    assert (a.dialing(), b.dialing()) == ({1, 2}, {3, 4})
    groups[:] = [frozenset({1, 2, 3}), frozenset({4})]  # linked: a's two and one of b's
    await rounds(clock, a, b, n=2)
    assert (a.dialing(), b.dialing()) == ({1, 2, 3}, {4})


async def test_a_split_part_with_agents_logged_in_stays_and_the_other_part_moves_to_it() -> None:
    held: dict[int, str] = {}
    clock = Clock()
    a, b = await two_processes_then_linked(held, [frozenset({1}), frozenset({2})], clock)
    b.engine.campaigns[2].agents = 1  # type: ignore[attr-defined]
    await rounds(clock, a, b, n=SPLIT_ROUNDS - 1)
    assert (a.dialing(), b.dialing()) == ({1}, {2})  # b cannot move; a waits its turn
    await rounds(clock, a, b, n=2)
    assert (a.dialing(), b.dialing()) == (set(), {1, 2})


async def test_a_split_group_with_agents_logged_in_on_both_sides_stays_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    held: dict[int, str] = {}
    clock = Clock()
    a, b = await two_processes_then_linked(held, [frozenset({1}), frozenset({2})], clock)
    a.engine.campaigns[1].agents = 1  # type: ignore[attr-defined]
    b.engine.campaigns[2].agents = 1  # type: ignore[attr-defined]
    with caplog.at_level(logging.INFO, logger="dialer.engine.keeper"):
        await rounds(clock, a, b, n=3 * SPLIT_ROUNDS)
    assert (a.dialing(), b.dialing()) == ({1}, {2})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "campaigns [1, 2] share agents but are split between a (1) and b (1), and agents are "
        "logged in on both sides: an agent of both cannot log in until one side's agents log out"
    ]
    b.engine.campaigns[2].agents = 0  # type: ignore[attr-defined]  # b's agents went home
    await rounds(clock, a, b, n=2)
    assert (a.dialing(), b.dialing()) == ({1, 2}, set())


async def test_a_group_whose_rest_is_free_is_not_a_split() -> None:
    held = {1: "a"}  # 2 just activated, linked to 1: a takes it in the same round
    k = keeper("a", held, [frozenset({1, 2})], processes=2)
    await k.step()
    assert k.dialing() == {1, 2}
    assert k.engine.campaigns[1].stopped is False  # type: ignore[attr-defined]
