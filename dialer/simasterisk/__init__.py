"""A simulated Asterisk 22 on loopback: a real AMI server and a real FastAGI client.

It speaks the wire format of the transcripts in tests/fixtures/asterisk (recorded from Asterisk
22.10.1) and runs real dialplan text: the lab's ``lab-extensions.conf`` (so the recorded scenarios
replay) plus the product's contexts (docs/architecture.md): ``dialer-trunk``, where any number is
played by a seeded model of called parties, ``dialer-out``, which runs the dialer's FastAGI
``/outbound`` script, and ``dialer-inbound``. Agent phones are ``Local/7XXX@agents`` (they answer
at once; ``79XX`` never answers).

Use::

    sim = SimulatedAsterisk(SimConfig(fastagi_url="agi://127.0.0.1:4573"), clock=ScaledClock(10))
    host, port = await sim.start()      # AMI on 127.0.0.1:<port>, user dialer / secret dialer
    ...
    await sim.stop()

Time runs on the injected clock, so ``ScaledClock(10)`` rings a 30 s call in 3 s.

Settings (``SimConfig``): ``username``/``secret`` (dialer/dialer), ``fastagi_url`` (where
``AGI()`` connects), ``route`` ("dialer": ``[dialer-out] s`` runs the product's FastAGI script;
"lab": the capture lab's dialplan), ``trunk_context``, ``queues``, and ``model``: a
``NumberModel`` (seeded outcome probabilities, ring/talk/patience times, DTMF keys; its
``overrides`` pin a number to a ``PartyKind`` or a whole ``Behaviour``). Counters for tests:
``sim.originates``, ``sim.active_channels``, ``sim.asterisk.calls_completed``. Inbound callers:
``await sim.asterisk.inbound_call(InboundCaller(...))`` or ``run_inbound(InboundModel(...), s)``.
Standalone: ``python -m dialer.simasterisk --port 5038``.
"""

from __future__ import annotations

from dialer.clock import Clock, RealClock
from dialer.simasterisk.ami_server import AMIServer
from dialer.simasterisk.config import SimConfig
from dialer.simasterisk.core import Asterisk
from dialer.simasterisk.model import (
    AgentPhoneModel,
    Behaviour,
    InboundCaller,
    InboundModel,
    NumberModel,
    PartyKind,
)

__all__ = [
    "AgentPhoneModel",
    "Behaviour",
    "InboundCaller",
    "InboundModel",
    "NumberModel",
    "PartyKind",
    "SimConfig",
    "SimulatedAsterisk",
]


class SimulatedAsterisk:
    def __init__(self, config: SimConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or SimConfig()
        self.clock = clock or RealClock()
        self.asterisk = Asterisk(self.config, self.clock, self.config.build_dialplan())
        self.ami = AMIServer(
            self.asterisk,
            self.config.host,
            self.config.port,
            self.config.username,
            self.config.secret,
        )

    async def start(self) -> tuple[str, int]:
        port = await self.ami.start()
        return self.config.host, port

    async def stop(self) -> None:
        await self.ami.stop()
        await self.asterisk.shutdown()

    async def __aenter__(self) -> SimulatedAsterisk:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self.ami.port

    @property
    def originates(self) -> int:
        return self.asterisk.originates

    @property
    def active_channels(self) -> int:
        return len(self.asterisk.channels)

    def drop_sessions(self) -> None:
        """Abort every AMI session (a network cut, for reconnect tests): calls go on."""
        self.ami.drop_all()

    async def restart(self) -> None:
        """Asterisk restarts: every AMI session is cut, every call ends unheard (no session is
        up to hear its Hangup), and AMI listens again on the same port with a new core: no
        channels, queues without their dynamic members, uniqueids from a later epoch."""
        self.ami.drop_all()
        await self.ami.stop()
        old = self.asterisk
        old.sinks.clear()
        old.listeners.clear()
        await old.shutdown()
        self.asterisk = Asterisk(self.config, self.clock, self.config.build_dialplan(), after=old)
        self.ami.ast = self.asterisk
        await self.ami.start()
