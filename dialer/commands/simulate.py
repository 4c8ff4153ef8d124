"""`dialer simulate --scenario FILE_OR_NAME --policy NAME --seeds N [--json]`.

A thin shell over :mod:`pacing.sim`: runs a scenario's shift with a pacing policy over N seeds
and prints utilisation, occupancy, abandon rate, calls per agent-hour and agent wait per call.
A blended scenario (an [inbound] table, docs/blending.md) also prints the inbound service
level, abandons in queue, mean wait and the outbound utilisation of the agents' spare time;
``--no-reservation`` runs its baseline, which holds no agents for inbound.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pacing.scenario import Scenario
    from pacing.sim import RunResult


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pacing.sim import POLICIES

    parser = sub.add_parser(
        "simulate",
        help="simulate a shift with a pacing policy",
        description="Run a scenario's shift in virtual time with a pacing policy, over several "
        "seeds, and print agent utilisation, occupancy, abandon rate, calls per agent-hour "
        "and agent wait per call (docs/pacing.md).",
    )
    parser.add_argument(
        "--scenario",
        required=True,
        metavar="FILE_OR_NAME",
        help="a scenario TOML file, or a built-in scenario name",
    )
    parser.add_argument("--policy", default="predictive", choices=POLICIES)
    parser.add_argument("--seeds", type=int, default=5, metavar="N", help="runs (seeds 0..N-1)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--no-reservation",
        action="store_true",
        help="blended scenarios: hold no agents for inbound (the baseline, docs/blending.md)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dialer.cli import UserError
    from pacing.scenario import ScenarioError, load_scenario
    from pacing.sim import simulate_seeds, summarise

    if args.seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {args.seeds}")
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        raise UserError(str(exc)) from exc
    reserve = not args.no_reservation
    results = simulate_seeds(scenario, args.policy, args.seeds, reserve=reserve)
    summary = summarise(results)
    if args.json:
        out: dict[str, object] = {
            "scenario": scenario.name,
            "policy": args.policy,
            "seeds": args.seeds,
            "mean": summary,
            "runs": [r.to_json() for r in results],
        }
        if scenario.inbound:
            out["reservation"] = reserve
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"scenario {scenario.name} ({scenario.agents} agents, {scenario.shift_hours:g} h), "
        f"policy {args.policy}, {args.seeds} seed(s)"
    )
    header = ("seed", "utilisation", "occupancy", "abandon", "calls/agent-h", "wait/call s")
    print("".join(f"{h:>14}" for h in header))
    for r in results:
        row = (
            str(r.seed),
            f"{r.utilisation:.1%}",
            f"{r.occupancy:.1%}",
            f"{r.abandon_rate:.2%}",
            f"{r.calls_per_agent_hour:.1f}",
            f"{r.agent_wait_per_call_s:.1f}",
        )
        print("".join(f"{c:>14}" for c in row))
    mean = (
        "mean",
        f"{summary['utilisation']:.1%}",
        f"{summary['occupancy']:.1%}",
        f"{summary['abandon_rate']:.2%}",
        f"{summary['calls_per_agent_hour']:.1f}",
        f"{summary['agent_wait_per_call_s']:.1f}",
    )
    print("".join(f"{c:>14}" for c in mean))
    if scenario.inbound:
        _print_inbound(scenario, results, summary, reserve)
    return 0


def _print_inbound(
    scenario: Scenario, results: list[RunResult], summary: dict[str, float], reserve: bool
) -> None:
    print()
    print(
        f"inbound: {scenario.inbound_rate_per_hour:g} calls/h base, target "
        f"{scenario.inbound_service_level:.0%} within {scenario.inbound_service_threshold_s:g} s, "
        + ("agents reserved" if reserve else "no reservation (baseline)")
    )
    header = ("seed", "offered", "service lvl", "abandon", "mean wait s", "out util")
    print("".join(f"{h:>14}" for h in header))
    for r in results:
        row = (
            str(r.seed),
            str(r.inbound_offered),
            f"{r.inbound_service_level:.1%}",
            f"{r.inbound_abandon_rate:.2%}",
            f"{r.inbound_mean_wait_s:.1f}",
            f"{r.outbound_utilisation:.1%}",
        )
        print("".join(f"{c:>14}" for c in row))
    offered = sum(r.inbound_offered for r in results) / len(results)
    mean = (
        "mean",
        f"{offered:.0f}",
        f"{summary['inbound_service_level']:.1%}",
        f"{summary['inbound_abandon_rate']:.2%}",
        f"{summary['inbound_mean_wait_s']:.1f}",
        f"{summary['outbound_utilisation']:.1%}",
    )
    print("".join(f"{c:>14}" for c in mean))
