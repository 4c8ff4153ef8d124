"""AMI codec parse rate on the recorded burst transcripts (06a-06e), one core.

Run: ``.venv/bin/python bench/ami_codec.py``. The server bytes of each burst capture are
concatenated into one stream per transcript and fed to a fresh :class:`ami.codec.Parser` in 64 KiB
chunks (what the client's read loop does), repeated for about two seconds.

Then the same bytes go through the whole client on loopback (``ami_client_events_per_s``): a
server streams them after the login, the :class:`ami.client.AMIClient` read loop parses, routes
and dispatches every event to a ``"*"`` callback that counts. Server and client share the core.

A real Asterisk 22 emitted 40-47 thousand events/s at 1,500 calls/s on a 2-core box
(../shared/asterisk/README.md, "Measured throughput"); the codec's goal is at least 150 thousand
events/s.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ami.client import AMIClient  # noqa: E402
from ami.codec import Message, Parser, encode  # noqa: E402

TRANSCRIPTS = ROOT / "tests" / "fixtures" / "asterisk" / "transcripts"
BURSTS = ("06a", "06b", "06c", "06d", "06e")
CHUNK = 64 * 1024
RUN_SECONDS = 2.0


def _stream(path: Path) -> bytes:
    """Every server byte of connection 1, banner included, in wire order."""
    parts = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec["dir"] == "server" and rec["conn"] == 1:
            parts.append(rec["data"].encode("utf-8", "surrogateescape"))
    return b"".join(parts)


def _parse(stream: bytes) -> tuple[int, int]:
    parser = Parser()
    events = messages = 0
    for start in range(0, len(stream), CHUNK):
        for msg in parser.feed(stream[start : start + CHUNK]):
            if isinstance(msg, Message):
                messages += 1
                if msg.is_event:
                    events += 1
    if parser.buffered:
        raise SystemExit(f"{parser.buffered} bytes left over: the stream did not parse whole")
    return events, messages


def main() -> None:
    streams = [_stream(next(TRANSCRIPTS.glob(f"{b}_*.jsonl"))) for b in BURSTS]
    # One pass each to warm up and to count.
    for s in streams:
        _parse(s)
    events = messages = nbytes = 0
    started = time.perf_counter()
    elapsed = 0.0
    while elapsed < RUN_SECONDS:
        for s in streams:
            e, m = _parse(s)
            events += e
            messages += m
            nbytes += len(s)
        elapsed = time.perf_counter() - started
    print(f"ami_codec_events_per_s: {events / elapsed:.0f} events/s")
    print(f"ami_codec_messages_per_s: {messages / elapsed:.0f} messages/s")
    print(f"ami_codec_mb_per_s: {nbytes / elapsed / 1e6:.1f} MB/s")
    print(f"ami_codec_bytes_per_event: {nbytes / max(messages, 1):.0f} bytes")
    client_rate = asyncio.run(_client_rate(streams))
    print(f"ami_client_events_per_s: {client_rate:.0f} events/s")


CLIENT_REPEATS = 20


async def _client_rate(streams: list[bytes]) -> float:
    body = b"".join(s.split(b"\r\n", 1)[1] for s in streams)  # banners left out
    done_marker = encode([("Event", "UserEvent"), ("UserEvent", "BenchDone")])
    started: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        parser = Parser(expect_banner=False)
        while data := await reader.read(65536):
            for msg in parser.feed(data):
                assert isinstance(msg, Message)
                if msg.name == "Login":
                    aid = msg.action_id or ""
                    ok = [("Response", "Success"), ("ActionID", aid)]
                    writer.write(encode([*ok, ("Message", "Authentication accepted")]))
                    await writer.drain()
                    started.set_result(time.perf_counter())
                    for _ in range(CLIENT_REPEATS):
                        writer.write(body)
                        await writer.drain()
                    writer.write(done_marker)
                    await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    count = 0

    def on_event(msg: Message) -> None:
        nonlocal count
        count += 1
        if msg.get("UserEvent") == "BenchDone" and not done.done():
            done.set_result(time.perf_counter())

    client = AMIClient("127.0.0.1", port, "dialer", "dialer", ping_interval=None)
    client.on("*", on_event)
    await client.connect()
    t0 = await started
    t1 = await asyncio.wait_for(done, 120)
    await client.close()
    server.close()
    await server.wait_closed()
    return count / (t1 - t0)


if __name__ == "__main__":
    main()
