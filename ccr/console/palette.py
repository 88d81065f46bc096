"""The command palette's provider (ctrl+p): sessions by handle, server and directory, servers
by name, every screen, and the actions (new session, stop, attach, retry dead letters).

Each hit only calls what a key would: it switches screens, moves a cursor or asks the same
question the screen asks; the work stays in the screens and the hub's services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ccr.console.screens.attaching import start_attach
from ccr.console.screens.confirm import ConfirmScreen
from ccr.console.widgets.main import SessionsTable
from ccr.core.models import Session

if TYPE_CHECKING:
    from ccr.console.app import ConsoleApp

SCREENS = (("overview", "Overview", "everything at once"),
           ("main", "Main screen", "servers, sessions, activity, send"),
           ("metrics", "Metrics", "commands/s, SSH errors and p95 per server"),
           ("breakers", "Breakers", "circuit breakers and the SSH pool"),
           ("dead_letters", "Dead letters", "messages whose tries are spent"),
           ("alerts", "Alerts", "active alerts, acknowledge"),
           ("traces", "Traces", "recent flows as timelines"),
           ("history", "History", "past commands, filtered"))


@dataclass(frozen=True)
class Entry:
    """One thing the palette can find: its text, what it does, a line of help."""

    text: str
    run: Callable[[], object]
    help: str


def session_text(s: Session) -> str:
    return f"{s.handle} · {s.project_name} · {s.project or '?'}"


class ConsoleCommands(Provider):
    """Finds sessions, servers, screens and actions by name."""

    entries: list[Entry]

    @property
    def console(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]

    async def startup(self) -> None:
        """Read the live sessions once per opening of the palette."""
        app = self.console
        if not app.started:  # the hub is starting: only the screens can be found yet
            self.entries = self._screens()
            return
        assert app.hub is not None
        sessions = await app.hub.sessions.live()
        self.entries = [*self._screens(), *self._actions(),
                        *self._sessions(sessions), *self._servers()]

    def _screens(self) -> list[Entry]:
        return [Entry(f"Show {title}", partial(self.console.action_show, mode), what)
                for mode, title, what in SCREENS]

    def _actions(self) -> list[Entry]:
        app = self.console
        return [
            Entry("New session: start Claude on a server", partial(new_session, app),
                  "asks for the server and the directory"),
            Entry("Retry all dead letters now", partial(retry_dead_letters, app),
                  "every queued or archived dead letter goes back to the outbox, after asking"),
        ]

    def _sessions(self, sessions: list[Session]) -> list[Entry]:
        app = self.console
        hub = app.hub
        assert hub is not None
        out = []
        for s in sessions:
            text = session_text(s)
            out.append(Entry(f"Session {text}", partial(select_session, app, s),
                             f"on {s.server_id}: select it"))
            out.append(Entry(f"Attach {text}", partial(start_attach, app.screen, hub, s),
                             "open its tmux pane in this terminal; detach to come back"))
            out.append(Entry(f"Stop {text}", partial(stop_session, app, s),
                             "Escape and /exit to Claude, after asking"))
        return out

    def _servers(self) -> list[Entry]:
        app = self.console
        out = []
        assert app.hub is not None
        for v in app.hub.server_views():
            out.append(Entry(f"Server {v['id']} · {v['kind']} · {v['where']}",
                             partial(app.action_show, "breakers"),
                             f"tmux {v['state']}, breaker {v['breaker'].replace('_', '-')}"))
        return out

    async def discover(self) -> Hits:
        for e in self.entries:
            yield DiscoveryHit(e.text, e.run, help=e.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for e in self.entries:
            score = matcher.match(e.text)
            if score > 0:
                yield Hit(score, matcher.highlight(e.text), e.run, help=e.help)


# --- what the hits do ------------------------------------------------------------------------


def session_screen(app: ConsoleApp) -> str:
    """Where a chosen session is shown: the overview or the main screen, whichever is in
    use (the one the terminal's size picks when neither is)."""
    return app.current_mode if app.current_mode in ("overview", "main") else app.first_mode()


def select_session(app: ConsoleApp, session: Session, mode: str | None = None,
                   then: Callable[[], object] | None = None) -> None:
    """Show the sessions screen with `session` under the cursor (then run `then`)."""
    mode = mode or session_screen(app)
    app.switch_mode(mode)

    def pick() -> None:
        table = app.views[mode].query_one(SessionsTable)
        key = str(session.id)
        if key in table.rows:
            table.move_cursor(row=table.get_row_index(key))
        table.focus()
        if then is not None:
            then()

    app.call_after_refresh(pick)


def stop_session(app: ConsoleApp, session: Session) -> None:
    """The main screen's `x` on that session: it asks first."""
    select_session(app, session, "main", app.main.action_stop_session)


def new_session(app: ConsoleApp) -> None:
    app.switch_mode("main")
    app.call_after_refresh(app.main.action_new_session)


def retry_dead_letters(app: ConsoleApp) -> None:
    """Ask, then send every queued or archived dead letter back to the outbox."""

    async def retry() -> None:
        assert app.hub is not None
        moved = await app.hub.dlq.retry_all()
        app.notify(f"{len(moved)} dead letter(s) back in the outbox." if moved
                   else "No dead letter was waiting.", timeout=5)

    def answered(yes: bool | None) -> None:
        if yes:
            app.run_worker(retry(), group="dlq-retry-all")

    app.push_screen(ConfirmScreen("Send every queued or archived dead letter again now?",
                                  yes="Retry all"), answered)
