"""Replay a recorded AMI session's client side against the simulator and line the two up.

Asterisk is multi-threaded, so the order of events *across* channels varies from run to run
(../shared/asterisk/README.md, "Ordering"). What is fixed, and what these helpers compare, is:
- per channel (by Channel/DestChannel/LocalOneChannel), the sequence of events it appears in;
- per device (DeviceStateChange), the sequence of states;
- per connection, the sequence of responses; per ActionID, the OriginateResponse and list items;
- per FastAGI session, the reply to each of the capture's commands and whether HANGUP came;
- per message, the header names in order and every value (state, cause, reason, dial status,
  application and data, caller and connected line, variables, Linkedids, privileges...), with
  channel names and unique ids renamed by first appearance, and only what cannot match left
  out: times and durations (DIALEDTIME...), session ids, addresses, command output, the lab
  Asterisk's queue statistics from earlier captures, and media formats.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field

from agi.server import AGICall, FastAGIServer
from ami.codec import Banner, Message, Parser
from dialer.clock import ScaledClock
from dialer.simasterisk import SimConfig, SimulatedAsterisk
from tests.transcripts import TRANSCRIPTS, blocks

_CHANNEL = re.compile(r"(Local/[^,\s]+?)-([0-9a-f]{8})(;[12])")
_UID = re.compile(r"\b\d{10}\.\d+\b")
VOLATILE = {
    "Timestamp",
    "Uptime",
    "LastReload",
    "EventTV",
    "SessionTV",
    "SessionID",
    "LocalAddress",
    "RemoteAddress",
    "CommandId",
    "LoginTime",
    "LastCall",
    "LastPause",
    "Duration",
    "Seconds",
    "BridgeUniqueid",
    "BridgeId",
    "BridgeID",
    "HoldTime",
    "TalkTime",
    "RingTime",
    "Wait",
    "Challenge",
    "CoreStartupDate",
    "CoreStartupTime",
    "CoreReloadDate",
    "CoreReloadTime",
    "CoreProcessedCalls",
    "Output",
    "TimeToHangup",
    "Holdtime",
}
# Variables whose values are durations (app_dial, app_queue): the simulator's scaled clock and a
# busy machine make them differ by design; every other variable's value is compared.
_TIMING_VARIABLE = re.compile(r"(TIME|WAIT)(_MS)?$")
# What the simulator cannot share with the recording: the long-running lab Asterisk's queue
# statistics from earlier captures (QueueParams), and media (Status of a channel that was
# playing a gsm prompt: "Writeformat: gsm"; the simulator plays no media).
HISTORY = {"Abandoned", "Completed", "ServicelevelPerf", "ServicelevelPerf2"}
MEDIA = {"Writeformat", "Writetrans"}
# Every other header's value is compared (after renaming channel names and unique ids).


@dataclass
class Renamer:
    """Channel names and unique ids renamed in order of first appearance."""

    names: dict[str, str] = field(default_factory=dict)
    uids: dict[str, str] = field(default_factory=dict)

    def __call__(self, value: str) -> str:
        def channel(m: re.Match[str]) -> str:
            key = f"{m.group(1)}-{m.group(2)}"
            tag = self.names.setdefault(key, f"#{len(self.names)}")
            return f"{m.group(1)}-{tag}{m.group(3)}"

        value = _CHANNEL.sub(channel, value)
        return _UID.sub(lambda m: self.uids.setdefault(m.group(), f"uid{len(self.uids)}"), value)


def normalise(messages: list[Message], rename: Renamer | None = None) -> list[tuple[str, ...]]:
    """Each message as (name, header names..., "|", compared values...)."""
    rename = rename or Renamer()
    out = []
    for m in messages:
        keys = tuple(k for k, _ in m.headers)
        timing = _TIMING_VARIABLE.search(m.get("Variable") or "") is not None
        values = tuple(
            f"{k}={rename(v)}"
            for k, v in m.headers
            if k not in VOLATILE
            and k not in HISTORY
            and k not in MEDIA
            and not (timing and k == "Value")
        )
        out.append((m.name, *keys, "|", *values))
    return out


def _channel_key(m: Message) -> str | None:
    for key in ("Channel", "DestChannel", "LocalOneChannel"):
        value = m.get(key)
        if value and value != "none":
            return value
    return None


def groups(messages: list[Message]) -> dict[str, list[Message]]:
    """Events by channel, by device, and list items / OriginateResponses by ActionID."""
    rename = Renamer()
    out: dict[str, list[Message]] = defaultdict(list)
    for m in messages:
        if not m.is_event:
            continue
        aid = m.action_id
        if m.name == "OriginateResponse" or (aid is not None and m.name != "UserEvent"):
            # An OriginateResponse's place among its call's events is not fixed (README,
            # "Ordering"): compared per ActionID, like list items.
            out[f"action:{aid}"].append(m)
            continue
        key = _channel_key(m)
        if key is None and m.name == "DeviceStateChange":
            key = "device:" + m["Device"]
        if key is None:
            key = "event:" + m.name
        out[rename(key)].append(m)
    return dict(out)


@dataclass
class Replay:
    recorded: dict[int, list[Message]]
    simulated: dict[int, list[Message]]
    # Per FastAGI session, in order: the reply to each of the capture's commands, then whether
    # a HANGUP line came by the end ("HANGUP" / "no HANGUP").
    agi_recorded: list[list[str]] = field(default_factory=list)
    agi_simulated: list[list[str]] = field(default_factory=list)


def _agi_sessions(name: str) -> list[list[dict[str, str]]]:
    """The capture's FastAGI records, one list per session in session order ([] if none)."""
    path = TRANSCRIPTS / f"{name}.agi.jsonl"
    if not path.exists():
        return []
    sessions: dict[int, list[dict[str, str]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        sessions[rec["session"]].append(rec)
    return [sessions[key] for key in sorted(sessions)]


def recorded_agi_replies(name: str) -> list[list[str]]:
    """What Asterisk answered the capture's FastAGI script, per session (replies in order, then
    whether it sent HANGUP)."""
    out = []
    for rows in _agi_sessions(name):
        lines = [
            text
            for r in rows
            if r["dir"] == "asterisk" and not r["data"].startswith("agi_")
            for text in r["data"].splitlines()
        ]
        replies = [text for text in lines if text != "HANGUP"]
        out.append([*replies, "HANGUP" if "HANGUP" in lines else "no HANGUP"])
    return out


def _recorded_agi_commands(name: str) -> list[tuple[list[str], bool]]:
    """Per FastAGI session: the commands the capture's script sent, and whether it then
    stayed on the line until Asterisk said HANGUP."""
    out = []
    for rows in _agi_sessions(name):
        commands = [r["data"].rstrip("\n") for r in rows if r["dir"] == "script"]
        last_script = max(i for i, r in enumerate(rows) if r["dir"] == "script")
        waits = any(r["data"] == "HANGUP\n" for r in rows[last_script + 1 :])
        out.append((commands, waits))
    return out


def _settled(messages: list[Message]) -> int:
    """Responses and unsolicited events: what a connection must have seen by a given time
    (list items and OriginateResponses are left out: their number and place vary)."""
    return sum(1 for m in messages if not m.is_event or m.action_id is None)


# Wall time the capture's FastAGI script keeps before the model hangs up on it, where the
# capture's script was done before the far end hung up (02e: 5 ms of commands, then the
# hangup 0.5 s later): at x3 a loaded machine let the hangup overtake the second command.
AGI_MARGIN_S = 0.5


def replay_speed(name: str) -> float:
    """x10, but slow enough that a short scenario lasts about a second of wall time: the
    capture's script runs in real time beside the scaled model, and a busy machine must not
    let the model's next step overtake the script's next command. Where the script finished
    before Asterisk said HANGUP, that gap lasts at least AGI_MARGIN_S (real time at most)."""
    duration = max(block.t for block in blocks(name))
    speed = min(10.0, max(2.0, duration))
    for rows in _agi_sessions(name):
        last_command = max(r["t"] for r in rows if r["dir"] == "script")
        hangups = [
            r["t"] for r in rows if r["dir"] == "asterisk" and "HANGUP" in r["data"].splitlines()
        ]
        if hangups and hangups[0] > last_command:
            speed = min(speed, max(1.0, (hangups[0] - last_command) / AGI_MARGIN_S))
    return speed


async def replay(name: str, speed: float | None = None) -> Replay:
    """Send every recorded client block to a simulator at its recorded (scaled) time.

    Before each client block, the replay also waits (bounded) until the simulator has sent, on
    every connection, as many responses and unsolicited events as Asterisk had by then: a
    lagging machine then delays the client instead of reordering the capture's sessions or
    cutting a call short with the final Logoff.
    """
    speed = speed or replay_speed(name)
    recorded: dict[int, list[Message]] = defaultdict(list)
    parsers: dict[int, Parser] = {}
    first_seen: dict[int, float] = {}
    # Per client block (by position): what each connection had received before it.
    seen_before: dict[int, dict[int, int]] = {}
    for i, block in enumerate(blocks(name)):
        if block.dir == "client":
            seen_before[i] = {conn: _settled(ms) for conn, ms in recorded.items()}
        if block.dir == "server":
            parser = parsers.setdefault(block.conn, Parser())
            first_seen.setdefault(block.conn, block.t)
            recorded[block.conn].extend(
                m for m in parser.feed(block.data) if isinstance(m, Message)
            )

    scripts = _recorded_agi_commands(name)

    agi_simulated: list[list[str]] = []

    async def script(call: AGICall) -> None:
        commands, waits = scripts.pop(0) if scripts else ([], False)
        got: list[str] = []
        agi_simulated.append(got)
        try:
            for line in commands:
                got.append((await call.send(line)).text)
            if waits:
                await call.wait_hangup(timeout=30)
        finally:
            got.append("HANGUP" if call.hung_up else "no HANGUP")

    agi = FastAGIServer({"outbound": script}, port=0)
    agi_port = await agi.start()
    all_recorded = [m for conn in sorted(recorded) for m in recorded[conn]]
    first = next((m["Channel"] for m in all_recorded if m.name == "Newchannel"), None)
    counter = int(first.rsplit("-", 1)[1][:8], 16) if first and first.startswith("Local/") else 0
    # Channel names come from a long-running Asterisk's global counter and the recorded client
    # refers to them (Status, Redirect, Hangup): start where it started.
    challenge = next((m["Challenge"] for m in all_recorded if "Challenge" in m), None)
    config = SimConfig(
        route="lab", agi_port_override=agi_port, first_local_channel=counter, challenge=challenge
    )
    sim = SimulatedAsterisk(config, clock=ScaledClock(speed))
    _, port = await sim.start()
    loop = asyncio.get_running_loop()
    start = loop.time()
    simulated: dict[int, list[Message]] = defaultdict(list)
    arrived = asyncio.Event()

    async def caught_up(counts: dict[int, int]) -> None:
        while any(_settled(simulated[conn]) < n for conn, n in counts.items()):
            arrived.clear()
            await arrived.wait()

    async def connection(conn: int) -> None:
        await asyncio.sleep(max(0.0, start + first_seen[conn] / speed - loop.time()))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def read() -> None:
            p = Parser()
            while data := await reader.read(65536):
                simulated[conn].extend(m for m in p.feed(data) if not isinstance(m, Banner))
                arrived.set()

        reading = asyncio.create_task(read())
        for i, block in enumerate(blocks(name)):
            if block.dir != "client" or block.conn != conn:
                continue
            await asyncio.sleep(max(0.0, start + block.t / speed - loop.time()))
            # Bounded: where the simulator rightly sends fewer events, the comparison says so.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(caught_up(seen_before[i]), 3.0)
            writer.write(block.data)
            await writer.drain()
        try:
            await asyncio.wait_for(reading, 10)
        except TimeoutError:
            reading.cancel()
        writer.close()

    await asyncio.gather(*(connection(c) for c in sorted(first_seen)))
    await sim.stop()
    await agi.close()
    return Replay(dict(recorded), dict(simulated), recorded_agi_replies(name), agi_simulated)


def differences(result: Replay) -> list[str]:
    """Every way the simulator's traffic differs from the recording under the order rules."""
    problems: list[str] = []
    # FastAGI: the same reply to every command, byte for byte once channel names and unique
    # ids are renamed (README "FastAGI": result codes, data, endpos, 510, 511, HANGUP).
    for i, (rec_agi, got_agi) in enumerate(
        itertools.zip_longest(result.agi_recorded, result.agi_simulated, fillvalue=[])
    ):
        rename_rec, rename_got = Renamer(), Renamer()
        a = [rename_rec(line) for line in rec_agi]
        b = [rename_got(line) for line in got_agi]
        if a != b:
            problems.append(f"FastAGI session {i}:\n  rec {a}\n  got {b}")
    for conn, rec in result.recorded.items():
        got = result.simulated.get(conn, [])
        rec_responses = normalise([m for m in rec if not m.is_event])
        got_responses = normalise([m for m in got if not m.is_event])
        if rec_responses != got_responses:
            problems.append(f"c{conn} responses:\n  rec {rec_responses}\n  got {got_responses}")
        rec_groups, got_groups = groups(rec), groups(got)
        for key in sorted(set(rec_groups) | set(got_groups)):
            a, b = rec_groups.get(key, []), got_groups.get(key, [])
            if a and all(m.name.startswith("DeviceState") for m in a) and key.startswith("action:"):
                # DeviceStateList lists every device the recorded Asterisk had touched in earlier
                # captures: history the simulator cannot have. Compare the shape only.
                a = a[-1:]
                b = b[-1:]
                if [k for k, _ in a[0].headers] != [k for k, _ in b[0].headers]:
                    problems.append(f"c{conn} {key}: {a[0].headers} vs {b[0].headers}")
                continue
            if key.startswith("device:Queue:") and len(b) == len(a) + 1:
                # app_queue's own devices only report changes, and the recorded Asterisk had
                # earlier captures behind it: its first report may have been no change there.
                b = b[1:]
            names_a, names_b = [m.name for m in a], [m.name for m in b]
            if names_a != names_b:
                problems.append(f"c{conn} {key}:\n  rec {names_a}\n  got {names_b}")
                continue
            for x, y in zip(normalise(a), normalise(b), strict=True):
                if x != y:
                    diff = [(p, q) for p, q in zip(x, y, strict=False) if p != q][:4]
                    problems.append(f"c{conn} {key} {x[0]}: {diff} ({len(x)} vs {len(y)})")
                    break
    return problems
