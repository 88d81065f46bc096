"""Health, time series and alerts on a real in-process hub: the API, Telegram and the CLI."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccr.core.config import parse_settings
from ccr.hub import Hub
from tests.botapi import BotApiStandIn
from tests.fixtures.hub import API_TOKEN, ROOT, SECRET, base_env, free_port

CHAT = 4242
STRANGER = 6666
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
async def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              botapi: BotApiStandIn) -> AsyncIterator[Hub]:
    monkeypatch.setenv("CCR_SHARED_SECRET", SECRET)
    monkeypatch.setenv("CCR_API_TOKEN", API_TOKEN)
    monkeypatch.setenv("CCR_TELEGRAM_TOKEN", botapi.token)
    port = free_port()
    data = {
        "hub": {"listen": f"127.0.0.1:{port}", "data_dir": str(tmp_path / "data")},
        "telegram": {"base_url": botapi.base_url, "allowed_chats": [CHAT, STRANGER],
                     "admins": [CHAT], "poll_timeout": 0},
        "alerts": {"interval_s": 60},
        "servers": [{"id": "laptop", "kind": "local"}, {"id": "desk", "kind": "local"}],
    }
    (tmp_path / "ccr.toml").write_text(
        f'[hub]\nlisten = "127.0.0.1:{port}"\ndata_dir = "{tmp_path / "data"}"\n')
    h = Hub(parse_settings(data))
    await h.start()
    yield h
    await h.stop()


async def get(hub: Hub, path: str, *, auth: bool = True, method: str = "GET",
              **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.settings.hub.url) as client:
        headers = kwargs.pop("headers", AUTH if auth else {})
        return await client.request(method, path, headers=headers, **kwargs)


async def open_breaker(hub: Hub, server: str = "desk") -> None:
    assert hub.breakers is not None
    for _ in range(hub.settings.reliability.breaker_failures):
        await hub.breakers.failure(server, "test: refused")


async def test_every_new_route_needs_the_token(hub: Hub) -> None:
    for method, path in (("GET", "/api/health"), ("GET", "/api/series?name=error_rate"),
                         ("GET", "/api/alerts"), ("POST", "/api/alerts/1/ack")):
        r = await get(hub, path, auth=False, method=method)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", path
        r = await get(hub, path, method=method, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401, path


async def test_health_goes_yellow_when_one_of_two_servers_is_unavailable(hub: Hub) -> None:
    body = (await get(hub, "/api/health")).json()
    assert body["health"]["level"] == "green" and body["active_alerts"] == 0
    assert [s["server"] for s in body["health"]["servers"]] == ["laptop", "desk"]
    await open_breaker(hub)
    health = (await get(hub, "/api/health")).json()["health"]
    assert health["level"] == "yellow" and health["unavailable"] == ["desk"]
    desk = health["servers"][1]
    assert desk["level"] == "red" and desk["breaker"] == "open"


async def test_series_query_is_validated(hub: Hub) -> None:
    ok = await get(hub, "/api/series", params={"name": "error_rate", "minutes": 5})
    assert ok.status_code == 200 and len(ok.json()["points"]) == 30
    per = await get(hub, "/api/series", params={"name": "ssh_calls", "server": "laptop"})
    assert per.status_code == 200 and len(per.json()["points"]) == 360
    for params, code in (({"name": "nope"}, "unknown_series"),
                         ({"name": "error_rate", "server": "mars"}, "unknown_server"),
                         ({"name": "error_rate", "minutes": 0}, "invalid_minutes"),
                         ({"name": "error_rate", "minutes": 61}, "invalid_minutes"),
                         ({"name": "error_rate", "minutes": "nan"}, "invalid_minutes"),
                         ({"name": "error_rate", "minutes": "ten"}, "invalid_request"),
                         ({}, "invalid_request")):
        r = await get(hub, "/api/series", params=params)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, (params, r.text)
    unknown = (await get(hub, "/api/series", params={"name": "nope"})).json()["error"]
    assert "unknown series name 'nope'" in unknown["message"]
    assert "error_rate" in unknown["message"], "the message lists the names that exist"


async def test_alerts_list_and_ack_over_the_api(hub: Hub) -> None:
    await open_breaker(hub)
    await hub.alerts.evaluate()
    (alert,) = (await get(hub, "/api/alerts")).json()["alerts"]
    assert alert["rule"] == "breaker_open" and alert["server"] == "desk"
    assert alert["state"] == "firing"
    first = await get(hub, f"/api/alerts/{alert['id']}/ack", method="POST",
                      json={"by": "ana"})
    assert first.status_code == 200 and first.json()["acknowledged"] is True
    assert first.json()["alert"]["acknowledged_by"] == "ana"
    again = await get(hub, f"/api/alerts/{alert['id']}/ack", method="POST")
    assert again.status_code == 200 and again.json()["acknowledged"] is False
    missing = await get(hub, "/api/alerts/999999/ack", method="POST")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "alert_not_found"
    bad = await get(hub, "/api/alerts/1/ack", method="POST", json={"by": "<script>"})
    assert bad.status_code == 422
    assert (await get(hub, "/api/health")).json()["active_alerts"] == 1
    # Without a `by`, an acknowledgement is the token's, named as the audit log names it.
    await hub.alerts.evaluate()
    await open_breaker(hub, "laptop")
    await hub.alerts.evaluate()
    (second,) = [a for a in (await get(hub, "/api/alerts")).json()["alerts"]
                 if a["server"] == "laptop"]
    by_token = await get(hub, f"/api/alerts/{second['id']}/ack", method="POST")
    assert by_token.json()["alert"]["acknowledged_by"] == "api:admin"


async def reply_to(botapi: BotApiStandIn, chat: int, text: str, *,
                   user: int | None = None) -> str:
    before = len(botapi.sent_messages(chat))
    botapi.push_text(chat, text, user_id=user)
    for _ in range(200):
        msgs = botapi.sent_messages(chat)
        if len(msgs) > before:
            return str(msgs[before]["text"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no answer to {text!r}")


async def test_status_and_alerts_on_telegram(hub: Hub, botapi: BotApiStandIn) -> None:
    await open_breaker(hub)
    await hub.alerts.evaluate()
    alert = (await hub.alerts.active())[0]
    status = await reply_to(botapi, STRANGER, "/status")
    assert "ccr hub: YELLOW" in status and "desk" in status and "active alerts: 1" in status
    listed = await reply_to(botapi, CHAT, "/alerts")
    assert f"#{alert.id}" in listed and "desk" in listed
    refused = await reply_to(botapi, STRANGER, f"/alerts ack {alert.id}", user=STRANGER)
    assert "may not acknowledge alerts" in refused
    assert (await hub.alerts.get(alert.id)).state == "firing"  # type: ignore[union-attr]
    assert "not an alert number" in await reply_to(botapi, CHAT, "/alerts ack 1e9")
    done = await reply_to(botapi, CHAT, f"/alerts ack {alert.id}")
    assert "acknowledged" in done
    assert (await hub.alerts.get(alert.id)).state == "acknowledged"  # type: ignore[union-attr]


async def ccr(hub: Hub, tmp_path: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ccr", *args, "--config", str(tmp_path / "ccr.toml"),
        env=base_env(COLUMNS="200"), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return int(proc.returncode or 0), out.decode()


async def test_cli_status_and_alerts(hub: Hub, tmp_path: Path) -> None:
    code, out = await ccr(hub, tmp_path, "status")
    assert code == 0 and "GREEN" in out and "laptop" in out, out
    code, out = await ccr(hub, tmp_path, "alerts")
    assert code == 0 and "No active alerts" in out, out
    await open_breaker(hub)
    await hub.alerts.evaluate()
    alert = (await hub.alerts.active())[0]
    code, out = await ccr(hub, tmp_path, "status")
    assert code == 0 and "YELLOW" in out and "active alerts: 1" in out, out
    code, out = await ccr(hub, tmp_path, "alerts", "list")
    assert code == 0 and "desk" in out and "firing" in out, out
    code, out = await ccr(hub, tmp_path, "alerts", "ack", str(alert.id))
    assert code == 0 and f"Alert {alert.id} acknowledged" in out, out
    assert (await hub.alerts.get(alert.id)).acknowledged_by.startswith("cli:")  # type: ignore[union-attr]
    code, out = await ccr(hub, tmp_path, "alerts", "ack", "424242")
    assert code == 1 and "There is no alert 424242" in out, out
