"""Play Asterisk's side of a recorded FastAGI session against our server."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from tests.transcripts import TRANSCRIPTS


@dataclass(frozen=True)
class Step:
    dir: str  # "asterisk" or "script"
    data: bytes


def agi_session(name: str) -> list[Step]:
    rows = [
        json.loads(line) for line in (TRANSCRIPTS / f"{name}.agi.jsonl").read_text().splitlines()
    ]
    return [Step(r["dir"], r["data"].encode()) for r in rows]


async def replay(port: int, steps: list[Step], *, script: str | None = None) -> list[bytes]:
    """Act as Asterisk: send its blocks, check each command the script sends against the
    recording, and return the commands received. Raises AssertionError on a mismatch."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received: list[bytes] = []
    try:
        for step in steps:
            data = step.data
            if script is not None and step.dir == "asterisk" and data.startswith(b"agi_network"):
                data = data.replace(
                    b"agi_network_script: outbound", f"agi_network_script: {script}".encode()
                )
            if step.dir == "asterisk":
                writer.write(data)
                await writer.drain()
            else:
                line = await asyncio.wait_for(reader.readline(), 5)
                received.append(line)
                assert line == step.data, f"expected {step.data!r}, got {line!r}"
        # After the recording the server must close the socket itself.
        rest = await asyncio.wait_for(reader.read(), 5)
        assert rest == b"", f"unexpected bytes after the session: {rest!r}"
    finally:
        writer.close()
    return received
