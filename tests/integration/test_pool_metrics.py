"""The SSH pool's figures at /metrics, scraped from a real in-process hub whose server is the
private sshd: connections busy and idle, and a dropped connection counted as failed and
replaced at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ccr.core.config import parse_settings
from ccr.hub import Hub
from tests.fixtures.hub import API_TOKEN, SECRET, free_port
from tests.fixtures.sshd import Sshd
from tests.fixtures.tmux import Tmux
from tests.integration.test_metrics import eventually, samples, scrape, value


@pytest.fixture
async def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sshd: Sshd,
              tmux: Tmux) -> AsyncIterator[Hub]:
    monkeypatch.setenv("CCR_SHARED_SECRET", SECRET)
    monkeypatch.setenv("CCR_API_TOKEN", API_TOKEN)
    monkeypatch.delenv("CCR_TELEGRAM_TOKEN", raising=False)
    settings = parse_settings({
        "hub": {"listen": f"127.0.0.1:{free_port()}", "data_dir": str(tmp_path / "data")},
        "servers": [{"id": "kr4", "kind": "ssh", "host": sshd.host, "port": sshd.port,
                     "user": sshd.user, "identity": str(sshd.identity),
                     "known_hosts": str(sshd.known_hosts), "tmux_socket": tmux.socket_name,
                     "hooks_via": "direct"}],
    })
    hub = Hub(settings)
    await hub.start()
    yield hub
    await hub.stop()


def opened(text: str) -> float:
    return value(text, "ssh_pool_connections_opened_total", server="kr4")


async def test_pool_figures_are_scraped_and_a_drop_shows_as_failed_and_replaced(
        hub: Hub, sshd: Sshd) -> None:
    text = await eventually(hub, lambda t: opened(t) >= 1)
    assert opened(text) >= 1
    live = sum(value(text, "ssh_pool_connections", server="kr4", state=s)
               for s in ("busy", "idle"))
    assert live == len(sshd.connection_pids()) >= 1
    assert value(text, "ssh_pool_waiters", server="kr4") == 0
    assert value(text, "ssh_pool_wait_timeouts_total", server="kr4") == 0
    assert ("ssh_pool_channels_in_use", (("server", "kr4"),)) in samples(text)

    before = opened(text)
    for pid in sshd.connection_pids():
        sshd.drop_connection(pid)
    text = await eventually(hub, lambda t: value(
        t, "ssh_pool_replacements_total", server="kr4", result="ok") >= 1)
    assert value(text, "ssh_pool_connections_closed_total", server="kr4", reason="failed") >= 1
    assert value(text, "ssh_pool_replacements_total", server="kr4", result="ok") >= 1
    assert opened(text) > before
    assert value(text, "ssh_pool_connect_failures_total", server="kr4") == 0
    assert (await scrape(hub)).status_code == 200
