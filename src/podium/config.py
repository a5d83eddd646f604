"""One typed settings object, read once from ``PODIUM_*`` variables (and an optional TOML file)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

RATE_PATTERN = r"^\s*[1-9][0-9]*\s*/\s*[0-9]+(\.[0-9]+)?\s*$"  # "COUNT/SECONDS"


def _split_list(value: Any) -> Any:
    # Environment variables carry lists as comma-separated text.
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Everything Podium reads from its environment.

    ``mode`` is ``development`` unless set: production refuses to start without an explicit
    ``PODIUM_SECRET_KEY``.
    """

    model_config = SettingsConfigDict(env_prefix="PODIUM_", extra="ignore")

    mode: Literal["development", "production"] = "development"
    data_dir: Path = Path("./data")
    database_url: str = ""
    secret_key: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""

    # NoDecode: lists come as comma-separated text, not JSON.
    ice_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    stun_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    turn_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Audio connections negotiated at once; more wait their turn in order (a join storm is
    # admitted at the pace the media workers can take, never timed out).
    media_setup_concurrency: int = Field(default=16, ge=1, le=1000)
    turn_username: str = ""
    turn_password: str = ""
    # CIDRs the media engine may send ICE checks to (offers' candidates, peer-reflexive
    # sources); empty = any unicast address that is not loopback, link-local or reserved
    # (loopback too when ice_hosts are loopback). podium.media.ice.RemoteAddresses.
    ice_remote_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # CIDRs of reverse proxies whose Forwarded / X-Forwarded-For / X-Forwarded-Proto headers
    # are believed (podium.api.proxy); empty = none: the peer's address is the client's.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # --- rate limits and sign-in lockout (podium.services.ratelimit) ---------------------------
    # "COUNT/SECONDS": a bucket of COUNT refilled evenly over SECONDS. Per address (sign-in,
    # sign-up, invite checks) or per account (the rest). In-memory: one node's view.
    rate_signin: str = Field(default="30/300", pattern=RATE_PATTERN)
    rate_signup: str = Field(default="10/3600", pattern=RATE_PATTERN)
    rate_invite_check: str = Field(default="60/60", pattern=RATE_PATTERN)
    rate_invite_create: str = Field(default="20/3600", pattern=RATE_PATTERN)
    rate_token_create: str = Field(default="20/3600", pattern=RATE_PATTERN)
    rate_room_create: str = Field(default="10/600", pattern=RATE_PATTERN)
    rate_hand_raise: str = Field(default="10/60", pattern=RATE_PATTERN)
    rate_ping: str = Field(default="10/60", pattern=RATE_PATTERN)
    rate_report: str = Field(default="10/3600", pattern=RATE_PATTERN)
    rate_avatar: str = Field(default="10/600", pattern=RATE_PATTERN)  # uploads (decoding costs)
    rate_follow: str = Field(default="60/600", pattern=RATE_PATTERN)  # follows and unfollows
    rate_event_create: str = Field(default="10/3600", pattern=RATE_PATTERN)
    rate_clip: str = Field(default="10/600", pattern=RATE_PATTERN)  # clips made (a file each)
    # Failed sign-ins per (address, username): past signin_backoff_free of them within
    # lockout_seconds, that address waits signin_backoff_base_seconds before trying that
    # username again, doubled with each further failure, at most signin_backoff_max_seconds.
    # Other addresses are not slowed: a stranger cannot lock a member out.
    signin_backoff_free: int = Field(default=3, ge=1)
    signin_backoff_base_seconds: float = Field(default=2.0, gt=0)
    signin_backoff_max_seconds: float = Field(default=900.0, gt=0)
    # This many failed sign-ins (any usernames) within lockout_seconds lock that address out
    # for lockout_seconds: guessing across many names stays stopped.
    lockout_failures_per_address: int = Field(default=20, ge=1)
    lockout_seconds: float = Field(default=900.0, gt=0)
    # WebSocket commands per connection: ws_rate a second, bursts of ws_burst; a client refused
    # ws_flood_limit times is closed with 4008.
    ws_rate: float = Field(default=20.0, gt=0)
    ws_burst: float = Field(default=60.0, ge=1)
    ws_flood_limit: int = Field(default=100, ge=1)
    # --- end of rate limits ------------------------------------------------------------------

    invite_quota: int = 5
    invite_ttl_days: int = 7
    session_ttl_days: int = 30
    empty_room_grace_seconds: float = 60.0
    resume_window_seconds: float = 30.0
    heartbeat_seconds: float = 20.0
    audience_coalesce_seconds: float = 0.5
    max_rooms_per_user: int = 3

    # --- media engine (podium.media) ---------------------------------------------------------
    # Worker processes holding the peer connections: -1 = one per CPU core, 0 = all in the
    # server process (small installs, tests).
    media_workers: int = Field(default=-1, ge=-1)
    # Opus frame duration of the listeners' shared mix: longer = fewer packets, less CPU.
    media_listener_ptime_ms: Literal[20, 40, 60] = 20
    # Opus in-band FEC on the listeners' mix, tuned for this expected loss (0 = FEC off).
    media_expected_loss_percent: int = Field(default=10, ge=0, le=100)
    # While exactly one speaker is heard, listeners get that speaker's own Opus packets
    # (20 ms listener packets only) instead of a second encode: better audio, less CPU.
    media_passthrough: bool = True

    # --- live captions (podium.captions, docs/captions.md) -----------------------------------
    # Offline speech recognition for speakers who opted in, in rooms whose host turned
    # captions on. False: no recogniser process is started and the room switch is refused.
    captions_enabled: bool = True
    # Recogniser processes (niced, one thread each); each takes ~0.13 of a core per speaker.
    captions_workers: int = Field(default=1, ge=1, le=16)
    # Speech chunks waiting for a recogniser; beyond this new chunks are dropped (counted):
    # captions lag or pause when CPU is short, audio never waits.
    captions_queue_chunks: int = Field(default=8, ge=1, le=1000)
    # Longest chunk sent to the recogniser: captions appear about this long after speech.
    captions_max_chunk_seconds: float = Field(default=4.0, ge=1.0, le=15.0)
    # "auto": faster-whisper (tiny.en), pocketsphinx if it cannot load; or force one.
    captions_engine: Literal["auto", "whisper", "pocketsphinx"] = "auto"
    # --- recordings (podium.services.recordings, docs/replays.md) -----------------------------
    # Where recordings and clips are written; empty = DATA_DIR/recordings.
    recordings_dir: Path | None = None
    # A recording stops (the room goes on, the host is told) when its file reaches this size.
    recording_max_bytes: int = Field(default=1024 * 1024 * 1024, ge=4096)

    # --- Janus media engine (podium.media.janus, docs/janus.md) ------------------------------
    # "embedded" = Podium's own aiortc engine; "janus" = AudioBridge rooms on Janus instances.
    media_engine: Literal["embedded", "janus"] = "embedded"
    # One entry per instance, "API_URL|API_SECRET[|ADMIN_URL]", e.g.
    # "http://10.0.0.5:8088/janus|s3cret|http://10.0.0.5:7088/admin" (comma-separated in env).
    janus_instances: Annotated[list[str], NoDecode] = Field(default_factory=list)
    janus_admin_secret: str = ""

    # --- operations (podium.api.ops, podium.logconfig, podium.realtime.redis_bus) ------------
    # docs/deployment.md. "json": one JSON object per log line (time, level, logger, message,
    # extras such as room_id/user_id); "text": readable lines.
    log_format: Literal["text", "json"] = "text"
    # Redis, e.g. "redis://127.0.0.1:6379/0": checked by /healthz when set; used by the event
    # bus when event_bus = "redis".
    redis_url: str = ""
    # "memory" (the default: one node) or "redis": several nodes share PostgreSQL and Redis;
    # every node holds every live room, kept in step by a log per room in Redis
    # (podium.realtime.redis_roomlog). "redis" needs redis_url.
    event_bus: Literal["memory", "redis"] = "memory"
    # Prefix of every Redis key and channel Podium uses (several deployments on one Redis).
    redis_prefix: str = Field("podium:", pattern=r"^[A-Za-z0-9:_.-]{1,40}$")
    # --- end of operations -------------------------------------------------------------------

    @field_validator("janus_instances", mode="before")
    @classmethod
    def _janus_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("media_listener_ptime_ms", mode="before")
    @classmethod
    def _ptime(cls, value: Any) -> Any:
        # Environment variables arrive as text, and a Literal of ints does not convert "40".
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value

    @field_validator("ice_hosts", "stun_urls", "turn_urls", "ice_remote_networks",
                     "trusted_proxies", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("ice_remote_networks", "trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'podium.db'}"
        if not self.public_url:
            self.public_url = f"http://{self.host}:{self.port}"
        if self.event_bus == "redis" and not self.redis_url:
            raise ValueError("PODIUM_EVENT_BUS=redis needs PODIUM_REDIS_URL")
        if not self.secret_key:
            if self.mode == "production":
                raise ValueError("PODIUM_SECRET_KEY is required in production mode")
            self.secret_key = _development_secret(self.data_dir)
        return self

    @property
    def recordings_path(self) -> Path:
        return self.recordings_dir or self.data_dir / "recordings"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _development_secret(data_dir: Path) -> str:
    """A per-install secret kept in the data directory, so restarts keep sessions valid."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def load_settings(**overrides: Any) -> Settings:
    """Read settings: TOML file (``PODIUM_CONFIG``) < environment < explicit overrides."""
    values: dict[str, Any] = {}
    config_file = os.environ.get("PODIUM_CONFIG")
    if config_file:
        with open(config_file, "rb") as fh:
            values.update(tomllib.load(fh))
        values = {k: v for k, v in values.items() if f"PODIUM_{k.upper()}" not in os.environ}
    values.update(overrides)
    return Settings(**values)
