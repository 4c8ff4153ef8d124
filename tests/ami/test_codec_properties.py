"""Property tests: any byte stream, split anywhere, gives the same messages or a clean error."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ami.codec import Banner, Message, Parser, ProtocolError, encode
from tests.transcripts import blocks

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
SAMPLE = b"".join(b.data for b in blocks("02a_originate_1001_human") if b.dir == "server")

_text = st.text(
    alphabet=st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]),
    max_size=30,
)
_key = st.text(
    alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Nd"), max_codepoint=0x7F),
    min_size=1,
    max_size=12,
)
messages = st.lists(st.tuples(_key, _text), min_size=1, max_size=8).map(Message)


def _feed_split(data: bytes, cuts: list[int], **kw: object) -> list[Banner | Message]:
    parser = Parser(**kw)  # type: ignore[arg-type]
    out: list[Banner | Message] = []
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for a, b in itertools.pairwise(points):
        out.extend(parser.feed(data[a:b]))
    return out


def _outcome(data: bytes, cuts: list[int]) -> tuple[str, object]:
    try:
        return "ok", _feed_split(data, cuts)
    except ProtocolError:
        return "error", None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(SAMPLE)), max_size=40))
def test_a_recorded_stream_split_anywhere_gives_the_same_messages(cuts: list[int]) -> None:
    assert _feed_split(SAMPLE, cuts) == _feed_split(SAMPLE, [])


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(min_value=0), max_size=10))
def test_any_bytes_split_anywhere_give_the_same_result_or_a_protocol_error(
    data: bytes, cuts: list[int]
) -> None:
    stream = BANNER + data
    assert _outcome(stream, cuts) == _outcome(stream, [])


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_never_raises_anything_but_protocol_error(data: bytes) -> None:
    parser = Parser()
    try:
        parser.feed(data)
        parser.feed(b"\r\n\r\n")
    except ProtocolError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.lists(messages, min_size=1, max_size=5), st.lists(st.integers(min_value=0), max_size=8))
def test_round_trip_message_to_bytes_to_message(msgs: list[Message], cuts: list[int]) -> None:
    wire = BANNER + b"".join(encode(m) for m in msgs)
    out = _feed_split(wire, cuts)
    assert out[0] == Banner("Asterisk Call Manager/11.0.0")
    assert out[1:] == msgs


def test_values_keep_their_raw_bytes() -> None:
    raw = b"Event: UserEvent\r\nName: caf\xc3\xa9 \xff\xfe\r\n\r\n"
    [msg] = Parser(expect_banner=False).feed(raw)
    assert isinstance(msg, Message)
    assert msg.raw_value("Name") == b"caf\xc3\xa9 \xff\xfe"
    assert msg["Name"].startswith("café")
    assert encode(msg) == raw


def test_a_utf8_character_split_across_reads_is_not_corrupted() -> None:
    raw = "Event: UserEvent\r\nName: Muñoz\r\n\r\n".encode()
    cut = raw.index(b"\xc3") + 1
    parser = Parser(expect_banner=False)
    assert parser.feed(raw[:cut]) == []
    [msg] = parser.feed(raw[cut:])
    assert isinstance(msg, Message)
    assert msg["Name"] == "Muñoz"


@pytest.mark.parametrize("value", ["a\r\nAction: Originate", "x\ny", "\r"])
def test_encode_refuses_line_breaks_in_values(value: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        encode(Message.action("UserEvent", UserEvent="x", Note=value))


def test_a_message_over_the_size_limit_is_a_protocol_error() -> None:
    parser = Parser(expect_banner=False, max_message_size=64)
    with pytest.raises(ProtocolError, match="limit"):
        parser.feed(b"Event: X\r\nData: " + b"x" * 100)


def test_a_failed_parser_stays_failed() -> None:
    parser = Parser()
    with pytest.raises(ProtocolError, match="not an AMI server"):
        parser.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(ProtocolError):
        parser.feed(BANNER)


def test_lookups_are_case_insensitive_and_first_value_wins() -> None:
    msg = Message([("Event", "Status"), ("Variable", "A=1"), ("Variable", "B=2")])
    assert msg["variable"] == "A=1"
    assert msg.get_all("VARIABLE") == ["A=1", "B=2"]
    assert msg.variables() == {"A": "1", "B": "2"}


def test_bare_lf_framing_is_accepted() -> None:
    [msg] = Parser(expect_banner=False).feed(b"Action: Ping\nActionID: 1\n\n")
    assert isinstance(msg, Message)
    assert dict(msg) == {"Action": "Ping", "ActionID": "1"}


_pieces = st.sampled_from(
    [b"\r\n", b"\r\n\r\n", b"\n", b"\r", b"Event", b": ", b":", b"x", b"\xc3\xa9", b"\xc3"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_pieces, max_size=60), st.lists(st.integers(min_value=0), max_size=10))
def test_line_break_soup_split_anywhere_gives_the_same_result(
    pieces: list[bytes], cuts: list[int]
) -> None:
    # CR/LF-heavy input drives both framing paths (pure CRLF and mixed) and the switch between
    # them: the split points must never change the messages.
    stream = BANNER + b"".join(pieces)
    assert _outcome(stream, cuts) == _outcome(stream, [])


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # A single ChanVariable broke panoramisk's getdict(); one or many, it is a dict here.
        (b"ChanVariable: ATTEMPT_ID=7\r\n", {"ATTEMPT_ID": "7"}),
        (
            b"ChanVariable: ATTEMPT_ID=7\r\nChanVariable: NOTE=a=b\r\n",
            {"ATTEMPT_ID": "7", "NOTE": "a=b"},
        ),
        (b"", {}),
    ],
)
def test_chan_variables_read_as_a_dict(lines: bytes, expected: dict[str, str]) -> None:
    [msg] = Parser(expect_banner=False).feed(b"Event: Hangup\r\n" + lines + b"Cause: 16\r\n\r\n")
    assert isinstance(msg, Message)
    assert msg.variables("ChanVariable") == expected
    assert msg["Cause"] == "16"
