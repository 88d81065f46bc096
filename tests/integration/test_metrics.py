"""Metrics on a real in-process hub: a command and a notification move the counters a user
scrapes at /metrics, and no secret, token or message text ever shows there."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ccr.api.auth import signature
from ccr.core.config import parse_settings
from ccr.hub import Hub
from tests.botapi import BotApiStandIn
from tests.fixtures.hub import API_TOKEN, SECRET, free_port, prompts, signed_headers, wait_until
from tests.fixtures.tmux import Tmux

CHAT = 4242
SECRET_TEXT = "deploy with password hunter2-Xq9 and token ghp_0123456789abcdefTOKEN"
REPLY_TEXT = "your key is sk-live-REPLYSECRET-77"


def make_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, botapi: BotApiStandIn | None,
             **metrics: Any) -> Hub:
    monkeypatch.setenv("CCR_SHARED_SECRET", SECRET)
    monkeypatch.setenv("CCR_API_TOKEN", API_TOKEN)
    telegram: dict[str, Any] = {}
    if botapi is not None:
        monkeypatch.setenv("CCR_TELEGRAM_TOKEN", botapi.token)
        telegram = {"base_url": botapi.base_url, "allowed_chats": [CHAT], "poll_timeout": 0}
    else:
        monkeypatch.delenv("CCR_TELEGRAM_TOKEN", raising=False)
    settings = parse_settings({
        "hub": {"listen": f"127.0.0.1:{free_port()}", "data_dir": str(tmp_path / "data")},
        "telegram": telegram,
        "executor": {"settle_ms": 50, "enter_check_ms": 0},
        "metrics": metrics,
        "servers": [{"id": "laptop", "kind": "local"}],
    })
    return Hub(settings)


@pytest.fixture
async def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              botapi: BotApiStandIn) -> AsyncIterator[Hub]:
    hub = make_hub(tmp_path, monkeypatch, botapi)
    await hub.start()
    yield hub
    await hub.stop()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition as {(name, sorted labels): value}."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(hub: Hub, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.settings.hub.url) as client:
        return await client.get("/metrics", headers=headers)


async def eventually(hub: Hub, check: Callable[[str], bool], within: float = 10.0) -> str:
    deadline = time.monotonic() + within
    while True:
        text = (await scrape(hub)).text
        if check(text) or time.monotonic() > deadline:
            return text
        await asyncio.sleep(0.05)


async def post_event(hub: Hub, tmux: Tmux, pane: str, **over: Any) -> httpx.Response:
    body = {"event_id": str(uuid.uuid4()), "server_id": "laptop", "hook_event_name": "Stop",
            "session_id": "claude-1", "cwd": "/home/ana/shop", "last_reply": REPLY_TEXT,
            "tmux": {"pane_id": pane, "socket": tmux.socket_path, "session_name": "work"}}
    body.update(over)
    raw = json.dumps(body).encode()
    headers = signed_headers(raw)
    async with httpx.AsyncClient(base_url=hub.settings.hub.url) as client:
        return await client.post("/notify", content=raw, headers=headers)


def start_agent(tmux: Tmux, tmp_path: Path) -> tuple[str, Path]:
    state = tmp_path / "agent"
    argv = [sys.executable, "-m", "ccr.demo.agent", "--state-dir", str(state), "--no-greet"]
    pane = tmux.new_session("work", argv, cwd=tmp_path)
    tmux.wait_for_text(pane, "ccr stand-in agent")
    return pane, state


async def test_a_command_and_a_notification_move_the_counters_a_user_scrapes(
        hub: Hub, tmux: Tmux, tmp_path: Path, botapi: BotApiStandIn) -> None:
    pane, state = start_agent(tmux, tmp_path)
    before = (await scrape(hub)).text
    assert value(before, "commands_total", server="laptop", state="executing") == 0

    accepted = await post_event(hub, tmux, pane)
    assert accepted.json()["status"] == "accepted"
    async with httpx.AsyncClient(base_url=hub.settings.hub.url) as client:
        sent = await client.post("/api/commands", json={"session": "laptop:1",
                                                        "text": SECRET_TEXT},
                                 headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert sent.status_code == 200, sent.text
    wait_until(lambda: prompts(state) == [SECRET_TEXT], 10)

    text = await eventually(hub, lambda t: value(
        t, "commands_total", server="laptop", state="executing") == 1 and value(
        t, "telegram_notifications_total", status="sent") >= 1)
    assert value(text, "commands_total", server="laptop", state="executing") == 1
    assert value(text, "commands_total", server="laptop", state="pending") == 1
    assert value(text, "telegram_notifications_total", status="sent") >= 1
    assert value(text, "telegram_send_attempts_total", status="ok") >= 1
    assert value(text, "telegram_send_duration_seconds_count") >= 1
    assert value(text, "hook_events_total", server="laptop", kind="stop",
                 status="accepted") == 1
    assert value(text, "ssh_commands_total", server="laptop", status="ok") >= 2
    assert value(text, "ssh_command_duration_seconds_count", server="laptop") >= 2
    assert value(text, "db_query_duration_seconds_count", operation="transaction") > 0
    assert value(text, "db_query_duration_seconds_count", operation="read") > 0
    assert value(text, "circuit_breaker_state", server="laptop") == 0
    assert value(text, "dead_letter_queue_size") == 0

    # The same event again is a duplicate, and says so.
    dup_body = {"event_id": "dup-event-0001"}
    await post_event(hub, tmux, pane, **dup_body)
    await post_event(hub, tmux, pane, **dup_body)
    text = await eventually(hub, lambda t: value(
        t, "sessions_live", server="laptop") == 1)
    assert value(text, "hook_events_total", server="laptop", kind="stop",
                 status="duplicate") == 1
    assert value(text, "sessions_live", server="laptop") == 1

    # The snapshot API tells the same story, per server.
    async with httpx.AsyncClient(base_url=hub.settings.hub.url) as client:
        denied = await client.get("/api/metrics")
        snap = await client.get("/api/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert denied.status_code == 401
    figures = snap.json()["snapshot"]
    assert figures["servers"]["laptop"]["commands_60m"] == 1
    assert figures["servers"]["laptop"]["ssh_p95_5m_s"] > 0
    assert figures["telegram"]["sent_60m"] >= 1

    # Nothing a person typed, nor any secret, is in what a scraper or the API sees.
    for exposed in (text, snap.text):
        for secret in ("hunter2", "ghp_", "TOKEN", "password", "REPLYSECRET", "sk-live",
                       "shop", API_TOKEN, SECRET, botapi.token, pane):
            assert secret not in exposed, f"{secret!r} leaked"


async def test_a_rejected_event_is_counted_without_its_claimed_server(
        hub: Hub, tmux: Tmux) -> None:
    raw = json.dumps({"event_id": "x" * 12, "server_id": "evil-input",
                      "hook_event_name": "Stop"}).encode()
    stamp = str(int(time.time()))
    async with httpx.AsyncClient(base_url=hub.settings.hub.url) as client:
        for sig in ("sha256=00", signature(SECRET, stamp, raw)):
            await client.post("/notify", content=raw,
                              headers={"X-CCR-Timestamp": stamp, "X-CCR-Signature": sig})
    text = (await scrape(hub)).text
    assert value(text, "hook_events_total", server="", kind="", status="unauthorized") == 1
    assert value(text, "hook_events_total", server="", kind="",
                 status="unknown_server") == 1
    assert "evil-input" not in text


async def test_metrics_can_require_the_api_token(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    hub = make_hub(tmp_path, monkeypatch, None, require_token=True)
    await hub.start()
    try:
        assert (await scrape(hub)).status_code == 401
        ok = await scrape(hub, Authorization=f"Bearer {API_TOKEN}")
        assert ok.status_code == 200 and "ssh_commands_total" in ok.text
        assert ok.headers["content-type"].startswith("text/plain; version=0.0.4")
    finally:
        await hub.stop()


async def test_the_switch_turns_metrics_off(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    hub = make_hub(tmp_path, monkeypatch, None, enabled=False)
    await hub.start()
    try:
        assert hub.metrics is None and hub.executor.observe is None and hub.db.observe is None
        off = await scrape(hub)
        assert off.status_code == 404 and off.json()["error"]["code"] == "metrics_off"
    finally:
        await hub.stop()


async def test_two_hubs_in_one_process_keep_their_own_registries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = make_hub(tmp_path / "a", monkeypatch, None)
    second = make_hub(tmp_path / "b", monkeypatch, None)
    assert first.metrics is not None and second.metrics is not None
    first.metrics.ssh_call("laptop", None, 0.01)
    assert b'ssh_commands_total{server="laptop",status="ok"} 1.0' in first.metrics.exposition()
    assert b'ssh_commands_total{' not in second.metrics.exposition()


async def test_snapshots_are_stored_and_old_ones_dropped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ccr.store import metrics as store
    from ccr.telemetry.metrics import keep_snapshots

    hub = make_hub(tmp_path, monkeypatch, None, snapshot_interval_s=0)
    await hub.start(http=False)
    try:
        assert hub.metrics is not None
        await store.save_snapshot(hub.db, 1000.0, {"old": True}, keep_s=3600)
        task = asyncio.create_task(keep_snapshots(hub.metrics, hub.db, interval_s=0.05,
                                                  keep_s=3600))
        await asyncio.sleep(0.2)
        task.cancel()
        kept = await store.snapshots(hub.db, since=0)
        assert kept and all("servers" in s for s in kept), "the 1970 snapshot was dropped"
    finally:
        await hub.stop()
