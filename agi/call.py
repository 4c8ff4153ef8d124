"""One FastAGI session as a handler sees it: the environment and typed commands.

A reader task owns the socket's read side for the whole session, so the unsolicited ``HANGUP``
line is seen the moment it arrives (``call.hung_up``, ``await call.wait_hangup()``), even while
the handler is busy elsewhere, such as waiting for a free agent. Commands are sent one at a
time; each reply is matched to the one command waiting for it.

Rules (facts from ../shared/asterisk/README.md, "FastAGI", transcripts 05a-05c):
- every command is bounded by a timeout; ``exec`` takes ``exec_timeout`` (none by default)
  because Dial or Queue last as long as the call;
- a command that times out or is cancelled before its reply leaves the session out of sync (the
  late reply would answer the next command), so the session is closed;
- ``511`` (dead channel), ``result=-1`` on a channel command, or the connection closing raise
  :class:`ChannelHungUp`; ``GET VARIABLE`` still answers after the ``HANGUP`` line (05c);
- a reply nobody asked for is a protocol error: the session cannot be trusted any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Final, TypeAlias

from agi.codec import AGIProtocolError, Environment, HangupNotice, Parser, Reply, format_command

__all__ = [
    "DEFAULT",
    "AGICall",
    "AGICommandError",
    "AGIError",
    "AGITimeout",
    "ChannelHungUp",
    "Timeout",
]

log = logging.getLogger(__name__)


class AGIError(Exception):
    """Base of the errors a FastAGI handler can see from a command."""


class AGICommandError(AGIError):
    """Asterisk refused a command (510 unknown, 520 bad syntax, another non-200 code)."""

    def __init__(self, command: str, reply: Reply) -> None:
        self.command = command
        self.reply = reply
        super().__init__(f"{command}: {reply.text.splitlines()[0] if reply.text else reply.code}")


class ChannelHungUp(AGIError):
    """The channel is gone (HANGUP line then 511, result -1, or the connection closed)."""


class AGITimeout(AGIError):
    """A command got no reply in time; the session is out of sync and has been closed."""


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = _Default()
"""Use the call's configured timeout for this kind of command."""

Timeout: TypeAlias = float | _Default | None


class AGICall:
    """One FastAGI session: ``env`` and the typed commands. Handed to route handlers."""

    def __init__(
        self,
        env: Environment,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        parser: Parser,
        *,
        command_timeout: float = 10.0,
        media_timeout: float = 300.0,
        exec_timeout: float | None = None,
    ) -> None:
        self.env = env
        self.command_timeout = command_timeout
        self.media_timeout = media_timeout
        self.exec_timeout = exec_timeout
        self._reader = reader
        self._writer = writer
        self._parser = parser
        self._replies: asyncio.Queue[Reply | AGIError | AGIProtocolError] = asyncio.Queue()
        self._expected = 0  # commands sent whose reply has not arrived yet
        self._hangup = asyncio.Event()
        self._over = asyncio.Event()  # hung up, or the session can say nothing more
        self._broken: AGIError | AGIProtocolError | None = None
        self._lock = asyncio.Lock()
        self._reader_task: asyncio.Task[None] | None = None

    # The environment ----------------------------------------------------------------------
    @property
    def arguments(self) -> list[str]:
        return self.env.arguments

    @property
    def params(self) -> dict[str, str]:
        return self.env.params

    @property
    def script(self) -> str:
        return self.env.script

    @property
    def network_script(self) -> str:
        return self.env.network_script

    @property
    def channel(self) -> str:
        return self.env.channel

    @property
    def uniqueid(self) -> str:
        return self.env.uniqueid

    @property
    def callerid(self) -> str:
        return self.env.callerid

    @property
    def calleridname(self) -> str:
        return self.env.calleridname

    @property
    def context(self) -> str:
        return self.env.context

    @property
    def extension(self) -> str:
        return self.env.extension

    @property
    def dnid(self) -> str:
        return self.env.dnid

    # Session state ------------------------------------------------------------------------
    @property
    def hung_up(self) -> bool:
        """True once the caller is known to be gone (HANGUP line, 511, -1, or EOF)."""
        return self._hangup.is_set()

    @property
    def closed(self) -> bool:
        """True once the session can carry no more commands."""
        return self._broken is not None

    async def wait_hangup(self, timeout: float | None = None) -> bool:
        """Wait until the caller hangs up; True when it did within ``timeout``.

        Safe to run beside commands (the reader task sees the HANGUP line), e.g. to stop waiting
        for an agent when the customer is gone. Returns False early if the session breaks
        (protocol error, timeout) without a hangup: nothing more can be learnt from it.
        """
        try:
            async with asyncio.timeout(timeout):
                await self._over.wait()
        except TimeoutError:
            return False
        return self.hung_up

    def _mark_hung_up(self) -> None:
        self._hangup.set()
        self._over.set()

    def start(self, early: Sequence[Environment | Reply | HangupNotice] = ()) -> None:
        """Take what arrived with the environment and start reading the socket."""
        try:
            self._absorb(early)
        except AGIProtocolError as exc:
            self._break(exc)
            self._writer.close()
            return
        self._reader_task = asyncio.create_task(self._read_loop())

    async def close(self) -> None:
        """Close the socket: Asterisk never does it for a FastAGI session."""
        self._break(ChannelHungUp("the AGI session is closed"))
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    def _break(self, reason: AGIError | AGIProtocolError) -> None:
        self._over.set()
        if self._broken is None:
            self._broken = reason
            self._replies.put_nowait(reason)  # wakes a command waiting for its reply

    def _absorb(self, items: Sequence[Environment | Reply | HangupNotice]) -> None:
        for item in items:
            if isinstance(item, HangupNotice):
                self._mark_hung_up()
            elif isinstance(item, Reply):
                if self._expected == 0:
                    raise AGIProtocolError(f"a reply nobody asked for: {item.text[:80]!r}")
                self._expected -= 1
                self._replies.put_nowait(item)

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    if self._broken is None:  # not our own close after a timeout or error
                        self._mark_hung_up()
                        self._break(ChannelHungUp("Asterisk closed the AGI connection"))
                    return
                self._absorb(self._parser.feed(data))
        except AGIProtocolError as exc:
            log.warning("FastAGI %s: %s", self.channel, exc)
            self._break(exc)
            self._writer.close()
        except (ConnectionError, OSError) as exc:
            self._mark_hung_up()
            self._break(ChannelHungUp(f"AGI connection lost: {exc}"))

    def _abandon(self, reason: AGIError) -> None:
        """The session is out of sync: close it so no reply can answer the wrong command."""
        self._break(reason)
        self._writer.close()

    # Sending ------------------------------------------------------------------------------
    async def send(self, *parts: str | int, timeout: Timeout = DEFAULT) -> Reply:
        """Send one command and return its reply, whatever its code.

        ``parts`` are the command words then its arguments (quoted as needed; line breaks are
        refused). ``timeout=None`` waits as long as it takes.
        """
        line = format_command(*parts)
        limit = self.command_timeout if isinstance(timeout, _Default) else timeout
        async with self._lock:
            if self._broken is not None:
                raise _again(self._broken)
            self._expected += 1
            try:
                # The bound covers the write too: an Asterisk that stops reading must not hold
                # the handler in drain() beyond it.
                async with asyncio.timeout(limit):
                    self._writer.write(line)
                    await self._writer.drain()
                    item = await self._replies.get()
            except TimeoutError:
                error = AGITimeout(f"{parts[0]} got no reply in {limit} s; session closed")
                self._abandon(error)
                raise error from None
            except (ConnectionError, OSError) as exc:
                self._mark_hung_up()
                self._abandon(ChannelHungUp(f"AGI connection lost: {exc}"))
                raise ChannelHungUp(f"{parts[0]}: AGI connection lost: {exc}") from exc
            except asyncio.CancelledError:
                self._abandon(AGITimeout(f"{parts[0]} was cancelled before its reply"))
                raise
            if not isinstance(item, Reply):
                raise _again(item)
            return item

    async def _channel(self, *parts: str | int, timeout: Timeout = DEFAULT) -> Reply:
        """A command on the channel itself: 511 or result -1 mean the caller is gone."""
        reply = await self.send(*parts, timeout=timeout)
        if reply.dead_channel:
            self._mark_hung_up()
            raise ChannelHungUp(f"{parts[0]}: the channel has hung up (511)")
        if reply.code != 200:
            raise AGICommandError(str(parts[0]), reply)
        if reply.result == "-1":
            self._mark_hung_up()
            raise ChannelHungUp(f"{parts[0]}: the channel hung up during the command")
        return reply

    def _limit(self, timeout: Timeout, default: float | None) -> float | None:
        return default if isinstance(timeout, _Default) else timeout

    # Typed commands -----------------------------------------------------------------------
    async def answer(self, *, timeout: Timeout = DEFAULT) -> None:
        await self._channel("ANSWER", timeout=timeout)

    async def hangup(self, channel: str | None = None, *, timeout: Timeout = DEFAULT) -> None:
        """Hang up (this channel by default). Already gone is not an error: it is the goal."""
        parts: tuple[str, ...] = ("HANGUP",) if channel is None else ("HANGUP", channel)
        with contextlib.suppress(ChannelHungUp):
            await self._channel(*parts, timeout=timeout)
        if channel is None:
            self._mark_hung_up()

    async def stream_file(
        self,
        name: str,
        escape_digits: str = "",
        offset: int | None = None,
        *,
        timeout: Timeout = DEFAULT,
    ) -> tuple[str | None, int]:
        """Play ``name``: the DTMF digit that interrupted it (or None) and the end position.

        Bounded by ``media_timeout`` by default: a prompt lasts as long as its file.
        """
        parts: list[str | int] = ["STREAM FILE", name, escape_digits]
        if offset is not None:
            parts.append(offset)
        reply = await self._channel(*parts, timeout=self._limit(timeout, self.media_timeout))
        endpos = reply.extras.get("endpos", "0")
        return _digit(reply), int(endpos) if endpos.isdigit() else 0

    async def get_variable(self, name: str, *, timeout: Timeout = DEFAULT) -> str | None:
        """A channel variable, or None when unset. Works after a hangup, as Asterisk allows."""
        reply = await self.send("GET VARIABLE", name, timeout=timeout)
        if reply.dead_channel:
            self._mark_hung_up()
            raise ChannelHungUp("GET VARIABLE: the channel has hung up (511)")
        if reply.code != 200:
            raise AGICommandError("GET VARIABLE", reply)
        return reply.data if reply.result == "1" else None

    async def get_full_variable(self, expression: str, *, timeout: Timeout = DEFAULT) -> str | None:
        """An expression with ``${...}`` substitutions, evaluated on the channel."""
        reply = await self.send("GET FULL VARIABLE", expression, timeout=timeout)
        if reply.code != 200:
            raise AGICommandError("GET FULL VARIABLE", reply)
        return reply.data if reply.result == "1" else None

    async def set_variable(
        self, name: str, value: str | int, *, timeout: Timeout = DEFAULT
    ) -> None:
        await self._channel("SET VARIABLE", name, str(value), timeout=timeout)

    async def set_music(
        self, on: bool, music_class: str | None = None, *, timeout: Timeout = DEFAULT
    ) -> None:
        """Music on hold for the caller on or off (``SET MUSIC``; Asterisk stops it by itself
        when a file is played). Always answers 0."""
        parts: tuple[str, ...] = ("SET MUSIC", "on" if on else "off")
        if on and music_class:
            parts += (music_class,)
        await self._channel(*parts, timeout=timeout)

    async def exec(self, application: str, *args: str | int, timeout: Timeout = DEFAULT) -> int:
        """Run a dialplan application (AMD, Dial, Queue, Playback...); its result code.

        Bounded by ``exec_timeout`` (none unless configured): Dial or Queue last as long as the
        call. Asterisk answers ``-2`` for an unknown application.
        """
        parts: tuple[str, ...] = ("EXEC", application)
        if args:
            parts += (",".join(str(a) for a in args),)
        reply = await self._channel(*parts, timeout=self._limit(timeout, self.exec_timeout))
        return reply.result_int or 0

    async def get_data(
        self,
        file: str,
        timeout_ms: int = 5000,
        max_digits: int = 1,
        *,
        timeout: Timeout = DEFAULT,
    ) -> str:
        """Play ``file`` and collect up to ``max_digits`` DTMF digits ("" when none came)."""
        default = self.media_timeout + max(0, timeout_ms) / 1000 * max(1, max_digits)
        reply = await self._channel(
            "GET DATA", file, timeout_ms, max_digits, timeout=self._limit(timeout, default)
        )
        return reply.result or ""

    async def wait_for_digit(self, timeout_ms: int, *, timeout: Timeout = DEFAULT) -> str | None:
        """One DTMF digit, or None when ``timeout_ms`` passed (-1 waits up to media_timeout)."""
        default = (
            timeout_ms / 1000 + self.command_timeout if timeout_ms >= 0 else self.media_timeout
        )
        reply = await self._channel(
            "WAIT FOR DIGIT", timeout_ms, timeout=self._limit(timeout, default)
        )
        return _digit(reply)

    async def verbose(self, message: str, level: int = 1, *, timeout: Timeout = DEFAULT) -> None:
        reply = await self.send("VERBOSE", message, level, timeout=timeout)
        if reply.code != 200:
            raise AGICommandError("VERBOSE", reply)


def _digit(reply: Reply) -> str | None:
    """STREAM FILE and WAIT FOR DIGIT answer the ASCII code of the digit pressed, 0 for none."""
    code = reply.result_int or 0
    return chr(code) if 0 < code < 0x110000 else None


def _again(reason: AGIError | AGIProtocolError) -> AGIError | AGIProtocolError:
    """A fresh exception like ``reason`` (re-raising one instance would pile up tracebacks)."""
    return type(reason)(*reason.args)
