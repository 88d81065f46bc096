"""Alert rules and their cooldowns, with an injected clock, real SQLite and the real outbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ccr.core.config import AlertSettings
from ccr.core.errors import CcrError
from ccr.core.events import AlertAcknowledged, AlertFired, AlertResolved, Event, EventBus
from ccr.store.db import Database
from ccr.telemetry.alerts import (
    AlertService,
    BreakerFigure,
    Figures,
    conditions,
    cooldown_s,
)

ADMINS = [11, 22]
CFG = AlertSettings()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class World:
    def __init__(self, db: Database, clock: Clock, settings: AlertSettings) -> None:
        self.db = db
        self.clock = clock
        self.bus = EventBus()
        self.events: list[Event] = []
        self.figures = Figures(servers=("a", "b"))
        self.bus.publish = self.events.append  # type: ignore[method-assign]

        async def figures() -> Figures:
            return self.figures

        self.service = AlertService(db, self.bus, settings, clock=clock, figures=figures,
                                    admins=lambda: list(ADMINS))

    async def outbox(self) -> list[dict[str, object]]:
        rows = await self.db.fetchall("SELECT chat_id, kind, text FROM outbox ORDER BY id")
        return [{"chat": r["chat_id"], **json.loads(r["text"])} for r in rows
                if r["kind"] == "alert"]

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db = Database(tmp_path / "ccr.db")
    await db.open()
    yield World(db, Clock(), CFG)
    await db.close()


def open_breaker(server: str = "a") -> Figures:
    return Figures(servers=("a", "b"),
                   breakers={server: BreakerFigure("open", 5, "Cannot reach it", None)})


# --- the rules (pure) ----------------------------------------------------------------------


def test_each_rule_fires_only_above_its_threshold() -> None:
    quiet = Figures(servers=("a",), breakers={"a": BreakerFigure("closed")},
                    error_rates={"a": (0.10, 100)}, ssh_p95={"a": 10.0}, dlq_size=100)
    assert conditions(quiet, CFG) == [], "thresholds are 'above', not 'at'"
    loud = Figures(servers=("a",), breakers={"a": BreakerFigure("half_open", 5, "refused")},
                   error_rates={"a": (0.11, 100)}, ssh_p95={"a": 10.5}, dlq_size=101)
    found = {(c.rule, c.server): c for c in conditions(loud, CFG)}
    assert set(found) == {("breaker_open", "a"), ("error_rate", "a"), ("ssh_p95", "a"),
                          ("dlq_size", None)}
    assert "11 %" in found[("error_rate", "a")].message
    assert "half-open" in found[("breaker_open", "a")].message
    assert "p95 10.5 s" in found[("ssh_p95", "a")].message
    assert "101 undelivered" in found[("dlq_size", None)].message


def test_error_rate_needs_enough_calls_and_unknown_figures_never_fire() -> None:
    few = Figures(servers=("a",), error_rates={"a": (1.0, CFG.error_rate_min_calls - 1)})
    assert conditions(few, CFG) == [], "one failed call of one is not a 100 % error rate"
    enough = Figures(servers=("a",), error_rates={"a": (1.0, CFG.error_rate_min_calls)})
    assert [c.rule for c in conditions(enough, CFG)] == ["error_rate"]
    assert conditions(Figures(servers=("a",)), CFG) == [], "metrics or breakers off: nothing"


def test_thresholds_and_cooldowns_come_from_the_config() -> None:
    cfg = AlertSettings(dlq_size=5, ssh_p95_s=1.0, error_rate=0.5)
    fig = Figures(servers=("a",), error_rates={"a": (0.4, 50)}, ssh_p95={"a": 1.5}, dlq_size=6)
    assert sorted(c.rule for c in conditions(fig, cfg)) == ["dlq_size", "ssh_p95"]
    assert [cooldown_s(r, CFG) for r in ("error_rate", "breaker_open", "dlq_size",
                                         "ssh_p95")] == [900, 300, 600, 1800]


# --- the service: fire, remind, acknowledge, resolve, cooldown -----------------------------


async def test_a_breaker_alert_fires_once_to_each_admin_then_resolves_once(world: World) -> None:
    world.figures = open_breaker()
    fired = await world.service.evaluate()
    assert [(a.rule, a.server, a.state) for a in fired] == [("breaker_open", "a", "firing")]
    sent = await world.outbox()
    assert [(m["chat"], m["phase"], m["id"]) for m in sent] == [(11, "fired", fired[0].id),
                                                                 (22, "fired", fired[0].id)]
    world.clock.advance(CFG.interval_s)
    assert await world.service.evaluate() == [], "still open: no new alert"
    assert len(await world.outbox()) == 2

    world.figures = Figures(servers=("a", "b"), breakers={"a": BreakerFigure("closed")})
    world.clock.advance(CFG.interval_s)
    await world.service.evaluate()
    resolved = [m for m in await world.outbox() if m["phase"] == "resolved"]
    assert [m["chat"] for m in resolved] == ADMINS and resolved[0]["state"] == "resolved"
    assert await world.service.active() == []
    world.clock.advance(CFG.interval_s)
    await world.service.evaluate()
    assert len(await world.outbox()) == 4, "resolution told once"
    assert len(world.of(AlertFired)) == 1 and len(world.of(AlertResolved)) == 1


async def test_unacknowledged_alert_repeats_once_per_cooldown(world: World) -> None:
    world.figures = open_breaker()
    await world.service.evaluate()
    world.clock.advance(CFG.breaker_cooldown_s - 1)
    await world.service.evaluate()
    assert len(await world.outbox()) == 2, "nothing repeated inside the cooldown"
    world.clock.advance(1)
    again = await world.service.evaluate()
    assert len(again) == 1
    phases = [m["phase"] for m in await world.outbox()]
    assert phases == ["fired", "fired", "reminder", "reminder"]
    fired = world.of(AlertFired)
    assert [getattr(e, "reminder", None) for e in fired] == [False, True]


async def test_acknowledged_alert_stays_quiet_until_it_resolves_and_fires_again(
        world: World) -> None:
    world.figures = open_breaker()
    (alert,) = await world.service.evaluate()
    result = await world.service.acknowledge(alert.id, "telegram:11")
    assert result.changed and result.alert.state == "acknowledged"
    assert result.alert.acknowledged_by == "telegram:11"
    again = await world.service.acknowledge(alert.id, "cli:ana")
    assert not again.changed and again.alert.acknowledged_by == "telegram:11"
    assert len(world.of(AlertAcknowledged)) == 1
    for _ in range(5):  # an hour, long past every cooldown
        world.clock.advance(CFG.breaker_cooldown_s * 2.5)
        assert await world.service.evaluate() == []
    assert len(await world.outbox()) == 2, "acknowledged: no repeat"

    world.figures = Figures(servers=("a", "b"), breakers={"a": BreakerFigure("closed")})
    await world.service.evaluate()
    with pytest.raises(CcrError) as resolved:
        await world.service.acknowledge(alert.id, "api")
    assert resolved.value.code == "alert_resolved"
    world.figures = open_breaker()
    (second,) = await world.service.evaluate()
    assert second.id != alert.id and second.state == "firing", "a new alert, a new number"


async def test_cooldown_holds_back_a_flapping_condition(world: World) -> None:
    world.figures = open_breaker()
    await world.service.evaluate()
    closed = Figures(servers=("a", "b"), breakers={"a": BreakerFigure("closed")})
    world.figures = closed
    world.clock.advance(60)
    await world.service.evaluate()
    world.figures = open_breaker()
    world.clock.advance(60)
    assert await world.service.evaluate() == [], "fired 2 min ago: inside the 5 min cooldown"
    world.clock.advance(CFG.breaker_cooldown_s - 120)
    assert len(await world.service.evaluate()) == 1, "cooldown over: it fires again"


async def test_cooldown_survives_a_restart(world: World, tmp_path: Path) -> None:
    world.figures = open_breaker()
    await world.service.evaluate()
    world.figures = Figures(servers=("a", "b"))
    world.clock.advance(30)
    await world.service.evaluate()
    restarted = World(world.db, world.clock, CFG)
    restarted.figures = open_breaker()
    world.clock.advance(30)
    assert await restarted.service.evaluate() == []


async def test_rules_are_per_server_and_per_rule(world: World) -> None:
    world.figures = Figures(servers=("a", "b"),
                            breakers={"a": BreakerFigure("open", 5), "b": BreakerFigure("open")},
                            error_rates={"a": (0.5, 20), "b": (0.0, 20)}, dlq_size=500)
    fired = await world.service.evaluate()
    assert sorted((a.rule, a.server or "") for a in fired) == [
        ("breaker_open", "a"), ("breaker_open", "b"), ("dlq_size", ""), ("error_rate", "a")]
    world.figures = Figures(servers=("a", "b"),
                            breakers={"a": BreakerFigure("open", 5), "b": BreakerFigure("closed")},
                            error_rates={"a": (0.5, 20)}, dlq_size=500)
    await world.service.evaluate()
    assert sorted((a.rule, a.server or "") for a in await world.service.active()) == [
        ("breaker_open", "a"), ("dlq_size", ""), ("error_rate", "a")]


async def test_acknowledging_unknown_ids_changes_nothing(world: World) -> None:
    world.figures = open_breaker()
    await world.service.evaluate()
    for bad in (0, -1, 999_999, 2**70):
        with pytest.raises(CcrError) as exc:
            await world.service.acknowledge(bad, "api")
        assert exc.value.code == "alert_not_found"
    assert [a.state for a in await world.service.active()] == ["firing"]


async def test_no_admins_still_records_and_announces(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    await db.open()
    try:
        w = World(db, Clock(), CFG)
        w.service.admins = lambda: []
        w.figures = open_breaker()
        assert len(await w.service.evaluate()) == 1
        assert await w.outbox() == []
        assert len(w.of(AlertFired)) == 1
    finally:
        await db.close()


async def test_messages_hold_no_secret_or_chat_text(world: World) -> None:
    world.figures = Figures(servers=("a",), error_rates={"a": (0.9, 10)}, ssh_p95={"a": 30.0},
                            dlq_size=1000, breakers={"a": BreakerFigure("open", 7, "refused")})
    await world.service.evaluate()
    for m in await world.outbox():
        assert set(m) <= {"chat", "id", "rule", "title", "server", "state", "message",
                          "value", "fired_at", "notified_at", "acknowledged_by",
                          "acknowledged_at", "resolved_at", "phase"}
