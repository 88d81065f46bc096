"""A real scrape: Debian's `prometheus` scrapes the hub's /metrics on loopback, and a metric
comes back through Prometheus's own HTTP query API."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccr.core.config import parse_settings
from ccr.hub import Hub
from tests.fixtures.hub import API_TOKEN, SECRET, free_port

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="Debian's prometheus binary is not installed (scripts/test installs it with apt)")


@pytest.fixture
async def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hub]:
    monkeypatch.setenv("CCR_SHARED_SECRET", SECRET)
    monkeypatch.setenv("CCR_API_TOKEN", API_TOKEN)
    monkeypatch.delenv("CCR_TELEGRAM_TOKEN", raising=False)
    settings = parse_settings({
        "hub": {"listen": f"127.0.0.1:{free_port()}", "data_dir": str(tmp_path / "data")},
        "metrics": {"require_token": True},
        "servers": [{"id": "laptop", "kind": "local"}, {"id": "kr4", "kind": "local"}],
    })
    hub = Hub(settings)
    await hub.start()
    yield hub
    await hub.stop()


async def query(client: httpx.AsyncClient, expr: str) -> list[dict[str, Any]]:
    answer = await client.get("/api/v1/query", params={"query": expr})
    answer.raise_for_status()
    body = answer.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


async def test_prometheus_scrapes_the_hub_and_answers_a_query(hub: Hub,
                                                              tmp_path: Path) -> None:
    assert hub.metrics is not None and PROMETHEUS is not None
    for _ in range(3):
        hub.metrics.ssh_call("kr4", None, 0.02)
    token_file = tmp_path / "api-token"
    token_file.write_text(API_TOKEN)
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: ccr
    metrics_path: /metrics
    authorization:
      credentials_file: {token_file}
    static_configs:
      - targets: ["127.0.0.1:{hub.settings.hub.port}"]
""")
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once; it runs beside the test)
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     timeout=5) as client:
            deadline = time.monotonic() + 60
            result: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
                with contextlib.suppress(httpx.HTTPError):
                    result = await query(
                        client, 'ssh_commands_total{job="ccr",server="kr4",status="ok"}')
                if result:
                    break
                await asyncio.sleep(0.25)
            assert result, ("no sample came back; prometheus said:\n"
                            + (tmp_path / "prometheus.log").read_text()[-2000:])
            assert float(result[0]["value"][1]) >= 3, "our 3 calls (plus the hub's probes)"
            up = await query(client, 'up{job="ccr"}')
            assert up and up[0]["value"][1] == "1", "the scrape itself succeeded"
            breakers = await query(client, "circuit_breaker_state")
            assert {r["metric"]["server"] for r in breakers} == {"laptop", "kr4"}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_the_shipped_example_config_and_alert_rules_are_valid() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    for args in (["check", "rules", "alerts.yml"], ["check", "config", "prometheus.yml"]):
        done = subprocess.run(["promtool", *args], cwd=docs, capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
