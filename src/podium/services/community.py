"""The social layer's services, built and started together (wired in by ``api.app``)."""

from __future__ import annotations

from podium.bus import EventBus
from podium.clock import Clock
from podium.config import Settings
from podium.services.accounts import AccountService
from podium.services.calendar import CalendarService
from podium.services.events import EventService
from podium.services.notifications import NotificationService
from podium.services.profiles import ProfileService
from podium.services.rooms import RoomService
from podium.services.search import SearchService
from podium.services.social import SocialService
from podium.services.summary import SummaryService
from podium.storage.db import Database


class Community:
    def __init__(self, db: Database, bus: EventBus, clock: Clock, settings: Settings,
                 accounts: AccountService, rooms: RoomService) -> None:
        self.notifications = NotificationService(db, bus, clock)
        self.social = SocialService(db, clock, accounts, rooms, self.notifications)
        self.events = EventService(db, clock, accounts, rooms, self.social, self.notifications,
                                   settings.public_url)
        self.calendar = CalendarService(db, clock, self.events, settings.public_url)
        self.profiles = ProfileService(db, clock, accounts, rooms, self.social, self.events)
        self.search = SearchService(db, clock, rooms, self.social, self.events)
        self.summaries = SummaryService(db, bus, clock, rooms)

    async def start(self) -> None:
        """After migrations: load the follow graph, hook into rooms and the ticker."""
        await self.social.start()
        await self.events.start()
