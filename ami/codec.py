"""The AMI wire format as a pure codec: bytes in, messages out; messages to bytes.

No I/O here (h11 is the model). Facts from ../shared/asterisk/README.md, "Framing":
- on connect the server sends one banner line ``Asterisk Call Manager/11.0.0\\r\\n`` with no blank
  line after it;
- then every message is ``Key: Value\\r\\n`` lines ended by an empty line;
- an empty value is written ``Key: `` (trailing space); headers may repeat (``Variable:``,
  ``Output:``);
- ``OriginateResponse`` is an *event* that also carries ``Response:``, so a message with an
  ``Event`` header is an event whatever else it carries.

Values are decoded as UTF-8 with ``surrogateescape``: decoding never raises and the raw bytes are
recoverable (:meth:`Message.raw_value`). Bytes are only decoded once a whole message has arrived, so
a character split across two TCP reads is never corrupted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Final, Literal

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "Banner",
    "Message",
    "Parser",
    "ProtocolError",
    "encode",
]

BANNER_PREFIX: Final = "Asterisk Call Manager/"
# A whole Command output (for example `queue show` on a big queue) is one message; 4 MiB leaves
# room for that while still bounding memory if a peer never sends the blank line.
DEFAULT_MAX_MESSAGE_SIZE: Final = 4 * 1024 * 1024

_END_OF_MESSAGE = re.compile(rb"\r?\n\r?\n")
_END_OF_LINE = re.compile(rb"\r?\n")

Kind = Literal["event", "response", "action", "unknown"]


class ProtocolError(Exception):
    """The peer broke the AMI framing; the connection cannot be trusted any more."""


class Banner:
    """The greeting line, for example ``Asterisk Call Manager/11.0.0``."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    @property
    def version(self) -> str:
        return self.text[len(BANNER_PREFIX) :]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Banner) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Banner({self.text!r})"


class Message(Mapping[str, str]):
    """One AMI message: ordered headers, repeats kept, looked up case-insensitively.

    As a mapping it answers with the *first* value of a header; :meth:`get_all` gives every value
    of a repeated header in order.
    """

    __slots__ = ("_index", "headers")

    headers: tuple[tuple[str, str], ...]
    _index: dict[str, str] | None

    def __init__(self, headers: Iterable[tuple[str, str]]) -> None:
        self.headers = tuple(headers)
        self._index = None

    @classmethod
    def _trusted(cls, headers: tuple[tuple[str, str], ...]) -> Message:
        msg = object.__new__(cls)
        msg.headers = headers
        msg._index = None
        return msg

    @property
    def _first(self) -> dict[str, str]:
        """Lower-cased name -> first value. Built on first use: most events on a busy
        Asterisk are looked at only by name (``headers[0]``), never by field."""
        index = self._index
        if index is None:
            # Built from the end so that the *first* value of a repeated header wins.
            index = self._index = {k.lower(): v for k, v in reversed(self.headers)}
        return index

    @classmethod
    def action(cls, name: str, /, **fields: str | int | Iterable[str] | None) -> Message:
        """Build an action. ``None`` values are left out; an iterable value repeats the header."""
        headers: list[tuple[str, str]] = [("Action", name)]
        for key, value in fields.items():
            if value is None:
                continue
            if isinstance(value, str | int):
                headers.append((key, str(value)))
            else:
                headers.extend((key, str(v)) for v in value)
        return cls(headers)

    # Mapping protocol -------------------------------------------------------------------------
    def __getitem__(self, key: str) -> str:
        return self._first[key.lower()]

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for key, _ in self.headers:
            low = key.lower()
            if low not in seen:
                seen.add(low)
                yield key

    def __len__(self) -> int:
        return len(self._first)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._first

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._first.get(key.lower(), default)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and other.headers == self.headers

    def __hash__(self) -> int:
        return hash(self.headers)

    def __repr__(self) -> str:
        return f"Message({list(self.headers)!r})"

    # AMI views -------------------------------------------------------------------------------
    def get_all(self, key: str) -> list[str]:
        low = key.lower()
        return [v for k, v in self.headers if k.lower() == low]

    def raw_value(self, key: str) -> bytes | None:
        """The exact bytes the peer sent for the first ``key`` header."""
        value = self.get(key)
        return None if value is None else value.encode("utf-8", "surrogateescape")

    @property
    def kind(self) -> Kind:
        if self.headers:
            # Asterisk writes Event/Response/Action as the first header; only a message of
            # another shape needs the field index.
            key = self.headers[0][0]
            if key == "Event":
                return "event"
            if key == "Action":
                return "action"
            if key == "Response":
                return "response"
        first = self._first
        if "event" in first:
            return "event"
        if "response" in first:
            return "response"
        if "action" in first:
            return "action"
        return "unknown"

    @property
    def is_event(self) -> bool:
        return self.kind == "event"

    @property
    def is_response(self) -> bool:
        return self.kind == "response"

    @property
    def name(self) -> str:
        """The event name, the action name, or the response status."""
        if self.headers and self.headers[0][0] in ("Event", "Action"):
            return self.headers[0][1]
        first = self._first
        return first.get("event") or first.get("action") or first.get("response") or ""

    @property
    def action_id(self) -> str | None:
        return self._first.get("actionid")

    @property
    def event_list(self) -> str | None:
        """``start`` on a list reply's head, ``Complete`` on its tail event."""
        return self._first.get("eventlist")

    def variables(self, key: str = "Variable") -> dict[str, str]:
        """``Variable: NAME=value`` headers as a dict (a Status reply with Variables=...)."""
        out: dict[str, str] = {}
        for raw in self.get_all(key):
            name, _, value = raw.partition("=")
            out[name] = value
        return out


def _check(text: str, what: str) -> None:
    if "\r" in text or "\n" in text:
        # A value with a line break would end the header early and smuggle in headers (or a
        # whole action) of the peer's choosing: a contact name must never become an Originate.
        raise ValueError(f"AMI {what} {text[:40]!r} contains a line break")


def encode(message: Message | Mapping[str, str] | Iterable[tuple[str, str]]) -> bytes:
    """Serialise a message (an action, or an event/response for the server side)."""
    if isinstance(message, Message):
        pairs: Iterable[tuple[str, str]] = message.headers
    elif isinstance(message, Mapping):
        pairs = message.items()
    else:
        pairs = message
    parts: list[str] = []
    for key, value in pairs:
        _check(key, "header name")
        _check(value, f"value of {key!r}")
        parts.append(f"{key}: {value}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8", "surrogateescape")


def _parse_block(block: bytes, crlf: bool) -> Message:
    text = block.decode("utf-8", "surrogateescape")
    if crlf:
        # The hot path (a whole Asterisk's event stream, README "Measured throughput"): Asterisk
        # always writes "Key: value", so split every line on ": " at once and take the careful
        # path only for a line of another shape.
        lines = text.split("\r\n")
        pairs = [line.partition(": ") for line in lines]
        for key, sep, _ in pairs:
            if not sep or ":" in key:
                break
        else:
            return Message._trusted(tuple([(key, value) for key, _, value in pairs]))
    else:
        lines = _split_lines(text)
    return Message._trusted(tuple([_split_header(line) for line in lines]))


def _split_header(line: str) -> tuple[str, str]:
    key, sep, value = line.partition(":")
    if not sep:
        # Asterisk's own parser ignores a line with no colon; keep it (nothing is lost) under
        # an empty name so no lookup ever matches it.
        return "", line
    if value[:1] == " ":
        value = value[1:]
    return key, value


def _split_lines(text: str) -> list[str]:
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


class Parser:
    """Incremental AMI parser: feed bytes as they arrive, take whole messages out.

    The client side expects the banner first (``expect_banner=True``); the server side (the
    simulated Asterisk reading actions) does not. After a :class:`ProtocolError` the parser stays
    failed: the connection must be closed.
    """

    __slots__ = (
        "_buffer",
        "_crlf_only",
        "_error",
        "_expect_banner",
        "_scan_from",
        "max_message_size",
    )

    def __init__(
        self, *, expect_banner: bool = True, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    ) -> None:
        self._buffer = bytearray()
        self._expect_banner = expect_banner
        self._scan_from = 0
        # True while every LF in the buffer follows a CR (Asterisk's framing): then messages end
        # at b"\r\n\r\n" and C-speed bytes.find/split do the framing.
        self._crlf_only = True
        self._error: ProtocolError | None = None
        self.max_message_size = max_message_size

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a whole message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Banner | Message]:
        """Add received bytes; return every message they complete, in order."""
        if self._error is not None:
            raise self._error
        buf = self._buffer
        buf += data
        out: list[Banner | Message] = []
        try:
            if self._expect_banner:
                banner = self._take_banner()
                if banner is None:
                    return out
                out.append(banner)
            self._take_messages(out)
        except ProtocolError as exc:
            self._error = exc
            raise
        return out

    def _take_banner(self) -> Banner | None:
        buf = self._buffer
        match = _END_OF_LINE.search(buf)
        if match is None:
            if len(buf) > 256:
                raise ProtocolError("no AMI banner line in the first 256 bytes")
            return None
        line = bytes(buf[: match.start()]).decode("utf-8", "surrogateescape")
        if not line.startswith(BANNER_PREFIX):
            raise ProtocolError(f"not an AMI server: first line was {line[:80]!r}")
        del buf[: match.end()]
        self._expect_banner = False
        return Banner(line)

    def _take_messages(self, out: list[Banner | Message]) -> None:
        buf = self._buffer
        scanned = self._scan_from
        if self._crlf_only:
            # Only the new bytes need checking: an LF at index >= i is CRLF iff a CRLF starts
            # at index >= i - 1.
            if scanned:
                self._crlf_only = buf.count(b"\n", scanned) == buf.count(b"\r\n", scanned - 1)
            else:
                self._crlf_only = buf.count(b"\n") == buf.count(b"\r\n")
        if self._crlf_only:
            self._take_crlf_messages(out, max(0, scanned - 3))
        else:
            self._take_mixed_messages(out, max(0, scanned - 3))
            # What is left may be plain CRLF again (a hand-typed peer's bare LF is behind us).
            self._crlf_only = buf.count(b"\n") == buf.count(b"\r\n")
        self._scan_from = len(buf)
        if len(buf) > self.max_message_size:
            raise ProtocolError(
                f"{len(buf)} bytes without the end of a message exceeds the "
                f"{self.max_message_size} byte limit"
            )

    def _take_crlf_messages(self, out: list[Banner | Message], search_from: int) -> None:
        buf = self._buffer
        last = buf.rfind(b"\r\n\r\n", search_from)
        if last < 0:
            while buf[:2] == b"\r\n":  # blank lines before a message still on its way
                del buf[:2]
            return
        end = last + 4
        region = bytes(buf[:end])
        del buf[:end]
        limit = self.max_message_size
        # Non-overlapping, left to right: the same boundaries the mixed path finds. Empty pieces
        # and leading CRLFs are blank lines between messages: noise, skipped.
        for block in region.split(b"\r\n\r\n"):
            while block[:2] == b"\r\n":
                block = block[2:]
            if not block:
                continue
            if len(block) > limit:
                raise ProtocolError(f"AMI message of {len(block)} bytes exceeds the {limit} limit")
            out.append(_parse_block(block, True))

    def _take_mixed_messages(self, out: list[Banner | Message], search_from: int) -> None:
        buf = self._buffer
        pos = 0
        size = len(buf)
        limit = self.max_message_size
        while True:
            # Leading empty lines between messages are noise (Asterisk never sends them, but a
            # hand-typed peer may): skip them rather than yield empty messages.
            while pos < size and buf[pos] in (0x0D, 0x0A):
                if buf[pos] == 0x0D and (pos + 1 >= size or buf[pos + 1] != 0x0A):
                    break
                pos += 1
            search_from = max(search_from, pos)
            match = _END_OF_MESSAGE.search(buf, search_from)
            if match is None:
                break
            end = match.start()
            if end - pos > limit:
                raise ProtocolError(f"AMI message of {end - pos} bytes exceeds the {limit} limit")
            block = bytes(buf[pos:end])
            crlf = match.group() == b"\r\n\r\n" and block.count(b"\n") == block.count(b"\r\n")
            out.append(_parse_block(block, crlf))
            pos = search_from = match.end()
        if pos:
            del buf[:pos]
