"""Errors a service raises for the caller to show. ``code`` is stable; ``message`` is for people."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Invalid(ServiceError):
    status = 422


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Gone(ServiceError):
    status = 410


class TooMany(ServiceError):
    status = 429


# RoomError codes from the domain, mapped to the HTTP status that fits them.
ROOM_ERROR_STATUS = {
    "room_ended": 410,
    "not_in_room": 409,
    "forbidden": 403,
    "not_invited": 403,
    "banned": 403,
    "blocked": 403,
    "hands_closed": 403,
    "invalid_policy": 422,
}


def from_room_error(code: str, message: str) -> ServiceError:
    error = ServiceError(code, message)
    error.status = ROOM_ERROR_STATUS.get(code, 409)
    return error
