"""Exception types shared by the engine, the API clients and the CLI.

The CLI maps each type to an exit code: ConfigError, InputError and
AuthError give 2, everything else that escapes a run gives 1. Messages are one line that states
what failed, on which value, and what to do next.
"""


class TsyncError(Exception):
    """Base class for every error tsync raises on purpose."""


class ConfigError(TsyncError):
    """A setting is missing or malformed."""


class InputError(TsyncError):
    """A file or argument given by the user cannot be used."""


class ApiError(TsyncError):
    """A Tripleseat or Revel request failed.

    `status` is the HTTP status when a response arrived, else None.
    """

    def __init__(self, message: str, *, url: str = "", status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status


class AuthError(ApiError):
    """Credentials were rejected, or a login page came back instead of JSON."""


class NotFoundError(ApiError):
    """The API returned 404 for the requested object."""


class TransientError(ApiError):
    """A timeout, connection error, 429 or 5xx that outlasted the retry budget."""


class PlanningError(TsyncError):
    """The event cannot become a faithful Revel order; the message names why."""
