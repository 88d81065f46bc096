"""The `a` action of session rows (main screen and overview): attach this terminal to the
session's tmux pane, the console suspended meanwhile, and come back when the person detaches."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from textual.app import SuspendNotSupported
from textual.screen import Screen

from ccr.core.errors import CcrError
from ccr.core.models import Session

if TYPE_CHECKING:
    from ccr.hub import Hub


def start_attach(screen: Screen[Any], hub: Hub, session: Session | None) -> None:
    """Attach to `session`'s pane in a worker (or say why not)."""
    from ccr.console import attach  # the executor's modules: loaded on first use
    if session is None:
        screen.notify("Select a session first (arrow keys in the sessions table).",
                      severity="warning")
        return
    server = hub.executor.servers.get(session.server_id)
    if server is None:
        screen.notify(f"{session.server_id} is not in ccr.toml any more.", severity="error")
        return
    try:
        argv = attach.wrapped(attach.attach_argv(server, session))
    except CcrError as exc:
        screen.notify(exc.message, title="Cannot attach", severity="error")
        return
    screen.run_worker(_attached(screen, session, argv), group="attach", exclusive=True)


async def _attached(screen: Screen[Any], session: Session, argv: list[str]) -> None:
    from ccr.console import attach

    app = screen.app
    try:
        with app.suspend():
            code = await attach.run(argv)
    except SuspendNotSupported:
        if not os.environ.get(attach.WRAPPER_ENV):
            screen.notify("This console has no terminal to hand over (it runs headless).",
                          title="Cannot attach", severity="error")
            return
        code = await attach.run(argv)  # a test's recording wrapper: nothing to hand over
    except OSError as exc:
        screen.notify(f"{argv[0]} could not be started: {exc.strerror}.",
                      title="Cannot attach", severity="error")
        return
    if code == 0:
        screen.notify(f"Back from {session.handle}.", timeout=3)
    else:
        screen.notify(f"{argv[0]} ended with status {code}: the pane may be gone, or the "
                      f"server refused the connection.", title=f"Attach to {session.handle}",
                      severity="warning", timeout=8)
