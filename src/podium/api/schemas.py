"""Request and response bodies: validated at the edge, strict about extra fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignUp(Strict):
    invite: str = Field(min_length=1, max_length=100)
    username: str = Field(min_length=2, max_length=30, pattern=r"^[a-z0-9_]+$")
    display_name: str = Field(min_length=1, max_length=50)
    password: str = Field(min_length=8, max_length=200)


class SignIn(Strict):
    username: str = Field(min_length=1, max_length=30)
    password: str = Field(min_length=1, max_length=200)


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    is_admin: bool = False
    invited_by: str | None = None


class InviteOut(BaseModel):
    id: int
    code: str | None = Field(default=None, description="Only returned when the invite is created.")
    url: str | None = None
    hint: str
    created_at: float
    expires_at: float
    used_by: str | None = None
    used_at: float | None = None


class InviteCheck(BaseModel):
    valid: bool
    invited_by: UserOut


class TokenCreate(Strict):
    name: str = Field(min_length=1, max_length=100)


class TokenOut(BaseModel):
    id: int
    name: str
    hint: str
    created_at: float
    last_used_at: float | None = None
    token: str | None = Field(default=None, description="Only returned when the token is created.")


class RoomCreate(Strict):
    title: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=500)
    kind: Literal["open", "closed"] = "open"


class UserTarget(Strict):
    # strict: JSON true is not user 1, and "7" is not a user id (as on the WebSocket).
    user_id: int = Field(gt=0, lt=2**53, strict=True)


class MuteBody(Strict):
    muted: bool = Field(strict=True)


class RtcOffer(Strict):
    sdp: str = Field(min_length=1, max_length=20_000)
    type: Literal["offer"] = "offer"


class RtcAnswer(BaseModel):
    sdp: str
    type: str


class Ok(BaseModel):
    ok: bool = True
