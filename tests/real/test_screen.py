"""/screen on the real Claude Code, locally and over SSH: the photo is a PNG of the pane's
size that shows Claude's UI as `capture-pane -e` had it right after (compared row by row
with a render of that capture), prompt text and colours included."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from ccr.imaging.fonts import find_font
from ccr.imaging.pane_image import THEME, pane_font, render
from tests.e2e.conftest import CHAT
from tests.fixtures.hub import wait_until
from tests.real.conftest import Real

pytestmark = [pytest.mark.e2e, pytest.mark.real]


def test_screen_of_a_real_claude_pane(anywhere: Real) -> None:
    files = find_font()
    assert files is not None, "scripts/test installs fonts-dejavu-core"
    font = pane_font(files)
    m = font.metrics
    w = anywhere
    claude = w.claude("screen")
    claude.type("what does the build do?")
    w.world.notification_for(w.handle(), timeout=30)

    w.botapi.push_text(CHAT, f"/screen {w.handle()}")
    wait_until(lambda: w.botapi.sent_photos(CHAT), 30, message="the screen's photo")
    rows = w.world.tmux.run("capture-pane", "-e", "-p", "-t", claude.pane).rstrip("\n")
    [photo] = w.botapi.sent_photos(CHAT)
    assert w.handle() in photo["caption"] and "120×40" in photo["caption"]

    image = Image.open(io.BytesIO(photo["content"]))
    assert image.format == "PNG" and image.size == (120 * m.cell_w, 40 * m.cell_h)
    got = image.convert("RGB")
    lines = rows.split("\n")
    expected = render(lines, 120, 40, font)
    plain = w.world.tmux.run("capture-pane", "-p", "-t", claude.pane).split("\n")
    same = []
    for r in range(40):
        box = (0, r * m.cell_h, 120 * m.cell_w, (r + 1) * m.cell_h)
        same.append(got.crop(box).tobytes() == expected.crop(box).tobytes())
    asked = [r for r, line in enumerate(plain[:40]) if "what does the build do?" in line]
    assert asked, f"the prompt is on the screen:\n{claude.screen()}"
    assert all(same[r] for r in asked), "the prompt's row is drawn as the pane shows it"
    assert sum(same) >= 36, f"Claude's UI as captured: {same.count(False)} rows differ"
    # Claude's UI is coloured: some ink is neither the background nor plain grey.
    bg = tuple(THEME.background_color)
    raw = got.tobytes()
    colours = {raw[i:i + 3] for i in range(0, len(raw), 3 * 7)}
    assert any(max(c) - min(c) > 60 for c in colours if tuple(c) != bg), "colours kept"
