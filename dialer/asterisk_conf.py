"""A small, pure parser for Asterisk ``.conf`` files (what ``main/config.c`` reads).

pyst2's parser stops at ``#include`` and at templates; this one handles what our configs use:

- sections ``[name]``, templates ``[name](!)``, sections built from templates
  ``[name](tpl1,tpl2)`` (template items come first, in order), a template built from templates
  ``[name](!,tpl)``, and additions to an earlier section ``[name](+)``;
- ``key = value`` and ``key => value`` (the same thing to Asterisk; kept apart for the dialplan);
- ``;`` comments (``\\;`` is a literal semicolon), block comments ``;-- ... --;``;
- ``#include file`` / ``#include "file"`` and ``#tryinclude`` (relative paths are relative to
  the configuration directory, as Asterisk's ``astetcdir``; glob patterns allowed); ``#exec`` is
  refused since a checker must not run programs.

A name may repeat (pjsip.conf uses ``[7001]`` for an endpoint and for its aor), so a file is a
list of sections. :func:`dialplan` turns extensions.conf's sections into contexts of
extensions (``exten =>`` / ``same =>``, priorities ``1``, ``n``, ``n(label)``, ``hint``).

Errors raise :class:`ConfError` with ``file:line``.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


class ConfError(ValueError):
    """The file cannot be read as an Asterisk configuration; the message names file and line."""


@dataclass(frozen=True)
class Item:
    key: str
    value: str
    arrow: bool  # written ``=>`` rather than ``=``
    file: Path
    line: int


@dataclass
class Section:
    name: str
    is_template: bool = False
    templates: tuple[str, ...] = ()
    items: list[Item] = field(default_factory=list)
    file: Path = Path()
    line: int = 0

    def get(self, key: str, default: str | None = None) -> str | None:
        """The last value of ``key`` (Asterisk's "last one wins" for single-valued options)."""
        values = self.getall(key)
        return values[-1] if values else default

    def getall(self, key: str) -> list[str]:
        return [i.value for i in self.items if i.key == key]

    def as_dict(self) -> dict[str, str]:
        return {i.key: i.value for i in self.items}


@dataclass
class Config:
    """One configuration file with its includes resolved and its templates applied."""

    path: Path
    sections: list[Section] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # every file read, the top one first

    def named(self, name: str) -> list[Section]:
        """Every non-template section called ``name``."""
        return [s for s in self.sections if s.name == name and not s.is_template]

    def section(self, name: str) -> Section:
        """The one non-template section ``name``; :class:`ConfError` if absent or repeated."""
        found = self.named(name)
        if len(found) != 1:
            what = "no section" if not found else f"{len(found)} sections"
            raise ConfError(f"{self.path}: {what} [{name}]")
        return found[0]

    def templates(self) -> list[Section]:
        return [s for s in self.sections if s.is_template]

    def of_type(self, type_: str) -> list[Section]:
        """pjsip.conf style: the non-template sections with ``type = type_``."""
        return [s for s in self.sections if not s.is_template and s.get("type") == type_]


_SECTION = re.compile(r"^\[(?P<name>[^\]]+)\]\s*(?:\((?P<opts>[^)]*)\))?\s*$")
_DIRECTIVE = re.compile(r"^#\s*(?P<kind>include|tryinclude|exec)\s+(?P<arg>.+?)\s*$")


def load(path: str | Path, *, config_dir: str | Path | None = None) -> Config:
    """Parse ``path`` and everything it includes; ``config_dir`` (default: ``path``'s
    directory) is where relative ``#include`` paths are looked up."""
    top = Path(path)
    base = Path(config_dir) if config_dir is not None else top.parent
    conf = Config(path=top)
    _read_file(top, base, conf, current=None, stack=())
    _apply_templates(conf)
    return conf


def parse_text(text: str, *, name: str = "<text>", config_dir: str | Path = ".") -> Config:
    """Parse configuration text (tests); includes are looked up in ``config_dir``."""
    conf = Config(path=Path(name))
    _read_lines(text, Path(name), Path(config_dir), conf, current=None, stack=(Path(name),))
    _apply_templates(conf)
    return conf


def _read_file(
    path: Path, base: Path, conf: Config, current: Section | None, stack: tuple[Path, ...]
) -> Section | None:
    resolved = path.resolve()
    if resolved in stack:
        chain = " -> ".join(str(p) for p in (*stack, resolved))
        raise ConfError(f"{path}: #include loop ({chain})")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    conf.files.append(path)
    return _read_lines(text, path, base, conf, current, (*stack, resolved))


def _strip_comment(line: str, in_block: bool) -> tuple[str, bool]:
    """The line without comments, and whether a ``;-- --;`` block is still open after it."""
    out: list[str] = []
    i = 0
    while i < len(line):
        if in_block:
            end = line.find("--;", i)
            if end < 0:
                return "".join(out), True
            i = end + 3
            in_block = False
            continue
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if ch == ";":
            if line.startswith(";--", i):
                in_block = True
                i += 3
                continue
            break
        out.append(ch)
        i += 1
    return "".join(out), in_block


def _read_lines(
    text: str,
    path: Path,
    base: Path,
    conf: Config,
    current: Section | None,
    stack: tuple[Path, ...],
) -> Section | None:
    in_block = False
    for lineno, raw_line in enumerate(text.splitlines(), start=1):
        line, in_block = _strip_comment(raw_line, in_block)
        line = line.strip()
        if not line:
            continue
        where = f"{path}:{lineno}"
        if line.startswith("#"):
            current = _directive(line, where, base, conf, current, stack)
            continue
        if line.startswith("["):
            current = _section(line, where, path, lineno, conf)
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfError(f"{where}: expected 'key = value', '[section]' or '#include': {line!r}")
        arrow = value.startswith(">")
        if arrow:
            value = value[1:]
        key = key.strip()
        if not key:
            raise ConfError(f"{where}: a value with no key: {line!r}")
        if current is None:
            raise ConfError(f"{where}: {key!r} comes before any [section]")
        current.items.append(Item(key, value.strip(), arrow, path, lineno))
    if in_block:
        raise ConfError(f"{path}: a ';--' block comment is never closed")
    return current


def _section(line: str, where: str, path: Path, lineno: int, conf: Config) -> Section:
    m = _SECTION.match(line)
    if m is None:
        raise ConfError(f"{where}: bad section header {line!r}")
    name = m["name"].strip()
    if not name:
        raise ConfError(f"{where}: empty section name")
    opts = [o.strip() for o in (m["opts"] or "").split(",") if o.strip()]
    if "+" in opts:
        earlier = [s for s in conf.sections if s.name == name]
        if not earlier:
            raise ConfError(f"{where}: [{name}](+) adds to a section that does not exist")
        return earlier[-1]
    is_template = "!" in opts
    templates = tuple(o for o in opts if o != "!")
    section = Section(name, is_template, templates, file=path, line=lineno)
    conf.sections.append(section)
    return section


def _directive(
    line: str,
    where: str,
    base: Path,
    conf: Config,
    current: Section | None,
    stack: tuple[Path, ...],
) -> Section | None:
    m = _DIRECTIVE.match(line)
    if m is None:
        raise ConfError(f"{where}: unknown directive {line.split()[0]!r}")
    if m["kind"] == "exec":
        raise ConfError(f"{where}: #exec runs a program; this checker refuses it")
    arg = m["arg"].strip().strip('"').strip("<>")
    target = Path(arg) if Path(arg).is_absolute() else base / arg
    matches = sorted(glob.glob(str(target))) if glob.has_magic(str(target)) else [str(target)]
    existing = [Path(p) for p in matches if Path(p).exists()]
    if not existing:
        if m["kind"] == "tryinclude":
            return current
        raise ConfError(f"{where}: #include {arg!r}: no such file (looked for {target})")
    for p in existing:
        current = _read_file(p, base, conf, current, stack)
    return current


def _apply_templates(conf: Config) -> None:
    """Put each section's templates' items before its own (depth first, as Asterisk does)."""
    by_name: dict[str, list[Section]] = {}
    for s in conf.sections:
        by_name.setdefault(s.name, []).append(s)

    def expanded(section: Section, seen: tuple[str, ...]) -> list[Item]:
        items: list[Item] = []
        for tpl_name in section.templates:
            if tpl_name in seen:
                raise ConfError(
                    f"{section.file}:{section.line}: template loop {' -> '.join((*seen, tpl_name))}"
                )
            # Asterisk takes the most recent earlier section of that name (template or not).
            candidates = [t for t in by_name.get(tpl_name, []) if t is not section]
            if not candidates:
                raise ConfError(
                    f"{section.file}:{section.line}: [{section.name}] uses template "
                    f"{tpl_name!r}, which is not defined"
                )
            tpl = candidates[-1]
            items.extend(expanded(tpl, (*seen, tpl_name)))
        items.extend(section.items)
        return items

    resolved = {id(s): expanded(s, (s.name,)) for s in conf.sections}
    for s in conf.sections:
        s.items = resolved[id(s)]


# -- extensions.conf ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One dialplan priority: ``exten => pattern,priority(label),App(args)``."""

    context: str
    extension: str
    priority: int | str  # a number, or "hint"
    label: str | None
    app: str
    args: str
    file: Path
    line: int


@dataclass
class Context:
    name: str
    steps: list[Step] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    switches: list[str] = field(default_factory=list)

    def extensions(self) -> dict[str, list[Step]]:
        out: dict[str, list[Step]] = {}
        for step in self.steps:
            out.setdefault(step.extension, []).append(step)
        return out

    def apps(self, extension: str) -> list[tuple[str, str]]:
        """``(application, arguments)`` of ``extension``'s numbered priorities, in order."""
        steps = [s for s in self.steps if s.extension == extension and s.priority != "hint"]
        return [(s.app, s.args) for s in sorted(steps, key=lambda s: int(s.priority))]


_PRIORITY = re.compile(r"^(?P<prio>\d+|n|hint|s)(?:\+(?P<plus>\d+))?(?:\((?P<label>[^)]*)\))?$")
_APP = re.compile(r"^(?P<app>[A-Za-z0-9_]+)\s*(?:\((?P<args>.*)\))?\s*$", re.DOTALL)


def split_args(text: str) -> list[str]:
    """Split on commas outside ``()``, ``[]``, ``${}``/``$[]`` and double quotes."""
    parts: list[str] = []
    depth = 0
    quoted = False
    cur: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "([{":
            depth += 1
        elif not quoted and ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0 and not quoted:
            parts.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


# Sections of extensions.conf that are settings, not contexts.
NON_CONTEXTS = frozenset({"general", "globals"})


def dialplan(conf: Config) -> dict[str, Context]:
    """The contexts of a parsed extensions.conf (templates applied, template contexts left out)."""
    contexts: dict[str, Context] = {}
    for section in conf.sections:
        if section.is_template or section.name in NON_CONTEXTS:
            continue
        ctx = contexts.setdefault(section.name, Context(section.name))
        last: tuple[str, int] | None = None  # (extension, priority) of the previous step
        labels: set[tuple[str, str]] = set()
        for item in section.items:
            where = f"{item.file}:{item.line}"
            if item.key == "include":
                ctx.includes.append(item.value)
                continue
            if item.key == "switch":
                ctx.switches.append(item.value)
                continue
            if item.key not in ("exten", "same"):
                raise ConfError(f"{where}: [{section.name}]: unknown dialplan keyword {item.key!r}")
            fields = split_args(item.value)
            if item.key == "exten":
                if len(fields) < 3:
                    raise ConfError(f"{where}: exten needs 'pattern,priority,Application(...)'")
                extension, prio_text, app_text = (
                    fields[0].strip(),
                    fields[1].strip(),
                    ",".join(fields[2:]),
                )
            else:
                if last is None:
                    raise ConfError(f"{where}: 'same =>' with no 'exten =>' before it")
                if len(fields) < 2:
                    raise ConfError(f"{where}: same needs 'priority,Application(...)'")
                extension = last[0]
                prio_text, app_text = fields[0].strip(), ",".join(fields[1:])
            extension = extension.split("/")[0]  # caller-id match part is not the extension
            m = _PRIORITY.match(prio_text)
            if m is None:
                raise ConfError(f"{where}: bad priority {prio_text!r}")
            label = m["label"] or None
            priority: int | str
            if m["prio"] == "hint":
                priority = "hint"
            elif m["prio"] == "n":
                if last is None or last[0] != extension:
                    raise ConfError(
                        f"{where}: priority 'n' with no earlier priority of {extension}"
                    )
                priority = last[1] + 1
            elif m["prio"] == "s":
                if last is None or last[0] != extension:
                    raise ConfError(
                        f"{where}: priority 's' with no earlier priority of {extension}"
                    )
                priority = last[1]
            else:
                priority = int(m["prio"])
            if m["plus"]:
                if not isinstance(priority, int):
                    raise ConfError(f"{where}: bad priority {prio_text!r}")
                priority += int(m["plus"])
            if label is not None:
                if (extension, label) in labels:
                    raise ConfError(f"{where}: label {label!r} used twice in {extension}")
                labels.add((extension, label))
            if priority == "hint":
                app, args = "", app_text.strip()  # a device, not an application
            else:
                app_match = _APP.match(app_text.strip())
                if app_match is None:
                    raise ConfError(f"{where}: bad application {app_text.strip()!r}")
                app, args = app_match["app"], app_match["args"] or ""
            ctx.steps.append(
                Step(section.name, extension, priority, label, app, args, item.file, item.line)
            )
            if isinstance(priority, int):
                last = (extension, priority)
    return contexts


def globals_of(conf: Config) -> dict[str, str]:
    """extensions.conf's ``[globals]`` variables (last value wins)."""
    out: dict[str, str] = {}
    for section in conf.named("globals"):
        for item in section.items:
            out[item.key] = item.value
    return out


_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def expand(text: str, variables: dict[str, str]) -> str:
    """Replace ``${NAME}`` with known variables (others are left as they are)."""
    return _VAR.sub(lambda m: variables.get(m[1], m[0]), text)


def iter_steps(contexts: dict[str, Context]) -> Iterator[Step]:
    for ctx in contexts.values():
        yield from ctx.steps
