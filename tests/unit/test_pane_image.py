"""The pane picture on its own: colours where the SGR put them, the grid's size, bold, wide
glyphs, secrets blotted out, and the text fallback when the hub has no monospace font."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from ccr.core.models import Session
from ccr.imaging.fonts import MISSING_HINT, find_font
from ccr.imaging.masking import secret_cells
from ccr.imaging.pane_image import BLOT, THEME, grid_text, pane_font, render_png, row_cells
from ccr.remote.screen import PaneScreen, last_lines, parse_screen
from ccr.services.screens import ScreenService, tail_lines

FILES = find_font()
needs_font = pytest.mark.skipif(FILES is None, reason="no monospace font (fonts-dejavu-core)")


def cell_pixels(image: Image.Image, row: int, col: int, cells: int = 1) -> list[tuple[int, ...]]:
    assert FILES is not None
    m = pane_font(FILES).metrics
    box = (col * m.cell_w, row * m.cell_h, (col + cells) * m.cell_w, (row + 1) * m.cell_h)
    raw = image.crop(box).convert("RGB").tobytes()
    return [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]


def png(rows: list[str], width: int, height: int) -> Image.Image:
    assert FILES is not None
    return Image.open(io.BytesIO(render_png(rows, width, height, pane_font(FILES))))


@needs_font
def test_size_is_the_grid_and_a_red_cell_is_red_where_it_was_printed() -> None:
    assert FILES is not None
    m = pane_font(FILES).metrics
    image = png(["", "abc \x1b[31mX\x1b[0m def"], 20, 5)
    assert image.format == "PNG" and image.size == (20 * m.cell_w, 5 * m.cell_h)
    red = [p for p in cell_pixels(image, 1, 4) if p[0] > 180 and p[1] < 120 and p[2] < 120]
    assert red, "the red X is red"
    for col in (0, 1, 2, 6):  # its neighbours are not
        assert not [p for p in cell_pixels(image, 1, col) if p[0] > 180 and p[1] < 120]
    assert set(cell_pixels(image, 0, 0, 20)) == {tuple(THEME.background_color)}, "empty row"
    assert set(cell_pixels(image, 1, 3)) == {tuple(THEME.background_color)}, "a space"


@needs_font
def test_256_truecolor_background_and_reverse() -> None:
    image = png(["\x1b[38;5;21mB\x1b[0m\x1b[38;2;0;200;0mG\x1b[0m\x1b[41m \x1b[0m"
                 "\x1b[7mR\x1b[0m"], 4, 1)
    assert any(b > 180 and r < 80 for r, g, b in cell_pixels(image, 0, 0)), "256-colour blue"
    assert any(g > 150 and r < 60 and b < 60 for r, g, b in cell_pixels(image, 0, 1))
    assert all(r > 180 and g < 120 for r, g, b in cell_pixels(image, 0, 2)), "red background"
    reverse = cell_pixels(image, 0, 3)
    assert reverse.count(tuple(THEME.foreground_color)) > len(reverse) // 2, \
        "reversed: light cell, dark letter"


@needs_font
def test_bold_draws_more_ink_and_wide_glyphs_take_two_cells() -> None:
    plain, bold = png(["W"], 1, 1), png(["\x1b[1mW\x1b[0m"], 1, 1)

    def ink(image: Image.Image) -> int:
        return sum(1 for p in cell_pixels(image, 0, 0) if p[0] > 120)

    if FILES is not None and FILES.bold is not None:
        assert ink(bold) > ink(plain)
    cells = row_cells("日x", 10)
    assert [(c.col, c.char, c.width) for c in cells] == [(0, "日", 2), (2, "x", 1)]


def test_rows_past_the_width_are_cut_not_wrapped() -> None:
    assert [c.col for c in row_cells("abcdef", 3)] == [0, 1, 2]


def test_secrets_on_the_screen_are_blotted_out() -> None:
    key = "sk-ant-" + "a1B2c3D4" * 4
    rows = [f"export ANTHROPIC_API_KEY={key} # mine", "nothing here"]
    masked = secret_cells(rows)
    kept = "".join(" " if (0, c) in masked else ch for c, ch in enumerate(rows[0]))
    assert "a1B2c3D4" not in kept and "# mine" in kept and "export" in kept
    assert not {cell for cell in masked if cell[0] == 1}
    assert secret_cells(["ls -la", "total 0"]) == set()
    # A token wrapped over two full rows is still found on both.
    wrapped = ["x" * 8 + "ghp_" + "Z" * 8, "Z" * 30 + " end"]
    hidden = secret_cells([wrapped[0], wrapped[1].ljust(40)])
    assert (0, 15) in hidden and (1, 5) in hidden and (1, 35) not in hidden


@needs_font
def test_the_picture_blots_what_redact_would_mask() -> None:
    cells = [c for row in [row_cells("password=hunter2hunter2", 40)] for c in row]
    text = grid_text([cells], 40)[0]
    assert "hunter2" in text  # row_cells keeps the text; the picture masks it
    from ccr.imaging.pane_image import screen_cells

    shown = grid_text(screen_cells(["password=hunter2hunter2"], 40), 40)[0]
    assert "hunter2" not in shown and shown.startswith("password=") and BLOT in shown


def test_capture_is_parsed_with_its_size_and_rows() -> None:
    shot = parse_screen("80:3:0:ccr\n\x1b[31mred\x1b[0m\nsecond\n")
    assert shot == PaneScreen(80, 3, "\x1b[31mred\x1b[0m\nsecond", "ccr", False)
    assert shot.rows == ["\x1b[31mred\x1b[0m", "second", ""]
    assert parse_screen("no such pane") is None
    assert last_lines("a\nb\nc\n\n\n", 2) == "b\nc"


def test_tail_numbers() -> None:
    assert tail_lines(None) == (30, None) and tail_lines("5") == (5, None)
    assert tail_lines("99999") == (2000, 99999)
    for bad in ("0", "-3", "many", "٣", "1e3"):
        with pytest.raises(Exception, match="not a number of lines"):
            tail_lines(bad)


class _Sessions:
    async def resolve(self, ref: str) -> Session:
        return Session(id=1, server_id="laptop", number=1, token="abcd2345", pane_id="%1",
                       tmux_socket=None, tmux_session="ccr", claude_session_id=None,
                       project="/src/shop", last_event=None, last_prompt=None, last_reply=None,
                       created_at=0, updated_at=0, expires_at=1e12)


class _Panes:
    async def screen(self, session: Session) -> PaneScreen:
        return PaneScreen(30, 2, "\x1b[32mhello\x1b[0m token=abcdefgh12345678\nbye", "ccr")

    async def tail(self, session: Session, lines: int) -> str:
        return "x"


def test_no_font_sends_the_text_with_a_note(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "fonts"
    empty.mkdir()
    monkeypatch.setenv("CCR_FONT_DIRS", str(empty))
    assert find_font() is None and find_font([empty]) is None
    service = ScreenService(_Sessions(), _Panes())
    picture = asyncio.run(service.picture("laptop:1"))
    assert picture.png is None and picture.note == MISSING_HINT
    assert "install fonts-dejavu-core" in picture.note
    assert picture.text.startswith("hello token=[redacted]") and "\x1b" not in picture.text
    saved = asyncio.run(service.save("laptop:1", tmp_path / "shots"))
    assert saved.suffix == ".txt" and MISSING_HINT in saved.read_text()


@needs_font
def test_save_writes_the_png_under_the_screenshots_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.delenv("CCR_FONT_DIRS", raising=False)
    saved = asyncio.run(ScreenService(_Sessions(), _Panes()).save("laptop:1"))
    assert saved.parent == tmp_path / "ccr" / "screenshots"
    assert saved.name.startswith("laptop-1-") and Image.open(saved).size[0] > 0


@needs_font
def test_a_glyph_the_monospace_font_lacks_comes_from_a_fallback_font() -> None:
    assert FILES is not None
    from dataclasses import replace

    from ccr.imaging.pane_image import PaneFont

    sans = FILES.regular.with_name("DejaVuSans.ttf")
    if FILES.regular.name != "DejaVuSansMono.ttf" or not sans.exists():
        pytest.skip("needs DejaVu Sans Mono and DejaVu Sans")
    alone = PaneFont(replace(FILES, fallbacks=()))
    helped = PaneFont(replace(FILES, fallbacks=(sans,)))
    g1, g2 = alone.glyph("∡", False), helped.glyph("∡", False)
    assert g1 is not None and g2 is not None
    assert g1[2].tobytes() != g2[2].tobytes(), "drawn from DejaVu Sans"
    a1, a2 = alone.glyph("a", False), helped.glyph("a", False)
    assert a1 is not None and a2 is not None and a1[2].tobytes() == a2[2].tobytes(), \
        "a glyph the monospace font has stays its own"
