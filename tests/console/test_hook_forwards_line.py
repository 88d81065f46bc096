"""The breakers screen says under the pool table how the hook forwards stand (hooks_via = "ssh"):
how many are up and which are down, following the hub's forwards on the 1 s tick."""

from __future__ import annotations

from pathlib import Path

from ccr.console.app import ConsoleApp
from ccr.console.screens.breakers import forwards_line
from ccr.console.widgets.breakers import PoolTable
from tests.console.conftest import make_hub, wait_for
from tests.console.states import settled
from tests.fixtures.tmux import Tmux


def test_the_line_counts_the_up_and_names_the_down() -> None:
    assert forwards_line({}) == ""
    assert forwards_line({"kr4": True, "kr5": True}) == "hook forwards: [green]2 up[/]"
    assert forwards_line({"kr5": False, "kr4": True, "gpu": False}) == (
        "hook forwards: [green]1 up[/], [red]down: gpu, kr5[/]")


async def test_the_pool_table_shows_the_forwards_line(tmp_path: Path, tmux: Tmux,
                                                       frozen_env: None) -> None:
    hub = make_hub(tmp_path, tmux)
    states = {"kr4": True, "gpu-box": False}
    hub.forwards.up = lambda: dict(states)  # type: ignore[method-assign]
    app = ConsoleApp(hub, start_http=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("3")
        table = app.screen.query_one(PoolTable)
        await wait_for(pilot, lambda: "down: gpu-box" in str(table.border_subtitle))
        assert "1 up" in str(table.border_subtitle)
        states["gpu-box"] = True  # it came back: the next tick says so
        await wait_for(pilot, lambda: "2 up" in str(table.border_subtitle)
                       and "down" not in str(table.border_subtitle), within=3)
