"""What the hub says at start about a config that cannot do what it promises: the stuck-command
alert cannot fire when commands time out first. A real hub on real tmux, its log read off the
bus as `ccr serve` and the console show it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccr.core.config import parse_settings
from ccr.core.events import HubLog
from ccr.hub import Hub
from tests.fixtures.tmux import Tmux


async def start_log(tmp_path: Path, tmux: Tmux, **tables: dict[str, object]) -> list[str]:
    settings = parse_settings({
        "hub": {"listen": "127.0.0.1:1", "data_dir": str(tmp_path / "data")},
        "servers": [{"id": "laptop", "kind": "local", "tmux_socket": tmux.socket_name}],
        **tables,
    })
    hub = Hub(settings)
    async with hub.bus.subscribe() as queue:
        await hub.start(http=False)
        await hub.stop()
        lines = []
        while not queue.empty():
            event = queue.get_nowait()
            if isinstance(event, HubLog) and event.level == "warning":
                lines.append(event.text)
    return lines


@pytest.mark.parametrize(("stuck_min", "timeout_s", "warned"),
                         [(20, 600, True), (20, 1200, True), (5, 1800, False)])
async def test_an_unreachable_stuck_alert_is_named_by_its_keys(
        tmp_path: Path, tmux: Tmux, monkeypatch: pytest.MonkeyPatch,
        stuck_min: float, timeout_s: float, warned: bool) -> None:
    monkeypatch.setenv("CCR_SHARED_SECRET", "start-warnings-secret-start-warnings-secret")
    lines = await start_log(tmp_path, tmux, alerts={"stuck_after_min": stuck_min},
                            commands={"timeout_s": timeout_s})
    said = [t for t in lines if "stuck_after_min" in t]
    if warned:
        assert len(said) == 1
        assert f"[commands] timeout_s = {timeout_s:g} s" in said[0]
        assert "lower stuck_after_min or raise timeout_s" in said[0]
    else:
        assert said == []
