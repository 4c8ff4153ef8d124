"""``python -m dialer.simasterisk``: bad options are one-line usage errors, not tracebacks."""

from __future__ import annotations

import pytest

from dialer.simasterisk import SimConfig
from dialer.simasterisk.__main__ import parse


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--speed", "0"], "--speed 0: must be positive"),
        (["--port", "70000"], "--port 70000: not a TCP port"),
        (["--p-busy", "2"], "outcome probabilities add up to 2.500 > 1"),
        (["--fastagi-url", "http://dialer:4573"], "use agi://<host>[:<port>]"),
        (["--fastagi-url", "agi://dialer:99999"], "bad port"),
    ],
)
def test_a_bad_option_is_a_usage_error_naming_it(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_the_defaults_parse() -> None:
    args = parse([])
    assert (args.port, args.speed, args.fastagi_url) == (5038, 1.0, "agi://127.0.0.1:4573")


def test_a_fastagi_url_without_port_is_asterisks_default() -> None:
    assert SimConfig(fastagi_url="agi://dialer").fastagi_url == "agi://dialer"
