"""Helpers shared by the API and realtime tests: members, raw HTTP, error checks, bulk accounts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import httpx._transports.default as httpx_transport
import pytest
from argon2 import PasswordHasher

from podium.client import PodiumClient
from podium.services import security
from podium.services.accounts import Account
from podium.services.security import digest, new_secret
from podium.storage.tables import ApiToken, User
from tests.conftest import Server

# argon2id with the library defaults costs ~0.5 s a hash on a busy CI machine; the tests make
# hundreds of accounts. The hashing itself is not what these tests are about.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "_hasher", FAST_HASHER)
    monkeypatch.setattr(security, "_DUMMY_HASH", FAST_HASHER.hash("not-a-password"))


_TLS = httpx_transport.create_ssl_context()


@pytest.fixture(autouse=True)
def shared_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each httpx client loads the CA bundle afresh (~70 ms); these tests talk plain HTTP and
    make hundreds of clients. Hand them all one default context."""
    original = httpx_transport.create_ssl_context

    def create(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        if verify is True and cert is None:
            return _TLS
        return original(verify=verify, cert=cert, trust_env=trust_env)

    monkeypatch.setattr(httpx_transport, "create_ssl_context", create)


@dataclass
class Member:
    """A member with an API token: the account, and a client made when first used (making
    an httpx client costs ~70 ms, too much to spend on hundreds of bulk members)."""

    server: Server
    account: Account
    token: str
    _client: PodiumClient | None = None

    @property
    def id(self) -> int:
        return self.account.id

    @property
    def client(self) -> PodiumClient:
        if self._client is None:
            self._client = PodiumClient(self.server.url, self.token)
            self.server._clients.append(self._client)
        return self._client

    @property
    def http(self) -> httpx.AsyncClient:
        return self.client.http


async def member(server: Server, username: str, admin: bool = False) -> Member:
    account = await server.services.accounts.create_user(
        username, username.title(), "password-" + username, is_admin=admin)
    _, token = await server.services.accounts.create_token(account.id, "tests")
    return Member(server, account, token)


async def members(server: Server, *names: str) -> list[Member]:
    return [await member(server, name) for name in names]


def anonymous(server: Server) -> httpx.AsyncClient:
    """A bare HTTP client (no token, keeps cookies); closed with the server's clients."""
    client = PodiumClient(server.url)
    server._clients.append(client)
    return client.http


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an error in the documented shape ``{"error", "message"}``."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error", "message"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["error"] == code, body
    return body  # type: ignore[no-any-return]


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


async def bulk_members(server: Server, prefix: str, count: int) -> list[Member]:
    """Many members at once, written straight to the database (one transaction, no hashing)."""
    now = datetime.fromtimestamp(server.clock.now(), UTC)
    users = [User(username=f"{prefix}{i}", display_name=f"{prefix.title()} {i}",
                  password_hash="!", is_admin=False, suspended=False, created_at=now)
             for i in range(count)]
    tokens = [new_secret("pod_") for _ in range(count)]
    async with server.services.db.transaction() as s:
        s.add_all(users)
        await s.flush()
        s.add_all(ApiToken(token_hash=digest(t), hint=t[:8], name="bulk", user_id=u.id,
                           created_at=now) for u, t in zip(users, tokens, strict=True))
    return [Member(server, Account.of(user), token)
            for user, token in zip(users, tokens, strict=True)]


async def eventually(condition: Callable[[], bool], timeout: float = 10.0,
                     what: str = "condition") -> None:
    """Poll a server-side condition that no event announces (e.g. a socket noticed closed)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not become true within {timeout} s")
        await asyncio.sleep(0.01)


async def join_http(m: Member, room_id: str) -> dict[str, Any]:
    return ok(await m.http.post(f"/rooms/{room_id}/join"))  # type: ignore[no-any-return]


async def act(m: Member, room_id: str, action: str, **body: Any) -> httpx.Response:
    """POST /rooms/{id}/{action}, with a JSON body if fields are given."""
    return await m.http.post(f"/rooms/{room_id}/{action}", json=body if body else None)


def fresh_fields(room: dict[str, Any]) -> dict[str, Any]:
    """The parts of a room view that a snapshot plus events must reproduce exactly."""
    return {"stage": room["stage"], "audience_count": room["audience_count"],
            "hands": room["hands"], "me": room["me"], "status": room["status"],
            "recording": room.get("recording")}
