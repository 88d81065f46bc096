"""Caches: TTL expiry on an injected timer, LRU and memory bounds, and no stale session
served after any write path (upsert, health change, expiry extension), no miss or error
cached."""

from __future__ import annotations

import sqlite3
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ccr.core.errors import NotFoundError
from ccr.core.events import EventBus
from ccr.core.models import EventKind, HookEvent, Session, SessionHealth
from ccr.services.cache import Cache, ServerConfigCache, SessionCache, session_size
from ccr.services.sessions import EXTEND_WITHIN_S, SessionService
from ccr.store.db import Database


class Timer:
    """The cache's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Clock(Timer):
    """The service's wall clock."""


def make_session(n: int = 1, *, reply: str = "", expires_at: float = 2e9) -> Session:
    return Session(id=n, server_id="kr4", number=n, token=f"tok{n:05d}", pane_id=f"%{n}",
                   tmux_socket="/tmp/s", tmux_session="work", claude_session_id=f"c{n}",
                   project="/home/ana/shop", last_event="stop", last_prompt="p",
                   last_reply=reply, created_at=0.0, updated_at=0.0, expires_at=expires_at)


def event(pane: str = "%1", **over: object) -> HookEvent:
    values: dict[str, object] = dict(
        event_id=str(uuid.uuid4()), server_id="kr4", kind=EventKind.STOP,
        hook_event_name="Stop", claude_session_id="claude-1", cwd="/home/ana/shop",
        pane_id=pane, tmux_socket="/tmp/sock", tmux_session="work", message=None,
        notification_type=None, last_prompt="hi", last_reply="first reply", sent_at=0.0)
    values.update(over)
    return HookEvent(**values)  # type: ignore[arg-type]


# --- the cache classes ---------------------------------------------------------------------

def test_entries_expire_after_the_ttl() -> None:
    timer = Timer()
    cache: Cache[str, int] = Cache("t", ttl_s=300, maxsize=10, timer=timer)
    cache.put("a", 1)
    timer.now += 299
    assert cache.get("a") == 1
    timer.now += 2
    assert cache.get("a") is None
    assert (cache.hits, cache.misses) == (1, 1)
    assert len(cache) == 0


def test_ttl_is_never_above_five_minutes() -> None:
    timer = Timer()
    cache: Cache[str, int] = Cache("t", ttl_s=3600, maxsize=10, timer=timer)
    cache.put("a", 1)
    timer.now += 301
    assert cache.get("a") is None


def test_least_recently_used_goes_first() -> None:
    cache: Cache[str, int] = Cache("t", ttl_s=300, maxsize=2, timer=Timer())
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.peek("b") is None and cache.peek("a") == 1 and cache.peek("c") == 3


def test_session_cache_is_bounded_by_bytes() -> None:
    big = "x" * 16_000  # the hook's text limit
    cache = SessionCache(max_bytes=10 * session_size(make_session(reply=big)), timer=Timer())
    for n in range(1, 101):
        cache.put(make_session(n, reply=big), generation=cache.generation)
    assert 9 <= len(cache) <= 10
    assert cache.by_id(100) is not None and cache.by_id(1) is None
    huge = make_session(200, reply="y" * 10_000_000)  # larger than the whole cache
    cache.put(huge, generation=cache.generation)
    assert cache.by_id(200) is None


def test_session_cache_memory_at_100_servers_by_10_panes() -> None:
    """1,000 sessions with the largest texts a hook sends stay under the 32 MB bound (and
    far under 50 MB), measured, not estimated."""
    big = "x" * 16_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        cache = SessionCache(timer=Timer())
        for n in range(1, 1001):
            s = make_session(n, reply=big + str(n))
            cache.put(s, SessionCache.message_key(1, n), generation=cache.generation)
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert used < 40 * 1024 * 1024, used
    assert cache.sessions.size <= 32 * 1024 * 1024


def test_a_read_older_than_a_write_is_not_cached() -> None:
    cache = SessionCache(timer=Timer())
    generation = cache.generation
    cache.forget(1)  # a write landed while the read was running
    cache.put(make_session(1), generation=generation)
    assert cache.by_id(1) is None


def test_an_expired_session_is_not_served_by_handle() -> None:
    cache = SessionCache(timer=Timer())
    cache.put(make_session(1, expires_at=500.0), generation=cache.generation)
    key = SessionCache.handle_key("kr4", 1)
    assert cache.by_key(key, live_at=499.0) is not None
    assert cache.by_key(key, live_at=500.0) is None


def test_server_config_unknown_id_is_not_cached() -> None:
    config = {"kr4": "ssh kr4"}
    calls: list[str] = []

    def lookup(server_id: str) -> str | None:
        calls.append(server_id)
        return config.get(server_id)

    cache = ServerConfigCache(lookup, timer=Timer())
    assert cache.get("new") is None
    config["new"] = "ssh new"
    assert cache.get("new") == "ssh new", "a miss was cached"
    assert cache.get("new") == "ssh new"
    assert calls == ["new", "new"]
    config["new"] = "ssh new2"
    cache.invalidate("new")
    assert cache.get("new") == "ssh new2"


def test_server_config_errors_are_not_cached() -> None:
    fail = [True]

    def lookup(server_id: str) -> str | None:
        if fail[0]:
            raise OSError("config unreadable")
        return "ok"

    cache = ServerConfigCache(lookup, timer=Timer())
    with pytest.raises(OSError):
        cache.get("kr4")
    fail[0] = False
    assert cache.get("kr4") == "ok"


# --- the session service with its cache, on a real database ---------------------------------

@pytest.fixture
def timer() -> Timer:
    return Timer()


@pytest.fixture
async def service(tmp_path: Path, timer: Timer) -> AsyncIterator[SessionService]:
    db = Database(tmp_path / "ccr.db")
    await db.open()
    svc = SessionService(db, EventBus(), clock=Clock(), ttl_seconds=24 * 3600,
                         recipients=lambda: [])
    svc.cache = SessionCache(timer=timer)
    yield svc
    await db.close()


def counted_reads(svc: SessionService) -> list[str]:
    """Every read the service sends to the database, from now on."""
    reads: list[str] = []
    svc.db.observe = lambda op, _s: reads.append(op)
    return reads


async def test_lookups_are_served_from_the_cache(service: SessionService) -> None:
    first = (await service.ingest(event())).session
    assert first is not None
    reads = counted_reads(service)
    for ref in ("kr4:1", first.token):
        assert (await service.resolve(ref)).id == first.id
        assert (await service.resolve(ref)).id == first.id
    assert (await service.get(first.id)) == first
    assert reads == ["read"], "only the first lookup reads the database"
    assert service.cache is not None and service.cache.sessions.hits >= 4


async def test_an_upsert_is_never_served_stale(service: SessionService) -> None:
    await service.ingest(event(last_reply="first reply"))
    assert (await service.resolve("kr4:1")).last_reply == "first reply"
    await service.ingest(event(last_reply="second reply"))
    assert (await service.resolve("kr4:1")).last_reply == "second reply"
    s = await service.resolve("kr4:1")
    assert (await service.resolve(s.token)).last_reply == "second reply"
    assert (await service.get(s.id)) is not None
    assert (await service.get(s.id)).last_reply == "second reply"  # type: ignore[union-attr]


async def test_a_lost_session_is_never_served_healthy(service: SessionService) -> None:
    s = (await service.ingest(event())).session
    assert s is not None
    assert (await service.resolve(s.token)).health is SessionHealth.OK
    assert (await service.get(s.id)).health is SessionHealth.OK  # type: ignore[union-attr]
    await service.set_health(s, SessionHealth.LOST, "pane gone")
    assert (await service.resolve(s.token)).health is SessionHealth.LOST
    assert (await service.get(s.id)).health is SessionHealth.LOST  # type: ignore[union-attr]
    # its hook reports again from a new pane in the same tmux session: restored
    await service.ingest(event(pane="%9"))
    back = await service.resolve("kr4:1")
    assert back.health is SessionHealth.OK and back.pane_id == "%9"


async def test_an_extended_session_is_served_with_its_new_expiry(
        service: SessionService) -> None:
    s = (await service.ingest(event())).session
    assert s is not None
    clock = service.clock
    assert isinstance(clock, Clock)
    clock.now = s.expires_at - EXTEND_WITHIN_S / 2  # close to expiry: a command extends it
    cached = await service.resolve("kr4:1")
    extended = await service.used(cached)
    assert extended.expires_at > s.expires_at
    assert (await service.resolve("kr4:1")).expires_at == extended.expires_at
    assert (await service.get(s.id)).expires_at == extended.expires_at  # type: ignore[union-attr]
    clock.now = s.expires_at + 1  # past the old expiry, before the new one: still there
    assert (await service.resolve("kr4:1")).id == s.id


async def test_an_expired_session_is_not_resolved_from_the_cache(
        service: SessionService) -> None:
    s = (await service.ingest(event())).session
    assert s is not None
    await service.resolve("kr4:1")
    clock = service.clock
    assert isinstance(clock, Clock)
    clock.now = s.expires_at + 1
    with pytest.raises(NotFoundError):
        await service.resolve("kr4:1")


async def test_a_miss_is_not_cached(service: SessionService) -> None:
    with pytest.raises(NotFoundError):
        await service.resolve("kr4:1")
    assert await service.for_message(4242, 77) is None
    s = (await service.ingest(event())).session
    assert s is not None
    assert (await service.resolve("kr4:1")).id == s.id, "a miss was cached"
    async with service.db.transaction() as conn:
        await conn.execute("INSERT INTO messages VALUES (4242, 77, ?)", (s.id,))
    found = await service.for_message(4242, 77)
    assert found is not None and found.id == s.id
    reads = counted_reads(service)
    assert (await service.for_message(4242, 77)) == found
    assert reads == []


async def test_a_failed_read_is_not_cached(service: SessionService,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    s = (await service.ingest(event())).session
    assert s is not None
    from ccr.store import sessions as rows

    real = rows.by_handle

    async def broken(*args: object, **kwargs: object) -> Session | None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(rows, "by_handle", broken)
    with pytest.raises(sqlite3.OperationalError):
        await service.resolve("kr4:1")
    monkeypatch.setattr(rows, "by_handle", real)
    assert (await service.resolve("kr4:1")).id == s.id
    assert service.cache is not None and service.cache.sessions.hits == 0


async def test_entries_expire_on_the_cache_timer(service: SessionService,
                                                 timer: Timer) -> None:
    await service.ingest(event())
    await service.resolve("kr4:1")
    reads = counted_reads(service)
    timer.now += 299
    await service.resolve("kr4:1")
    assert reads == []
    timer.now += 2  # 5 min after it was read: the database is asked again
    await service.resolve("kr4:1")
    assert reads == ["read"]


async def test_no_cache_reads_every_time(service: SessionService) -> None:
    service.cache = None
    await service.ingest(event())
    reads = counted_reads(service)
    await service.resolve("kr4:1")
    await service.resolve("kr4:1")
    assert reads == ["read", "read"]
