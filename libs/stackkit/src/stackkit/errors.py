"""The stack's one error model, as the domain sees it.

Domain code raises :class:`DomainError` subclasses with no HTTP in them: a kind of failure
(the class), a stable machine-readable ``code``, a message and the parameter at fault. This
module imports no web framework, so any ``domain/`` package may raise these;
:mod:`stackkit.http_errors` (beside the app factory) maps them to status codes and to the
body ``{"error": {"type", "code", "message", "param", "request_id"}}``.
"""


class DomainError(Exception):
    """Base of errors the domain raises; ``code`` is a stable machine-readable string."""

    error_type = "invalid_request_error"
    code = "invalid"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class Invalid(DomainError):
    code = "invalid"


class NotFound(DomainError):
    code = "resource_missing"


class Conflict(DomainError):
    code = "conflict"


class Unauthorized(DomainError):
    error_type = "authentication_error"
    code = "unauthorized"


class Unavailable(DomainError):
    """A dependency cannot serve now; the same request may succeed later."""

    error_type = "api_error"
    code = "dependency_unavailable"


class Contended(Unavailable):
    """A transaction kept conflicting with concurrent ones past its retries; nothing of it was
    kept, and the same request may succeed if sent again (Stripe's ``lock_timeout``)."""

    code = "lock_timeout"


class UpstreamUnreachable(DomainError):
    """A proxy got no usable answer from the service behind it."""

    error_type = "api_error"
    code = "upstream_unreachable"


class UpstreamTimeout(DomainError):
    """A proxy's upstream did not answer in time (it may still be acting on the request)."""

    error_type = "api_error"
    code = "upstream_timeout"
