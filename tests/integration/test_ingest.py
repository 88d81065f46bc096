"""POST /notify on a real hub (in process, real HTTP and SQLite): auth, limits, idempotency."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccr.api.auth import signature
from ccr.core.config import parse_settings
from ccr.hub import Hub
from tests.fixtures.hub import API_TOKEN, SECRET, free_port


@pytest.fixture
async def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hub]:
    monkeypatch.setenv("CCR_SHARED_SECRET", SECRET)
    monkeypatch.setenv("CCR_API_TOKEN", API_TOKEN)
    monkeypatch.delenv("CCR_TELEGRAM_TOKEN", raising=False)
    settings = parse_settings({
        "hub": {"listen": f"127.0.0.1:{free_port()}", "data_dir": str(tmp_path / "data"),
                "max_body_bytes": 4096},
        "servers": [{"id": "laptop", "kind": "local"}],
    })
    hub = Hub(settings)
    await hub.start()
    yield hub
    await hub.stop()


def event(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": str(uuid.uuid4()), "server_id": "laptop", "hook_event_name": "Stop",
        "session_id": "claude-1", "cwd": "/home/ana/shop", "last_reply": "Tests pass.",
        "tmux": {"pane_id": "%3", "socket": "/tmp/tmux-0/default", "session_name": "work"},
    }
    base.update(over)
    return base


async def post(hub: Hub, body: bytes | dict[str, Any], *, secret: str = SECRET,
               ts: int | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(ts if ts is not None else int(time.time()))
    h = {"X-CCR-Timestamp": stamp, "X-CCR-Signature": signature(secret, stamp, raw),
         "Content-Type": "application/json"}
    h.update(headers or {})
    async with httpx.AsyncClient(base_url=hub.settings.hub.url) as client:
        return await client.post("/notify", content=raw, headers=h)


async def test_healthz_needs_no_auth(hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=hub.settings.hub.url) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_event_creates_session_then_updates_it(hub: Hub) -> None:
    first = await post(hub, event())
    assert first.status_code == 200 and first.json()["session"] == "laptop:1"
    second = await post(hub, event(last_reply="Second reply"))
    assert second.json()["session"] == "laptop:1", "same pane, same live session"
    other = await post(hub, event(tmux={"pane_id": "%4", "socket": "/tmp/tmux-0/default"}))
    assert other.json()["session"] == "laptop:2"
    live = await hub.sessions.live()
    assert [s.handle for s in live] == ["laptop:1", "laptop:2"]
    assert live[0].last_reply == "Second reply" and len(live[0].token) == 8
    assert live[0].expires_at - live[0].updated_at == pytest.approx(24 * 3600)


async def test_reposted_event_has_no_second_effect(hub: Hub) -> None:
    e = event()
    assert (await post(hub, e)).json()["status"] == "accepted"
    again = await post(hub, {**e, "last_reply": "changed"})
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert set(again.json()) <= {"status", "trace_id"}, "nothing but the re-post's trace id"
    (session,) = await hub.sessions.live()
    assert session.last_reply == "Tests pass."


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"secret": "wrong"}, "wrong signature"),
    ({"ts": int(time.time()) - 3600}, "timestamp"),
    ({"headers": {"X-CCR-Signature": ""}}, "missing signature"),
], ids=["wrong-secret", "old-timestamp", "no-signature"])
async def test_bad_signature_is_401_and_changes_nothing(hub: Hub, kwargs: dict[str, Any],
                                                        reason: str) -> None:
    resp = await post(hub, event(), **kwargs)
    assert resp.status_code == 401 and reason in resp.json()["error"]["message"]
    assert await hub.sessions.live() == []


async def test_unknown_server_is_rejected(hub: Hub) -> None:
    resp = await post(hub, event(server_id="mars"))
    assert resp.status_code == 403 and "mars" in resp.json()["error"]["message"]
    assert await hub.sessions.live() == []


async def test_oversized_body_is_413(hub: Hub) -> None:
    resp = await post(hub, event(last_reply="x" * 10_000))
    assert resp.status_code == 413
    assert await hub.sessions.live() == []


@pytest.mark.parametrize(("body", "status"), [
    (b"{not json", 400),
    (b"[1, 2]", 400),
    (json.dumps({"server_id": "laptop"}).encode(), 422),
    (json.dumps(event(tmux={"pane_id": "%3; rm -rf /"})).encode(), 422),
], ids=["not-json", "not-an-object", "missing-fields", "hostile-pane-id"])
async def test_malformed_events_get_a_clear_error(hub: Hub, body: bytes, status: int) -> None:
    resp = await post(hub, body)
    assert resp.status_code == status and resp.json()["error"]["message"]
    assert await hub.sessions.live() == []


async def test_api_needs_the_token(hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=hub.settings.hub.url) as client:
        assert (await client.get("/api/sessions")).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await client.get("/api/sessions", headers=wrong)).status_code == 401
        ok = await client.get("/api/sessions", headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert ok.status_code == 200 and ok.json() == {"sessions": []}
