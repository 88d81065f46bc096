"""Redaction: known secret shapes are masked, their harmless neighbours kept, on every path."""

from __future__ import annotations

import time

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccr.core import redact as redact_module
from ccr.core.models import Session
from ccr.core.redact import MASK, redact
from ccr.hub import Hub
from ccr.telegram import render
from tests.fixtures.hub import API_TOKEN, SECRET
from tests.integration.test_ingest import event, hub, post

__all__ = ["hub"]  # the in-process hub fixture, re-used

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6\n"
       "ffAt0gBEwRSwIDAQABAoIBAQC\n-----END RSA PRIVATE KEY-----")
PEM_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6"

# (text, the secret part that must disappear, a neighbour that must stay)
SECRETS = [
    ("password=hunter2 then", "hunter2", "then"),
    ("DB_PASSWORD='s3cr3t!x' ok", "s3cr3t!x", "DB_PASSWORD="),
    ("passwd: letmein", "letmein", "passwd:"),
    ("pwd=abc123", "abc123", "pwd="),
    ('{"password": "p@ssw0rd", "user": "ana"}', "p@ssw0rd", '"user": "ana"'),
    ("curl -H 'Authorization: Bearer abc.def.ghi123' https://x.io", "abc.def.ghi123",
     "https://x.io"),
    ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "Authorization: Basic"),
    ("use Bearer eyJhbGciOiJIUzI1NiJ9xyz", "eyJhbGciOiJIUzI1NiJ9xyz", "use Bearer"),
    (f"bot {BOT_TOKEN} ready", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1", "ready"),
    ("ghp_" + "a1B2" * 9 + " pushed", "a1B2a1B2a1B2", "ghp_…"),
    ("gho_" + "Z9" * 18, "Z9Z9Z9Z9Z9", "gho_"),
    ("ghs_" + "x7" * 18, "x7x7x7x7", "ghs_"),
    ("github_pat_11ABCDEFG0" + "q" * 40, "qqqqqqqqqq", "github_pat_…"),
    ("key sk-ant-api03-" + "Ab3_" * 10 + " set", "Ab3_Ab3_", "sk-ant-…[redacted] set"),
    ("OPENAI sk-proj-" + "k" * 30, "kkkkkkkkkk", "sk-proj-…"),
    ("sk-" + "9f" * 16, "9f9f9f9f9f", "sk-…"),
    ("id AKIAIOSFODNN7EXAMPLE done", "IOSFODNN7EXAMPLE", "AKIA…[redacted] done"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI",
     "aws_secret_access_key = "),
    ("slack xoxb-1234567890-abcdefghij", "1234567890-abcdefghij", "xoxb-…"),
    ("AIza" + "SyD" * 11 + "xx", "SyDSyDSyD", "AIza…"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
     "dozjgNryP4J3jVmNHl0w5N", "jwt eyJ…"),
    (PEM + "\nafter", PEM_BODY, "after"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA (clipped",
     "b3BlbnNzaC1rZXktdjEAAAAA", "-----BEGIN OPENSSH PRIVATE KEY-----"),
    ("db postgres://ana:Tr0ub4dor@db.internal:5432/shop ok", "Tr0ub4dor",
     "postgres://ana:[redacted]@db.internal:5432/shop ok"),
    ("redis://:hunter22@cache:6379", "hunter22", "redis://:[redacted]@cache:6379"),
    ("api_key=AbCdEf123456 next", "AbCdEf123456", "api_key="),
    ("GITHUB_TOKEN: abcdefgh12345678", "abcdefgh12345678", "GITHUB_TOKEN: "),
    ("client_secret=Q2xpZW50U2VjcmV0", "Q2xpZW50U2VjcmV0", "client_secret="),
]

# Ordinary text that must come back unchanged.
HARMLESS = [
    "run pytest -k password_reset",
    "see https://docs.python.org/3/library/re.html and http://localhost:8080/path",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it",
    "git checkout a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
    "max_tokens=4096 and token: expired",
    "the password reset flow works; tokens are rotated",
    "The meeting is at 12:30, ticket ABC-1234.",
    "def check_password(pwd): return pwd == stored",
    "Tests pass. 42 passed in 1.2s",
]


@pytest.mark.parametrize(("text", "secret", "kept"), SECRETS)
def test_known_secret_shapes_are_masked(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out
    assert kept in out
    assert MASK in out


@pytest.mark.parametrize("text", HARMLESS)
def test_harmless_text_is_kept(text: str) -> None:
    assert redact(text) == text


def test_configured_and_extra_secrets_are_masked_but_not_short_ones() -> None:
    saved = redact_module._configured
    try:
        redact_module.configure(["0123456789abcdef0123", None, ""])
        assert redact("sig 0123456789abcdef0123 ok") == f"sig {MASK} ok"
        assert redact("x LongEnoughValue y", extra=["LongEnoughValue"]) == f"x {MASK} y"
        assert redact("a short one", extra=["short", "a"]) == "a short one"
    finally:
        redact_module._configured = saved


def test_mask_keeps_a_hint_and_never_raises_on_bad_input() -> None:
    assert redact("sk-ant-api03-" + "x" * 40) == "sk-ant-…[redacted]"
    assert redact("") == ""
    assert redact("x", extra=[None]) == MASK  # type: ignore[list-item]


def test_long_text_does_not_backtrack_catastrophically() -> None:
    # A regex that backtracks on this takes minutes; a linear one well under a second. The
    # bound only tells the two apart (loaded CI machines included); speed is not measured.
    text = ("ordinary words a_b_c-d " * 5000) + "password_reset " * 2000 + "x" * 50000
    start = time.perf_counter()
    redact(text)
    assert time.perf_counter() - start < 10.0


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
       | st.lists(st.sampled_from([s for s, _, _ in SECRETS] + HARMLESS + [
           "=", ":", " ", "@", "://", "[redacted]", "…", "-----END RSA PRIVATE KEY-----",
           "password", "token", "Bearer ", "x" * 12]), max_size=12).map("".join))
def test_redact_never_raises_and_is_idempotent(text: str) -> None:
    once = redact(text)
    assert isinstance(once, str)
    assert redact(once) == once


def test_notification_and_sessions_list_are_masked() -> None:
    reply = f"Done. Set TELEGRAM to {BOT_TOKEN}\n{PEM}\nall green"
    text = render.item_text("notification", {
        "event": "stop", "handle": "laptop:1", "token": "abcdefgh", "server": "laptop",
        "prompt": f"use password=hunter2 and {BOT_TOKEN}", "reply": reply})
    assert BOT_TOKEN not in text and "AAHdqTcvCH1v" not in text and PEM_BODY not in text
    assert "hunter2" not in text and "all green" in text and "123456789:…[redacted]" in text
    result = render.item_text("command_result", {
        "handle": "laptop:1", "state": "failed", "text": "export API_KEY=AbCdEf123456",
        "error": {"message": f"could not type 'ghp_{'a' * 36}'", "steps": []}})
    assert "AbCdEf123456" not in result and "a" * 36 not in result
    s = Session(id=1, server_id="laptop", claude_session_id="c", number=1, token="abcdefgh",
                project="/p", tmux_session="w", tmux_socket=None, pane_id="%1",
                last_event="stop", last_prompt=None, last_reply=f"key {BOT_TOKEN}",
                created_at=0.0, updated_at=0.0, expires_at=10.0)
    assert "AAHdqTcvCH1v" not in "".join(render.sessions_list([s], now=1.0))


async def test_hub_masks_its_own_secret_and_a_hooks_reply(hub: Hub) -> None:
    assert redact(f"the secret is {SECRET}") == f"the secret is {MASK}"
    reply = f"Here is the bot: {BOT_TOKEN}\n{PEM}\nTests pass."
    assert (await post(hub, event(last_reply=reply))).status_code == 200
    async with httpx.AsyncClient(base_url=hub.settings.hub.url) as client:
        got = await client.get("/api/sessions",
                               headers={"Authorization": f"Bearer {API_TOKEN}"})
    [row] = got.json()["sessions"]
    assert "AAHdqTcvCH1v" not in row["last_reply"] and PEM_BODY not in row["last_reply"]
    assert "Tests pass." in row["last_reply"]
    session = await hub.sessions.resolve(row["handle"])
    assert session.last_reply == reply  # stored as sent; masked where a person sees it
    text = render.item_text("notification", {
        "event": "stop", "handle": session.handle, "token": session.token,
        "server": session.server_id, "reply": session.last_reply})
    assert "AAHdqTcvCH1v" not in text and PEM_BODY not in text and "Tests pass." in text
