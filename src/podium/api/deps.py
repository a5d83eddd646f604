"""Who is asking: a session cookie (browsers) or ``Authorization: Bearer`` (bots, scripts)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from podium.api.state import Services
from podium.services.accounts import Account
from podium.services.credentials import Credential
from podium.services.errors import Forbidden, Unauthorized

SESSION_COOKIE = "podium_session"


def podium(conn: HTTPConnection) -> Services:
    services: Services = conn.app.state.podium
    return services


def bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


async def identify(conn: HTTPConnection) -> tuple[Account, Credential] | None:
    """``Authorization: Bearer`` if sent (never the cookie then, even if the token is empty),
    else the session cookie. Other schemes (a proxy's Basic auth) are not ours: ignored."""
    accounts = podium(conn).accounts
    scheme, _, value = conn.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        token = value.strip()
        return await accounts.identify_token(token) if token else None
    cookie = conn.cookies.get(SESSION_COOKIE)
    if cookie:
        return await accounts.identify_session(cookie)
    return None


async def authenticate(conn: HTTPConnection) -> Account | None:
    found = await identify(conn)
    return found[0] if found is not None else None


async def current_account(request: Request) -> Account:
    found = await identify(request)
    if found is None:
        raise Unauthorized("unauthorized", "Sign in first.")
    request.state.credential = found[1]  # e.g. an audio connection remembers what opened it
    return found[0]


def credential_of(request: Request) -> Credential | None:
    """What authenticated this request (set by ``current_account``)."""
    credential: Credential | None = getattr(request.state, "credential", None)
    return credential


async def current_admin(account: Annotated[Account, Depends(current_account)]) -> Account:
    if not account.is_admin:
        raise Forbidden("forbidden", "Only an admin can do that.")
    return account


CurrentAccount = Annotated[Account, Depends(current_account)]
CurrentAdmin = Annotated[Account, Depends(current_admin)]


def client_address(conn: HTTPConnection) -> str:
    """The client's address: the peer's, or behind a trusted proxy the one it forwarded
    (``podium.api.proxy``, ``PODIUM_TRUSTED_PROXIES``)."""
    return conn.client.host if conn.client else ""


async def check_rate(request: Request, kind: str, key: str | int) -> None:
    """Spend one ``kind`` for ``key`` (an account id, or ``client_address(request)``); raises
    ``RateLimited`` (429 with ``Retry-After``) when spent. Call it in the handler, after the
    body has been validated, so malformed requests (422) do not count."""
    await podium(request).limiter.check(kind, key)
