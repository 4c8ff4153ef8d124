"""The FastAGI codec: environment, replies, HANGUP, 520 usage text, quoting."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agi.codec import (
    AGIProtocolError,
    Environment,
    HangupNotice,
    Parser,
    Reply,
    format_command,
    parse_reply,
)
from tests.agi.replay import agi_session

ENV = agi_session("05a_fastagi_full_human_1001")[0].data


def test_environment_block_from_a_real_asterisk() -> None:
    [env] = Parser().feed(ENV)
    assert isinstance(env, Environment)
    assert env.script == "outbound"
    assert env.channel == "Local/1001@sim-pstn-00000013;1"
    assert env.uniqueid == "1795349697.38"
    assert env.get("version") == "22.10.1"
    assert env.get("accountcode") == ""
    assert env.arguments == ["7", "42"]
    assert env.context == "dialer-out" and env.extension == "s"


def test_script_path_with_a_query_string() -> None:
    raw = ENV.replace(b"agi_network_script: outbound", b"agi_network_script: outbound?mode=amd&x=")
    [env] = Parser().feed(raw)
    assert isinstance(env, Environment)
    assert env.script == "outbound"
    assert env.params == {"mode": "amd", "x": ""}


@pytest.mark.parametrize(
    ("line", "code", "result", "data", "extras"),
    [
        ("200 result=1 (7)", 200, "1", "7", {}),
        ("200 result=0", 200, "0", None, {}),
        ("200 result=0 endpos=3520", 200, "0", None, {"endpos": "3520"}),
        (
            "200 result=1 (Local/5001@sim-pstn-00000014;1-42)",
            200,
            "1",
            "Local/5001@sim-pstn-00000014;1-42",
            {},
        ),
        ("200 result=-1", 200, "-1", None, {}),
        ("200 result= (timeout)", 200, "", "timeout", {}),
    ],
)
def test_reply_lines(
    line: str, code: int, result: str, data: str | None, extras: dict[str, str]
) -> None:
    reply = parse_reply(line)
    assert (reply.code, reply.result, reply.data, reply.extras) == (code, result, data, extras)


def test_error_replies() -> None:
    assert parse_reply("510 Invalid or unknown command").code == 510
    dead = parse_reply("511 Command Not Permitted on a dead channel or intercept routine")
    assert dead.dead_channel and not dead.ok


def test_hangup_line_between_a_command_and_its_reply() -> None:
    parser = Parser()
    parser.feed(ENV)
    items = parser.feed(b"HANGUP\n200 result=1 (7)\n")
    assert items == [HangupNotice(), Reply(200, "200 result=1 (7)", "1", "7", {})]


def test_a_multiline_520_is_one_reply_and_the_next_reply_stays_in_sync() -> None:
    parser = Parser()
    parser.feed(ENV)
    items = parser.feed(
        b"520-Invalid command syntax.  Proper usage follows:\n"
        b" Usage: STREAM FILE <filename> <escape_digits> [<sample offset>]\n"
        b"520 End of proper usage.\n200 result=0\n"
    )
    assert [type(i).__name__ for i in items] == ["Reply", "Reply"]
    first, second = items
    assert isinstance(first, Reply) and first.code == 520 and "Usage" in first.text
    assert isinstance(second, Reply) and second.code == 200 and second.result == "0"


def test_garbage_instead_of_an_environment_is_a_protocol_error() -> None:
    with pytest.raises(AGIProtocolError, match="environment"):
        Parser().feed(b"GET / HTTP/1.1\n")


def test_garbage_reply_is_a_protocol_error() -> None:
    parser = Parser()
    parser.feed(ENV)
    with pytest.raises(AGIProtocolError, match="not an AGI reply"):
        parser.feed(b"hello\n")


def test_format_command_quotes_empty_and_spaced_arguments() -> None:
    assert format_command("STREAM FILE", "beep", "") == b'STREAM FILE beep ""\n'
    assert format_command("VERBOSE", "dialer agi done", 1) == b'VERBOSE "dialer agi done" 1\n'
    assert format_command("SET VARIABLE", "X", 'a"b') == b'SET VARIABLE X "a\\"b"\n'


def test_format_command_refuses_line_breaks() -> None:
    with pytest.raises(ValueError, match="line break"):
        format_command("SET VARIABLE", "X", "1\nHANGUP")


_stream = b"".join(
    s.data for s in agi_session("05b_fastagi_full_machine_5001") if s.dir == "asterisk"
)


def _parse_split(data: bytes, cuts: list[int]) -> tuple[str, object]:
    parser = Parser()
    out: list[object] = []
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    try:
        for a, b in itertools.pairwise(points):
            out.extend(parser.feed(data[a:b]))
    except AGIProtocolError:
        return "error", None
    return "ok", out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0), max_size=30))
def test_a_recorded_session_split_anywhere_parses_the_same(cuts: list[int]) -> None:
    assert _parse_split(_stream, cuts) == _parse_split(_stream, [])


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0), max_size=8))
def test_any_bytes_give_the_same_result_or_a_clean_protocol_error(
    data: bytes, cuts: list[int]
) -> None:
    assert _parse_split(ENV + data, cuts) == _parse_split(ENV + data, [])


def asterisk_parse_args(line: str) -> list[str]:
    """res_agi.c ``parse_args``, ported as written: how Asterisk splits a command line."""
    args: list[str] = []
    cur: list[str] | None = None
    quoted = escaped = False
    whitespace = True
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                cur = []
                args.append("")
                whitespace = False
        elif ch in " \t" and not quoted and not escaped:
            whitespace = True
        elif ch == "\\" and not escaped:
            escaped = True
            continue
        else:
            if whitespace:
                cur = []
                args.append("")
                whitespace = False
            assert cur is not None
            cur.append(ch)
            args[-1] = "".join(cur)
        escaped = False
    return args


_argument = st.text(
    alphabet=st.characters(exclude_characters="\r\n\x00", exclude_categories=["Cs"]),
    max_size=20,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_argument, max_size=5))
def test_asterisk_splits_a_formatted_command_back_into_its_arguments(args: list[str]) -> None:
    line = format_command("SET VARIABLE", *args).decode("utf-8")
    assert line.endswith("\n") and line.count("\n") == 1
    assert asterisk_parse_args(line[:-1]) == ["SET", "VARIABLE", *args]


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b"])
def test_format_command_refuses_line_breaks_and_nul(bad: str) -> None:
    with pytest.raises(ValueError, match="line break or NUL"):
        format_command("VERBOSE", bad, 1)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0), max_size=8))
def test_garbage_before_the_environment_is_a_clean_protocol_error_or_nothing(
    data: bytes, cuts: list[int]
) -> None:
    assert _parse_split(data, cuts) == _parse_split(data, [])


def test_the_route_comes_from_agi_request_when_network_script_is_missing() -> None:
    raw = ENV.replace(b"agi_network_script: outbound\n", b"").replace(
        b"agi_request: agi://127.0.0.1:4573/outbound", b"agi_request: agi://h:4573/inbound?did=42"
    )
    [env] = Parser().feed(raw)
    assert isinstance(env, Environment)
    assert (env.script, env.params, env.network_script) == ("inbound", {"did": "42"}, "")


def test_a_reply_with_unknown_extras_keeps_result_data_and_key_values() -> None:
    reply = parse_reply("200 result=1 (a (b) c) endpos=12 odd-word")
    assert (reply.result, reply.data, reply.extras) == ("1", "a (b) c", {"endpos": "12"})


def test_a_reply_code_must_be_ascii_digits() -> None:
    with pytest.raises(AGIProtocolError):
        parse_reply("٢٠٠ result=1")


def test_a_520_text_that_never_ends_is_a_protocol_error() -> None:
    parser = Parser()
    parser.feed(ENV)
    with pytest.raises(AGIProtocolError, match="520"):
        parser.feed(b"520-Invalid command syntax.\n" + b" usage line\n" * 500)


def test_a_line_without_end_is_bounded() -> None:
    parser = Parser()
    parser.feed(ENV)
    with pytest.raises(AGIProtocolError, match="more than"):
        parser.feed(b"200 result=1 (" + b"x" * 70_000)


def test_an_error_is_sticky_the_session_cannot_resume() -> None:
    parser = Parser()
    with pytest.raises(AGIProtocolError):
        parser.feed(b"nonsense\n")
    with pytest.raises(AGIProtocolError):
        parser.feed(ENV)
