"""An asyncio FastAGI server on our codec.

Why ours: pyst2's FastAGI does not import on Python 3, and panoramisk 1.4's FastAGI server spun a
CPU at 100% and stopped serving after a peer closed mid-headers, and lost sync after a multi-line
520 reply. Rules here:

- each connection is one call, handled by the route named in ``agi_network_script`` (its query
  string goes to ``call.params``);
- the environment must arrive within ``header_timeout`` or the peer is dropped; a peer that closes
  early or sends garbage ends only its own connection;
- the server closes the socket itself when the handler ends: Asterisk never does;
- a handler's exception is logged and ends only that call; ``close()`` cancels the handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from agi.call import AGICall, AGICommandError, AGIError, AGITimeout, ChannelHungUp
from agi.codec import AGIProtocolError, Environment, HangupNotice, Parser, Reply

__all__ = [
    "AGICall",
    "AGICommandError",
    "AGIError",
    "AGITimeout",
    "ChannelHungUp",
    "FastAGIServer",
    "Handler",
]

log = logging.getLogger(__name__)

Handler = Callable[[AGICall], Awaitable[None]]


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
        media_timeout: float = 300.0,
        exec_timeout: float | None = None,
    ) -> None:
        self.routes: dict[str, Handler] = {k.strip("/"): v for k, v in (routes or {}).items()}
        self.host = host
        self.port = port
        self.header_timeout = header_timeout
        self.command_timeout = command_timeout
        self.media_timeout = media_timeout
        self.exec_timeout = exec_timeout
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._active_calls = 0
        self.calls_served = 0
        self.connections_refused = 0
        self.handler_errors = 0

    def route(self, script: str, handler: Handler) -> None:
        self.routes[script.strip("/")] = handler

    @property
    def active_calls(self) -> int:
        """Handlers running now."""
        return self._active_calls

    @property
    def active_connections(self) -> int:
        """Open sessions, including peers still sending their environment."""
        return len(self._tasks)

    async def start(self) -> int:
        """Listen; returns the bound port (useful with ``port=0``)."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("FastAGI listening on %s:%s", self.host, self.port)
        return self.port

    async def close(self) -> None:
        """Stop listening and cancel every running handler."""
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

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = Parser()
        try:
            try:
                async with asyncio.timeout(self.header_timeout):
                    env, rest = await _read_environment(reader, parser)
            except (TimeoutError, ConnectionError, OSError, AGIProtocolError) as exc:
                self.connections_refused += 1
                log.warning("FastAGI peer dropped before a call started: %s", exc or "timeout")
                return
            handler = self.routes.get(env.script)
            if handler is None:
                self.connections_refused += 1
                log.warning("FastAGI: no route for script %r (%s)", env.script, env.request)
                return
            call = AGICall(
                env,
                reader,
                writer,
                parser,
                command_timeout=self.command_timeout,
                media_timeout=self.media_timeout,
                exec_timeout=self.exec_timeout,
            )
            await self._run(handler, call, rest)
        finally:
            # Asterisk does not close a FastAGI socket when the script is done: we must.
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _run(
        self, handler: Handler, call: AGICall, early: list[Environment | Reply | HangupNotice]
    ) -> None:
        self.calls_served += 1
        self._active_calls += 1
        try:
            call.start(early)
            await handler(call)
        except ChannelHungUp as exc:
            log.debug("FastAGI %s on %s: caller gone (%s)", call.script, call.channel, exc)
        except (AGIError, AGIProtocolError) as exc:
            log.warning("FastAGI %s on %s: %s", call.script, call.channel, exc)
        except Exception:
            self.handler_errors += 1
            log.exception("FastAGI handler %r failed on %s", call.script, call.channel)
        finally:
            self._active_calls -= 1
            await call.close()


async def _read_environment(
    reader: asyncio.StreamReader, parser: Parser
) -> tuple[Environment, list[Environment | Reply | HangupNotice]]:
    """Read until the environment block is complete; also return what came right after it."""
    while True:
        data = await reader.read(65536)
        if not data:
            raise ConnectionError("closed before the AGI environment was complete")
        items = parser.feed(data)
        for i, item in enumerate(items):
            if isinstance(item, Environment):
                return item, items[i + 1 :]
