"""Regenerate screenshots/ (SVG, and PNG when rsvg-convert is installed) of each console state.

Run: python scripts/screenshots.py
It drives the real console on a real hub (temporary data, private tmux socket) through every
state in tests/console/states.py (the snapshot tests' states): the main screen and each
operator screen and the overview, at 80x24 and at 200x60 (at 200x60 the console opens
on the overview; the main screen's states switch to it with `1`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ccr.console.app import ConsoleApp  # noqa: E402
from tests.console.conftest import make_hub  # noqa: E402
from tests.console.states import STATES  # noqa: E402
from tests.fixtures.tmux import Tmux  # noqa: E402

SIZES = {"": (200, 60), "-80x24": (80, 24)}


async def shoot(name: str, suffix: str, size: tuple[int, int], tmp: Path, tmux: Tmux) -> Path:
    hub = make_hub(tmp, tmux)
    state = STATES[name]
    if state.prepare is not None:
        state.prepare(hub)
    app = ConsoleApp(hub, start_http=False)
    async with app.run_test(size=size) as pilot:
        await state.play(pilot)
        out = app.save_screenshot(filename=f"{name}{suffix}.svg",
                                  path=str(ROOT / "screenshots"))
    return Path(out)


def main() -> None:
    os.environ["TZ"] = "UTC"
    time.tzset()
    os.environ.setdefault("CCR_SHARED_SECRET", "screenshots")
    (ROOT / "screenshots").mkdir(exist_ok=True)
    for name in STATES:
        for suffix, size in SIZES.items():
            tmux = Tmux()  # a fresh tmux server per state, as in the snapshot tests
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    final = asyncio.run(shoot(name, suffix, size, Path(tmp), tmux))
            finally:
                tmux.kill_server()
            if shutil.which("rsvg-convert"):
                subprocess.run(["rsvg-convert", str(final), "-o",
                                str(final.with_suffix(".png"))], check=True)
            print(final.relative_to(ROOT))


if __name__ == "__main__":
    main()
