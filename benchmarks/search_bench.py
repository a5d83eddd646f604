"""Search latency on SQLite (FTS5) and PostgreSQL (pg_trgm): p50/p95 per query.

Fills a fresh database with 10,000 members, 1,000 live rooms and 2,000 upcoming events, then
times ``SearchService`` queries (the SQL part: what grows with the data). Prints a table and
appends a section to benchmarks/results/HISTORY.md.

    python benchmarks/search_bench.py                       # SQLite only
    python benchmarks/search_bench.py --postgres URL        # and PostgreSQL (schema is reset!)

PostgreSQL the way the tests get it (a throwaway server in a loopback-only namespace, as
``scripts/_test_in_netns`` starts it), as root:

    unshare -n sh -c 'ip link set lo up && TMP=$(mktemp -d) && chown postgres: $TMP &&
      runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D $TMP/d -A trust -U postgres \
        >/dev/null && runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D $TMP/d -w \
        -l $TMP/log start -o "-k $TMP -c listen_addresses=127.0.0.1" >/dev/null &&
      .venv/bin/python benchmarks/search_bench.py \
        --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres'
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from benchlib import history
from sqlalchemy import text

from podium.clock import SystemClock
from podium.services.search import SearchService, terms
from podium.storage.db import Database
from podium.storage.tables import Event, Room, User

FIRST = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy",
         "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter"]
LAST = ["Smith", "Jones", "Miller", "Garcia", "Müller", "Nguyen", "Okafor", "Silva", "Kowalski",
        "Tanaka", "Haddad", "Larsen", "Moreau", "Rossi", "Novak", "Ivanova", "Dubois"]
TOPICS = ["jazz", "startups", "poetry", "football", "cooking", "python", "gardening", "film",
          "chess", "climate", "music", "history", "design", "travel", "running", "books"]
QUERIES = {  # kind -> as-you-type queries, from one letter to a few words
    "people": ["a", "al", "alice", "alice sm", "ivan_12", "müller", "zzz"],
    "rooms": ["j", "jazz", "jazz night", "weekly pyth"],
    "events": ["p", "poetry", "poetry open mic", "cook"],
}


async def fill(db: Database, users: int, rooms: int, events: int) -> None:
    now = datetime.now(UTC)
    async with db.transaction() as s:
        people = [User(username=f"{FIRST[i % len(FIRST)].lower()}_{i}",
                       display_name=f"{FIRST[i % len(FIRST)]} {LAST[(i // 7) % len(LAST)]}",
                       password_hash="!", is_admin=False, suspended=False, created_at=now)
                  for i in range(users)]
        s.add_all(people)
        await s.flush()
        s.add_all(Room(id=f"r{i:06d}", title=f"Weekly {TOPICS[i % 16]} night {i}",
                       description="", kind="open", status="live", host_id=people[i].id,
                       created_at=now) for i in range(rooms))
        s.add_all(Event(title=f"{TOPICS[(i * 5) % 16].title()} open mic {i}", description="",
                        starts_at=now + timedelta(hours=1 + i), timezone="UTC", kind="open",
                        host_id=people[i % users].id, created_at=now) for i in range(events))


async def timed(call: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, float, int]:
    for _ in range(5):
        found = await call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        found = await call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    return statistics.median(samples), p95, len(found)


async def bench(url: str, args: argparse.Namespace) -> list[tuple[str, str, float, float, int]]:
    if url.startswith("postgresql"):
        db = Database(url)
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await db.close()
    db = Database(url)
    await db.migrate()
    started = time.perf_counter()
    await fill(db, args.users, args.rooms, args.events)
    print(f"{url.split(':')[0]}: filled in {time.perf_counter() - started:.1f} s", flush=True)
    if url.startswith("postgresql"):
        # Steady state: what autovacuum would have done (statistics, GIN pending lists merged).
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    search = SearchService(db, SystemClock(), None, None, None)  # type: ignore[arg-type]
    methods = {"people": search.people_ids, "rooms": search.room_ids,
               "events": search.event_ids}
    rows = []
    for kind, queries in QUERIES.items():
        for query in queries:
            words = terms(query)
            p50, p95, hits = await timed(lambda m=methods[kind], w=words: m(w, 20), args.repeat)
            rows.append((kind, query, p50, p95, hits))
    await db.close()
    return rows


def report(results: dict[str, list[tuple[str, str, float, float, int]]],
           args: argparse.Namespace) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## search_bench {stamp}", "",
             f"{args.users:,} members, {args.rooms:,} live rooms, {args.events:,} upcoming "
             f"events; {args.repeat} timed runs per query (limit 20), after 5 warm-ups. "
             f"Python {platform.python_version()}, {platform.machine()}. SQL only (no HTTP).",
             "", "| database | kind | query | p50 ms | p95 ms | hits |",
             "|---|---|---|---:|---:|---:|"]
    for name, rows in results.items():
        for kind, query, p50, p95, hits in rows:
            lines.append(f"| {name} | {kind} | `{query}` | {p50:.2f} | {p95:.2f} | {hits} |")
    return "\n".join(lines) + "\n"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", help="SQLAlchemy URL of a throwaway PostgreSQL database")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rooms", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--no-write", action="store_true", help="only print")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = await bench(f"sqlite+aiosqlite:///{tmp}/bench.db", args)
    if args.postgres:
        results["PostgreSQL"] = await bench(args.postgres, args)
    section = report(results, args)
    print(section)
    if not args.no_write:
        history.append(section)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
