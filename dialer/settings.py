"""The one settings object of the service, read from a TOML file and ``DIALER_*`` variables.

Precedence: built-in defaults < the TOML file < environment variables (env wins).

The file holds top-level keys and three tables::

    database_url = "sqlite+aiosqlite:///./var/dialer.sqlite3"
    redis_url = "redis://127.0.0.1:6379/0"   # optional: leases, live events, views (below)
    redis_key_prefix = "dialer:"             # one per floor sharing that Redis
    campaign_lease_seconds = 15.0            # a dead process's campaigns taken over after it
    tick_seconds = 1.0
    outcome_spool_dir = "./var/spool"        # outcomes kept on disk while the database is away
    [ami]
    host = "127.0.0.1"
    port = 5038
    [fastagi]
    port = 4573
    url = "agi://10.0.0.5:4573"              # what Asterisk dials; default agi://<host>:<port>
    exec_timeout_s = 14400                   # bound of one EXEC (Dial, Queue): the longest call
    [api]
    port = 8080

Each key has an environment variable ``DIALER_<KEY>``; a key of a table is
``DIALER_<TABLE>__<KEY>`` (two underscores), e.g. ``DIALER_AMI__HOST``, ``DIALER_API__PORT``.
An empty value of an optional key (``DIALER_REDIS_URL=``) means "none". ``DIALER_CONFIG`` names
the TOML file when ``load_settings`` gets no path. Other ``DIALER_*`` variables that name no
setting and no table (``DIALER_TEST_REQUIRE_SERVICES``) belong to other tools and are left alone;
``DIALER_<TABLE>__<unknown>`` is refused, since it can only be a typo.

Bad input raises :class:`SettingsError` naming the key or variable and the expected type.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "DIALER_"
CONFIG_ENV = "DIALER_CONFIG"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A setting has a bad name or value; the message names it and what was expected."""


@dataclass(frozen=True)
class AmiSettings:
    """Where the Asterisk Manager Interface listens (manager.conf) and who we log in as."""

    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "dialer"
    secret: str = "dialer"


@dataclass(frozen=True)
class FastAgiSettings:
    """Where our FastAGI server binds, and the ``agi://`` URL Asterisk uses to reach it.

    ``url`` differs from the bind address when Asterisk runs on another host or container
    (docs/architecture.md: ``AGI(agi://<dialer host>:4573/outbound,...)``). Empty: derived.
    """

    host: str = "127.0.0.1"
    port: int = 4573
    url: str = ""
    # An EXEC (Dial to an agent, Queue) lasts as long as the call, so it gets its own bound:
    # the longest call expected. A peer gone silent without closing then frees its handler.
    exec_timeout_s: float = 4 * 3600.0

    @property
    def agi_url(self) -> str:
        """The base URL without the script, e.g. ``agi://127.0.0.1:4573``."""
        return (self.url or f"agi://{self.host}:{self.port}").rstrip("/")

    @property
    def originate_url(self) -> str | None:
        """What each Originate names as ``DIALER_FASTAGI`` (several processes: answers come
        back to the one that dialed): only a URL given in the settings. A derived one may be a
        wildcard bind (0.0.0.0) Asterisk cannot dial; without one the dialplan's [globals]
        ``DIALER_FASTAGI`` serves."""
        return self.url.rstrip("/") or None


@dataclass(frozen=True)
class ApiSettings:
    host: str = "127.0.0.1"
    port: int = 8080


@dataclass(frozen=True)
class Settings:
    """Everything the service reads at start-up. Defaults are the embedded set-up (DESIGN.md:
    SQLite in a file, no Redis, everything on loopback)."""

    database_url: str = "sqlite+aiosqlite:///./var/dialer.sqlite3"
    redis_url: str | None = None
    # With Redis, several dialer processes share campaign leases, the live events and the
    # supervisors' views under these keys (docs/architecture.md, "Several dialer processes");
    # one prefix per floor.
    redis_key_prefix: str = "dialer:"
    # The life of a campaign lease (wall seconds): how soon another process takes over the
    # campaigns of one that died, and how long Redis may be away before they stop dialing.
    campaign_lease_seconds: float = 15.0
    tick_seconds: float = 1.0
    # docs/architecture.md step 3: a live answer not given an agent within 2 s is dropped.
    hand_off_limit_seconds: float = 2.0
    originate_timeout_ms: int = 30000
    trunk_context: str = "dialer-trunk"
    dialer_out_context: str = "dialer-out"
    sounds_dir: Path = Path("./sounds")
    # Outcomes waiting for a database that is away are kept here, one file per --owner, so a
    # process stopped meanwhile loses none (dialer/engine/outcome_spool.py); empty: memory only.
    outcome_spool_dir: Path | None = Path("./var/spool")
    log_level: str = "INFO"
    ami: AmiSettings = field(default_factory=AmiSettings)
    fastagi: FastAgiSettings = field(default_factory=FastAgiSettings)
    api: ApiSettings = field(default_factory=ApiSettings)


_TABLES: dict[str, type[Any]] = {
    "ami": AmiSettings,
    "fastagi": FastAgiSettings,
    "api": ApiSettings,
}


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from defaults, then the TOML file ``path`` (or ``$DIALER_CONFIG``), then ``env``.

    ``env`` defaults to ``os.environ``; pass a dict in tests. A missing file named explicitly
    is an error; no file at all is fine (defaults and environment only).
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    if path is None and environ.get(CONFIG_ENV):
        path = environ[CONFIG_ENV]
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_toml(Path(path))
    merged = _merge_env(raw, environ)
    settings: Settings = _build(Settings, merged, prefix="")
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise SettingsError(f"settings file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {str(path)!r} is not valid TOML: {exc}") from None


def _merge_env(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The file's values with every ``DIALER_*`` setting variable laid over them (as text)."""
    top = {f.name for f in dataclasses.fields(Settings)} - set(_TABLES)
    out: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        table, sep, sub = key.partition("__")
        if sep:
            if table not in _TABLES:
                continue  # not ours (another tool's DIALER_* variable)
            known = {f.name for f in dataclasses.fields(_TABLES[table])}
            if sub not in known:
                raise SettingsError(
                    f"environment variable {name}: [{table}] has no key {sub!r} "
                    f"(known: {', '.join(sorted(known))})"
                )
            section = out.setdefault(table, {})
            if not isinstance(section, dict):
                raise SettingsError(f"settings key {table!r} must be a table")
            section[sub] = _EnvText(name, value)
        elif key in top:
            out[key] = _EnvText(name, value)
    return out


class _EnvText(str):
    """A value that came from an environment variable: text to convert, and where it came from."""

    var: str

    def __new__(cls, var: str, value: str) -> _EnvText:
        obj = super().__new__(cls, value)
        obj.var = var
        return obj


def _build(cls: type[Any], data: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "settings"
    if not isinstance(data, dict):
        raise SettingsError(f"settings key {where!r} must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise SettingsError(
            f"unknown settings key {prefix + unknown[0]!r} (known: {', '.join(sorted(fields))})"
        )
    values: dict[str, Any] = {}
    for name, value in data.items():
        kind = hints[name]
        if name in _TABLES and cls is Settings:
            values[name] = _build(_TABLES[name], value, prefix=f"{name}.")
        else:
            values[name] = _convert(value, kind, prefix + name)
    settings = cls(**values)
    _check(settings, prefix)
    return settings


def _describe(kind: Any) -> str:
    names = {str: "text", int: "a whole number", float: "a number", Path: "a path"}
    args = typing.get_args(kind)
    if args:
        inner = [a for a in args if a is not type(None)]
        return " or ".join(names.get(a, str(a)) for a in inner) + " (or empty for none)"
    return names.get(kind, str(kind))


def _convert(value: Any, kind: Any, key: str) -> Any:
    """``value`` as ``kind``; TOML values must already have the type, env text is parsed."""
    source = (
        f"environment variable {value.var}"
        if isinstance(value, _EnvText)
        else (f"settings key {key!r}")
    )
    optional = isinstance(kind, types.UnionType) and type(None) in typing.get_args(kind)
    base = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
    if optional and (value is None or (isinstance(value, _EnvText) and value == "")):
        return None
    expected = _describe(kind)
    if isinstance(value, _EnvText):
        text = str(value).strip()
        try:
            if base is int:
                return int(text)
            if base is float:
                return float(text)
        except ValueError:
            raise SettingsError(f"{source}: {text!r} is not {expected}") from None
        return Path(text) if base is Path else str(value)
    ok = (
        (base is int and isinstance(value, int) and not isinstance(value, bool))
        or (base is float and isinstance(value, int | float) and not isinstance(value, bool))
        or (base in (str, Path) and isinstance(value, str))
    )
    if not ok:
        raise SettingsError(f"{source}: {value!r} is not {expected}")
    if base is float:
        return float(value)
    return Path(value) if base is Path else value


def _check(settings: Any, prefix: str) -> None:
    """Range checks that a type alone does not give."""
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        key = prefix + f.name
        if f.name == "port" and not 0 < value < 65536:
            raise SettingsError(f"settings key {key!r}: {value} is not a TCP port (1-65535)")
        if f.name in ("tick_seconds", "hand_off_limit_seconds") and not value > 0:
            raise SettingsError(f"settings key {key!r}: {value} must be a positive number")
        # A campaign dials until 1 s before its lease may lapse (keeper.FENCE_MARGIN_S).
        if f.name == "campaign_lease_seconds" and not value >= 2.0:
            raise SettingsError(
                f"settings key {key!r}: {value} s is too short (>= 2: a campaign stops "
                "dialing 1 s before its lease may lapse)"
            )
        if f.name == "originate_timeout_ms" and value < 1000:
            raise SettingsError(f"settings key {key!r}: {value} ms is too short (>= 1000)")
        if f.name == "log_level" and value.upper() not in LOG_LEVELS:
            raise SettingsError(
                f"settings key {key!r}: {value!r} is not one of {', '.join(LOG_LEVELS)}"
            )
