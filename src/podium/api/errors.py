"""Every error leaves as JSON ``{"error": CODE, "message": TEXT}`` with a fitting status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from podium.services.errors import ServiceError

log = logging.getLogger(__name__)

class ErrorOut(BaseModel):
    error: str = Field(description="A stable code, e.g. `forbidden`, `room_ended`.")
    message: str = Field(description="For people.")


# Documented on every API operation: any of them may refuse a request in these ways.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text} for status, text in (
        (400, "Malformed request (e.g. a body that is not UTF-8)"),
        (401, "Not signed in"), (403, "Not allowed (or a cross-site request)"),
        (404, "Unknown"), (409, "Conflicts with the room's state"),
        (410, "Gone: a used or expired invite, an ended room"),
        (413, "Body over 256 KiB"), (422, "Invalid input"),
        (429, "Too many requests: see the Retry-After header"))}
ERROR_RESPONSES[429]["headers"] = {
    "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}

_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "Invalid request."


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal", "Something went wrong on the server.")
