"""Run the simulated Asterisk on its own: ``python -m dialer.simasterisk --port 5038``.

Stands in for a real Asterisk for ``dialer serve``, benchmarks that want it in its own process,
and manual experiments with an AMI client. Runs until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time

from dialer.clock import ScaledClock
from dialer.simasterisk import NumberModel, SimConfig, SimulatedAsterisk


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The options, checked: a bad value is a one-line usage error (exit 2), not a traceback."""
    p = argparse.ArgumentParser(prog="python -m dialer.simasterisk")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5038)
    p.add_argument("--fastagi-url", default="agi://127.0.0.1:4573")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    p.add_argument("--start", type=float, default=None, help="clock start, epoch seconds")
    p.add_argument("--seed", type=int, default=1)
    for name, default in (
        ("machine", 0.15),
        ("busy", 0.08),
        ("no-answer", 0.30),
        ("congestion", 0.02),
        ("invalid", 0.03),
    ):
        p.add_argument(f"--p-{name}", type=float, default=default)
    p.add_argument("--ring-median", type=float, default=9.0)
    p.add_argument("--talk-median", type=float, default=90.0)
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        p.error(f"--port {args.port}: not a TCP port (0-65535; 0 picks a free one)")
    if not args.speed > 0:
        p.error(f"--speed {args.speed:g}: must be positive (simulated seconds per second)")
    try:
        args.model = model_of(args)
        SimConfig(fastagi_url=args.fastagi_url)
    except ValueError as exc:
        p.error(str(exc))
    return args


def model_of(args: argparse.Namespace) -> NumberModel:
    return NumberModel(
        seed=args.seed,
        p_machine=args.p_machine,
        p_busy=args.p_busy,
        p_no_answer=args.p_no_answer,
        p_congestion=args.p_congestion,
        p_invalid=args.p_invalid,
        ring_median_s=args.ring_median,
        talk_median_s=args.talk_median,
    )


async def serve(args: argparse.Namespace) -> None:
    model = model_of(args)
    clock = ScaledClock(args.speed, start=args.start if args.start is not None else time.time())
    config = SimConfig(host=args.host, port=args.port, fastagi_url=args.fastagi_url, model=model)
    sim = SimulatedAsterisk(config, clock=clock)
    host, port = await sim.start()
    print(f"simulated Asterisk: AMI on {host}:{port}, FastAGI to {args.fastagi_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse(argv)))


if __name__ == "__main__":
    main()
