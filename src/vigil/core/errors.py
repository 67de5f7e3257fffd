"""One error type per failure kind. Each surface maps them to its contract's error shape."""

from __future__ import annotations


class VigilError(Exception):
    """Base of every expected failure; `message` is safe to show to the client."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(VigilError):
    """The request names something wrongly: a bad field value, a malformed body."""


class Unauthenticated(VigilError):
    """No credentials, or credentials that do not prove who the caller is."""


class PermissionDenied(VigilError):
    """The caller is known but may not do this."""


class NotFound(VigilError):
    """The thing named does not exist (or the caller may not know that it does)."""


class Conflict(VigilError):
    """The request contradicts what is already stored."""


class IllegalTransition(Conflict):
    """A state machine was asked for a move its transition table does not allow."""


class PayloadTooLarge(VigilError):
    """The body is over the configured size limit."""


class NotAvailable(VigilError):
    """The thing exists but is not open to the caller (an exam not published yet)."""


class InvalidFields(InvalidInput):
    """Several fields are wrong at once (a batch): `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(
            "; ".join(f"{k}: {v}" for k, v in errors.items()), field=next(iter(errors))
        )
        self.errors = errors


class ConflictingFields(Conflict):
    """Several fields name what is taken already (logins in a batch)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(
            "; ".join(f"{k}: {v}" for k, v in errors.items()), field=next(iter(errors))
        )
        self.errors = errors
