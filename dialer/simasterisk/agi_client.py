"""The FastAGI client side of the simulated Asterisk: what ``AGI(agi://...)`` does.

Wire facts (../shared/asterisk/README.md "FastAGI", transcripts 05a-05c): the environment block in
the recorded order, bare ``\\n`` line ends, ``200 result=...`` replies, ``510``/``511`` errors, a
lone ``HANGUP`` line once the channel is gone, and the socket is never closed by Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shlex
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dialer.simasterisk.channels import Channel
from dialer.simasterisk.dialplan import expand

if TYPE_CHECKING:
    from dialer.simasterisk.core import Asterisk

DEAD = b"511 Command Not Permitted on a dead channel or intercept routine\n"
DEAD_TEXT = "Command Not Permitted on a dead channel or intercept routine"
UNKNOWN = b"510 Invalid or unknown command\n"
_thread_ids = random.Random(22)


def environment(ch: Channel, url: str, args: list[str]) -> bytes:
    parts = urlsplit(url)
    script = parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")
    caller_num = ch.caller_num if ch.caller_num != "<unknown>" else "unknown"
    caller_name = ch.caller_name if ch.caller_name != "<unknown>" else "unknown"
    lines = [
        ("agi_network", "yes"),
        ("agi_network_script", script),
        ("agi_request", url),
        ("agi_channel", ch.name),
        ("agi_language", ch.language),
        ("agi_type", ch.name.split("/", 1)[0]),
        ("agi_uniqueid", ch.uniqueid),
        ("agi_version", "22.10.1"),
        ("agi_callerid", caller_num),
        ("agi_calleridname", caller_name),
        ("agi_callingpres", "0"),
        ("agi_callingani2", "0"),
        ("agi_callington", "0"),
        ("agi_callingtns", "0"),
        ("agi_dnid", "unknown"),
        ("agi_rdnis", "unknown"),
        ("agi_context", ch.context),
        ("agi_extension", ch.exten),
        ("agi_priority", str(ch.priority)),
        ("agi_enhanced", "0.0"),
        ("agi_accountcode", ch.accountcode),
        ("agi_threadid", str(140157958489792 + _thread_ids.randrange(1 << 20) * 4096)),
    ]
    lines += [(f"agi_arg_{i}", arg) for i, arg in enumerate(args, 1)]
    return ("".join(f"{k}: {v}\n" for k, v in lines) + "\n").encode()


def _split_command(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


class _Session:
    def __init__(self, ast: Asterisk, ch: Channel, writer: asyncio.StreamWriter) -> None:
        self.ast = ast
        self.ch = ch
        self.writer = writer
        self.notice_sent = False

    @property
    def dead(self) -> bool:
        return self.ch.hung_up

    def notice(self) -> None:
        if self.dead and not self.notice_sent:
            self.notice_sent = True
            self.writer.write(b"HANGUP\n")

    def _digits(self) -> list[str]:
        party = self.ch.peer if self.ch.peer is not None else self.ch
        return party.pending_digits

    async def _collect_digit(self, seconds: float, escape: str) -> tuple[str | None, bool]:
        """A DTMF digit the party presses within ``seconds`` (one second in), or None."""
        digits = self._digits()
        if digits and (not escape or digits[0] in escape):
            if not await self.ast.wait(self.ch, min(1.0, seconds)):
                return None, False
            return digits.pop(0), True
        return None, await self.ast.wait(self.ch, seconds)

    async def execute(self, line: str) -> tuple[bytes, str, str]:
        """Run one command: (reply bytes, ResultCode, Result) for AGIExecEnd."""
        words = _split_command(line)
        upper = [w.upper() for w in words[:3]]
        ast, ch = self.ast, self.ch
        if not words:
            return UNKNOWN, "510", "Invalid or unknown command"
        if upper[:2] == ["GET", "VARIABLE"] and len(words) >= 3:
            value = ast.lookup_for(ch)(words[2])
            return (
                (f"200 result=1 ({value})\n" if value else "200 result=0\n").encode(),
                "200",
                "Success",
            )
        if upper[:3] == ["GET", "FULL", "VARIABLE"] and len(words) >= 4:
            value = expand(words[3], ast.lookup_for(ch))
            return f"200 result=1 ({value})\n".encode(), "200", "Success"
        if upper[0] in ("VERBOSE",):
            return b"200 result=1\n", "200", "Success"
        if upper[0] == "NOOP":
            return b"200 result=0\n", "200", "Success"
        known = {"ANSWER", "HANGUP", "STREAM", "EXEC", "WAIT", "GET", "SET"}
        if upper[0] not in known:
            return UNKNOWN, "510", "Invalid or unknown command"
        if self.dead:
            return DEAD, "511", DEAD_TEXT
        if upper[0] == "ANSWER":
            await ast.apps["answer"](ch, "")
            return b"200 result=0\n", "200", "Success"
        if upper[0] == "HANGUP":
            # An explicit soft hangup (cause 32); the channel's own hangup cause stays unset,
            # so its Hangup, and the other half's HangupRequest, carry cause 0 (05a).
            ast.channel_event("SoftHangupRequest", ch, [("Cause", "32")])
            ch.hangup_requested.set()
            ch.wake.set()
            return b"200 result=1\n", "200", "Success"
        if upper[:2] == ["SET", "MUSIC"] and len(words) >= 3:
            # Asterisk 22 docs, AGI SET MUSIC: the 'default' class unless named; always 0.
            on = upper[2] == "ON"
            if on and not ch.moh_on:
                klass = words[3] if len(words) > 3 else "default"
                ast.channel_event("MusicOnHoldStart", ch, [("Class", klass)])
            elif not on and ch.moh_on:
                ast.channel_event("MusicOnHoldStop", ch)
            ch.moh_on = on
            return b"200 result=0\n", "200", "Success"
        if upper[:2] == ["SET", "VARIABLE"] and len(words) >= 4:
            ast.set_variable(ch, words[2], words[3])
            return b"200 result=1\n", "200", "Success"
        if upper[:2] == ["STREAM", "FILE"] and len(words) >= 3:
            from dialer.simasterisk.core import SOUND_SECONDS

            seconds = SOUND_SECONDS.get(words[2], 2.0)
            escape = words[3] if len(words) > 3 else ""
            if ch.moh_on:  # "stopped automatically when playing a file"
                ast.channel_event("MusicOnHoldStop", ch)
                ch.moh_on = False
            digit, completed = (
                await self._collect_digit(seconds, escape)
                if escape
                else (None, await ast.wait(ch, seconds))
            )
            endpos = int(seconds * 8000)
            if completed or digit is not None:
                ast.set_variable(ch, "PLAYBACKSTATUS", "SUCCESS")
            if digit is not None:
                return f"200 result={ord(digit)} endpos={endpos // 2}\n".encode(), "200", "Success"
            if not completed:
                return f"200 result=-1 endpos={endpos // 2}\n".encode(), "-1", "Failure"
            return f"200 result=0 endpos={endpos}\n".encode(), "200", "Success"
        if upper[:3] == ["WAIT", "FOR", "DIGIT"] and len(words) >= 4:
            ms = int(words[3])
            digit, completed = await self._collect_digit(ms / 1000 if ms >= 0 else 3600.0, "")
            if digit is not None:
                return f"200 result={ord(digit)}\n".encode(), "200", "Success"
            if not completed:
                return b"200 result=-1\n", "-1", "Failure"
            return b"200 result=0\n", "200", "Success"
        if upper[:2] == ["GET", "DATA"] and len(words) >= 3:
            timeout_s = int(words[3]) / 1000 if len(words) > 3 else 5.0
            max_digits = int(words[4]) if len(words) > 4 else 1
            from dialer.simasterisk.core import SOUND_SECONDS

            if not await ast.wait(ch, SOUND_SECONDS.get(words[2], 2.0)):
                return b"200 result=-1\n", "-1", "Failure"
            got = ""
            while len(got) < max_digits:
                digit, completed = await self._collect_digit(timeout_s, "")
                if digit is None:
                    if not completed:
                        return b"200 result=-1\n", "-1", "Failure"
                    return f"200 result={got} (timeout)\n".encode(), "200", "Success"
                got += digit
            return f"200 result={got}\n".encode(), "200", "Success"
        if upper[0] == "EXEC" and len(words) >= 2:
            app = ast.apps.get(words[1].lower())
            if app is None:
                return b"200 result=-2\n", "200", "Success"
            data = " ".join(words[2:])
            ch.app, ch.appdata = words[1], data
            await app(ch, data)
            if ch.hung_up:
                return b"200 result=-1\n", "-1", "Failure"
            return b"200 result=0\n", "200", "Success"
        return UNKNOWN, "510", "Invalid or unknown command"


async def run_agi(ast: Asterisk, ch: Channel, url: str, args: list[str]) -> str:
    """Run a FastAGI script for ``ch``; returns AGISTATUS (SUCCESS, HANGUP or FAILURE)."""
    parts = urlsplit(url)
    try:
        port = ast.config.agi_port_override or parts.port or 4573
        reader, writer = await asyncio.open_connection(parts.hostname or "127.0.0.1", port)
    except OSError:
        return "FAILURE"
    session = _Session(ast, ch, writer)
    try:
        writer.write(environment(ch, url, args))
        while True:
            # A channel that is gone (the script's own HANGUP, an AMI Hangup, the far end)
            # gets its one HANGUP line before anything else is answered (05a: HANGUP, then
            # GET VARIABLE's "200 result=1 (7)", then 511 for ANSWER).
            session.notice()
            line_future = asyncio.ensure_future(reader.readline())
            if not session.dead:
                hangup = asyncio.ensure_future(ch.hangup_requested.wait())
                done, _ = await asyncio.wait(
                    {line_future, hangup}, return_when=asyncio.FIRST_COMPLETED
                )
                hangup.cancel()
                if line_future not in done:
                    session.notice()
            try:
                # After a hangup the script gets a while to finish, then Asterisk drops it.
                line = await asyncio.wait_for(
                    line_future, None if not session.dead else 30 / ast.speed
                )
            except TimeoutError:
                break
            if not line:
                break
            command = line.decode("utf-8", "replace").rstrip("\r\n")
            command_id = str(random.randrange(10**8, 2 * 10**9))
            ast.channel_event(
                "AGIExecStart", ch, [("CommandId", command_id), ("Command", command)], "agi,all"
            )
            reply, code, result = await session.execute(command)
            session_dead_before = session.notice_sent
            writer.write(reply)
            ast.channel_event(
                "AGIExecEnd",
                ch,
                [
                    ("CommandId", command_id),
                    ("Command", command),
                    ("ResultCode", code),
                    ("Result", result),
                ],
                "agi,all",
            )
            if not session_dead_before and reply.startswith(b"200 result=-1"):
                session.notice()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return "HANGUP" if ch.hung_up else "SUCCESS"
