"""History search at size: 100,000 commands over 30 days, 10 servers x 5 sessions.

The database is the hub's own (migrated schema, FTS5 index kept by its triggers), filled with
commands whose texts and Claude's replies are made from a vocabulary of a developer's day
(a few hundred words, some frequent, most rare), states in realistic shares (most completed,
some failed, timed out, cancelled). Each query is `HistoryService.search` as the faces call
it (page of 10 plus the total), timed end to end on the hub's aiosqlite connection:

  last 10          no filter
  by server        `srv3`
  by state         `state:failed`
  keyword          a frequent word (`tests`)
  keyword rare     a rare word
  keyword+server   `srv3 deploy`
  paging deep      `srv3`, page 50 by keyset (`before` the last id of page 49)
  offset deep      no filter, offset 5,000

Run `python -m bench.history_search [--commands 100000] [--runs 30]`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):  # `python bench/history_search.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import Summary, ms, table
from ccr.core.config import parse_settings
from ccr.core.models import FINAL_STATES, CommandState
from ccr.services.history import HistoryService
from ccr.store.db import Database

SERVERS = 10
SESSIONS = 5
DAYS = 30
TARGET_MS = 500.0
VERBS = ["run", "fix", "add", "refactor", "explain", "review", "deploy", "write", "update",
         "remove", "rename", "check", "debug", "profile", "document", "migrate", "test"]
NOUNS = ["the tests", "the failing test", "cart.py", "the login flow", "the API client",
         "the README", "the Dockerfile", "the CI pipeline", "the migration", "the parser",
         "the cache", "the retry logic", "the staging deploy", "the websocket handler",
         "the invoice export", "the search index", "the rate limiter", "the config loader"]
TAILS = ["", "", "", " please", " and commit", " with a regression test", " for python 3.12",
         " then run the tests", " without touching the public API", " and explain why"]
RARE = [f"ticket{n}" for n in range(3000)]
REPLIES = ["All {n} tests pass.", "I changed {f} and added a test for the edge case.",
           "The deploy to staging finished; health checks are green.",
           "I could not reproduce the failure; the logs show a timeout in {f}.",
           "Refactored {f}: {n} lines fewer, behaviour unchanged.",
           "Here is what the function does: it reads the config, validates it, and retries."]
FILES = ["cart.py", "api/client.py", "auth/login.py", "cache.py", "parser.py", "ci.yml"]
STATE_SHARE = [(CommandState.COMPLETED, 0.86), (CommandState.FAILED, 0.05),
               (CommandState.TIMEOUT, 0.03), (CommandState.CANCELLED, 0.04),
               (CommandState.UNCERTAIN, 0.01), (CommandState.EXECUTING, 0.01)]


def text_of(rng: random.Random) -> str:
    text = f"{rng.choice(VERBS)} {rng.choice(NOUNS)}{rng.choice(TAILS)}"
    return text + (f" ({rng.choice(RARE)})" if rng.random() < 0.2 else "")


def reply_of(rng: random.Random) -> str:
    return rng.choice(REPLIES).format(n=rng.randint(3, 400), f=rng.choice(FILES))


async def fill(db: Database, count: int, now: float, seed: int = 7) -> None:
    """`count` commands with their transitions, spread evenly at random over DAYS."""
    rng = random.Random(seed)
    states, weights = zip(*STATE_SHARE, strict=True)
    async with db.transaction() as conn:
        for s in range(SERVERS * SESSIONS):
            await conn.execute(
                "INSERT INTO sessions (id, server_id, number, token, pane_key, created_at, "
                "updated_at, expires_at) VALUES (?, ?, ?, ?, ?, 0, 0, ?)",
                (s + 1, f"srv{s // SESSIONS}", s % SESSIONS + 1, uuid.uuid4().hex,
                 f"p{s}", now + 86400))
    batch = 5000
    for start in range(0, count, batch):
        rows, events = [], []
        for _ in range(start, min(count, start + batch)):
            cid = uuid.uuid4().hex
            created = now - rng.random() * DAYS * 86400
            state = rng.choices(states, weights)[0]
            done = created + rng.uniform(2, 600) if state in FINAL_STATES else None
            rows.append((cid, rng.randint(1, SERVERS * SESSIONS), text_of(rng), "telegram",
                         state, created, done,
                         reply_of(rng) if state is CommandState.COMPLETED else None))
            events += [(cid, "pending", created), (cid, "executing", created + 1)]
            if done is not None:
                events.append((cid, state.value, done))
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO commands (id, session_id, text, source, state, created_at, "
                "finished_at, reply) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            await conn.executemany(
                "INSERT INTO command_events (command_id, state, at) VALUES (?, ?, ?)", events)
    async with db.transaction() as conn:
        await conn.execute("ANALYZE")


async def measure(svc: HistoryService, runs: int) -> dict[str, list[float]]:
    deep_before = None
    page = await svc.search("srv3", limit=10)
    for _ in range(48):  # to page 49 by keyset, so "paging deep" starts from page 50
        page = await svc.search("srv3", limit=10, before=page.next_before)
    deep_before = page.next_before
    queries = {
        "last 10": {"query": ""},
        "by server": {"query": "srv3"},
        "by state": {"query": "state:failed"},
        "keyword": {"query": "tests"},
        "keyword rare": {"query": "ticket1234"},
        "keyword+server": {"query": "srv3 deploy"},
        "paging deep": {"query": "srv3", "before": deep_before},
        "offset deep": {"query": "", "offset": 5000},
    }
    out: dict[str, list[float]] = {name: [] for name in queries}
    for _ in range(runs):
        for name, kw in queries.items():
            started = time.perf_counter()
            await svc.search(**kw)  # type: ignore[arg-type]
            out[name].append(time.perf_counter() - started)
    return out


async def run(count: int, runs: int, work: Path) -> dict[str, list[float]]:
    now = time.time()
    db = Database(work / "ccr.db")
    await db.open()
    try:
        started = time.perf_counter()
        await fill(db, count, now)
        print(f"filled {count:,} commands in {time.perf_counter() - started:.1f} s "
              f"({(work / 'ccr.db').stat().st_size / 1e6:.0f} MB)", flush=True)
        settings = parse_settings({"hub": {"listen": "127.0.0.1:1"}, "servers": [
            {"id": f"srv{i}", "kind": "local"} for i in range(SERVERS)]})
        return await measure(HistoryService(db, lambda: now, settings), runs)
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history_search", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30, help="timed runs of each query (30)")
    ns, _ = parser.parse_known_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ccr-bench-history-"))
    try:
        samples = asyncio.run(run(ns.commands, ns.runs, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows, slow = [], []
    for name, values in samples.items():
        s = Summary.of([v * 1000 for v in values])
        rows.append([name, ms(s.p50), ms(s.p95), ms(s.max)])
        if s.p95 >= TARGET_MS:
            slow.append(name)
    print(table(["query (page of 10 + total), ms", "p50", "p95", "max"], rows))
    print(f"target: p95 < {TARGET_MS:.0f} ms -> " + ("met" if not slow else
                                                   f"MISSED by {', '.join(slow)}"))
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
