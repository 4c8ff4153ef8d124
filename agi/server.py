"""An asyncio FastAGI server on our codec.

Why ours: pyst2's FastAGI does not import on Python 3, and panoramisk 1.4's FastAGI server spun a
CPU at 100% and stopped serving after a peer closed mid-headers, and lost sync after a multi-line
520 reply. Rules here:

- each connection is one call, handled by the route named in ``agi_network_script``;
- the environment must arrive within ``header_timeout`` or the peer is dropped;
- every command is bounded by a timeout (long applications such as Dial take their own);
- after the ``HANGUP`` line or a ``511`` reply, channel commands raise :class:`ChannelHungUp`;
- the server closes the socket itself when the handler ends: Asterisk never does;
- a handler's exception is logged and ends only that call; garbage or an early close ends only
  that connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from agi.codec import AGIProtocolError, Environment, HangupNotice, Parser, Reply, format_command

__all__ = [
    "AGICall",
    "AGICommandError",
    "AGITimeout",
    "ChannelHungUp",
    "FastAGIServer",
    "Handler",
]

log = logging.getLogger(__name__)

Handler = Callable[["AGICall"], Awaitable[None]]


class AGICommandError(Exception):
    """Asterisk refused a command (510 unknown, 520 bad syntax, or a failure result)."""

    def __init__(self, command: str, reply: Reply) -> None:
        self.command = command
        self.reply = reply
        super().__init__(f"{command}: {reply.text.splitlines()[0] if reply.text else reply.code}")


class ChannelHungUp(Exception):
    """The channel is gone (HANGUP line, 511, result -1, or the connection closed)."""


class AGITimeout(Exception):
    """A command got no reply in time; the session is out of sync and is closed."""


class AGICall:
    """One FastAGI session: the environment and typed commands. Handed to route handlers."""

    def __init__(
        self,
        env: Environment,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        parser: Parser,
        *,
        command_timeout: float,
    ) -> None:
        self.env = env
        self._reader = reader
        self._writer = writer
        self._parser = parser
        self._replies: list[Reply] = []
        self.command_timeout = command_timeout
        self.hung_up = False
        self._closed = False
        self._lock = asyncio.Lock()

    @property
    def arguments(self) -> list[str]:
        return self.env.arguments

    @property
    def params(self) -> dict[str, str]:
        return self.env.params

    @property
    def channel(self) -> str:
        return self.env.channel

    @property
    def uniqueid(self) -> str:
        return self.env.uniqueid

    def _absorb(self, items: list[Environment | Reply | HangupNotice]) -> None:
        for item in items:
            if isinstance(item, HangupNotice):
                self.hung_up = True
            elif isinstance(item, Reply):
                self._replies.append(item)

    async def _next_reply(self) -> Reply:
        while not self._replies:
            data = await self._reader.read(4096)
            if not data:
                self._closed = True
                self.hung_up = True
                raise ChannelHungUp("Asterisk closed the AGI connection")
            self._absorb(self._parser.feed(data))
        return self._replies.pop(0)

    async def send(self, *parts: str | int, timeout: float | None = -1.0) -> Reply:
        """Send one command and return its reply. ``timeout=None`` waits as long as it takes."""
        if self._closed:
            raise ChannelHungUp("the AGI connection is closed")
        line = format_command(*parts)
        limit = self.command_timeout if timeout == -1.0 else timeout
        async with self._lock:
            try:
                self._writer.write(line)
                await self._writer.drain()
            except (ConnectionError, OSError) as exc:
                self._closed = True
                raise ChannelHungUp(f"AGI connection lost: {exc}") from exc
            try:
                return await asyncio.wait_for(self._next_reply(), limit)
            except TimeoutError:
                self._closed = True
                self._writer.close()
                raise AGITimeout(f"{parts[0]} got no reply in {limit} s") from None

    async def _channel(self, *parts: str | int, timeout: float | None = -1.0) -> Reply:
        """A channel command: 511 or result -1 mean the caller is gone."""
        if self.hung_up and self._closed:
            raise ChannelHungUp(f"{parts[0]}: the channel has hung up")
        reply = await self.send(*parts, timeout=timeout)
        if reply.dead_channel:
            self.hung_up = True
            raise ChannelHungUp(f"{parts[0]}: the channel has hung up (511)")
        if reply.code != 200:
            raise AGICommandError(str(parts[0]), reply)
        if reply.result == "-1":
            self.hung_up = True
            raise ChannelHungUp(f"{parts[0]}: the channel hung up during the command")
        return reply

    # Typed commands -------------------------------------------------------------------------
    async def answer(self) -> None:
        await self._channel("ANSWER")

    async def hangup(self, channel: str | None = None) -> None:
        parts: tuple[str, ...] = ("HANGUP",) if channel is None else ("HANGUP", channel)
        with contextlib.suppress(ChannelHungUp):  # already gone: what we wanted
            await self._channel(*parts)
        self.hung_up = True

    async def stream_file(
        self, name: str, escape_digits: str = "", offset: int | None = None
    ) -> tuple[str | None, int]:
        """Play ``name``; returns the DTMF digit that interrupted it (or None) and endpos."""
        parts: list[str | int] = ["STREAM FILE", name, escape_digits]
        if offset is not None:
            parts.append(offset)
        reply = await self._channel(*parts, timeout=None)
        endpos = int(reply.extras.get("endpos", "0") or 0)
        code = reply.result_int or 0
        return (chr(code) if code > 0 else None), endpos

    async def get_variable(self, name: str) -> str | None:
        """A channel variable, or None when unset. Works after a hangup, as Asterisk allows."""
        reply = await self.send("GET VARIABLE", name)
        if reply.dead_channel:
            self.hung_up = True
            raise ChannelHungUp("GET VARIABLE: the channel has hung up (511)")
        if reply.code != 200:
            raise AGICommandError("GET VARIABLE", reply)
        return reply.data if reply.result == "1" else None

    async def get_full_variable(self, expression: str) -> str | None:
        reply = await self.send("GET FULL VARIABLE", expression)
        if reply.code != 200:
            raise AGICommandError("GET FULL VARIABLE", reply)
        return reply.data if reply.result == "1" else None

    async def set_variable(self, name: str, value: str | int) -> None:
        await self._channel("SET VARIABLE", name, str(value))

    async def exec(self, application: str, *args: str | int, timeout: float | None = None) -> int:
        """Run a dialplan application (AMD, Dial, Queue, Playback...); its result code.

        Applications such as Dial or Queue last as long as the call, so there is no timeout
        unless one is given.
        """
        options = ",".join(str(a) for a in args)
        parts: tuple[str, ...] = (
            ("EXEC", application) if not args else ("EXEC", application, options)
        )
        reply = await self._channel(*parts, timeout=timeout)
        return reply.result_int or 0

    async def get_data(self, file: str, timeout_ms: int = 5000, max_digits: int = 1) -> str:
        """Play ``file`` and collect up to ``max_digits`` DTMF digits."""
        reply = await self._channel(
            "GET DATA", file, timeout_ms, max_digits, timeout=timeout_ms / 1000 + 60
        )
        return reply.result or ""

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        reply = await self._channel(
            "WAIT FOR DIGIT", timeout_ms, timeout=max(0, timeout_ms) / 1000 + 10
        )
        code = reply.result_int or 0
        return chr(code) if code > 0 else None

    async def wait_hangup(self, timeout: float | None = None) -> bool:
        """Wait until the caller hangs up (the HANGUP line, or the connection closing).

        True when it did within ``timeout``. For a handler that has nothing more to say but
        wants to learn when the call ends.
        """

        async def watch() -> None:
            while not self.hung_up:
                data = await self._reader.read(4096)
                if not data:
                    self._closed = True
                    self.hung_up = True
                    return
                self._absorb(self._parser.feed(data))

        try:
            async with self._lock:
                await asyncio.wait_for(watch(), timeout)
        except TimeoutError:
            return False
        return True

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.send("VERBOSE", message, level)

    async def close(self) -> None:
        self._closed = True
        with contextlib.suppress(Exception):
            self._writer.close()
            await self._writer.wait_closed()


class FastAGIServer:
    """Serve FastAGI calls on ``host:port``, one handler per script name."""

    def __init__(
        self,
        routes: Mapping[str, Handler] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        header_timeout: float = 5.0,
        command_timeout: float = 10.0,
    ) -> None:
        self.routes: dict[str, Handler] = dict(routes or {})
        self.host = host
        self.port = port
        self.header_timeout = header_timeout
        self.command_timeout = command_timeout
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls_served = 0
        self.connections_refused = 0

    def route(self, script: str, handler: Handler) -> None:
        self.routes[script.strip("/")] = handler

    @property
    def active_calls(self) -> int:
        return len(self._tasks)

    async def start(self) -> int:
        """Listen; returns the bound port (useful with ``port=0``)."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("FastAGI listening on %s:%s", self.host, self.port)
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> FastAGIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._session(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_environment(
        self, reader: asyncio.StreamReader, parser: Parser
    ) -> tuple[Environment, list[Environment | Reply | HangupNotice]]:
        while True:
            data = await reader.read(4096)
            if not data:
                raise ConnectionError("closed before the AGI environment was complete")
            items = parser.feed(data)
            for i, item in enumerate(items):
                if isinstance(item, Environment):
                    return item, items[i + 1 :]

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = Parser()
        call: AGICall | None = None
        try:
            try:
                env, rest = await asyncio.wait_for(
                    self._read_environment(reader, parser), self.header_timeout
                )
            except (TimeoutError, ConnectionError, OSError, AGIProtocolError) as exc:
                self.connections_refused += 1
                log.warning("FastAGI peer dropped before a call started: %s", exc or "timeout")
                return
            handler = self.routes.get(env.script)
            if handler is None:
                self.connections_refused += 1
                log.warning("FastAGI: no route for script %r (%s)", env.script, env.request)
                return
            call = AGICall(env, reader, writer, parser, command_timeout=self.command_timeout)
            call._absorb(rest)
            self.calls_served += 1
            try:
                await handler(call)
            except ChannelHungUp as exc:
                log.debug("FastAGI %s: caller gone (%s)", env.script, exc)
            except (AGITimeout, AGIProtocolError) as exc:
                log.warning("FastAGI %s on %s: %s", env.script, env.channel, exc)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("FastAGI handler %r failed on %s", env.script, env.channel)
        finally:
            # Asterisk does not close a FastAGI socket when the script is done: we must.
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
