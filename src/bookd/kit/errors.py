"""One error type per refusal, each mapped once (in `kit/web.py`) to its status code and error
code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar


@dataclass
class FieldError:
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass
class BookdError(Exception):
    message: str
    details: list[dict[str, Any]] = field(default_factory=list)

    status_code = 400
    code = "bad_request"

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        """The refusal as the API answers it."""
        return error_body(self.code, self.message, self.details)


def error_body(
    code: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The one shape of every error answer: `{"error": {"code", "message", "details"}}`."""
    return {"error": {"code": code, "message": message, "details": details or []}}


T = TypeVar("T")


class NotFound(BookdError):
    status_code = 404
    code = "not_found"


class Unauthorized(BookdError):
    status_code = 401
    code = "unauthorized"


class Forbidden(BookdError):
    """A valid credential that may not do this: a customer token asking for what only staff (an
    API key) may do."""

    status_code = 403
    code = "forbidden"


class InvalidTransition(BookdError):
    status_code = 409
    code = "invalid_transition"


class Conflict(BookdError):
    status_code = 409
    code = "conflict"


class LimitExceeded(BookdError):
    status_code = 409
    code = "limit_exceeded"


class Unavailable(BookdError):
    """A time a booking service does not take: outside its opening hours, beyond its capacity,
    too soon or too far ahead (its availability settings). Staff may book it anyway with `force`."""

    status_code = 409
    code = "unavailable"


class CustomerRefused(BookdError):
    """A change of a customer's own booking that its service's customer policy keeps for staff."""

    status_code = 409


class CustomerCancelNotAllowed(CustomerRefused):
    code = "customer_cancel_not_allowed"


class CustomerRescheduleNotAllowed(CustomerRefused):
    code = "customer_reschedule_not_allowed"


class CustomerCutoffPassed(CustomerRefused):
    """Too close to the booking's start for a customer to cancel or reschedule it."""

    code = "customer_cutoff_passed"


class ValidationFailed(BookdError):
    status_code = 422
    code = "validation_error"

    @classmethod
    def on(cls, field_name: str, code: str, message: str) -> ValidationFailed:
        return cls(message, [FieldError(field_name, code, message).as_dict()])


class BodyTooLarge(BookdError):
    status_code = 413
    code = "body_too_large"


class BodyTimeout(BookdError):
    status_code = 408
    code = "body_timeout"


def found(value: T | None, what: str) -> T:
    """`value`, or 404 `no <what>` where the look-up found nothing."""
    if value is None:
        raise NotFound(f"no {what}")
    return value
