"""Request and response bodies: validated at the edge, strict about extra fields."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from podium.services.text import clean_text


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        # JSON may carry lone surrogates ("\ud800"): no database can store them.
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("must be valid Unicode text") from None
        return value


def _title(value: str) -> str:
    return clean_text(value, max_length=100)


def _description(value: str) -> str:
    return clean_text(value, max_length=500, min_length=0, multiline=True)


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
    title: Annotated[str, AfterValidator(_title)] = Field(min_length=1, max_length=100)
    description: Annotated[str, AfterValidator(_description)] = Field("", max_length=500)
    kind: Literal["open", "social", "closed"] = "open"
    record: bool = Field(default=False, strict=True, description="Record from the start.")


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
