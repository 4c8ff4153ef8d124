"""Pacing benchmark: the simulator table and the pacing figures.

    .venv/bin/python bench/pacing.py [--seeds 5] [--first-seed 0] [--jobs 2] [--shift-hours 8]

Runs every built-in scenario x policy over ``--seeds`` seeds of an 8-hour shift and prints a
table (mean utilisation, mean and worst abandon rate), then one line per figure:

- pacing_runs_over_cap: predictive runs over a 3 % abandon rate over the shift (goal 0)
- pacing_max_gap_to_oracle_pts: max over scenarios of oracle minus predictive mean utilisation
- pacing_utilisation_below_baseline: scenarios where predictive's mean utilisation is below a
  baseline whose every run stayed under the cap (goal 0)
- pacing_decision_ms_200_agents: one guarded predictive decision for 200 agents (goal < 1 ms)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from decision_timing import decision_ms

from pacing.guard import Guard, GuardConfig
from pacing.policies import Predictive
from pacing.scenario import builtin_names, load_scenario
from pacing.sim import BASELINES, RunResult, simulate

POLICIES = (*BASELINES, "predictive", "oracle")
CAP = 0.03


def _run(job: tuple[str, str, int, float]) -> RunResult:
    name, policy, seed, hours = job
    scenario = dataclasses.replace(load_scenario(name), shift_hours=hours)
    return simulate(scenario, policy, seed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    # Develop on other seeds than the reported ones (0..seeds-1), then confirm on those.
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--shift-hours", type=float, default=8.0)
    args = parser.parse_args()
    started = time.perf_counter()
    names = builtin_names()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(n, p, s, args.shift_hours) for n in names for p in POLICIES for s in seeds]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(_run, jobs, chunksize=1))
    else:
        results = [_run(j) for j in jobs]
    by: dict[tuple[str, str], list[RunResult]] = {}
    for r in results:
        by.setdefault((r.scenario, r.policy), []).append(r)

    width = 14
    print(f"{'scenario':<14}" + "".join(f"{p:>{width * 2}}" for p in POLICIES))
    print(f"{'':<14}" + "".join(f"{'util  abandon(max)':>{width * 2}}" for _ in POLICIES))
    over_cap = 0
    gaps: list[float] = []
    below = 0
    for n in names:
        cells = []
        for p in POLICIES:
            runs = by[(n, p)]
            util = float(np.mean([r.utilisation for r in runs]))
            ab = float(np.mean([r.abandon_rate for r in runs]))
            worst = max(r.abandon_rate for r in runs)
            cells.append(f"{util * 100:5.1f}%  {ab * 100:4.1f}% ({worst * 100:4.1f}%)")
        print(f"{n:<14}" + "".join(f"{c:>{width * 2}}" for c in cells))
        pred = by[(n, "predictive")]
        over_cap += sum(1 for r in pred if r.abandon_rate > CAP)
        u_pred = float(np.mean([r.utilisation for r in pred]))
        u_oracle = float(np.mean([r.utilisation for r in by[(n, "oracle")]]))
        gaps.append((u_oracle - u_pred) * 100)
        for b in BASELINES:
            runs = by[(n, b)]
            stayed_under = max(r.abandon_rate for r in runs) <= CAP
            if stayed_under and float(np.mean([r.utilisation for r in runs])) > u_pred:
                below += 1
                break
    print()
    print(f"pacing_runs_over_cap: {over_cap} runs")
    print(f"pacing_max_gap_to_oracle_pts: {max(gaps):.2f} pts")
    print(f"pacing_utilisation_below_baseline: {below} scenarios")
    print(
        f"pacing_decision_ms_200_agents: {decision_ms(Guard(Predictive(), GuardConfig())):.3f} ms"
    )
    print(f"pacing_bench_runs: {len(results)} runs")
    print(f"pacing_bench_seconds: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
