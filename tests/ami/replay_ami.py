"""An AMI server that answers with the bytes a real Asterisk 22 sent (the recorded transcripts).

Each client connection replays one recorded connection: the banner, then for every action the
client sends, the server blocks that followed the matching recorded action, with the recorded
ActionID rewritten to the client's. The matching recorded action is the unused one with the same
name that shares the most headers (so a Getvar of CAMPAIGN_ID gets the CAMPAIGN_ID reply). When
the recording closed the connection after a reply (a bad secret, Logoff), so does the replay.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from ami.codec import Message, Parser
from tests.transcripts import blocks


@dataclass
class Exchange:
    action: Message
    replies: list[bytes] = field(default_factory=list)
    closes: bool = False
    used: bool = False


def recorded_exchanges(name: str, conn: int) -> tuple[bytes, list[Exchange]]:
    """The banner and the (action, server replies) pairs of connection ``conn``."""
    banner = b""
    exchanges: list[Exchange] = []
    parser = Parser(expect_banner=False)
    for block in blocks(name):
        if block.conn != conn:
            continue
        if block.dir == "client":
            exchanges += [Exchange(m) for m in parser.feed(block.data) if isinstance(m, Message)]
        elif block.dir == "server":
            if not exchanges and not banner:
                banner = block.data
            elif exchanges:
                exchanges[-1].replies.append(block.data)
        elif block.dir == "closed" and exchanges:
            exchanges[-1].closes = True
    return banner, exchanges


def _score(recorded: Message, sent: Message) -> int:
    return sum(
        1 for key, value in sent.headers if key.lower() != "actionid" and recorded.get(key) == value
    )


class ReplayAMI:
    """Serves recorded connection ``conn`` of transcript ``name`` to every client that connects."""

    def __init__(self, name: str, conn: int = 1) -> None:
        self.name = name
        self.conn = conn
        self.received: list[Message] = []
        self.connections = 0
        self.unmatched: list[Message] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self) -> ReplayAMI:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._sessions:
            await asyncio.wait(self._sessions, timeout=5)

    def sent(self, action: str) -> list[Message]:
        return [m for m in self.received if m.name.lower() == action.lower()]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        banner, exchanges = recorded_exchanges(self.name, self.conn)
        writer.write(banner)
        parser = Parser(expect_banner=False)
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                for msg in parser.feed(data):
                    assert isinstance(msg, Message)
                    self.received.append(msg)
                    if not self._answer(writer, msg, exchanges):
                        await writer.drain()
                        writer.close()
                        return
                await writer.drain()

    def _answer(
        self, writer: asyncio.StreamWriter, sent: Message, exchanges: list[Exchange]
    ) -> bool:
        candidates = [
            (i, e) for i, e in enumerate(exchanges) if not e.used and e.action.name == sent.name
        ]
        if not candidates:
            self.unmatched.append(sent)
            return True
        last = max((i for i, e in enumerate(exchanges) if e.used), default=-1)
        # Most shared headers first; then the recording's order (later than the last reply
        # given, earliest such).
        _, best = max(candidates, key=lambda c: (_score(c[1].action, sent), c[0] > last, -c[0]))
        best.used = True
        old, new = best.action.action_id, sent.action_id
        for data in best.replies:
            if old is not None:
                replacement = b"" if new is None else b"ActionID: " + new.encode() + b"\r\n"
                data = data.replace(b"ActionID: " + old.encode() + b"\r\n", replacement)
            writer.write(data)
        return not best.closes
