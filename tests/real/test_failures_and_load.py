"""A turn the API fails, and many sessions at once, on the real client."""

from __future__ import annotations

import threading
import time

import pytest

from tests.e2e.conftest import CHAT
from tests.fixtures.claude import READY, Claude
from tests.messages_api import error, text
from tests.real.conftest import Real

pytestmark = [pytest.mark.e2e, pytest.mark.real]


def test_a_logged_out_turn_is_reported_failed_with_what_to_do(real: Real) -> None:
    real.api.on("are we logged in", error(401))
    claude = real.claude("auth", CLAUDE_CODE_MAX_RETRIES="1")
    claude.type("hi")
    real.world.notification_for(real.handle(), timeout=30)
    real.botapi.push_text(CHAT, f"/cmd {real.handle()} are we logged in?")
    claude.wait_for("Invalid API key", timeout=30)
    failed = real.botapi.wait_for_message(
        lambda m: "are we logged in?" in m["text"] and "claude /login" in m["text"],
        timeout=10)
    assert "laptop" in failed["text"] and "Invalid API key" in failed["text"]
    command = real.world.hub.api("GET", "/api/commands").json()["commands"][0]
    assert command["state"] == "failed"


def test_ten_real_sessions_stopping_at_once_are_all_notified(real: Real) -> None:
    gate = threading.Event()
    real.api.on("all together now", text("Finished together.", gate=gate))
    clients: list[Claude] = []
    for n in range(10):
        clients.append(real.claude(f"crowd{n}", wait=False))
    for client in clients:
        client.wait_for(READY, timeout=90)
    for client in clients:
        client.type("all together now")
    for client in clients:
        real.wait_prompts(client, 1, timeout=60)
    started = time.monotonic()
    gate.set()  # every client gets its answer at the same moment, and stops
    handles = {f"laptop:{n}" for n in range(1, 11)}

    def notified() -> set[str]:
        return {h for m in real.botapi.sent_messages(CHAT) if "Finished together." in m["text"]
                for h in handles if f"{h} " in m["text"]}

    deadline = started + 20
    while notified() != handles and time.monotonic() < deadline:
        time.sleep(0.1)
    print(f"last of ten notified {time.monotonic() - started:.2f} s after the stops")
    missing = handles - notified()
    assert not missing, (f"no notification for {sorted(missing)} within 20 s; hook logs:\n"
                         + "\n".join(f"{c.name}: {c.hook_events()[-4:]}" for c in clients))
