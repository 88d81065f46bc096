"""/screen, /tail and the 🖼 Screen button as the phone sees them, locally and over SSH: the
real hub process, real tmux on a private socket, the private sshd and the Bot API stand-in.

The pane prints known coloured text; the photo the stand-in receives is decoded with Pillow
and compared with a render of `capture-pane -e` taken right after (and checked on its own:
its size is the pane's grid, the red word is red where it was printed)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from ccr.imaging.fonts import find_font
from ccr.imaging.pane_image import THEME, pane_font, render
from tests.e2e.conftest import CHAT, STRANGER, World
from tests.fixtures.hub import wait_until

pytestmark = pytest.mark.e2e

RED_WORD = "RED-MARKER"
PRINT = ("for i in $(seq 1 40); do echo \"line $i\"; done; "
         f"printf '\\033[1;31m{RED_WORD}\\033[0m plain \\033[38;5;46mgreen256\\033[0m "
         "\\033[7mreversed\\033[0m\\n'; printf 'LAST-ROW'; exec sleep 600")
"""The pane's program: 40 numbered lines (the screen scrolls), a row with a bold red word,
a 256-colour green one and a reversed one, then a last row; it stays open."""


def font_metrics() -> Any:
    files = find_font()
    assert files is not None, "the tests need a monospace font (scripts/test installs " \
                              "fonts-dejavu-core)"
    return pane_font(files)


def register(w: World, server: str, pane: str) -> dict[str, Any]:
    """The pane's session, as a Stop hook from it makes it; its notification."""
    w.post_hook(pane, "Stop", server=server, session_id=f"claude-{server}",
                last_assistant_message="all done")
    return w.notification_for(f"{server}:1")


def printed_pane(w: World, name: str) -> str:
    pane = w.tmux.new_session(name, PRINT, width=100, height=24)
    w.tmux.wait_for_text(pane, "LAST-ROW")
    return pane


def photo_after(w: World, count: int) -> dict[str, Any]:
    wait_until(lambda: len(w.botapi.sent_photos(CHAT)) > count, 20,
               message="a photo from the bot")
    return w.botapi.sent_photos(CHAT)[count]


def check_picture(w: World, pane: str, photo: dict[str, Any]) -> None:
    """The photo is a PNG of the pane's grid, equal to a render of `capture-pane -e` taken
    now; the printed rows hold ink, the red word is red and the green one green."""
    font = font_metrics()
    m = font.metrics
    image = Image.open(io.BytesIO(photo["content"]))
    assert image.format == "PNG"
    assert image.size == (100 * m.cell_w, 24 * m.cell_h), "the pane's grid, cell by cell"
    rows = w.tmux.run("capture-pane", "-e", "-p", "-t", pane).rstrip("\n").split("\n")
    last = len(rows) - 1
    assert "LAST-ROW" in rows[last] and RED_WORD in rows[last - 1]
    got = image.convert("RGB")
    expected = render(rows, 100, 24, font)
    for r in range(last - 2, last + 1):  # "line 40", the coloured row, "LAST-ROW"
        box = (0, r * m.cell_h, 100 * m.cell_w, (r + 1) * m.cell_h)
        assert got.crop(box).tobytes() == expected.crop(box).tobytes(), f"row {r} differs"
        assert got.crop(box).convert("L").point(lambda v: 255 if v > 90 else 0).getbbox(), \
            f"row {r} shows text"
    assert got.tobytes() == expected.tobytes(), "the whole picture is the pane's render"
    top = (last - 1) * m.cell_h

    def pixels(first: int, cells: int) -> list[tuple[int, int, int]]:
        box = (first * m.cell_w, top, (first + cells) * m.cell_w, top + m.cell_h)
        raw = got.crop(box).tobytes()
        return [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]

    assert any(r > 180 and g < 120 and b < 120 for r, g, b in pixels(0, len(RED_WORD))), \
        "the red word is drawn in red"
    green = len(RED_WORD) + len(" plain ")
    assert any(g > 180 and r < 100 and b < 100 for r, g, b in pixels(green, 8)), \
        "the 256-colour word is green"
    assert not any(r > 180 and g < 120 and b < 120 for r, g, b in pixels(green, 8))
    assert got.getpixel((0, 0)) == tuple(THEME.background_color), "dark background"


def test_screen_sends_the_pane_as_a_png_and_tail_its_last_lines(world: World) -> None:
    pane = printed_pane(world, "shot")
    note = register(world, "laptop", pane)
    assert "🖼 Screen" in [b["text"] for row in note["reply_markup"]["inline_keyboard"]
                          for b in row]

    world.botapi.push_text(CHAT, "/screen laptop:1")
    photo = photo_after(world, 0)
    assert "laptop:1" in photo["caption"] and "on laptop" in photo["caption"]
    assert "100×24" in photo["caption"]
    assert photo["filename"].startswith("laptop-1-") and photo["filename"].endswith(".png")
    check_picture(world, pane, photo)

    # /tail: the last lines, as monospace text; a bad N gets a plain answer.
    world.botapi.push_text(CHAT, "/tail laptop:1 5")
    tail = world.botapi.wait_for_message(lambda m: "last 5 lines" in m["text"])
    assert f"line 38\nline 39\nline 40\n{RED_WORD} plain" in tail["text"]
    assert tail["text"].rstrip().endswith("LAST-ROW") and "line 37" not in tail["text"]
    world.botapi.push_text(CHAT, "/tail laptop:1 many")
    bad = world.botapi.wait_for_message(lambda m: "not a number of lines" in m["text"])
    assert "'many'" in bad["text"] and "1." in bad["text"]
    world.botapi.push_text(CHAT, "/tail laptop:1 99999")
    capped = world.botapi.wait_for_message(lambda m: "you asked for 99999" in m["text"])
    assert "line 1\n" in capped["text"] and "LAST-ROW" in capped["text"]

    # The same from a shell: the exact PNG, and the text.
    out = world.workdir / "shot.png"
    done = world.hub.ccr("screen", "laptop:1", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == Image.open(io.BytesIO(photo["content"])).size
    lines = world.hub.ccr("tail", "laptop:1", "-n", "3")
    assert lines.returncode == 0, lines.stderr
    assert lines.stdout.split("\n")[:3] == ["line 40", f"{RED_WORD} plain green256 reversed",
                                             "LAST-ROW"]


def test_screen_button_on_a_notification_and_forged_ones(world: World) -> None:
    pane = printed_pane(world, "button")
    note = register(world, "laptop", pane)
    data = {b["text"]: b["callback_data"] for row in note["reply_markup"]["inline_keyboard"]
            for b in row}
    token = data["🖼 Screen"].removeprefix("scr:")

    def tap(data: str, chat: int = CHAT) -> str:
        before = len(world.botapi.callback_answers)
        world.botapi.push_callback(chat, note["message_id"], data)
        wait_until(lambda: len(world.botapi.callback_answers) > before, 20,
                   message="an answer")
        return str(world.botapi.callback_answers[before].get("text", ""))

    assert "Screen of laptop:1" in tap(f"scr:{token}")
    photo = photo_after(world, 0)
    assert photo["reply_to_message_id"] == note["message_id"], "under the notification"
    check_picture(world, pane, photo)

    # /screen and /tail without a handle, as a reply to the notification: that session.
    world.botapi.push_text(CHAT, "/screen", reply_to_message_id=note["message_id"])
    check_picture(world, pane, photo_after(world, 1))
    world.botapi.push_text(CHAT, "/tail 2", reply_to_message_id=note["message_id"])
    tail = world.botapi.wait_for_message(lambda m: "last 2 lines" in m["text"])
    assert f"{RED_WORD} plain green256 reversed\nLAST-ROW" in tail["text"]
    world.botapi.push_text(CHAT, "/screen")  # no handle, no reply: how to use it
    world.botapi.wait_for_message(lambda m: m["text"].startswith("Usage: /screen"))

    # Forged, foreign or stale taps send nothing.
    assert "not valid" in tap("scr:../../etc")
    assert "not valid" in tap("scr:c0000000000")
    assert "no live session" in tap("scr:zzzz9999")
    assert "not allowed" in tap(f"scr:{token}", chat=STRANGER)
    assert len(world.botapi.sent_photos()) == 2


def test_a_killed_session_gets_a_plain_answer(world: World) -> None:
    pane = printed_pane(world, "doomed")
    register(world, "laptop", pane)
    world.tmux.kill_session("doomed")
    world.botapi.push_text(CHAT, "/screen laptop:1")
    gone = world.botapi.wait_for_message(lambda m: m["text"].startswith("❌"))
    assert ("The pane of laptop:1 is gone" in gone["text"]
            or "no live session 'laptop:1'" in gone["text"]), gone["text"]
    assert "1. " in gone["text"], "numbered recovery steps"
    world.botapi.push_text(CHAT, "/tail laptop:1")
    world.botapi.wait_for_message(lambda m: m["text"].startswith("❌")
                                  and "/tail" not in m["text"]
                                  and m["message_id"] != gone["message_id"])
    assert world.botapi.sent_photos() == []
    resp = world.hub.api("GET", "/api/sessions/laptop:1/screen.png")
    assert resp.status_code in (404, 409) and resp.json()["error"]["code"] in (
        "screen_gone", "unknown_session")


def test_screen_over_ssh(ssh_world: World) -> None:
    pane = printed_pane(ssh_world, "remote")
    register(ssh_world, "kr4", pane)
    ssh_world.botapi.push_text(CHAT, "/screen kr4:1")
    photo = photo_after(ssh_world, 0)
    assert "kr4:1" in photo["caption"] and "on kr4" in photo["caption"]
    check_picture(ssh_world, pane, photo)
    ssh_world.botapi.push_text(CHAT, "/tail kr4:1 2")
    tail = ssh_world.botapi.wait_for_message(lambda m: "last 2 lines" in m["text"])
    assert f"{RED_WORD} plain green256 reversed\nLAST-ROW" in tail["text"]
