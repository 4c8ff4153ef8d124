"""AMI codec parse rate on the recorded burst transcripts (06a-06e), one core.

Run: ``.venv/bin/python bench/ami_codec.py``. The server bytes of each burst capture are
concatenated into one stream per transcript and fed to a fresh :class:`ami.codec.Parser` in 64 KiB
chunks (what the client's read loop does), repeated for about two seconds. A real Asterisk 22
emitted 40-47 thousand events/s at 1,500 calls/s on a 2-core box
(../shared/asterisk/README.md, "Measured throughput"); the goal is at least 150 thousand events/s.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ami.codec import Message, Parser  # noqa: E402

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


if __name__ == "__main__":
    main()
