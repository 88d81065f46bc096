"""The caches' figures reach GET /metrics on a real hub (in process, real HTTP and SQLite):
hits, misses and entries move as sessions are looked up, and `[cache] enabled = false`
turns the caches off."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccr.core.config import parse_settings
from ccr.hub import Hub
from tests.fixtures.hub import API_TOKEN, SECRET, free_port
from tests.integration.test_ingest import event, post


def settings(tmp_path: Path, **cache: Any) -> Any:
    return parse_settings({
        "hub": {"listen": f"127.0.0.1:{free_port()}", "data_dir": str(tmp_path / "data")},
        "servers": [{"id": "laptop", "kind": "local"}],
        "cache": cache,
    })


@pytest.fixture
async def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hub]:
    monkeypatch.setenv("CCR_SHARED_SECRET", SECRET)
    monkeypatch.setenv("CCR_API_TOKEN", API_TOKEN)
    monkeypatch.delenv("CCR_TELEGRAM_TOKEN", raising=False)
    hub = Hub(settings(tmp_path))
    await hub.start()
    yield hub
    await hub.stop()


async def scrape(hub: Hub) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=hub.settings.hub.url) as client:
        text = (await client.get("/metrics")).text
    out = {}
    for m in re.finditer(r'^(cache_\w+)\{cache="(\w+)"\} (\S+)$', text, re.M):
        out[f"{m[1]}:{m[2]}"] = float(m[3])
    return out


async def test_cache_metrics_move(hub: Hub) -> None:
    before = await scrape(hub)
    assert before["cache_hits_total:sessions"] == 0
    assert before["cache_entries:sessions"] == 0
    assert (await post(hub, event())).status_code == 200
    session = await hub.sessions.resolve("laptop:1")  # miss: read, then cached
    for _ in range(3):
        await hub.sessions.resolve("laptop:1")
    await hub.sessions.resolve(session.token)
    hub._tmux_target(session)  # server configuration: a miss, then hits
    hub._tmux_target(session)
    after = await scrape(hub)
    assert after["cache_misses_total:sessions"] == 1
    assert after["cache_hits_total:sessions"] == 4
    assert after["cache_entries:sessions"] == 1
    assert after["cache_misses_total:servers"] == 1
    assert after["cache_hits_total:servers"] == 1
    assert after["cache_entries:servers"] == 1
    # a write drops the entry: the next lookup is a miss, and sees the new state
    assert (await post(hub, event(last_reply="again"))).status_code == 200
    assert (await scrape(hub))["cache_entries:sessions"] == 0
    assert (await hub.sessions.resolve("laptop:1")).last_reply == "again"
    assert (await scrape(hub))["cache_misses_total:sessions"] == 2


async def test_caches_can_be_turned_off(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCR_SHARED_SECRET", SECRET)
    monkeypatch.delenv("CCR_TELEGRAM_TOKEN", raising=False)
    hub = Hub(settings(tmp_path, enabled=False))
    await hub.start()
    try:
        assert hub.sessions.cache is None
        assert (await post(hub, event())).status_code == 200
        await hub.sessions.resolve("laptop:1")
        assert not any(k.startswith("cache_hits") for k in await scrape(hub))
    finally:
        await hub.stop()
