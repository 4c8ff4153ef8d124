"""Errors the repositories raise: each names the row or the field at fault."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's user-facing errors."""


class NotFound(StoreError, LookupError):
    def __init__(self, entity: str, key: object) -> None:
        super().__init__(f"no {entity} {key!r}")
        self.entity = entity
        self.key = key


class InvalidSetting(StoreError, ValueError):
    """A field holds a value the rules refuse."""

    def __init__(self, entity: str, field: str, problem: str) -> None:
        super().__init__(f"{entity}: {field}: {problem}")
        self.entity = entity
        self.field = field
        self.problem = problem


class CampaignInUse(StoreError):
    """Seed 002: a campaign is deactivated only with no agents assigned and no active call."""


class CannotDial(StoreError):
    """The campaign lacks what it needs to place calls (a trunk, a no-contact group, ...)."""


class AttemptRefused(StoreError):
    """A call may not be placed now (blocked number, outside calling hours, lease lost, ...)."""


class OutcomeConflict(StoreError):
    """An attempt already has a different outcome; the first one stays."""


class MissingMandatoryFields(StoreError):
    """Seed 002: the call cannot be closed without its mandatory dynamic fields."""

    def __init__(self, attempt_id: int, fields: list[str]) -> None:
        super().__init__(
            f"attempt {attempt_id}: mandatory fields missing: {', '.join(sorted(fields))}"
        )
        self.fields = sorted(fields)
