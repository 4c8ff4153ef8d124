"""The FastAGI wire format as a pure codec (no I/O), in the style of h11.

Facts (../shared/asterisk/README.md, "FastAGI", transcripts 05a-05c; bare ``\\n`` line ends):
- Asterisk opens with an environment block of ``agi_<name>: <value>`` lines ended by an empty
  line; arguments arrive as ``agi_arg_1`` ... ``agi_arg_N``;
- each command gets one reply line ``<code> result=<n> [(<data>)] [key=value ...]``, such as
  ``200 result=1 (7)`` or ``200 result=0 endpos=3520``; errors are ``510 Invalid or unknown
  command``, ``511 Command Not Permitted on a dead channel or intercept routine``, and a
  multi-line ``520-...`` usage text closed by ``520 End of proper usage.``;
- when the channel hangs up Asterisk sends a lone ``HANGUP`` line, unsolicited, possibly between a
  command and its reply; it does **not** close the socket, the script must.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "AGIProtocolError",
    "Environment",
    "HangupNotice",
    "Parser",
    "Reply",
    "format_command",
    "parse_reply",
]

MAX_ENVIRONMENT_SIZE: Final = 64 * 1024
MAX_REPLY_SIZE: Final = 64 * 1024
# res_agi.c sends usage text of a few hundred bytes; a 520 text without its end line is garbage.
MAX_USAGE_LINES: Final = 200


class AGIProtocolError(Exception):
    """The peer broke the AGI framing; the session cannot continue."""


@dataclass(frozen=True)
class Environment:
    """The ``agi_*`` variables Asterisk sends first, with typed views of the useful ones."""

    variables: dict[str, str]

    def get(self, name: str, default: str = "") -> str:
        return self.variables.get(name if name.startswith("agi_") else f"agi_{name}", default)

    @property
    def arguments(self) -> list[str]:
        out: list[str] = []
        n = 1
        while f"agi_arg_{n}" in self.variables:
            out.append(self.variables[f"agi_arg_{n}"])
            n += 1
        return out

    @property
    def request(self) -> str:
        return self.get("request")

    @property
    def network_script(self) -> str:
        """``agi_network_script`` as sent, query string included (``outbound?x=1``)."""
        return self.get("network_script")

    @property
    def script(self) -> str:
        """The route: ``agi_network_script`` without its query string or slashes."""
        raw = self.get("network_script") or urlsplit(self.request).path
        return raw.split("?", 1)[0].strip("/")

    @property
    def params(self) -> dict[str, str]:
        """Query-string parameters of the script path (``agi://h/outbound?mode=amd``)."""
        raw = self.get("network_script")
        query = raw.split("?", 1)[1] if "?" in raw else urlsplit(self.request).query
        return dict(parse_qsl(query, keep_blank_values=True))

    @property
    def channel(self) -> str:
        return self.get("channel")

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid")

    @property
    def callerid(self) -> str:
        return self.get("callerid")

    @property
    def calleridname(self) -> str:
        return self.get("calleridname")

    @property
    def context(self) -> str:
        return self.get("context")

    @property
    def extension(self) -> str:
        return self.get("extension")

    @property
    def dnid(self) -> str:
        return self.get("dnid")


@dataclass(frozen=True)
class Reply:
    """One reply: ``code`` (200, 510, 511, 520...), ``result``, ``data`` in parentheses, extras."""

    code: int
    text: str
    result: str | None = None
    data: str | None = None
    extras: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def result_int(self) -> int | None:
        try:
            return int(self.result) if self.result is not None else None
        except ValueError:
            return None

    @property
    def dead_channel(self) -> bool:
        return self.code == 511


@dataclass(frozen=True)
class HangupNotice:
    """The unsolicited ``HANGUP`` line: the channel is gone (AGI commands may still answer)."""


_RESULT = re.compile(r"^([0-9]{3}) result=(\S*)(?: \((.*)\))?((?: [A-Za-z_]+=\S*)*)\s*$")
_CODE = re.compile(r"^([0-9]{3})(?:[ -]|$)")


def parse_reply(text: str) -> Reply:
    """Parse one complete reply (a 520 reply may span several lines joined with ``\\n``)."""
    first = text.split("\n", 1)[0]
    match = _RESULT.match(first)
    if match:
        extras = dict(part.split("=", 1) for part in match.group(4).split())
        return Reply(int(match.group(1)), text, match.group(2), match.group(3), extras)
    code = _CODE.match(first)
    if code is None:
        raise AGIProtocolError(f"not an AGI reply: {first[:80]!r}")
    rest = first[4:]
    if rest.startswith("result="):
        # A shape the strict pattern does not know (odd extras): keep result, data, and any
        # key=value words rather than losing the reply.
        result, _, tail = rest[len("result=") :].partition(" ")
        data = None
        if tail.startswith("(") and ")" in tail:
            close = tail.rindex(")")
            data, tail = tail[1:close], tail[close + 1 :]
        extras = dict(w.split("=", 1) for w in tail.split() if "=" in w)
        return Reply(int(code.group(1)), text, result, data, extras)
    return Reply(int(code.group(1)), text)


_UNSAFE = re.compile(r"[\r\n\x00]")


def _quote(arg: str) -> str:
    if arg == "" or any(c in arg for c in ' \t"\\'):
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


def format_command(*parts: str | int) -> bytes:
    """One command line: the words of the command, then its arguments, safely quoted.

    ``format_command("STREAM FILE", "beep", "")`` gives ``STREAM FILE beep ""\\n``. A newline in
    any part would end the command early and let data inject commands, and a NUL would cut the
    line short in Asterisk's C parser, so both are refused. Quoting follows res_agi.c
    ``parse_args``: double quotes group words, a backslash makes the next character literal.
    """
    if not parts:
        raise ValueError("an AGI command needs at least its name")
    words = [str(parts[0])]
    for part in parts[1:]:
        text = str(part)
        if _UNSAFE.search(text):
            raise ValueError(f"AGI argument {text[:40]!r} contains a line break or NUL")
        words.append(_quote(text))
    if _UNSAFE.search(words[0]):
        raise ValueError("AGI command name contains a line break or NUL")
    return (" ".join(words) + "\n").encode("utf-8", "surrogateescape")


class Parser:
    """Incremental parser of what Asterisk sends: the environment, then replies and HANGUPs."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._environment: Environment | None = None
        self._env_lines: dict[str, str] = {}
        self._multiline: list[str] | None = None
        self._error: AGIProtocolError | None = None

    @property
    def has_environment(self) -> bool:
        return self._environment is not None

    def feed(self, data: bytes) -> list[Environment | Reply | HangupNotice]:
        if self._error is not None:
            raise self._error
        self._buffer += data
        out: list[Environment | Reply | HangupNotice] = []
        try:
            self._take(out)
        except AGIProtocolError as exc:
            self._error = exc
            raise
        return out

    def _take(self, out: list[Environment | Reply | HangupNotice]) -> None:
        buf = self._buffer
        limit = MAX_ENVIRONMENT_SIZE if self._environment is None else MAX_REPLY_SIZE
        pos = 0
        while True:
            end = buf.find(b"\n", pos)
            if end < 0:
                break
            line = bytes(buf[pos:end]).decode("utf-8", "surrogateescape")
            if line.endswith("\r"):
                line = line[:-1]
            pos = end + 1
            self._line(line, out)
        if pos:
            del buf[:pos]
        if len(buf) > limit:
            raise AGIProtocolError(f"AGI line of more than {limit} bytes")

    def _line(self, line: str, out: list[Environment | Reply | HangupNotice]) -> None:
        if self._environment is None:
            if line == "":
                if not self._env_lines:
                    return  # stray blank line before the block
                self._environment = Environment(self._env_lines)
                out.append(self._environment)
                return
            name, sep, value = line.partition(":")
            if not sep or not name.startswith("agi_"):
                raise AGIProtocolError(f"not an AGI environment line: {line[:80]!r}")
            if sum(len(k) + len(v) for k, v in self._env_lines.items()) > MAX_ENVIRONMENT_SIZE:
                raise AGIProtocolError("AGI environment block too large")
            self._env_lines[name] = value[1:] if value.startswith(" ") else value
            return
        if self._multiline is not None:
            self._multiline.append(line)
            if len(self._multiline) > MAX_USAGE_LINES:
                raise AGIProtocolError(f"520 usage text longer than {MAX_USAGE_LINES} lines")
            # A 520 usage text ends with "520 End of proper usage." (code, then a space).
            if line.startswith("520 "):
                text = "\n".join(self._multiline)
                self._multiline = None
                out.append(Reply(520, text))
            return
        if line == "HANGUP":
            out.append(HangupNotice())
        elif line.startswith("520-"):
            self._multiline = [line]
        elif line == "":
            return
        else:
            out.append(parse_reply(line))
