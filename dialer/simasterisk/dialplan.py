"""The subset of Asterisk's extensions.conf the simulator runs: parse, match, expand. Pure.

The simulator reads real dialplan text (the lab's ``lab-extensions.conf`` and the product's
``dialer.conf``), so its Newexten events carry the same Application/AppData/Priority values a real
Asterisk would emit for the same file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    priority: int
    app: str
    data: str
    label: str | None = None


@dataclass
class Extension:
    pattern: str
    steps: dict[int, Step] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)

    def matches(self, exten: str) -> bool:
        return match_pattern(self.pattern, exten)


@dataclass
class Dialplan:
    contexts: dict[str, list[Extension]] = field(default_factory=dict)

    def find(self, context: str, exten: str) -> Extension | None:
        """The extension that handles ``exten``: literal names before patterns, as Asterisk."""
        extensions = self.contexts.get(context)
        if not extensions:
            return None
        for ext in extensions:
            if not ext.pattern.startswith("_") and ext.pattern == exten:
                return ext
        for ext in extensions:
            if ext.pattern.startswith("_") and ext.matches(exten):
                return ext
        return None

    def step(self, context: str, exten: str, priority: int) -> Step | None:
        ext = self.find(context, exten)
        return None if ext is None else ext.steps.get(priority)

    def merged(self, other: Dialplan) -> Dialplan:
        """This dialplan with ``other``'s contexts added (``other`` wins on a shared name)."""
        return Dialplan({**self.contexts, **other.contexts})


_LINE = re.compile(r"^\s*(exten|same)\s*=>\s*(.*)$")
_APP = re.compile(r"^([A-Za-z0-9_]+)(?:\((.*)\))?$")


def _split_app(text: str) -> tuple[str, str]:
    text = text.strip()
    match = _APP.match(text)
    if not match:
        return text, ""
    return match.group(1), match.group(2) or ""


def parse(text: str) -> Dialplan:
    """Parse ``[context]`` blocks with ``exten =>`` and ``same =>`` lines (n, labels ``n(x)``)."""
    plan = Dialplan()
    context: str | None = None
    current: Extension | None = None
    last_priority = 0
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].rstrip()
        if not line.strip():
            continue
        stripped = line.strip()
        if stripped.startswith("["):
            context = stripped[1 : stripped.index("]")]
            plan.contexts.setdefault(context, [])
            current = None
            continue
        match = _LINE.match(line)
        if not match or context is None or context in ("general", "globals"):
            continue
        kind, rest = match.groups()
        if kind == "exten":
            pattern, prio, app_text = rest.split(",", 2)
            pattern = pattern.strip()
            found = next((e for e in plan.contexts[context] if e.pattern == pattern), None)
            if found is None:
                found = Extension(pattern)
                plan.contexts[context].append(found)
            current = found
        else:
            if current is None:
                raise ValueError(f"'same =>' without an extension: {raw!r}")
            prio, app_text = rest.split(",", 1)
        prio = prio.strip()
        label = None
        label_match = re.match(r"^(n|\d+)\((\w+)\)$", prio)
        if label_match:
            prio, label = label_match.groups()
        number = last_priority + 1 if prio == "n" else int(prio)
        app, data = _split_app(app_text)
        assert current is not None
        current.steps[number] = Step(number, app, data, label)
        if label:
            current.labels[label] = number
        last_priority = number
    return plan


def match_pattern(pattern: str, exten: str) -> bool:
    """Asterisk extension patterns: ``_`` then X, Z, N, [ranges], ``.`` and ``!``."""
    if not pattern.startswith("_"):
        return pattern == exten
    regex = ""
    body = pattern[1:]
    i = 0
    while i < len(body):
        c = body[i]
        if c == "X":
            regex += "[0-9]"
        elif c == "Z":
            regex += "[1-9]"
        elif c == "N":
            regex += "[2-9]"
        elif c == ".":
            regex += ".+"
        elif c == "!":
            regex += ".*"
        elif c == "[":
            end = body.index("]", i)
            regex += "[" + body[i + 1 : end] + "]"
            i = end
        else:
            regex += re.escape(c)
        i += 1
    return re.fullmatch(regex, exten) is not None


_VAR = re.compile(r"\$\{([^{}]+)\}")
_EXPR = re.compile(r"\$\[(.*)\]")


def expand(text: str, lookup: Callable[[str], str]) -> str:
    """Substitute ``${VAR}`` (innermost first) and evaluate simple ``$[a = b]`` expressions."""
    previous = None
    while previous != text:
        previous = text
        text = _VAR.sub(lambda m: lookup(m.group(1)), text)
    match = _EXPR.search(text)
    if match:
        text = text[: match.start()] + _evaluate(match.group(1)) + text[match.end() :]
    return text


def _evaluate(expression: str) -> str:
    for op in ("!=", "="):
        if op in expression:
            left, right = (part.strip().strip('"') for part in expression.split(op, 1))
            equal = left == right
            return "1" if (equal if op == "=" else not equal) else "0"
    return expression.strip()


def split_args(data: str) -> list[str]:
    """Application arguments split on commas, outside parentheses."""
    out: list[str] = []
    depth = 0
    current = ""
    for c in data:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            out.append(current)
            current = ""
        else:
            current += c
    out.append(current)
    return out


def channel_variables(mapping: Mapping[str, str]) -> Callable[[str], str]:
    return lambda name: mapping.get(name, "")
