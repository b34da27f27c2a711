"""Domain errors: each carries a message a user can read; views turn them into 4xx answers."""


class DomainError(Exception):
    """A rule said no. `message` is shown to the user as it is; `field` names the form field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class LicensingError(DomainError):
    """A licensing rule refused: unknown SKU, bad code, no licenses left, not allowed."""


class AccountError(DomainError):
    """An account rule refused: bad sign-in, invalid or already-invited email."""


class NotFound(DomainError):
    """The thing does not exist for this user (also used when it exists but is not theirs)."""
