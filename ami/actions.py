"""Typed AMI actions: pure builders that return a :class:`~ami.codec.Message`. No I/O.

The client (:mod:`ami.client`) sends them; the simulated Asterisk and the tests can build the same
actions without a socket. Header names and value forms are those of the recorded Asterisk 22
sessions (../shared/asterisk/README.md and transcripts 01-04).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Final

from ami.codec import Message

__all__ = [
    "STATE_CHANGING",
    "challenge",
    "command",
    "core_show_channels",
    "getvar",
    "hangup",
    "is_state_changing",
    "login",
    "login_md5",
    "logoff",
    "md5_key",
    "originate",
    "ping",
    "queue_add",
    "queue_pause",
    "queue_remove",
    "queue_status",
    "queue_summary",
    "redirect",
    "setvar",
    "status",
    "user_event",
]

# Actions whose effect cannot be undone or safely repeated: if the link drops before their reply,
# whether they happened is unknown, and sending them again could dial a customer twice
# (DESIGN.md, "Data and durability"). The client never re-sends *any* action; this set is what it
# names in its errors and what callers must reconcile after a reconnect.
STATE_CHANGING: Final = frozenset(
    {
        "originate",
        "hangup",
        "redirect",
        "setvar",
        "queueadd",
        "queueremove",
        "queuepause",
        "queuepenalty",
        "queuelog",
        "userevent",
    }
)


def is_state_changing(action: str | Message) -> bool:
    name = action if isinstance(action, str) else action.name
    return name.lower() in STATE_CHANGING


def _bool(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def ping(action_id: str | None = None) -> Message:
    return Message.action("Ping", ActionID=action_id)


def logoff(action_id: str | None = None) -> Message:
    return Message.action("Logoff", ActionID=action_id)


def login(username: str, secret: str, *, events: str = "on") -> Message:
    """Plain login (transcript 01, c1). ``events``: ``on``, ``off`` or a class list."""
    return Message.action("Login", Username=username, Secret=secret, Events=events)


def challenge() -> Message:
    """Ask for an MD5 challenge (transcript 01, c5)."""
    return Message.action("Challenge", AuthType="MD5")


def md5_key(challenge_token: str, secret: str) -> str:
    """The Key of an MD5 login: md5(challenge + secret) in hex (transcript 01, c5)."""
    return hashlib.md5((challenge_token + secret).encode()).hexdigest()


def login_md5(username: str, key: str, *, events: str = "on") -> Message:
    return Message.action("Login", AuthType="MD5", Username=username, Key=key, Events=events)


def _variable_header(variables: Mapping[str, str | int]) -> str:
    # One comma-separated header: Asterisk applies it to both Local halves (transcript 02a), and
    # splits it on commas, so a comma inside a value would smuggle in another variable.
    for name, value in variables.items():
        if not name or "=" in name or "," in name:
            raise ValueError(f"channel variable name {name!r} cannot be sent in a Variable header")
        if "," in str(value):
            raise ValueError(
                f"channel variable {name}={value!r} contains a comma and cannot be sent in one "
                "Variable header"
            )
    return ",".join(f"{name}={value}" for name, value in variables.items())


def originate(
    channel: str,
    *,
    context: str | None = None,
    exten: str | None = None,
    priority: int | str | None = None,
    application: str | None = None,
    data: str | None = None,
    async_: bool = True,
    action_id: str | None = None,
    channel_id: str | None = None,
    other_channel_id: str | None = None,
    variables: Mapping[str, str | int] | None = None,
    timeout_ms: int | None = None,
    caller_id: str | None = None,
    account: str | None = None,
) -> Message:
    """An Originate in the form of docs/architecture.md step 1 (and transcripts 02a-02g).

    Either ``context``/``exten`` (``priority`` defaults to 1) or ``application`` (+ ``data``).
    Asterisk's synchronous errors are refused here before anything is sent: no channel, no
    ``/`` in the channel, and Exten without Context (transcript 02f).
    """
    if not channel:
        raise ValueError("originate: channel is empty")
    if "/" not in channel:
        raise ValueError(f"originate: channel {channel!r} has no technology (want Tech/resource)")
    if (application is None) == (exten is None):
        raise ValueError("originate needs either context/exten/priority or application, not both")
    if exten is not None and context is None:
        raise ValueError("originate: exten needs a context")
    if timeout_ms is not None and timeout_ms <= 0:
        raise ValueError(f"originate: timeout_ms must be positive, got {timeout_ms}")
    headers: list[tuple[str, str]] = [("Action", "Originate")]
    if action_id is not None:
        headers.append(("ActionID", action_id))
    headers.append(("Channel", channel))
    if exten is not None:
        headers += [
            ("Context", str(context)),
            ("Exten", exten),
            ("Priority", str(1 if priority is None else priority)),
        ]
    else:
        headers.append(("Application", str(application)))
        if data is not None:
            headers.append(("Data", data))
    # The recorded order (transcript 02g), so the wire matches what Asterisk was tested with.
    optional = (
        ("Timeout", timeout_ms),
        ("CallerID", caller_id),
        ("Variable", _variable_header(variables) if variables else None),
        ("Account", account),
        ("ChannelId", channel_id),
        ("OtherChannelId", other_channel_id),
    )
    headers += [(key, str(value)) for key, value in optional if value is not None]
    if async_:
        headers.append(("Async", "true"))
    return Message(headers)


def hangup(channel: str, cause: int | None = None) -> Message:
    return Message.action("Hangup", Channel=channel, Cause=cause)


def redirect(channel: str, context: str, exten: str, priority: int = 1) -> Message:
    return Message.action(
        "Redirect", Channel=channel, Context=context, Exten=exten, Priority=priority
    )


def getvar(variable: str, channel: str | None = None) -> Message:
    """Without ``channel`` a global variable (transcript 04a, getvar-global)."""
    return Message.action("Getvar", Channel=channel, Variable=variable)


def setvar(variable: str, value: str, channel: str | None = None) -> Message:
    return Message.action("Setvar", Channel=channel, Variable=variable, Value=value)


def queue_add(
    queue: str,
    interface: str,
    *,
    penalty: int | None = None,
    paused: bool | None = None,
    member_name: str | None = None,
    state_interface: str | None = None,
) -> Message:
    return Message.action(
        "QueueAdd",
        Queue=queue,
        Interface=interface,
        Penalty=penalty,
        Paused=_bool(paused),
        MemberName=member_name,
        StateInterface=state_interface,
    )


def queue_remove(queue: str, interface: str) -> Message:
    return Message.action("QueueRemove", Queue=queue, Interface=interface)


def queue_pause(
    interface: str, paused: bool, *, queue: str | None = None, reason: str | None = None
) -> Message:
    """Without ``queue`` the member is (un)paused in every queue (transcript 03a, qpause-2)."""
    return Message.action(
        "QueuePause", Interface=interface, Queue=queue, Paused=_bool(paused), Reason=reason
    )


def queue_status(queue: str | None = None, member: str | None = None) -> Message:
    return Message.action("QueueStatus", Queue=queue, Member=member)


def queue_summary(queue: str | None = None) -> Message:
    return Message.action("QueueSummary", Queue=queue)


def core_show_channels() -> Message:
    return Message.action("CoreShowChannels")


def db_get(family: str, key: str) -> Message:
    """AstDB read (main/db.c): a list of one DBGetResponse, or "Database entry not found"."""
    return Message.action("DBGet", Family=family, Key=key)


def db_get_tree(family: str, key: str | None = None) -> Message:
    """AstDB read of a family, or of one key's subtree (main/db.c manager_db_tree_get, since
    Asterisk 19.6/18.14): a list of DBGetTreeResponse, one per entry, possibly none."""
    return Message.action("DBGetTree", Family=family, Key=key)


def status(channel: str | None = None, variables: Iterable[str] = ()) -> Message:
    names = ",".join(variables) or None
    return Message.action("Status", Channel=channel, Variables=names)


def command(cli: str) -> Message:
    return Message.action("Command", Command=cli)


def user_event(name: str, fields: Mapping[str, str] | None = None) -> Message:
    headers = [("Action", "UserEvent"), ("UserEvent", name)]
    for key in fields or {}:
        if key.lower() in ("action", "actionid", "userevent"):
            raise ValueError(f"user_event: field {key!r} is reserved")
    headers += list((fields or {}).items())
    return Message(headers)
