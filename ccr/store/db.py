"""The database connection: WAL, busy timeout, migrations, serialized transactions.

One aiosqlite connection is the hub's only writer; an asyncio lock keeps coroutines from
interleaving statements inside each other's transactions. When another process holds the
write lock, starting a transaction is retried by the database retry policy (10 attempts
from 10 ms, 5 s in all), each attempt waiting a share of that in SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiosqlite

from ccr.reliability.retry import LogSink, RetryPolicy, is_db_busy
from ccr.store.schema import MIGRATIONS

BUSY_TIMEOUT_MS = 5000
"""SQLite's own wait for a lock when no retry policy is given."""
STATEMENT_CACHE = 256
"""Prepared statements kept per connection, by SQL text (sqlite3's default is 128): room for
every constant statement of the store, so hot ones are compiled once, not per call."""


class Database:
    """Owns the connection; hands out transactions and reads one at a time."""

    def __init__(self, path: Path, *, busy: RetryPolicy | None = None,
                 log: LogSink | None = None) -> None:
        self.path = path
        self.busy = busy
        self.log = log
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self.holder: asyncio.Task[object] | None = None
        """The task inside a transaction or read now (one at a time)."""
        self.observe: Callable[[str, float], None] | None = None
        """Told of each transaction and read: ("transaction"|"read", seconds). Metrics."""

    @property
    def busy_timeout_ms(self) -> int:
        """SQLite's wait per attempt: the policy's total time shared among its attempts."""
        if self.busy is None or self.busy.attempts <= 1:
            return BUSY_TIMEOUT_MS
        total = self.busy.total_s or BUSY_TIMEOUT_MS / 1000
        return max(10, int(total * 1000 / self.busy.attempts))

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(self.path, isolation_level=None,
                                       cached_statements=STATEMENT_CACHE)
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        self._conn = conn
        await self._migrate()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    async def _migrate(self) -> None:
        """Bring the schema up to date: each pending migration, with its version number, in a
        transaction of its own, sent as one script. One round trip to the database thread per
        migration, not per statement: each waits for the event loop's next turn, and beside a
        console drawing its first screen a fresh hub's ~110 took seconds (measured: about 6 s
        beside a loop busy in 20 ms slices, 1.6 s as one script per migration)."""
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # Python 3.11's executescript commits an open transaction first, so the script
            # carries its own BEGIN and COMMIT (an empty statement after `;` is no statement).
            sql = f"BEGIN IMMEDIATE;\n{script}\n;\nPRAGMA user_version = {number};\nCOMMIT;"
            async with self._held():
                await self._script(sql)

    async def _script(self, sql: str) -> None:
        """Run a script that holds its own transaction; rolled back if any part fails (a busy
        write lock is retried as for `transaction`: nothing of it ran)."""
        conn = self.conn

        async def run() -> None:
            try:
                await conn.executescript(sql)
            except BaseException:
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                raise

        await self._locking(run)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""
        async with self._held():
            with self._timed("transaction"):
                conn = self.conn
                await self._begin(conn)
                try:
                    yield conn
                except BaseException:
                    await conn.execute("ROLLBACK")
                    raise
                await conn.execute("COMMIT")

    @contextlib.asynccontextmanager
    async def _held(self) -> AsyncIterator[None]:
        """The connection, for one task at a time. A task that asks again while it holds it
        would wait on itself for ever: that is a bug, raised at once."""
        me = asyncio.current_task()
        if me is not None and self.holder is me:
            raise RuntimeError("the database was asked for again by the task that holds it "
                               "(a read or transaction inside another)")
        async with self._lock:
            self.holder = me
            try:
                yield
            finally:
                self.holder = None

    @contextlib.contextmanager
    def _timed(self, operation: str) -> Iterator[None]:
        """Report how long the block held the connection (metrics), when anyone listens."""
        observe = self.observe
        if observe is None:
            yield
            return
        started = time.perf_counter()
        try:
            yield
        finally:
            observe(operation, time.perf_counter() - started)

    async def _begin(self, conn: aiosqlite.Connection) -> None:
        """Take the write lock; nothing of the transaction ran yet, so retrying is safe."""

        async def begin() -> None:
            await conn.execute("BEGIN IMMEDIATE")

        await self._locking(begin)

    async def _locking(self, take: Callable[[], Awaitable[None]]) -> None:
        """`take()`, which begins by taking the write lock; a busy lock is retried by the
        busy policy (nothing of it ran yet)."""
        if self.busy is None or self.busy.attempts <= 1:
            await take()
            return
        await self.busy.call(take, retry_if=is_db_busy, what="database write lock",
                             sink=self.log)

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection for reads, outside anyone's open transaction."""
        async with self._held():
            with self._timed("read"):
                yield self.conn

    async def fetchall(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        async with self.reading() as conn, conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def fetchone(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Row | None:
        async with self.reading() as conn, conn.execute(sql, params) as cur:
            row: sqlite3.Row | None = await cur.fetchone()
            return row
