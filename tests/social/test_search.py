"""Search over a few thousand rows: the same answers from SQLite FTS5 and PostgreSQL trigrams."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from podium.storage.tables import Event, Room, User
from tests.api.helpers import members, ok
from tests.conftest import Server
from tests.social.helpers import room

FIRST = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy"]
LAST = ["Smith", "Jones", "Miller", "Garcia", "Müller", "Nguyen", "Okafor", "Silva"]


async def fill(server: Server, users: int = 3000, rooms: int = 1500, events: int = 500) -> None:
    now = datetime.fromtimestamp(server.clock.now(), UTC)
    async with server.services.db.transaction() as s:
        people = [User(username=f"{FIRST[i % 10].lower()}_{i}",
                       display_name=f"{FIRST[i % 10]} {LAST[i % 8]}", password_hash="!",
                       is_admin=False, suspended=False, created_at=now) for i in range(users)]
        s.add_all(people)
        await s.flush()
        s.add_all(Room(id=f"old{i}", title=f"Weekly {LAST[i % 8]} chat {i}", description="",
                       kind="open", status="ended", host_id=people[i].id, created_at=now)
                  for i in range(rooms))
        s.add_all(Event(title=f"{FIRST[i % 10]} live session {i}", description="",
                        starts_at=now + timedelta(days=1, minutes=i), timezone="UTC",
                        kind="open", host_id=people[i].id, created_at=now)
                  for i in range(events))


async def search(m, q: str, **params: object) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return ok(await m.http.get("/search", params={"q": q, **params}))  # type: ignore[no-any-return]


async def test_people_rooms_and_events_by_prefix(server: Server) -> None:
    await fill(server)
    viewer, grace = await members(server, "viewer", "grace")
    # People: username and display-name word prefixes; every word must match.
    result = await search(viewer, "grace", type="people", limit=5)
    assert [p["username"] for p in result["people"]][:3] == ["grace", "grace_6", "grace_16"]
    found = await search(viewer, "Ali smi", type="people", limit=50)
    names = {p["display_name"] for p in found["people"]}
    assert names == {"Alice Smith"} and len(found["people"]) == 50
    assert (await search(viewer, "ivan_18", type="people"))["people"][0]["username"] == "ivan_18"
    assert (await search(viewer, "van", type="people"))["people"] == []  # not mid-word
    every = await search(viewer, "judy nguyen", type="people", limit=50)
    expected = {f"judy_{i}" for i in range(3000) if i % 10 == 9 and i % 8 == 5}
    assert {p["username"] for p in every["people"]} <= expected and len(every["people"]) == 50
    assert (await search(viewer, "zzz"))["people"] == []
    # Punctuation and quotes are only separators, never syntax.
    assert (await search(viewer, '"grace" * (', type="people"))["people"][0]["username"] == (
        "grace")
    assert (await search(viewer, "%_", type="people"))["people"] == []
    # Rooms: only live ones this viewer may join (thousands of ended ones are ignored).
    live = await room(grace, "open", "Weekly Silva chat live")
    await room(grace, "closed", "Weekly Silva chat secret")
    rooms = (await search(viewer, "weekly sil", type="rooms"))["rooms"]
    assert [r["id"] for r in rooms] == [live]
    # Events: upcoming, soonest first.
    events = (await search(viewer, "heidi live", type="events", limit=3))["events"]
    assert [e["title"] for e in events] == ["Heidi live session 7", "Heidi live session 17",
                                            "Heidi live session 27"]
    everything = await search(viewer, "grac")
    assert everything["people"] and everything["events"] and everything["rooms"] == []
    assert (await viewer.http.get("/search", params={"q": ""})).status_code == 422


async def test_search_follows_renames(server: Server) -> None:
    (alice,) = await members(server, "alice")
    assert (await search(alice, "zebra", type="people"))["people"] == []
    ok(await alice.http.patch("/profile", json={"display_name": "Zebra Crossing"}))
    assert [p["username"] for p in (await search(alice, "zeb cro"))["people"]] == ["alice"]
