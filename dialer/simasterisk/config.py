"""Settings of the simulated Asterisk."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Literal
from urllib.parse import urlsplit

from dialer.simasterisk.dialplan import Dialplan, Extension, parse
from dialer.simasterisk.model import NumberModel

# The product's contexts: a trunk context whose numbers are played by the seeded model, and
# configs/asterisk/extensions_dialer.conf's [dialer-out] and [dialer-inbound] step for step
# (tests/voice/test_configs.py holds them equal), so the simulator runs the same fallback when
# the dialer's FastAGI cannot be reached.
PRODUCT_DIALPLAN = """
[{trunk}]
exten => _X.,1,NoOp(sim trunk ${{EXTEN}})
 same => n,SimParty()

[dialer-out]
exten => s,1,NoOp(dialer-out campaign=${{CAMPAIGN_ID}} attempt=${{ATTEMPT_ID}})
 same => n,AGI(${{DIALER_FASTAGI}}/outbound,${{CAMPAIGN_ID}},${{ATTEMPT_ID}})
 same => n,GotoIf($["${{AGISTATUS}}" = "FAILURE"]?drop)
 same => n,Hangup()
 same => n(drop),Set(DB(dialer_unreached/${{ATTEMPT_ID}})=${{EPOCH}})
 same => n,UserEvent(DialerUnreached,AttemptID: ${{ATTEMPT_ID}},AGIStatus: ${{AGISTATUS}})
 same => n,Playback(dialer/drop)
 same => n,Hangup()

[{inbound}]
exten => _X.,1,NoOp(inbound ${{EXTEN}})
 same => n,AGI(${{DIALER_FASTAGI}}/inbound,${{EXTEN}})
 same => n,GotoIf($["${{AGISTATUS}}" = "FAILURE"]?unavailable)
 same => n,Hangup()
 same => n(unavailable),Set(DB(dialer_unreached_inbound/${{STRFTIME(${{EPOCH}},UTC,%Y%m%d)}}/${{UNIQUEID}})=${{EPOCH}} ${{EXTEN}} ${{CALLERID(num)}})
 same => n,UserEvent(DialerUnreachedInbound,DID: ${{EXTEN}})
 same => n,Answer()
 same => n,Playback(dialer/unavailable)
 same => n,Hangup()
exten => _+X.,1,Goto(${{EXTEN:1}},1)
"""  # noqa: E501 (configs/asterisk has a step longer than our code lines)


@dataclass
class SimConfig:
    """How the simulated Asterisk listens, what it runs, and who answers its calls."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port (tests); 5038 to stand in for a real Asterisk
    username: str = "dialer"
    secret: str = "dialer"
    fastagi_url: str = "agi://127.0.0.1:4573"
    route: Literal["dialer", "lab"] = "dialer"  # what [dialer-out] exten s runs
    trunk_context: str = "dialer-trunk"
    inbound_context: str = "dialer-inbound"
    queues: tuple[str, ...] = ("sales",)
    queue_ring_timeout_s: float = 15.0
    queue_retry_s: float = 2.0
    login_failure_delay_s: float = 1.0  # Asterisk answers a bad secret after 1 s
    # Answer() returns only after the media path is up; the caller's side meanwhile starts its
    # dialplan (02e, 02f: the ;1 runs AGI before the ;2's next step). Seconds of sim time.
    answer_media_wait_s: float = 0.05
    first_local_channel: int = 0  # the 8-hex counter of the first Local channel
    challenge: str | None = None  # a fixed MD5 login challenge (None: random, as Asterisk)
    # Connect AGI() to this port whatever the dialplan's URL says (the URL text is unchanged in
    # events and agi_request): lets tests run the lab dialplan's fixed agi://127.0.0.1:4573.
    agi_port_override: int | None = None
    model: NumberModel = field(default_factory=NumberModel)
    extra_dialplan: str = ""

    def __post_init__(self) -> None:
        # AGI() reaches a FastAGI server only through agi://host[:port] (res_agi.c); anything
        # else would fail on every answered call, far from the mistake.
        url = urlsplit(self.fastagi_url)
        if url.scheme != "agi" or not url.hostname:
            raise ValueError(
                f"fastagi_url {self.fastagi_url!r}: use agi://<host>[:<port>] (FastAGI)"
            )
        try:
            url.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            raise ValueError(f"fastagi_url {self.fastagi_url!r}: bad port") from None

    def build_dialplan(self) -> Dialplan:
        text = resources.files("dialer.simasterisk").joinpath("lab-extensions.conf").read_text()
        plan = parse(text)
        product = parse(
            PRODUCT_DIALPLAN.format(
                trunk=self.trunk_context,
                inbound=self.inbound_context,
            )
        )
        for name, extensions in product.contexts.items():
            if name == "dialer-out":
                if self.route == "dialer":
                    _replace(plan.contexts.setdefault(name, []), extensions)
            else:
                plan.contexts[name] = extensions
        if self.extra_dialplan:
            plan = plan.merged(parse(self.extra_dialplan))
        return plan


def _replace(target: list[Extension], new: list[Extension]) -> None:
    for ext in new:
        for i, old in enumerate(target):
            if old.pattern == ext.pattern:
                target[i] = ext
                break
        else:
            target.append(ext)
