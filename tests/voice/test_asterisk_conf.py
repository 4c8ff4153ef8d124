"""dialer.asterisk_conf: includes, templates, comments and the dialplan, on small texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer.asterisk_conf import ConfError, dialplan, load, parse_text, split_args


def test_template_items_come_before_the_sections_own() -> None:
    conf = parse_text("[tpl](!)\na = 1\nb = 2\n[real](tpl)\nb = 3\n")
    real = conf.section("real")
    assert [(i.key, i.value) for i in real.items] == [("a", "1"), ("b", "2"), ("b", "3")]
    assert real.get("b") == "3"
    assert [s.name for s in conf.templates()] == ["tpl"]


def test_template_of_a_template_and_several_templates() -> None:
    conf = parse_text("[a](!)\nx = 1\n[b](!,a)\ny = 2\n[c](!)\nz = 3\n[d](b,c)\n")
    assert conf.section("d").as_dict() == {"x": "1", "y": "2", "z": "3"}


def test_repeated_names_are_kept_apart_as_pjsip_needs() -> None:
    conf = parse_text("[7001]\ntype = endpoint\n[7001]\ntype = aor\n")
    assert [s.get("type") for s in conf.named("7001")] == ["endpoint", "aor"]
    assert [s.name for s in conf.of_type("aor")] == ["7001"]


def test_plus_adds_to_the_earlier_section() -> None:
    conf = parse_text("[x]\na = 1\n[x](+)\nb = 2\n")
    assert conf.section("x").as_dict() == {"a": "1", "b": "2"}


def test_comments_line_block_and_escaped_semicolon() -> None:
    text = "[s]\na = 1 ; note\n;-- a\nblock = no\n--;\nb = x\\;y\nc = 3 ;-- inline --; \n"
    assert parse_text(text).section("s").as_dict() == {"a": "1", "b": "x;y", "c": "3"}


def test_include_is_read_in_place_relative_to_the_config_dir(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.conf").write_text("b = 2\n[other]\nc = 3\n")
    (tmp_path / "main.conf").write_text('[s]\na = 1\n#include "sub/more.conf"\nd = 4\n')
    conf = load(tmp_path / "main.conf")
    assert conf.section("s").as_dict() == {"a": "1", "b": "2"}
    assert conf.section("other").as_dict() == {"c": "3", "d": "4"}
    assert [p.name for p in conf.files] == ["main.conf", "more.conf"]


def test_missing_include_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "main.conf").write_text("[s]\n#include gone.conf\n")
    with pytest.raises(ConfError, match=r"main\.conf:2: #include 'gone\.conf': no such file"):
        load(tmp_path / "main.conf")


def test_tryinclude_of_a_missing_file_is_fine(tmp_path: Path) -> None:
    (tmp_path / "main.conf").write_text("[s]\n#tryinclude gone.conf\na = 1\n")
    assert load(tmp_path / "main.conf").section("s").get("a") == "1"


def test_include_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("#include b.conf\n")
    (tmp_path / "b.conf").write_text("#include a.conf\n")
    with pytest.raises(ConfError, match="#include loop"):
        load(tmp_path / "a.conf")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a = 1\n", r"<text>:1: 'a' comes before any \[section\]"),
        ("[s]\njunk\n", r"<text>:2: expected 'key = value'"),
        ("[s](nope)\n", r"<text>:1: \[s\] uses template 'nope', which is not defined"),
        ("[s]\n#exec /bin/true\n", r"<text>:2: #exec runs a program"),
        ("[s\n", r"<text>:1: bad section header"),
    ],
)
def test_bad_input_names_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfError, match=message):
        parse_text(text)


def test_dialplan_numbers_n_priorities_and_labels() -> None:
    text = (
        "[globals]\nX=1\n[ctx]\ninclude => other\n"
        "exten => s,1,NoOp(a,b)\n same => n(lbl),AGI(agi://h:4573/outbound,${A},${B})\n"
        " same => n,Hangup()\nexten => _X.,1,Goto(s,lbl)\n[other]\n"
    )
    ctx = dialplan(parse_text(text))["ctx"]
    assert ctx.includes == ["other"]
    assert ctx.apps("s") == [
        ("NoOp", "a,b"),
        ("AGI", "agi://h:4573/outbound,${A},${B}"),
        ("Hangup", ""),
    ]
    assert [s.label for s in ctx.steps if s.extension == "s"] == [None, "lbl", None]
    assert list(ctx.extensions()) == ["s", "_X."]


def test_same_without_exten_is_an_error() -> None:
    with pytest.raises(ConfError, match=r"<text>:2: 'same =>' with no 'exten =>'"):
        dialplan(parse_text("[c]\nsame => n,NoOp()\n"))


def test_split_args_respects_functions_and_expressions() -> None:
    assert split_args('$["${A}" = "x,y"]?a:b,Set(F(a,b)=1),c') == [
        '$["${A}" = "x,y"]?a:b',
        "Set(F(a,b)=1)",
        "c",
    ]
