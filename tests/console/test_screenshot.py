"""`s` on the main screen saves the selected session's pane as a PNG (the same picture
/screen sends) under $XDG_DATA_HOME/ccr/screenshots and says where; a real hub, real tmux."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from ccr.console.app import ConsoleApp
from ccr.console.widgets.main import SessionsTable
from ccr.imaging.fonts import find_font
from ccr.imaging.pane_image import pane_font
from tests.console.conftest import hook_event, make_hub, wait_for
from tests.fixtures.tmux import Tmux


async def test_s_saves_the_selected_pane_as_a_png(tmp_path: Path, tmux: Tmux,
                                                  frozen_env: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    files = find_font()
    assert files is not None, "scripts/test installs fonts-dejavu-core"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    pane = tmux.new_session("work", "printf 'SHOT-ME\\n'; exec sleep 600", width=60, height=10)
    tmux.wait_for_text(pane, "SHOT-ME")
    app = ConsoleApp(make_hub(tmp_path, tmux, frozen=False), start_http=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.hub.ready)
        await pilot.press("s")  # nothing selected yet: it says what to do
        await wait_for(pilot, lambda: any("Select a session first" in str(n.message)
                                          for n in app._notifications))
        await app.hub.sessions.ingest(hook_event(pane=pane))
        table = app.query_one(SessionsTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        await pilot.press("l")  # the sessions table's key now
        assert table.has_focus
        table.move_cursor(row=0)
        await pilot.press("s")
        await wait_for(pilot, lambda: any((n.title or "") == "Screenshot of laptop:1"
                                          for n in app._notifications), within=20)
        note = next(n for n in app._notifications if n.title == "Screenshot of laptop:1")
        folder = tmp_path / "share" / "ccr" / "screenshots"
        [saved] = list(folder.iterdir())
        assert str(saved) in note.message and saved.name.startswith("laptop-1-")
        m = pane_font(files).metrics
        assert Image.open(saved).size == (60 * m.cell_w, 10 * m.cell_h)

        tmux.kill_session("work")  # a gone pane: a plain answer, no file
        await pilot.press("s")
        await wait_for(pilot, lambda: any((n.title or "") == "No screenshot"
                                          for n in app._notifications), within=20)
        failed = next(n for n in app._notifications if n.title == "No screenshot")
        assert ("The pane of laptop:1 is gone" in failed.message
                or "no live session" in failed.message), failed.message
        assert len(list(folder.iterdir())) == 1


async def test_s_on_the_overview_saves_its_selected_pane(tmp_path: Path, tmux: Tmux,
                                                         frozen_env: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_font() is not None, "scripts/test installs fonts-dejavu-core"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    pane = tmux.new_session("work", "printf 'SHOT-ME\\n'; exec sleep 600", width=60, height=10)
    tmux.wait_for_text(pane, "SHOT-ME")
    app = ConsoleApp(make_hub(tmp_path, tmux, frozen=False), start_http=False)
    async with app.run_test(size=(200, 60)) as pilot:  # big enough: the overview comes first
        await wait_for(pilot, lambda: app.hub.ready)
        assert app.screen.__class__.__name__ == "OverviewScreen"
        await app.hub.sessions.ingest(hook_event(pane=pane))
        table = app.screen.query_one(SessionsTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("s")
        await wait_for(pilot, lambda: any((n.title or "") == "Screenshot of laptop:1"
                                          for n in app._notifications), within=20)
        [saved] = list((tmp_path / "share" / "ccr" / "screenshots").iterdir())
        assert saved.suffix == ".png" and Image.open(saved).format == "PNG"
