"""How errors become responses: always ``{"detail": "..."}``, never a stack trace.

Expected problems are :class:`ApiError` (raised by the service) or :class:`tercet.TercetError`
(raised by the core library, whose messages already say what to fix); both map to a 4xx with
the message. Anything else is a bug: the trace goes to the service log under a short id and the
client sees only that id.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tercet import errors as core
from tercet.service.redact import redact

log = logging.getLogger("tercet.service")


class ApiError(Exception):
    """A client error with its HTTP status and a message that says how to fix the request."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def status_of(exc: core.TercetError) -> int:
    """The HTTP status for an error raised by the core library."""
    if isinstance(exc, core.ObjectNotFoundError):
        return 404
    if isinstance(exc, core.ObjectExistsError):
        return 409
    if isinstance(exc, core.OutsideRootsError):
        return 403  # a URL stored in an object leads out of the roots (tercet.storage.fence)
    if isinstance(exc, core.CorruptObjectError):
        return 422  # the object named by the request cannot be read; the message says which
    if isinstance(exc, core.StorageError):
        return 502  # the storage backend failed, not this service
    return 422


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The body every error has: ``{"detail": "..."}``, credentials in URLs redacted."""
    return JSONResponse({"detail": redact(detail)}, status_code=status, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    # Drop the union tags pydantic adds ("function-after[...]", "range", …) after the field path.
    parts = [str(p) for p in loc if not str(p).startswith(("function-", "tagged-union"))]
    return ".".join(parts)


def format_validation(errors: list[Any]) -> str:
    """One readable line for pydantic errors: ``body.filter.min: Input should be a number``."""
    seen: list[str] = []
    for err in errors:
        if err.get("type") == "json_invalid":
            loc = tuple(err.get("loc", ()))
            at = f" at character {loc[-1]}" if len(loc) > 1 else ""
            why = (err.get("ctx") or {}).get("error", "")
            return f"The request body is not valid JSON{at}: {why or err.get('msg', '')}."
        text = f"{_location(tuple(err.get('loc', ())))}: {err.get('msg', 'invalid')}"
        if text not in seen:
            seen.append(text)
    more = f" (and {len(seen) - 3} more)" if len(seen) > 3 else ""
    return "Invalid request: " + "; ".join(seen[:3]) + more


def unparsable_body(cause: BaseException) -> str:
    """Why a request body could not be read as JSON, for the 422."""
    if isinstance(cause, UnicodeDecodeError):
        where = f"{cause.reason} at byte {cause.start}"
        return f"The request body is not UTF-8 text ({where}); send JSON."
    if isinstance(cause, RecursionError):
        return "The request body is nested too deeply to parse as JSON."
    return f"The request body cannot be read as JSON ({type(cause).__name__})."


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.detail)

    async def tercet_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, core.TercetError)
        return error_response(status_of(exc), str(exc))

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, format_validation(list(exc.errors())))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's own 400 for a body it could not parse (not UTF-8, nested past the JSON
            # parser's limit): malformed input is a 422 like every other, as documented.
            return error_response(422, unparsable_body(exc.__cause__))
        return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    async def too_deep(request: Request, exc: Exception) -> JSONResponse:
        return error_response(422, "The request is nested too deeply.")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(core.TercetError, tercet_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RecursionError, too_deep)
