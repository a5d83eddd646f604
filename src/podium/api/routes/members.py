"""Invites, API tokens and member profiles."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Path, Request

from podium.api.deps import CurrentAccount, check_rate, client_address, podium
from podium.api.routes.auth import user_out
from podium.api.schemas import InviteCheck, InviteOut, Ok, TokenCreate, TokenOut, UserOut

router = APIRouter(tags=["members"])


def _at(value: datetime) -> float:
    """Seconds since the epoch. SQLite hands back naive datetimes: they are UTC, not local."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _ts(value: datetime | None) -> float | None:
    return _at(value) if value is not None else None


@router.post("/invites", response_model=InviteOut, status_code=201)
async def create_invite(account: CurrentAccount, request: Request) -> InviteOut:
    await check_rate(request, "invite_create", account.id)
    services = podium(request)
    invite, code = await services.accounts.create_invite(account)
    return InviteOut(id=invite.id, code=code, url=f"{services.settings.public_url}/invite/{code}",
                     hint=invite.hint, created_at=invite.created_at.timestamp(),
                     expires_at=invite.expires_at.timestamp())


@router.get("/invites", response_model=list[InviteOut])
async def list_invites(account: CurrentAccount, request: Request) -> list[InviteOut]:
    rows = await podium(request).accounts.list_invites(account.id)
    return [InviteOut(id=i.id, hint=i.hint, created_at=_at(i.created_at),
                      expires_at=_at(i.expires_at), used_by=name, used_at=_ts(i.used_at))
            for i, name in rows]


@router.get("/invites/{code}", response_model=InviteCheck)
async def check_invite(request: Request, code: str = Path(max_length=100)) -> InviteCheck:
    await check_rate(request, "invite_check", client_address(request))
    inviter = await podium(request).accounts.check_invite(code)
    return InviteCheck(valid=True, invited_by=user_out(inviter))


@router.post("/tokens", response_model=TokenOut, status_code=201)
async def create_token(body: TokenCreate, account: CurrentAccount, request: Request) -> TokenOut:
    await check_rate(request, "token_create", account.id)
    row, token = await podium(request).accounts.create_token(account.id, body.name)
    return TokenOut(id=row.id, name=row.name, hint=row.hint, created_at=row.created_at.timestamp(),
                    token=token)


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(account: CurrentAccount, request: Request) -> list[TokenOut]:
    rows = await podium(request).accounts.list_tokens(account.id)
    return [TokenOut(id=r.id, name=r.name, hint=r.hint, created_at=_at(r.created_at),
                     last_used_at=_ts(r.last_used_at)) for r in rows]


@router.delete("/tokens/{token_id}", response_model=Ok)
async def revoke_token(account: CurrentAccount, request: Request,
                       token_id: int = Path(gt=0, lt=2**53)) -> Ok:
    await podium(request).accounts.revoke_token(account.id, token_id)
    return Ok()


@router.get("/users/{username}", response_model=UserOut)
async def profile(account: CurrentAccount, request: Request,
                  username: str = Path(max_length=30)) -> UserOut:
    accounts = podium(request).accounts
    user = await podium(request).community.social.visible(account, username)
    inviter = await accounts.get(user.invited_by_id) if user.invited_by_id else None
    return UserOut(id=user.id, username=user.username, display_name=user.display_name,
                   invited_by=inviter.username if inviter else None)
