"""What the handlers reach through ``app.state.podium``: the services of one running app.

Its own module, below ``app.py``: the routes, ``deps`` and ``ops`` import it, and ``app.py``
(which imports the routes) only builds and assembles it, so no module imports ``app.py`` back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from podium.bus import EventBus
from podium.config import Settings
from podium.media.engine import MediaEngine
from podium.realtime.gateway import Gateway
from podium.realtime.redis_bus import RedisBus
from podium.services.accounts import AccountService
from podium.services.captions import CaptionService
from podium.services.clips import ClipService
from podium.services.community import Community
from podium.services.moderation import ModerationService
from podium.services.ratelimit import RateLimiter
from podium.services.recordings import RecordingService
from podium.services.replays import ReplayService
from podium.services.rooms import RoomService
from podium.storage.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    bus: EventBus
    media: MediaEngine
    accounts: AccountService
    rooms: RoomService
    gateway: Gateway
    limiter: RateLimiter
    redis_bus: RedisBus | None = None  # several nodes (event_bus = "redis")
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    community: Community = field(init=False)  # the social layer (profiles, follows, events...)
    moderation: ModerationService = field(init=False)  # bans, blocks, reports, audit log
    captions: CaptionService = field(init=False)  # live captions (docs/captions.md)
    recordings: RecordingService = field(init=False)  # recording live rooms
    replays: ReplayService = field(init=False)  # replays: access, trims, files
    clips: ClipService = field(init=False)
