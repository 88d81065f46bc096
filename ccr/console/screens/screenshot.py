"""`s` on a session row: its pane saved as a PNG (ccr.services.screens), told in a toast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.screen import Screen

from ccr.core.errors import CcrError
from ccr.core.models import Session

if TYPE_CHECKING:
    from ccr.hub import Hub


def save_screenshot(screen: Screen[Any], hub: Hub, session: Session | None) -> None:
    """Save `session`'s pane in a worker (or say why not); the toast names the file."""
    if session is None:
        screen.notify("Select a session first (arrow keys in the sessions table).",
                      severity="warning")
        return
    screen.run_worker(_saved(screen, hub, session), group="screenshot")


async def _saved(screen: Screen[Any], hub: Hub, session: Session) -> None:
    try:
        path = await hub.screens.save(session.token)
    except CcrError as exc:
        screen.notify(exc.message, title="No screenshot", severity="error", timeout=10)
        return
    what = "Its text (no monospace font on the hub)" if path.suffix == ".txt" else "Saved"
    screen.notify(f"{what}: {path}", title=f"Screenshot of {session.handle}", timeout=8)
