"""Every refusal of the API as JSON: a stable ``code`` for programs, a ``message`` for people.

Shape, for every status from 400 to 599::

    {"error": {"code": "validation_failed",
               "message": "the request is not valid: body.port: must be ... (got 70000)",
               "details": [{"field": "body.port", "message": "body.port: must be ..."}]}}

Handlers raise :class:`ApiError` (or one of the small subclasses below); the error
middleware turns it, aiohttp's own HTTP exceptions (unknown route, wrong method, body too
large) and any unexpected exception into this shape. The codes are part of the API: a
client may branch on them, so they are never renamed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel, ValidationError

from nvrd.config.errors import ConfigError, ConfigProblem

ERROR_MEDIA_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One problem of a request: which field, and the sentence naming it and its value."""

    field: str
    message: str


class ApiError(Exception):
    """A request the API refuses: HTTP status, stable code, a sentence for a person."""

    def __init__(self, status: int, code: str, message: str, *,
                 details: Sequence[ErrorDetail] = (),
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = tuple(details)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message,
                              details=self.details, headers=self.headers)


class NotFound(ApiError):
    def __init__(self, message: str = "there is no such resource on this recorder") -> None:
        super().__init__(404, "not_found", message)


class Conflict(ApiError):
    """The request is valid but contradicts the recorder's state (a name in use, ...)."""

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(409, code, message)


class Unauthenticated(ApiError):
    def __init__(self, message: str = "log in first: this needs a session or an API token",
                 code: str = "unauthenticated") -> None:
        super().__init__(401, code, message, headers={"WWW-Authenticate": 'Bearer realm="nvrd"'})


class Forbidden(ApiError):
    def __init__(self, message: str, code: str = "forbidden") -> None:
        super().__init__(403, code, message)


class UpstreamTimeout(ApiError):
    """Something the recorder waited for (a camera, a disk, a device) did not answer."""

    def __init__(self, message: str = "a device the recorder asked did not answer in time; "
                                      "try again") -> None:
        super().__init__(504, "upstream_timeout", message)


class RequestInvalid(ApiError):
    """422: the request parsed but its values are wrong; one detail per problem."""

    def __init__(self, details: Sequence[ErrorDetail]) -> None:
        summary = "; ".join(detail.message for detail in details) or "invalid values"
        super().__init__(422, "validation_failed", f"the request is not valid: {summary}",
                         details=details)

    @classmethod
    def from_validation_error(cls, exc: ValidationError, part: str,
                              model: type[BaseModel] | None = None) -> RequestInvalid:
        """Pydantic's errors as sentences naming field and value, e.g.
        ``body.port: must be less than or equal to 65535 (got 70000)``.

        ``part`` is where the values came from: ``body``, ``query`` or ``path``.
        """
        problems = ConfigError.from_validation_error(exc, part, model).problems
        return cls([_detail(problem, part) for problem in problems])


def error_body(code: str, message: str, details: Iterable[ErrorDetail] = ()) -> bytes:
    error: dict[str, object] = {"code": code, "message": message}
    listed = [{"field": detail.field, "message": detail.message} for detail in details]
    if listed:
        error["details"] = listed
    return json.dumps({"error": error}, ensure_ascii=False).encode()


def error_response(status: int, code: str, message: str, *,
                   details: Iterable[ErrorDetail] = (),
                   headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=error_body(code, message, details),
                        content_type=ERROR_MEDIA_TYPE, headers=headers)


# The configuration formatter speaks of TOML settings; the API speaks of JSON fields.
_API_WORDING: tuple[tuple[str, str], ...] = (
    ("required setting is missing", "required field is missing"),
    ("must be a table (a [section] or { key = value, ... })", "must be a JSON object"),
    ("must be a list ([ ... ], or [[tables]] of settings)", "must be a JSON array"),
    ("unknown setting ", "unknown field "),
    ("; check the spelling against the documentation",
     "; check the spelling against the API document"),
)


def _api_wording(message: str) -> str:
    for old, new in _API_WORDING:
        message = message.replace(old, new)
    return message.replace("allowed at the top level:", "allowed:").replace(
        "allowed in this section:", "allowed here:")


def _detail(problem: ConfigProblem, part: str) -> ErrorDetail:
    field = f"{part}.{problem.path}" if problem.path and not problem.path.startswith("[") \
        else f"{part}{problem.path}"
    located = ConfigProblem(field, problem.value, _api_wording(problem.message))
    return ErrorDetail(field, located.describe())
