"""Credentials that stop working end the connections that used them, everywhere, within a second.

A WebSocket or an audio connection is authenticated once, when it opens; revoking the API token,
signing out, setting a new password or suspending the member must still end it. Each such
change writes a ``credential_events`` row in the transaction that makes it, and:

* this process tells its listeners (the WebSocket gateway, the rooms' media) at once, after
  the commit;
* every process polls the table (``POLL_SECONDS``), so other nodes, and changes made by another
  process such as ``podium admin reset-password``, reach every live connection within a second.

The database is the one thing every node and command shares, so no Redis is needed for this.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from podium.clock import Clock
from podium.storage.db import Database
from podium.storage.tables import CredentialEvent

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
# Rows are read again while they are this recent: with concurrent writers (PostgreSQL) a row
# may commit after one with a higher id was read, so "id > last seen" could skip it.
WINDOW = timedelta(seconds=30)
KEEP = timedelta(days=1)  # a node down longer than this has no connections left to end
PRUNE_EVERY = 7200  # polls (about an hour)


@dataclass(frozen=True, slots=True)
class Credential:
    """What authenticated a connection: an API token or a browser session (by row id)."""

    kind: Literal["token", "session"]
    id: int
    user_id: int


@dataclass(frozen=True, slots=True)
class Ended:
    """Credentials that stopped working: one token or session, every session of a member (a
    new password: API tokens stay), or everything of a member (a suspension)."""

    user_id: int
    kind: Literal["token", "session", "sessions", "user"]
    ref: int | None = None

    def ends(self, credential: Credential | None, user_id: int) -> bool:
        if user_id != self.user_id:
            return False
        if self.kind == "user":
            return True
        if credential is None:
            return False
        if self.kind == "sessions":
            return credential.kind == "session"
        return credential.kind == self.kind and credential.id == self.ref


Listener = Callable[[list[Ended]], Awaitable[None]]


def ends_any(ended: list[Ended], credential: Credential | None, user_id: int) -> bool:
    return any(e.ends(credential, user_id) for e in ended)


class CredentialWatch:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.listeners: list[Listener] = []
        self._start_id = 0  # rows up to this one were written before we started
        self._seen: dict[int, datetime] = {}  # rows told (ours at once), while in WINDOW

    def record(self, s: AsyncSession, ended: Ended) -> CredentialEvent:
        """Add the row to the caller's transaction; ``announce`` it after the commit."""
        row = CredentialEvent(user_id=ended.user_id, kind=ended.kind, ref=ended.ref,
                              created_at=self._now())
        s.add(row)
        return row

    async def announce(self, rows: list[CredentialEvent]) -> None:
        for row in rows:
            self._seen[row.id] = self._now()
        await self._tell([_ended(row) for row in rows])

    async def start(self) -> None:
        async with self.db.transaction() as s:
            self._start_id = int(await s.scalar(select(func.max(CredentialEvent.id))) or 0)

    async def poll(self) -> None:
        since = self._now() - WINDOW
        async with self.db.transaction() as s:
            rows = list(await s.scalars(select(CredentialEvent).where(
                CredentialEvent.id > self._start_id, CredentialEvent.created_at >= since)
                .order_by(CredentialEvent.id)))
        fresh = [row for row in rows if row.id not in self._seen]
        for sid, at in list(self._seen.items()):
            if at < since:
                del self._seen[sid]
        for row in fresh:
            self._seen[row.id] = self._now()
        if fresh:
            await self._tell([_ended(row) for row in fresh])

    async def run(self) -> None:
        polls = 0
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self.poll()
                polls += 1
                if polls % PRUNE_EVERY == 0:
                    await self.prune()
            except Exception:  # noqa: BLE001 - a database hiccup must not stop the watch
                log.exception("credential watch failed")

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def prune(self) -> None:
        cutoff = self._now() - KEEP
        async with self.db.transaction() as s:
            await s.execute(delete(CredentialEvent).where(CredentialEvent.created_at < cutoff))

    async def _tell(self, ended: list[Ended]) -> None:
        for listener in list(self.listeners):
            try:
                await listener(ended)
            except Exception:  # noqa: BLE001 - one listener must not keep the others from it
                log.exception("credential listener failed")


def _ended(row: CredentialEvent) -> Ended:
    kind = row.kind if row.kind in ("token", "session", "sessions", "user") else "user"
    return Ended(row.user_id, kind, row.ref)  # type: ignore[arg-type]
