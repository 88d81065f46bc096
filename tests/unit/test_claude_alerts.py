"""A server whose Claude Code is logged out or refused for billing alerts the admins: the
rule's condition holds from the StopFailure until a later Stop from that server, with a
cooldown like every rule. Real SQLite, the real outbox, an injected clock."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ccr.core.config import AlertSettings
from ccr.core.events import EventBus
from ccr.core.models import HookEvent
from ccr.services.sessions import SessionService, classify
from ccr.store.claude_failures import ClaudeFailure
from ccr.store.db import Database
from ccr.telemetry.alerts import AlertService, Figures, claude_failures, conditions, cooldown_s

CFG = AlertSettings()
ADMIN = 11


def failed(server: str, error: str, said: str = "Invalid API key") -> Figures:
    return Figures(servers=(server,),
                   claude_failures={server: ClaudeFailure(server, error, said, 1.0)})


def test_logged_out_and_billing_fire_for_their_server_and_other_kinds_do_not() -> None:
    (cond,) = conditions(failed("kr4", "authentication_failed"), CFG)
    assert (cond.rule, cond.server) == ("claude_logged_out", "kr4")
    assert "Claude Code on kr4 is logged out (Claude said: Invalid API key)" in cond.message
    assert "run `claude /login` on kr4" in cond.message
    (cond,) = conditions(failed("kr4", "billing_error", "Credit balance is too low"), CFG)
    assert cond.rule == "claude_billing" and "billing and credits" in cond.message
    for other in ("rate_limit", "server_error", "unknown"):
        assert conditions(failed("kr4", other), CFG) == []
    assert cooldown_s("claude_logged_out", CFG) == cooldown_s("claude_billing", CFG) == 3600


class World:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.now = 1_000_000.0
        self.bus = EventBus()
        self.woken = 0
        self.sessions = SessionService(db, self.bus, clock=lambda: self.now,
                                       ttl_seconds=86400, recipients=lambda: [])
        self.sessions.on_claude_state = self.wake

        async def figures() -> Figures:
            return Figures(servers=("kr4",), claude_failures=await claude_failures(db))

        self.alerts = AlertService(db, self.bus, CFG, clock=lambda: self.now, figures=figures,
                                   admins=lambda: [ADMIN])

    def wake(self) -> None:
        self.woken += 1

    async def hook(self, name: str, **fields: Any) -> None:
        base: dict[str, Any] = dict(
            event_id=str(uuid.uuid4()), server_id="kr4", kind=classify(name, None, None),
            hook_event_name=name, claude_session_id="s", cwd="/srv/shop", pane_id="%1",
            tmux_socket=None, tmux_session="work", message=None, notification_type=None,
            last_prompt=None, last_reply=None, sent_at=self.now)
        base.update(fields)
        await self.sessions.ingest(HookEvent(**base))

    async def told(self) -> list[tuple[str, str]]:
        rows = await self.db.fetchall("SELECT text FROM outbox WHERE kind = 'alert' ORDER BY id")
        return [(json.loads(r["text"])["rule"], json.loads(r["text"])["phase"]) for r in rows]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db = Database(tmp_path / "ccr.db")
    await db.open()
    yield World(db)
    await db.close()


async def test_fires_on_the_failure_resolves_on_a_later_stop_and_keeps_its_cooldown(
        world: World) -> None:
    await world.hook("StopFailure", error="authentication_failed",
                     last_reply="Invalid API key · Fix external API key")
    assert world.woken == 1, "the rules look at once, not at the next interval"
    (alert,) = await world.alerts.evaluate()
    assert (alert.rule, alert.server) == ("claude_logged_out", "kr4")
    assert "Invalid API key · Fix external API key" in alert.message
    # The same failure again changes nothing; other events do not clear it.
    await world.hook("StopFailure", error="authentication_failed")
    await world.hook("UserPromptSubmit", last_prompt="hello")
    assert world.woken == 1
    world.now += CFG.interval_s
    assert await world.alerts.evaluate() == []
    assert [a.rule for a in await world.alerts.active()] == ["claude_logged_out"]
    # Acknowledged: quiet until it resolves.
    await world.alerts.acknowledge(alert.id, "ana")
    # A Stop from that server: Claude answers again, the alert resolves.
    await world.hook("Stop", last_reply="Done.")
    assert world.woken == 2
    world.now += CFG.interval_s
    await world.alerts.evaluate()
    assert await world.alerts.active() == []
    assert await world.told() == [("claude_logged_out", "fired"),
                                  ("claude_logged_out", "resolved")]
    # Logged out again within the hour: the cooldown holds it back; after it, it fires.
    await world.hook("StopFailure", error="authentication_failed")
    world.now += 60
    assert await world.alerts.evaluate() == []
    world.now += CFG.claude_cooldown_s
    (again,) = await world.alerts.evaluate()
    assert again.rule == "claude_logged_out" and again.id != alert.id


async def test_billing_then_logged_out_swaps_the_alert(world: World) -> None:
    await world.hook("StopFailure", error="billing_error", last_reply="Credit balance is too low")
    (billing,) = await world.alerts.evaluate()
    assert billing.rule == "claude_billing"
    await world.hook("StopFailure", error="authentication_failed")
    assert world.woken == 2
    world.now += CFG.interval_s
    (logged_out,) = await world.alerts.evaluate()
    assert logged_out.rule == "claude_logged_out"
    assert [a.rule for a in await world.alerts.active()] == ["claude_logged_out"]


async def test_a_rate_limit_or_a_server_error_alerts_nobody(world: World) -> None:
    await world.hook("StopFailure", error="rate_limit")
    await world.hook("StopFailure", error="server_error")
    assert world.woken == 0 and await world.alerts.evaluate() == []
