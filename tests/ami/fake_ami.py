"""A scripted AMI server for client tests: real TCP on loopback, replies chosen per action."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable

from ami.codec import Message, Parser, encode

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
Reply = Callable[["Session", Message], list[bytes] | None]


class Session:
    def __init__(self, server: FakeAMI, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.writer = writer
        self.challenge = "181862063"

    def send(self, *chunks: bytes) -> None:
        for chunk in chunks:
            self.writer.write(chunk)

    def close(self) -> None:
        self.writer.close()


def reply(action: Message, **fields: str) -> bytes:
    headers = [("Response", fields.pop("Response", "Success"))]
    if action.action_id is not None:
        headers.append(("ActionID", action.action_id))
    headers += list(fields.items())
    return encode(headers)


class FakeAMI:
    """Answers Login/Challenge/Ping/Logoff like Asterisk 22; other actions through ``script``."""

    def __init__(self, secret: str = "dialer") -> None:
        self.secret = secret
        self.received: list[Message] = []
        self.sessions: list[Session] = []
        self.connections = 0
        self.script: dict[str, Reply] = {}
        self.answer_pings = True
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> FakeAMI:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for s in self.sessions:
            s.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def drop_all(self) -> None:
        """Close every session abruptly, as a crashed or restarted Asterisk would."""
        for s in self.sessions:
            s.writer.transport.abort()
        self.sessions.clear()

    def count(self, action: str) -> int:
        return sum(1 for m in self.received if m.name.lower() == action.lower())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        session = Session(self, writer)
        self.sessions.append(session)
        writer.write(BANNER)
        parser = Parser(expect_banner=False)
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                for msg in parser.feed(data):
                    assert isinstance(msg, Message)
                    self.received.append(msg)
                    self._answer(session, msg)
                await writer.drain()
        with contextlib.suppress(ValueError):
            self.sessions.remove(session)

    def _answer(self, session: Session, action: Message) -> None:
        name = action.name.lower()
        custom = self.script.get(name)
        if custom is not None:
            out = custom(session, action)
            if out is not None:
                session.send(*out)
            return
        if name == "challenge":
            session.send(reply(action, Challenge=session.challenge))
        elif name == "login":
            if (action.get("AuthType") or "").lower() == "md5":
                expected = hashlib.md5((session.challenge + self.secret).encode()).hexdigest()
                ok = action.get("Key") == expected
            else:
                ok = action.get("Secret") == self.secret
            if ok:
                session.send(reply(action, Message="Authentication accepted"))
            else:
                session.send(reply(action, Response="Error", Message="Authentication failed"))
                session.close()
        elif name == "ping":
            if self.answer_pings:
                session.send(reply(action, Ping="Pong", Timestamp="1795349560.374604"))
        elif name == "logoff":
            session.send(reply(action, Response="Goodbye", Message="Thanks for all the fish."))
            session.close()
        elif name == "originate":
            session.send(reply(action, Message="Originate successfully queued"))
        else:
            session.send(
                reply(
                    action,
                    Response="Error",
                    Message=f"Invalid/unknown command: {action.name}. "
                    "Use Action: ListCommands to show available commands.",
                )
            )
