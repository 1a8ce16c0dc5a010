"""Errors as JSON a person can act on: the engine's errors keep their words, and each kind has
its status (the engine raises one exception root; this is where it becomes HTTP)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from stacks.errors import (
    DockerUnavailable,
    InvalidName,
    NotFound,
    PermissionDenied,
    SpecError,
    UsageError,
    YadockeriError,
)

STATUS_CODES = {400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                409: "conflict", 413: "too_large", 422: "invalid", 429: "rate_limited", 503: "unavailable"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def problem(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": STATUS_CODES.get(status, "error"), "message": message}, status_code=status,
                        headers=headers)


def status_of(error: YadockeriError) -> int:
    if isinstance(error, (InvalidName, UsageError, SpecError)):
        return 422
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, PermissionDenied):
        return 403
    if isinstance(error, DockerUnavailable):
        return 503
    return 409  # the engine refused in this state (a router not running, another app's stack)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return problem(error.status, error.message, error.headers)

    @app.exception_handler(YadockeriError)
    async def engine_error(request: Request, error: YadockeriError) -> JSONResponse:
        return problem(status_of(error), str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        if first.get("type") == "json_invalid":
            return problem(400, "the body is not valid JSON")
        where = ".".join(str(part) for part in first.get("loc", ())[1:])  # without body/query/path
        return problem(422, f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg")))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        message = "no such endpoint (see /api/v1/openapi.json)" if error.status_code == 404 else str(error.detail)
        return problem(error.status_code, message, dict(error.headers) if error.headers else None)
