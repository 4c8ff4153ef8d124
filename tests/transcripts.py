"""Recorded Asterisk 22 transcripts (copied from ../shared/asterisk) as test fixtures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ami.codec import Banner, Message, Parser

FIXTURES = Path(__file__).parent / "fixtures" / "asterisk"
TRANSCRIPTS = FIXTURES / "transcripts"


@dataclass(frozen=True)
class Block:
    t: float
    conn: int
    dir: str  # "server", "client" or "note"
    data: bytes


def blocks(name: str) -> list[Block]:
    """The wire blocks of transcript ``name`` (for example "02a_originate_1001_human")."""
    path = TRANSCRIPTS / f"{name}.jsonl"
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        out.append(
            Block(rec["t"], rec["conn"], rec["dir"], rec["data"].encode("utf-8", "surrogateescape"))
        )
    return out


def server_messages(name: str, conn: int = 1) -> list[Message]:
    """Every message the server sent on connection ``conn``, banner left out."""
    parser = Parser()
    out: list[Message] = []
    for block in blocks(name):
        if block.dir == "server" and block.conn == conn:
            out.extend(m for m in parser.feed(block.data) if not isinstance(m, Banner))
    return out


def client_actions(name: str, conn: int = 1) -> list[Message]:
    """Every action the capturing client sent on connection ``conn``."""
    parser = Parser(expect_banner=False)
    out: list[Message] = []
    for block in blocks(name):
        if block.dir == "client" and block.conn == conn:
            out.extend(m for m in parser.feed(block.data) if isinstance(m, Message))
    return out


def names() -> list[str]:
    """All AMI transcript names (the FastAGI side files are left out)."""
    return sorted(
        p.name.removesuffix(".jsonl")
        for p in TRANSCRIPTS.glob("*.jsonl")
        if not p.name.endswith(".agi.jsonl")
    )
