"""Domain errors raised by the library; the API maps them to HTTP status codes in one place."""

from __future__ import annotations


class GridgisError(Exception):
    """Base class of every error gridgis raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(GridgisError):
    """The thing asked for does not exist."""

    code = "not_found"


class InvalidInput(GridgisError):
    """The caller sent something malformed or out of range."""

    code = "invalid_input"


class OutsideCoverage(GridgisError):
    """A point lies outside every grid of the active generation."""

    code = "outside_coverage"


class Conflict(GridgisError):
    """The request conflicts with the current state."""

    code = "conflict"


class Unavailable(GridgisError):
    """Something the service needs is missing or down; retrying later may work."""

    code = "unavailable"


class DatabaseUnavailable(Unavailable):
    """PostGIS cannot be reached or is not ready."""

    code = "database_unavailable"


class EmbeddedClusterError(GridgisError):
    """The project-private PostGIS cluster could not be created, started or stopped."""

    code = "embedded_cluster_error"


class Unauthenticated(GridgisError):
    """No valid API key was presented."""

    code = "unauthenticated"


class RateLimited(GridgisError):
    """Too many expensive requests at once or in a short time; retry after `retry_after_s`."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = max(1, int(retry_after_s))


class Forbidden(GridgisError):
    """The API key's role does not allow this action."""

    code = "forbidden"


class InvalidCredentials(Unauthenticated):
    """A sign-in named an unknown or disabled user, or the wrong password (one answer for all)."""

    code = "invalid_credentials"


class SessionExpired(Unauthenticated):
    """A sign-in session ended (idle too long, too old, or signed out)."""

    code = "session_expired"


class LoginLocked(RateLimited):
    """Too many failed sign-ins: refused until `retry_after_s` seconds have passed."""

    code = "locked"


class CsrfRejected(Forbidden):
    """A state-changing request under a session cookie lacked the CSRF token or came from
    another origin."""

    code = "csrf"
