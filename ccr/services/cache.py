"""Caches for session lookups and server configuration: TTL + LRU (cachetools), bounded.

What is cached is never staler than the TTL (5 min at most), and is dropped by every write
that changes it (`SessionCache.forget` after a session upsert, health change or expiry
extension). Only hits are cached: a lookup that found nothing, or failed, goes to the
database again next time, so a session registered a moment later is found at once.

A read that raced a write never puts its (older) answer back: each `forget` bumps a
generation, and `put` drops what was read under an earlier one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

from ccr.core.models import Session

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Observe = Callable[[str, bool], None]
"""Told of each lookup: (cache name, hit?). Metrics."""

MAX_TTL_S = 300.0
SESSION_OVERHEAD_BYTES = 1200
"""A Session object, its dict and its small fields, before its texts (measured with
tracemalloc: ~1.1 KB with short fields)."""
_TEXT_FIELDS = ("pane_id", "tmux_socket", "tmux_session", "claude_session_id", "project",
                "last_event", "last_prompt", "last_reply", "token", "server_id")


def session_size(session: Session) -> int:
    """Bytes a cached session costs, near enough: its texts (which dominate) plus overhead."""
    size = SESSION_OVERHEAD_BYTES
    for name in _TEXT_FIELDS:
        value = getattr(session, name)
        if value:
            size += sys.getsizeof(value)
    return size


class Cache(Generic[K, V]):
    """A TTL + LRU cache that counts its hits and misses; misses are never stored."""

    def __init__(self, name: str, *, ttl_s: float, maxsize: float,
                 timer: Callable[[], float] = time.monotonic,
                 getsizeof: Callable[[V], float] | None = None) -> None:
        self.name = name
        self._data: TTLCache[K, V] = TTLCache(maxsize=maxsize, ttl=min(ttl_s, MAX_TTL_S),
                                              timer=timer, getsizeof=getsizeof)
        self.hits = 0
        self.misses = 0
        self.observe: Observe | None = None

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        self.count(value is not None)
        return value

    def count(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        if self.observe is not None:
            self.observe(self.name, hit)

    def peek(self, key: K) -> V | None:
        """The entry without counting a lookup."""
        return self._data.get(key)

    def put(self, key: K, value: V) -> None:
        try:
            self._data[key] = value
        except ValueError:  # larger than the whole cache: not cached
            self._data.pop(key, None)

    def pop(self, key: K) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        self._data.expire()
        return len(self._data)

    @property
    def size(self) -> float:
        """Entries, or bytes when the cache weighs its values."""
        self._data.expire()
        return self._data.currsize


SessionKey = tuple[str, str | int, int]
"""("handle", server, number) / ("token", token, 0) / ("message", chat, message id)."""


class SessionCache:
    """Sessions by id, and the keys people use for them (handle, token, message) -> id.

    A handle, a token and a Telegram message id each belong to one session row for good
    (unique columns, rows are never deleted), so only the session itself can go stale:
    `forget` drops it and its keys, and the next lookup reads the row again.
    """

    NAME = "sessions"

    def __init__(self, *, ttl_s: float = MAX_TTL_S, max_bytes: int = 32 * 1024 * 1024,
                 max_keys: int = 50_000, timer: Callable[[], float] = time.monotonic) -> None:
        self.sessions: Cache[int, Session] = Cache(self.NAME, ttl_s=ttl_s, maxsize=max_bytes,
                                                   timer=timer, getsizeof=session_size)
        self.keys: Cache[SessionKey, int] = Cache("session_keys", ttl_s=ttl_s,
                                                  maxsize=max_keys, timer=timer)
        self.generation = 0

    @property
    def observe(self) -> Observe | None:
        return self.sessions.observe

    @observe.setter
    def observe(self, value: Observe | None) -> None:
        self.sessions.observe = value

    @staticmethod
    def handle_key(server_id: str, number: int) -> SessionKey:
        return ("handle", server_id, number)

    @staticmethod
    def token_key(token: str) -> SessionKey:
        return ("token", token, 0)

    @staticmethod
    def message_key(chat_id: int, message_id: int) -> SessionKey:
        return ("message", chat_id, message_id)

    def by_id(self, session_id: int) -> Session | None:
        return self.sessions.get(session_id)

    def by_key(self, key: SessionKey, *, live_at: float | None = None) -> Session | None:
        """The session a key names; with `live_at`, only one not expired by then (the same
        filter the database query applies)."""
        session_id = self.keys.peek(key)
        found = self.sessions.peek(session_id) if session_id is not None else None
        if found is not None and live_at is not None and found.expires_at <= live_at:
            found = None
        self.sessions.count(found is not None)
        return found

    def put(self, session: Session, *keys: SessionKey, generation: int) -> None:
        """Cache what a read found, unless a write came in since it started."""
        if generation != self.generation:
            return
        self.sessions.put(session.id, session)
        for key in (self.handle_key(session.server_id, session.number),
                    self.token_key(session.token), *keys):
            self.keys.put(key, session.id)

    def forget(self, session_id: int) -> None:
        """A write changed this session (or may have): drop it; keys lead nowhere now."""
        self.generation += 1
        self.sessions.pop(session_id)

    def clear(self) -> None:
        self.generation += 1
        self.sessions.clear()
        self.keys.clear()

    def __len__(self) -> int:
        return len(self.sessions)


class ServerConfigCache(Generic[V]):
    """Server configuration by id, read through `lookup`; an unknown id is not cached."""

    NAME = "servers"

    def __init__(self, lookup: Callable[[str], V | None], *, ttl_s: float = MAX_TTL_S,
                 maxsize: int = 1024, timer: Callable[[], float] = time.monotonic,
                 enabled: bool = True) -> None:
        self.lookup = lookup
        self.enabled = enabled
        self.cache: Cache[str, V] = Cache(self.NAME, ttl_s=ttl_s, maxsize=maxsize, timer=timer)

    def get(self, server_id: str) -> V | None:
        if not self.enabled:
            return self.lookup(server_id)
        found = self.cache.get(server_id)
        if found is None:
            found = self.lookup(server_id)
            if found is not None:
                self.cache.put(server_id, found)
        return found

    def invalidate(self, server_id: str | None = None) -> None:
        """The configuration changed (one server, or all when None)."""
        if server_id is None:
            self.cache.clear()
        else:
            self.cache.pop(server_id)

    def __len__(self) -> int:
        return len(self.cache)
