"""Who is asking: a session cookie (browsers) or ``Authorization: Bearer`` (bots, scripts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from podium.services.accounts import Account
from podium.services.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from podium.api.app import Services

SESSION_COOKIE = "podium_session"


def podium(conn: HTTPConnection) -> Services:
    services: Services = conn.app.state.podium
    return services


def bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


async def authenticate(conn: HTTPConnection, token: str | None = None) -> Account | None:
    services = podium(conn)
    token = token or bearer(conn)
    if token:
        return await services.accounts.by_token(token)
    cookie = conn.cookies.get(SESSION_COOKIE)
    if cookie:
        return await services.accounts.by_session(cookie)
    return None


async def current_account(request: Request) -> Account:
    account = await authenticate(request)
    if account is None:
        raise Unauthorized("unauthorized", "Sign in first.")
    return account


async def current_admin(account: Annotated[Account, Depends(current_account)]) -> Account:
    if not account.is_admin:
        raise Forbidden("forbidden", "Only an admin can do that.")
    return account


CurrentAccount = Annotated[Account, Depends(current_account)]
CurrentAdmin = Annotated[Account, Depends(current_admin)]


def client_address(conn: HTTPConnection) -> str:
    """The peer's address. Behind a reverse proxy this is the proxy's: see docs/security.md."""
    return conn.client.host if conn.client else ""


async def check_rate(request: Request, kind: str, key: str | int) -> None:
    """Spend one ``kind`` for ``key`` (an account id, or ``client_address(request)``); raises
    ``RateLimited`` (429 with ``Retry-After``) when spent. Call it in the handler, after the
    body has been validated, so malformed requests (422) do not count."""
    await podium(request).limiter.check(kind, key)
