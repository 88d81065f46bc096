"""The delivery worker's tries and the dead-letter schedule, on a real database, fake clock."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ccr.core.events import (
    DeadLetterArchived,
    DeadLetterDelivered,
    DeadLettered,
    Event,
    EventBus,
)
from ccr.reliability.retry import RetryPolicy
from ccr.services.dead_letters import DeadLetterQueue
from ccr.services.delivery import DeliveryWorker, SendFailed
from ccr.store import deadletters, outbox
from ccr.store.db import Database
from ccr.store.deadletters import Schedule
from ccr.store.outbox import OutboxItem

CHAT, OTHER, ADMIN = 10, 20, 99


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeSender:
    """Fails while `down` (or with the exceptions queued in `faults`), else records the text."""

    def __init__(self) -> None:
        self.down: SendFailed | None = None
        self.faults: list[SendFailed] = []
        self.sent: list[tuple[int, str]] = []
        self.tries = 0

    async def send(self, item: OutboxItem) -> int:
        self.tries += 1
        if self.faults:
            raise self.faults.pop(0)
        if self.down is not None:
            raise self.down
        self.sent.append((item.chat_id, str(item.payload.get("text", item.kind))))
        return len(self.sent)


class Rig:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.clock = Clock()
        self.bus = EventBus()
        self.events: list[Event] = []
        self.bus.publish = self.events.append  # type: ignore[method-assign,assignment]
        self.sender = FakeSender()
        self.schedule = Schedule(base_s=60.0, cycles=5)
        self.worker = DeliveryWorker(
            db, self.bus, self.sender, clock=self.clock,
            policy=RetryPolicy("telegram", 3, 0.5, 5.0), schedule=self.schedule,
            admins=lambda: [ADMIN], rng=random.Random(4))
        self.dlq = DeadLetterQueue(db, self.bus, schedule=self.schedule, interval_s=60.0,
                                   clock=self.clock, wake=lambda: None)

    async def enqueue(self, chat: int, text: str) -> int:
        async with self.db.transaction() as conn:
            return await outbox.enqueue(conn, chat_id=chat, kind="text",
                                        payload={"text": text}, now=self.clock())

    async def drain_for(self, seconds: float, step: float = 0.25) -> None:
        """Let `seconds` pass on the fake clock, draining as the worker would."""
        end = self.clock.now + seconds
        while self.clock.now < end:
            await self.worker.drain()
            self.clock.now += step
        await self.worker.drain()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    db = Database(tmp_path / "ccr.db")
    await db.open()
    yield Rig(db)
    await db.close()


def test_schedule_is_60_120_240_480_960_then_archive() -> None:
    s = Schedule()
    assert [s.next_at(n, 0.0) for n in range(6)] == [60, 120, 240, 480, 960, None]
    assert Schedule(base_s=0.2, cycles=2).next_at(1, 10.0) == pytest.approx(10.4)


async def test_a_blip_is_retried_and_delivered_once(rig: Rig) -> None:
    rig.sender.faults = [SendFailed("502", category="network"),
                         SendFailed("slow down", retry_after=3.0, category="rate_limited")]
    await rig.enqueue(CHAT, "one")
    await rig.worker.drain()
    assert rig.sender.sent == []
    item = await rig.db.fetchone("SELECT next_attempt_at FROM outbox")
    assert item is not None and item["next_attempt_at"] - rig.clock.now <= 0.5  # at once
    await rig.drain_for(1.0)
    assert rig.sender.sent == []  # retry_after=3 s is honoured
    await rig.drain_for(3.0)
    assert rig.sender.sent == [(CHAT, "one")] and rig.sender.tries == 3
    assert await deadletters.counts(rig.db) == {}


async def test_order_kept_per_chat_while_other_chats_flow(rig: Rig) -> None:
    rig.sender.faults = [SendFailed("502")]
    for text in ("a1", "a2"):
        await rig.enqueue(CHAT, text)
    await rig.enqueue(OTHER, "b1")
    await rig.worker.drain()
    assert rig.sender.sent == [(OTHER, "b1")]  # a1 waits for its retry; a2 waits behind it
    await rig.drain_for(1.0)
    assert rig.sender.sent == [(OTHER, "b1"), (CHAT, "a1"), (CHAT, "a2")]


async def test_spent_tries_dead_letter_and_unblock_the_chat(rig: Rig) -> None:
    await rig.enqueue(CHAT, "poison")
    await rig.enqueue(CHAT, "next")
    rig.sender.faults = [SendFailed("502")] * 3
    await rig.drain_for(3.0)
    assert rig.sender.sent == [(CHAT, "next")]
    [entry] = await deadletters.entries(rig.db)
    assert (entry.state, entry.cycles, entry.attempts) == ("queued", 0, 3)
    assert entry.next_attempt_at == pytest.approx(entry.created_at + 60)
    row = await rig.db.fetchone("SELECT state, text FROM outbox WHERE id = ?", (entry.outbox_id,))
    assert row is not None and row["state"] == "dead" and "poison" in row["text"]
    assert any(isinstance(e, DeadLettered) for e in rig.events)


async def test_permanent_failure_goes_to_the_queue_at_once(rig: Rig) -> None:
    rig.sender.faults = [SendFailed("blocked", permanent=True, category="forbidden")]
    await rig.enqueue(CHAT, "x")
    await rig.worker.drain()
    assert rig.sender.tries == 1
    [entry] = await deadletters.entries(rig.db)
    assert entry.error_type == "forbidden" and entry.reason == "blocked"


async def test_five_cycles_then_archive_and_one_admin_alert(rig: Rig) -> None:
    rig.sender.down = SendFailed("Telegram could not be reached (Bad Gateway)")
    await rig.enqueue(CHAT, "lost?")
    await rig.drain_for(3.0)
    waits = []
    for cycle in range(1, 6):
        entry = (await deadletters.entries(rig.db))[0]
        assert entry.state == "queued" and entry.cycles == cycle - 1
        assert entry.next_attempt_at is not None
        waits.append(entry.next_attempt_at - entry.updated_at)  # from its burial
        rig.clock.now = entry.next_attempt_at - 1
        assert await rig.dlq.tick() == 0  # not yet
        rig.clock.now += 1
        assert await rig.dlq.tick() == 1
        await rig.drain_for(3.0)
    assert waits == [60, 120, 240, 480, 960]
    # Telegram is still down, so the alert itself waits in the queue (it never alerts again).
    entry, alert_entry = await deadletters.entries(rig.db)
    assert alert_entry.kind == "dlq_alert" and alert_entry.chat_id == ADMIN
    assert entry.state == "archived" and entry.cycles == 5 and entry.alerted_at is not None
    assert entry.attempts == 18
    assert next(e for e in rig.events if isinstance(e, DeadLetterArchived)).alerted == 1
    alert = await rig.db.fetchone("SELECT chat_id, kind, text FROM outbox WHERE kind = 'dlq_alert'")
    assert alert is not None and alert["chat_id"] == ADMIN
    # An archived entry is only retried by hand; once it works it is delivered exactly once.
    rig.clock.now += 10_000
    assert entry.id not in [e.id for e in await deadletters.due(rig.db, rig.clock.now)]
    rig.sender.down = None
    result = await rig.dlq.retry(entry.id)
    assert result.moved and not (await rig.dlq.retry(entry.id)).moved
    await rig.worker.drain()
    assert [t for c, t in rig.sender.sent if c == CHAT] == ["lost?"]
    assert (await deadletters.get(rig.db, entry.id)).state == "delivered"  # type: ignore[union-attr]
    assert any(isinstance(e, DeadLetterDelivered) for e in rig.events)
    # The alert goes out with the others once retried, and only one.
    assert [e.id for e in await rig.dlq.retry_all()] == [alert_entry.id]
    await rig.worker.drain()
    assert len([c for c, _ in rig.sender.sent if c == ADMIN]) == 1


async def test_retry_all_keeps_order_and_delivers_once(rig: Rig) -> None:
    rig.sender.down = SendFailed("502")
    for text in ("m1", "m2", "m3"):
        await rig.enqueue(CHAT, text)
    await rig.drain_for(5.0)
    assert len(await deadletters.entries(rig.db)) == 3
    rig.sender.down = None
    await rig.enqueue(CHAT, "m4")  # a newer message still pending goes after the retried ones
    moved = await rig.dlq.retry_all()
    assert len(moved) == 3 and await rig.dlq.retry_all() == []
    await rig.worker.drain()
    assert rig.sender.sent == [(CHAT, "m1"), (CHAT, "m2"), (CHAT, "m3"), (CHAT, "m4")]
    assert [e.state for e in await rig.dlq.list(include_delivered=True)] == ["delivered"] * 3


async def test_purge_leaves_a_trace_in_the_outbox(rig: Rig) -> None:
    rig.sender.down = SendFailed("502")
    await rig.enqueue(CHAT, "m1")
    await rig.drain_for(3.0)
    assert await rig.dlq.purge(archived_only=True) == 0
    assert await rig.dlq.purge(archived_only=False) == 1
    row = await rig.db.fetchone("SELECT state, last_error FROM outbox")
    assert row is not None and row["state"] == "failed" and "purged" in row["last_error"]


async def test_an_unknown_entry_is_a_readable_error(rig: Rig) -> None:
    from ccr.core.errors import CcrError

    with pytest.raises(CcrError) as info:
        await rig.dlq.retry(42)
    assert info.value.code == "dlq_not_found" and "ccr dlq list" in info.value.explain()


async def test_a_chats_dead_letters_come_back_together_in_order(rig: Rig) -> None:
    rig.sender.down = SendFailed("502")
    await rig.enqueue(CHAT, "m1")
    await rig.drain_for(3.0)
    rig.clock.now += 30
    await rig.enqueue(CHAT, "m2")
    await rig.drain_for(3.0)
    first, second = await deadletters.entries(rig.db)
    assert second.next_attempt_at is not None and first.next_attempt_at is not None
    assert second.next_attempt_at > first.next_attempt_at
    rig.clock.now = first.next_attempt_at
    assert await rig.dlq.tick() == 2  # m2 goes back with m1, behind it
    rig.sender.down = None
    await rig.worker.drain()
    assert rig.sender.sent == [(CHAT, "m1"), (CHAT, "m2")]
