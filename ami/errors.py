"""Errors of the AMI client."""

from __future__ import annotations

from ami.codec import Message


class AMIError(Exception):
    """Base class of the AMI client's errors."""


class AuthenticationError(AMIError):
    """Login refused (bad user or secret, or not permitted from this address). Not retried."""


class LinkLost(AMIError):
    """The link dropped before the reply arrived: the action's outcome is unknown."""


class ActionTimeout(AMIError):
    """No reply within the action's timeout: the action's outcome is unknown."""


class ActionError(AMIError):
    """Asterisk answered ``Response: Error``."""

    def __init__(self, action: str, reply: Message) -> None:
        self.action = action
        self.reply = reply
        self.message = reply.get("Message") or ""
        # A bad CLI Command says only "Command output follows"; the reason is in its Output lines
        # (transcript 04b, cmd-bad).
        output = " / ".join(reply.get_all("Output"))
        detail = f"{self.message}: {output}" if output else self.message
        super().__init__(f"{action} failed: {detail or 'no message'}")
