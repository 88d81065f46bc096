"""Known secret shapes fed through the real hub: masked on every path a person can read.

A user's /cmd carries one of each secret shape (tests/fixtures/secrets.py); the stand-in
Claude receives it intact (typing is literal) and echoes it in its reply. Then nothing of
any shape may show in the Telegram messages, the hub's log, `ccr trace`, the API's
traces, sessions and commands, `ccr status` or `ccr dlq list`, while the mask does."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import CHAT, World
from tests.fixtures.secrets import SECRET_TEXT, SHAPES, assert_masked, assert_no_secrets

pytestmark = pytest.mark.e2e


def test_secrets_are_masked_on_every_path(world: World) -> None:
    _, state = world.start_agent("laptop", "vault")
    world.notification_for("laptop:1")

    world.botapi.push_text(CHAT, "/cmd laptop:1 " + SECRET_TEXT)
    [typed] = world.wait_prompts(state, 1)
    assert all(text in typed for _, text, _ in SHAPES)  # Claude gets exactly what was sent
    done = world.botapi.wait_for_message(
        lambda m: "You said:" in m["text"] and "Done in" in m["text"])

    # Telegram: every message the bot sent, every version of it, as shown and as sent.
    telegram = "\n".join([m["text"] for m in world.botapi.sent_messages()]
                         + [e for m in world.botapi.sent_messages() for e in m["edits"]]
                         + [m["raw"] for m in world.botapi.sent_messages()])
    assert_no_secrets(telegram, "Telegram")
    assert_masked(done["text"], "the reply notification")

    # The API's views and, through them, the CLI's.
    sessions = world.hub.api("GET", "/api/sessions")
    assert_masked(sessions.text, "/api/sessions")
    commands = world.hub.api("GET", "/api/commands")
    assert_masked(commands.text, "/api/commands")
    trace_id = next(c["trace_id"] for c in commands.json()["commands"] if c["trace_id"])
    assert_no_secrets(world.hub.api("GET", "/api/traces").text, "/api/traces")
    assert_no_secrets(world.hub.api("GET", f"/api/traces/{trace_id}").text, "a trace")
    for args in (("trace",), ("trace", trace_id), ("status",), ("dlq", "list"),
                 ("alerts", "list")):
        result = world.hub.ccr(*args)
        assert result.returncode == 0, result.stderr
        assert_no_secrets(result.stdout + result.stderr, "ccr " + " ".join(args))

    # A command sent through the API answers with its text, masked.
    sent = world.hub.api("POST", "/api/commands",
                         json={"session": "laptop:1", "text": "again " + SECRET_TEXT})
    assert_masked(sent.text, "POST /api/commands")
    assert json.loads(sent.text)  # still a JSON body
    world.wait_prompts(state, 2)

    # The hub's own log (its stdout and stderr), last, after everything above ran.
    assert_no_secrets(world.hub.logs(), "the hub's log")
