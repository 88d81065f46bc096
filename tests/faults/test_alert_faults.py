"""sshd killed: the admin gets one breaker alert, acknowledges it, and hears once when it resolves.

Everything is real: the hub process, python-telegram-bot against the Bot API stand-in, tmux,
OpenSSH's sshd killed and started again. Forged taps (unknown id, not a number, a user who is
not an admin) are answered and change nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHAT, STRANGER, World
from tests.faults.helpers import dump, fault_world, log_lines, wait_command
from tests.fixtures.hub import wait_until
from tests.fixtures.sshd import Sshd
from tests.fixtures.tmux import Tmux

pytestmark = [pytest.mark.e2e, pytest.mark.ssh]

INTERVAL_S = 1.0


def alert_messages(world: World) -> list[dict[str, Any]]:
    return [m for m in world.botapi.sent_messages(CHAT)
            if "Alert #" in m["text"] or "Resolved: alert #" in m["text"]]


def ack_data(message: dict[str, Any]) -> str:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return str(rows[0][0]["callback_data"]) if rows else ""


def answers(world: World) -> list[str]:
    return [str(a.get("text", "")) for a in world.botapi.callback_answers]


def alert_state(world: World, alert_id: int) -> str:
    rows = world.hub.api("GET", "/api/alerts?resolved=true").json()["alerts"]
    return str(next(a["state"] for a in rows if a["id"] == alert_id))


def test_breaker_alert_fires_once_is_acknowledged_and_resolves_once(
        tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd) -> None:
    world = fault_world(tmp_path, botapi, tmux, sshd, connect_timeout_s=2)
    config = world.hub.config
    # Only the breaker rule can fire here: the error-rate rule would see the same outage.
    config.write_text(config.read_text() + f"\n[alerts]\ninterval_s = {INTERVAL_S}\n"
                                            "error_rate_min_calls = 100000\n")
    world.hub.start()
    try:
        _, state = world.start_agent("kr4", "remote")
        world.notification_for("kr4:1")
        sshd.stop()
        for n in range(5):
            world.botapi.push_text(CHAT, f"/cmd kr4:1 during outage {n}")
            wait_command(world, f"during outage {n}")
        wait_until(lambda: log_lines(world, "breaker of kr4: closed -> open"), 10,
                   message="the breaker to open")
        opened = time.monotonic()
        fired = world.botapi.wait_for_message(lambda m: "Alert #" in m["text"],
                                              timeout=INTERVAL_S + 5)
        print(f"alert {time.monotonic() - opened:.2f} s after the breaker opened")
        assert "kr4" in fired["text"] and "Circuit breaker" in fired["text"], dump(world)
        data = ack_data(fired)
        assert data.startswith("ack:"), fired
        alert_id = int(data.removeprefix("ack:"))
        assert alert_state(world, alert_id) == "firing"

        # Forged or unauthorised taps: a clear answer each, nothing changes.
        mid = fired["message_id"]
        world.botapi.push_callback(CHAT, mid, "ack:999999")
        world.botapi.push_callback(CHAT, mid, "ack:abc")
        world.botapi.push_callback(CHAT, mid, f"ack:{alert_id}", user_id=STRANGER)
        world.botapi.push_callback(CHAT, mid, "reboot:all")
        wait_until(lambda: len(answers(world)) >= 4, 10, message="four callback answers")
        got = answers(world)
        assert "There is no alert 999999" in got[0]
        assert "not an alert number" in got[1]
        assert "may not acknowledge alerts" in got[2]  # ccr.core.roles
        assert "not valid" in got[3]
        assert alert_state(world, alert_id) == "firing"
        assert ack_data(world.botapi.wait_for_message(lambda m: m["message_id"] == mid)), \
            "the Ack button is still there"

        world.botapi.push_callback(CHAT, mid, f"ack:{alert_id}")
        wait_until(lambda: len(answers(world)) >= 5, 10, message="the Ack answer")
        assert "acknowledged" in answers(world)[4]
        shown = world.botapi.wait_for_message(
            lambda m: m["message_id"] == mid and "Acknowledged by" in m["text"], timeout=10)
        assert not ack_data(shown), "no Ack button once acknowledged"
        assert alert_state(world, alert_id) == "acknowledged"

        time.sleep(INTERVAL_S * 4)  # several evaluations while the breaker stays open
        assert len(alert_messages(world)) == 1, "acknowledged: no repeat while it stays open"

        sshd.restart()
        resolved = world.botapi.wait_for_message(
            lambda m: f"Resolved: alert #{alert_id}" in m["text"], timeout=30)
        assert "kr4" in resolved["text"] and not ack_data(resolved)
        assert alert_state(world, alert_id) == "resolved"
        time.sleep(INTERVAL_S * 2)
        assert len(alert_messages(world)) == 2, "one alert, one resolution: " + dump(world)
        for m in alert_messages(world):
            assert "during outage" not in m["text"], "no command text in an alert"
        del state
    finally:
        world.hub.stop()
