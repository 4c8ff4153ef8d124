"""A scripted Asterisk for one FastAGI session: send the environment, then expect and answer."""

from __future__ import annotations

import asyncio

from tests.agi.replay import agi_session

ENV = agi_session("05a_fastagi_full_human_1001")[0].data


class Peer:
    """Asterisk's side of one session, driven step by step by a test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, env: bytes = ENV) -> Peer:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(env)
        await writer.drain()
        return cls(reader, writer)

    async def expect(self, line: bytes) -> None:
        got = await asyncio.wait_for(self.reader.readline(), 5)
        assert got == line, f"expected {line!r}, got {got!r}"

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def closed_by_server(self) -> bytes:
        """Everything the server sent until it closed the socket (it must close it)."""
        rest = await asyncio.wait_for(self.reader.read(), 5)
        self.writer.close()
        return rest

    def close(self) -> None:
        self.writer.close()
