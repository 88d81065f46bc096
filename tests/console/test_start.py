"""`ccr console` paints its first screen before the hub exists: the hub is built once the
screen is up, and until it runs the screens say so instead of failing. A real hub (no
HTTP), real SQLite and a real tmux pane, its start held back by the test."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.widgets import DataTable

from ccr.console.app import ConsoleApp
from ccr.console.screens import MetricsScreen, OverviewScreen
from ccr.hub import Hub
from tests.console.conftest import hook_event, make_hub, make_settings, wait_for
from tests.console.test_console import cell_texts
from tests.fixtures.tmux import Tmux


def said(app: ConsoleApp, words: str) -> bool:
    return any(words in str(n.message) for n in app._notifications)


async def test_the_first_screen_is_up_before_the_hub_is_built(
        tmp_path: Path, tmux: Tmux, frozen_env: None) -> None:
    seen: dict[str, Any] = {}
    release = asyncio.Event()
    app: ConsoleApp

    def build() -> Hub:
        seen["screen"] = app.screen  # what the person saw when the hub was being built
        seen["mounted"] = app.screen.is_mounted
        seen["servers"] = cell_texts(app.screen.query_one("#ov-servers", DataTable))
        hub = make_hub(tmp_path, tmux, frozen=False)
        start = hub.start

        async def held(**kwargs: Any) -> None:
            await release.wait()  # the hub's start, held back: the screens wait for it
            await start(**kwargs)

        hub.start = held  # type: ignore[method-assign]
        return hub

    app = ConsoleApp(build_hub=build, settings=make_settings(tmp_path, tmux, ("laptop", "kr4")),
                     start_http=False)
    async with app.run_test(size=(200, 60)) as pilot:
        await wait_for(pilot, lambda: "screen" in seen)
        assert isinstance(seen["screen"], OverviewScreen) and seen["mounted"]
        # the configured servers are listed from the first frame, as starting
        assert [row[:3] for row in seen["servers"]] == [["laptop", "local", "starting"],
                                                        ["kr4", "local", "starting"]]
        assert app.sub_title == "starting…"
        await pilot.press("2")  # another screen, while the hub starts: told, not broken
        await wait_for(pilot, lambda: said(app, "still starting"))
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("s")  # an action on a session row: likewise
        await wait_for(pilot, lambda: said(app, "The hub is still starting"))

        release.set()
        await wait_for(pilot, lambda: app.started)
        assert app.hub is not None and app.hub.ready
        await app.hub.sessions.ingest(hook_event(pane="%1"))
        await wait_for(pilot, lambda: app.overview.session_count == 1)  # the row is shown
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, MetricsScreen))
        assert "servers up" in app.sub_title


async def test_the_small_first_screen_lists_the_servers_before_the_hub_is_built(
        tmp_path: Path, tmux: Tmux, frozen_env: None) -> None:
    seen: dict[str, Any] = {}
    app: ConsoleApp

    def build() -> Hub:
        seen["servers"] = cell_texts(app.screen.query_one("#servers", DataTable))
        return make_hub(tmp_path, tmux)

    app = ConsoleApp(build_hub=build, settings=make_settings(tmp_path, tmux), start_http=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.started)
        assert [row[:4] for row in seen["servers"]] == [
            ["laptop", "local", "this machine", "starting"]]
        table = app.main.query_one("#servers", DataTable)
        await wait_for(pilot, lambda: cell_texts(table)[0][3] != "starting")
        assert cell_texts(table)[0][3] in ("up", "unknown")


async def test_a_hub_that_cannot_be_built_ends_the_console_with_its_error(
        tmp_path: Path, tmux: Tmux, frozen_env: None, monkeypatch: Any) -> None:
    monkeypatch.delenv("CCR_SHARED_SECRET")  # the hub refuses to start without it
    app = ConsoleApp(build_hub=lambda: make_hub(tmp_path, tmux), start_http=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.return_value is not None)
    assert app.return_value is not None
    assert "CCR_SHARED_SECRET" in app.return_value.message
