"""Accounts: invite-only sign-up, sessions, API tokens and invites."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from podium.clock import Clock
from podium.config import Settings
from podium.services.credentials import Credential, CredentialWatch, Ended
from podium.services.errors import Conflict, Forbidden, Gone, Invalid, NotFound, Unauthorized
from podium.services.ratelimit import RateLimiter
from podium.services.security import (
    digest,
    generate_password,
    hash_async,
    new_secret,
    verify_async,
)
from podium.services.text import TextError, clean_text
from podium.storage.db import Database
from podium.storage.tables import ApiToken, Invite, Session, User

USERNAME = re.compile(r"^[a-z0-9_]{2,30}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 200
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Account:
    """A member as the rest of the code sees one (no secrets)."""

    id: int
    username: str
    display_name: str
    is_admin: bool
    suspended: bool
    invited_by_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, row: User) -> Account:
        return cls(row.id, row.username, row.display_name, row.is_admin, row.suspended,
                   row.invited_by_id, row.created_at)

    def public(self) -> dict[str, object]:
        return {"id": self.id, "username": self.username, "display_name": self.display_name}


def clean_display_name(name: str) -> str:
    try:
        return clean_text(name, max_length=50)
    except TextError:
        raise Invalid("invalid_display_name", "Display names are 1 to 50 characters.") from None


def clean_token_name(name: str) -> str:
    try:
        return clean_text(name, max_length=100)
    except TextError:
        raise Invalid("invalid_token_name", "Token names are 1 to 100 characters.") from None


def check_username(username: str) -> str:
    if not USERNAME.match(username):
        raise Invalid("invalid_username",
                      "Usernames are 2 to 30 lowercase letters, digits or underscores.")
    return username


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Invalid("invalid_password",
                      f"Passwords are {MIN_PASSWORD} to {MAX_PASSWORD} characters.")
    return password


class AccountService:
    def __init__(self, db: Database, clock: Clock, settings: Settings,
                 limiter: RateLimiter | None = None) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.limiter = limiter or RateLimiter(clock, settings)
        self.watch = CredentialWatch(db, clock)  # live connections end with their credential

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def create_user(self, username: str, display_name: str, password: str,
                          is_admin: bool = False, invited_by_id: int | None = None) -> Account:
        row = User(username=check_username(username),
                   display_name=clean_display_name(display_name),
                   password_hash=await hash_async(check_password(password)), is_admin=is_admin,
                   invited_by_id=invited_by_id, created_at=self._now())
        try:
            async with self.db.transaction() as s:
                s.add(row)
        except IntegrityError:
            raise Conflict("username_taken", "That username is taken.") from None
        return Account.of(row)

    async def ensure_first_admin(self) -> tuple[str, str] | None:
        """On first run, create ``admin`` with a generated password and return the credentials."""
        async with self.db.transaction() as s:
            count = await s.scalar(select(func.count()).select_from(User))
        if count:
            return None
        password = generate_password()
        await self.create_user("admin", "Admin", password, is_admin=True)
        return "admin", password

    async def get(self, user_id: int) -> Account:
        async with self.db.transaction() as s:
            row = await s.get(User, user_id)
        if row is None:
            raise NotFound("user_not_found", "No such member.")
        return Account.of(row)

    async def by_username(self, username: str) -> Account:
        async with self.db.transaction() as s:
            row = await s.scalar(select(User).where(User.username == username.lower()))
        if row is None:
            raise NotFound("user_not_found", "No such member.")
        return Account.of(row)

    async def set_password(self, username: str, password: str) -> None:
        """A new password ends every session signed in with the old one, and the connections
        they opened (API tokens stay)."""
        password_hash = await hash_async(check_password(password))
        async with self.db.transaction() as s:
            user_id = await s.scalar(select(User.id).where(User.username == username))
            if user_id is None:
                raise NotFound("user_not_found", "No such member.")
            await s.execute(update(User).where(User.id == user_id)
                            .values(password_hash=password_hash))
            await s.execute(delete(Session).where(Session.user_id == user_id))
            row = self.watch.record(s, Ended(user_id, "sessions"))
        await self.watch.announce([row])

    async def set_suspended(self, user_id: int, suspended: bool) -> None:
        """Suspending also ends every live connection of the member, on every node."""
        async with self.db.transaction() as s:
            await s.execute(update(User).where(User.id == user_id).values(suspended=suspended))
            row = self.watch.record(s, Ended(user_id, "user")) if suspended else None
        if row is not None:
            await self.watch.announce([row])

    # Sessions ---------------------------------------------------------------

    async def sign_in(self, username: str, password: str,
                      address: str = "") -> tuple[Account, str]:
        """A new session (never an old one reused). Failures for this username from this address
        make it wait longer each time; too many from one address lock the address out: the same
        429 whether or not the username exists. Other addresses are not held up."""
        username = username.strip().lower()
        await self.limiter.check_signin(address, username)
        if address:
            await self.limiter.check("signin", address)
        async with self.db.transaction() as s:
            row = await s.scalar(select(User).where(User.username == username))
        # One message for an unknown name and a wrong password: it must not tell which.
        if not await verify_async(row.password_hash if row else None, password) or row is None:
            await self.limiter.record_signin_failure(address, username)
            raise Unauthorized("bad_credentials", "Wrong username or password.")
        await self.limiter.clear_signin_failures(address, username)
        if row.suspended:
            raise Forbidden("account_suspended", "This account is suspended.")
        return Account.of(row), await self._new_session(row.id)

    async def _new_session(self, user_id: int) -> str:
        token = new_secret()
        now = self._now()
        async with self.db.transaction() as s:
            s.add(Session(token_hash=digest(token), user_id=user_id, created_at=now,
                          expires_at=now + timedelta(days=self.settings.session_ttl_days)))
        return token

    async def sign_out(self, token: str) -> None:
        """End the session, and the connections it opened."""
        async with self.db.transaction() as s:
            row = await s.scalar(select(Session).where(Session.token_hash == digest(token)))
            if row is None:
                return
            await s.delete(row)
            event = self.watch.record(s, Ended(row.user_id, "session", row.id))
        await self.watch.announce([event])

    async def by_session(self, token: str) -> Account | None:
        found = await self.identify_session(token)
        return found[0] if found is not None else None

    async def identify_session(self, token: str) -> tuple[Account, Credential] | None:
        """The member a session cookie signs in, and the session (connections remember it)."""
        async with self.db.transaction() as s:
            found = (await s.execute(
                select(User, Session.id).join(Session, Session.user_id == User.id)
                .where(Session.token_hash == digest(token), Session.expires_at > self._now())
            )).first()
        if found is None or found[0].suspended:
            return None
        return Account.of(found[0]), Credential("session", found[1], found[0].id)

    # API tokens -------------------------------------------------------------

    async def create_token(self, user_id: int, name: str) -> tuple[ApiToken, str]:
        token = new_secret("pod_")
        row = ApiToken(token_hash=digest(token), hint=token[:8], name=clean_token_name(name),
                       user_id=user_id, created_at=self._now())
        async with self.db.transaction() as s:
            s.add(row)
        return row, token

    async def list_tokens(self, user_id: int) -> list[ApiToken]:
        async with self.db.transaction() as s:
            rows = await s.scalars(select(ApiToken).where(ApiToken.user_id == user_id,
                                                          ApiToken.revoked_at.is_(None))
                                   .order_by(ApiToken.id))
            return list(rows)

    async def revoke_token(self, user_id: int, token_id: int) -> None:
        """Revoke the token, and end the connections it opened."""
        async with self.db.transaction() as s:
            row = await s.get(ApiToken, token_id)
            if row is None or row.user_id != user_id or row.revoked_at is not None:
                raise NotFound("token_not_found", "No such token.")
            row.revoked_at = self._now()
            event = self.watch.record(s, Ended(user_id, "token", token_id))
        await self.watch.announce([event])

    async def by_token(self, token: str) -> Account | None:
        found = await self.identify_token(token)
        return found[0] if found is not None else None

    async def identify_token(self, token: str) -> tuple[Account, Credential] | None:
        """The member an API token signs in, and the token (connections remember it)."""
        async with self.db.transaction() as s:
            found = (await s.execute(
                select(User, ApiToken).join(ApiToken, ApiToken.user_id == User.id)
                .where(ApiToken.token_hash == digest(token), ApiToken.revoked_at.is_(None))
            )).first()
            if found is None or found[0].suspended:
                return None
            now, last = self._now(), found[1].last_used_at
            # A write per request would serialise every API call on the database (and SQLite
            # has one writer): "last used" to the minute is what the token list shows.
            if last is None or now - last.replace(tzinfo=UTC) >= TOKEN_USE_RESOLUTION:
                found[1].last_used_at = now
            return Account.of(found[0]), Credential("token", found[1].id, found[0].id)

    # Invites ----------------------------------------------------------------

    async def create_invite(self, account: Account) -> tuple[Invite, str]:
        code = new_secret()
        now = self._now()
        async with self.db.transaction() as s:
            if not account.is_admin:
                made = await s.scalar(select(func.count()).select_from(Invite)
                                      .where(Invite.created_by_id == account.id))
                if (made or 0) >= self.settings.invite_quota:
                    quota = self.settings.invite_quota
                    raise Forbidden("invite_quota", f"You have used all {quota} of your invites.")
            row = Invite(code_hash=digest(code), hint=code[:6], created_by_id=account.id,
                         created_at=now,
                         expires_at=now + timedelta(days=self.settings.invite_ttl_days))
            s.add(row)
        return row, code

    async def list_invites(self, user_id: int) -> list[tuple[Invite, str | None]]:
        """Invites this member made, each with the username that used it, if any."""
        async with self.db.transaction() as s:
            rows = await s.execute(
                select(Invite, User.username).outerjoin(User, User.id == Invite.used_by_id)
                .where(Invite.created_by_id == user_id).order_by(Invite.id.desc()))
            return [(inv, name) for inv, name in rows]

    async def check_invite(self, code: str) -> Account:
        """Who made a usable invite; raises if the code is unknown, used or expired."""
        async with self.db.transaction() as s:
            invite = await self._usable_invite(s, code)
            inviter = await s.get(User, invite.created_by_id)
        assert inviter is not None
        return Account.of(inviter)

    async def _usable_invite(self, s: object, code: str) -> Invite:
        invite = await s.scalar(select(Invite).where(Invite.code_hash == digest(code)))  # type: ignore[attr-defined]
        if invite is None:
            raise NotFound("invite_not_found", "That invite link is not valid.")
        if invite.used_by_id is not None:
            raise Gone("invite_used", "That invite has already been used.")
        if invite.expires_at.replace(tzinfo=UTC) <= self._now():
            raise Gone("invite_expired", "That invite has expired.")
        return invite  # type: ignore[no-any-return]

    async def sign_up(self, code: str, username: str, display_name: str,
                      password: str) -> tuple[Account, str]:
        check_username(username)
        check_password(password)
        display_name = clean_display_name(display_name)
        password_hash = await hash_async(password)
        try:
            async with self.db.transaction() as s:
                invite = await self._usable_invite(s, code)
                user = User(username=username, display_name=display_name,
                            password_hash=password_hash, invited_by_id=invite.created_by_id,
                            created_at=self._now())
                s.add(user)
                await s.flush()
                # Claim the invite only if nobody else claimed it meanwhile.
                claimed = await s.execute(
                    update(Invite).where(Invite.id == invite.id, Invite.used_by_id.is_(None))
                    .values(used_by_id=user.id, used_at=self._now()))
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    raise Gone("invite_used", "That invite has already been used.")
        except IntegrityError:
            raise Conflict("username_taken", "That username is taken.") from None
        return Account.of(user), await self._new_session(user.id)
