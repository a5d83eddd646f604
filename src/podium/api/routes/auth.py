"""Sign-up by invite, sign-in and sign-out, and who am I."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from podium.api.deps import (
    SESSION_COOKIE,
    CurrentAccount,
    check_rate,
    client_address,
    podium,
)
from podium.api.schemas import Ok, SignIn, SignUp, UserOut
from podium.services.accounts import Account

router = APIRouter(prefix="/auth", tags=["auth"])


def user_out(account: Account, invited_by: str | None = None) -> UserOut:
    return UserOut(id=account.id, username=account.username, display_name=account.display_name,
                   is_admin=account.is_admin, invited_by=invited_by)


def _set_session(request: Request, response: Response, token: str) -> None:
    settings = podium(request).settings
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=settings.public_url.startswith("https"),
                        max_age=settings.session_ttl_days * 86400, path="/")


@router.post("/signup", response_model=UserOut, status_code=201)
async def sign_up(body: SignUp, request: Request, response: Response) -> UserOut:
    await check_rate(request, "signup", client_address(request))
    accounts = podium(request).accounts
    account, token = await accounts.sign_up(body.invite, body.username, body.display_name,
                                            body.password)
    _set_session(request, response, token)
    inviter = await accounts.get(account.invited_by_id) if account.invited_by_id else None
    return user_out(account, inviter.username if inviter else None)


@router.post("/signin", response_model=UserOut)
async def sign_in(body: SignIn, request: Request, response: Response) -> UserOut:
    accounts = podium(request).accounts
    account, token = await accounts.sign_in(body.username, body.password,
                                            client_address(request))
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await accounts.sign_out(old)  # a new session each sign-in: the old one ends
    _set_session(request, response, token)
    return user_out(account)


@router.post("/signout", response_model=Ok)
async def sign_out(request: Request, response: Response) -> Ok:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await podium(request).accounts.sign_out(cookie)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return Ok()


@router.get("/me", response_model=UserOut)
async def me(account: CurrentAccount, request: Request) -> UserOut:
    accounts = podium(request).accounts
    inviter = await accounts.get(account.invited_by_id) if account.invited_by_id else None
    return user_out(account, inviter.username if inviter else None)
