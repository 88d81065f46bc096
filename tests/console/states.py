"""Console states shared by the snapshot tests and scripts/screenshots.py.

Each state may `prepare` the hub before the app starts (things that must hold from the
first moment, like a Telegram sender that fails) and then drives the running app.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from textual.pilot import Pilot

from ccr.console.app import ConsoleApp
from ccr.console.screens.base import OperatorScreen
from ccr.console.screens.confirm import ConfirmScreen
from ccr.console.widgets.alerts import AlertsTable
from ccr.console.widgets.deadletters import DeadLettersTable
from ccr.console.widgets.traces import TracesTable, TraceTimeline
from ccr.hub import Hub
from ccr.services.delivery import SendFailed
from ccr.store import outbox
from ccr.store.outbox import OutboxItem
from ccr.telemetry import spans
from ccr.telemetry.spans import SpanRow
from tests.console.conftest import FROZEN, hook_event, wait_for


class FailingSender:
    """A Telegram sender that refuses every message (as a blocked bot would)."""

    def __init__(self, reason: str = "Forbidden: bot was blocked by the user") -> None:
        self.reason = reason
        self.sent: list[int] = []
        self.down = True

    async def send(self, item: OutboxItem) -> int:
        if self.down:
            raise SendFailed(self.reason, permanent=True, category="forbidden")
        self.sent.append(item.id)
        return 1000 + item.id


def app_of(pilot: Pilot[Any]) -> ConsoleApp:
    app = pilot.app
    assert isinstance(app, ConsoleApp)
    return app


async def events_shown(pilot: Pilot[Any]) -> None:
    """Every hub event published so far has reached the screens (no row counting)."""
    app = app_of(pilot)
    await wait_for(pilot, lambda: app.events_settled)
    await pilot.pause(0.1)


async def screen_settled(pilot: Pilot[Any], name: str) -> OperatorScreen[Any]:
    """Switched to screen `name`: wait until it shows everything the hub holds now (a
    re-read asked for after the data was written has been shown)."""
    app = app_of(pilot)
    screen = app.views[name]
    await wait_for(pilot, lambda: app.screen is screen and screen.is_mounted)
    assert isinstance(screen, OperatorScreen)
    seq = screen.reload_and_settle()
    await wait_for(pilot, lambda: screen.settled >= seq)
    await focused(pilot)
    await events_shown(pilot)
    return screen


async def focused(pilot: Pilot[Any]) -> None:
    """The screen's first widget has focus (a focused table draws its cursor row another
    colour), unless nothing on it can take focus."""
    app = app_of(pilot)
    await wait_for(pilot, lambda: app.screen.focused is not None or not app.screen.focus_chain)


async def settled(pilot: Pilot[Any], *, main: bool = True) -> None:
    """The hub runs, its first probe is in, and (with `main`) the main screen is shown: on a
    terminal of 160x45 or more the console opens on the overview."""
    app = app_of(pilot)
    # A bound for a hang, not a timing: a fresh hub (its schema, its first probe) starts
    # beside the first frame, and in CI that took past 10 s once (the other worker busy).
    await wait_for(pilot, lambda: app.started, within=30.0)
    if main and app.current_mode != "main":
        await pilot.press("1")
        await wait_for(pilot, lambda: app.current_mode == "main" and app.main.is_mounted)
    await wait_for(pilot, lambda: app.hub.server_state["laptop"][0] != "unknown")
    await focused(pilot)
    await events_shown(pilot)


async def with_sessions(pilot: Pilot[Any]) -> None:
    app = app_of(pilot)
    await settled(pilot)
    await app.hub.sessions.ingest(hook_event(
        pane="%1", reply="All 112 tests pass. I changed cart.py to round totals half-even "
                         "and added a regression test for the 0.005 case."))
    await app.hub.sessions.ingest(hook_event(
        pane="%2", name="Notification", cwd="/srv/api", ntype="permission_prompt",
        message="Claude needs your permission to use Bash", prompt="deploy to staging",
        reply=None or ""))
    await events_shown(pilot)


# --- metrics ---------------------------------------------------------------------------------


def quiet_metrics(hub: Hub) -> None:
    """Only the state's own figures in the series: the hub's probes are not timed."""
    hub.executor.observe = None


def feed_series(hub: Hub) -> None:
    """An hour of made-up traffic on laptop: a busy stretch, an error burst, a slow patch."""
    assert hub.metrics is not None
    series = hub.metrics.series
    for k in range(360):
        at = FROZEN - (359 - k) * 10
        busy = 6 if 120 <= k < 200 else 1 + k % 3
        series.count("commands", "laptop", busy, at=at)
        series.count("ssh_calls", "laptop", busy * 2, at=at)
        if 250 <= k < 262:
            series.count("ssh_errors", "laptop", busy, at=at)
            series.count("command_errors", "laptop", 1, at=at)
        slow = 1.8 if 300 <= k < 320 else 0.04 + (k % 7) * 0.01
        for _ in range(busy * 2):
            series.observe("ssh_seconds", "laptop", slow, at=at)
        series.count("telegram_sends", n=1, at=at)


async def with_metrics(pilot: Pilot[Any]) -> None:
    app = app_of(pilot)
    await settled(pilot)
    feed_series(app.hub)
    await pilot.press("2")
    await screen_settled(pilot, "metrics")


# --- breakers --------------------------------------------------------------------------------


POOL_FIGURES: dict[str, dict[str, int | float]] = {
    "kr4": {"open": 3, "busy": 2, "idle": 1, "channels": 9, "waiting": 0, "opened": 7,
            "failed": 2, "replaced": 2, "timeouts": 0},
    "gpu-box": {"open": 5, "busy": 5, "idle": 0, "channels": 40, "waiting": 3, "opened": 12,
                "failed": 0, "replaced": 0, "timeouts": 4},
}
"""Two SSH servers' pool figures (the console's test hub has no SSH server of its own)."""


def fixed_pool(hub: Hub, figures: dict[str, dict[str, int | float]] | None = None) -> None:
    """The pool reports `figures` (default POOL_FIGURES) instead of its own empty ones."""
    chosen = POOL_FIGURES if figures is None else figures
    hub.pool.stats = lambda: {sid: dict(f) for sid, f in chosen.items()}  # type: ignore[method-assign]


async def with_open_breaker(pilot: Pilot[Any]) -> None:
    app = app_of(pilot)
    await settled(pilot)
    board = app.hub.breakers
    assert board is not None
    for _ in range(5):
        await board.failure("laptop", "Cannot reach laptop: tmux server not running")
    await pilot.press("3")
    await screen_settled(pilot, "breakers")


# --- alerts --------------------------------------------------------------------------------


async def open_breaker(hub: Hub, server: str = "laptop") -> None:
    """Five failures in a row: the server's breaker opens (the policy's threshold)."""
    board = hub.breakers
    assert board is not None
    for _ in range(board.policy.failures):
        await board.failure(server, f"Cannot reach {server}: tmux server not running")


async def with_alerts(pilot: Pilot[Any]) -> None:
    """Two alerts: laptop's SSH error rate (acknowledged by ana), its breaker (firing)."""
    app = app_of(pilot)
    await settled(pilot)
    hub = app.hub
    assert hub.metrics is not None
    hub.metrics.series.count("ssh_calls", "laptop", 40, at=FROZEN - 60)
    hub.metrics.series.count("ssh_errors", "laptop", 9, at=FROZEN - 60)
    await hub.alerts.evaluate()  # alert 1: error_rate
    await open_breaker(hub)
    await hub.alerts.evaluate()  # alert 2: breaker_open (if the hub's own pass did not yet)
    await hub.alerts.acknowledge(1, by="ana")
    await pilot.press("5")
    screen = await screen_settled(pilot, "alerts")
    table = screen.query_one(AlertsTable)
    assert [a["state"] for a in table.alerts.values()] == ["acknowledged", "firing"]
    table.move_cursor(row=1)  # the firing one, shown in full below
    await pilot.pause(0.2)


# --- dead letters ----------------------------------------------------------------------------


def failing_telegram(hub: Hub) -> None:
    hub.delivery.sender = FailingSender()


async def enqueue(hub: Hub, chat: int, text: str) -> int:
    async with hub.db.transaction() as conn:
        item = await outbox.enqueue(conn, chat_id=chat, kind="text", payload={"text": text},
                                    now=hub.clock())
    hub.delivery.wake()
    return item


async def _queued(hub: Hub) -> int:
    return sum(e.state == "queued" for e in await hub.dlq.list())


async def until(pilot: Pilot[Any], read: Callable[[], Awaitable[object]], wanted: object,
                within: float = 10.0) -> None:
    """Wait until an async read of the hub gives `wanted`."""
    deadline = time.monotonic() + within
    while await read() != wanted:
        if time.monotonic() > deadline:
            raise AssertionError("the hub did not reach the state wanted")
        await pilot.pause(0.05)


async def with_dead_letters(pilot: Pilot[Any]) -> None:
    app = app_of(pilot)
    await settled(pilot)
    await enqueue(app.hub, 4242, "laptop:1 finished: All 112 tests pass.")
    await enqueue(app.hub, 5151, "laptop:2 needs your permission to use Bash")
    # Both tries spent, both back in the queue (before that one may show "sending now").
    await until(pilot, lambda: _queued(app.hub), 2)
    await pilot.press("4")
    screen = await screen_settled(pilot, "dead_letters")
    table = screen.query_one(DeadLettersTable)
    await wait_for(pilot, lambda: table.has_focus)  # the cursor row is drawn focused
    await pilot.pause(0.2)


async def with_retry_question(pilot: Pilot[Any]) -> None:
    await with_dead_letters(pilot)
    await pilot.press("r")
    await wait_for(pilot, lambda: isinstance(app_of(pilot).screen, ConfirmScreen))
    await pilot.wait_for_scheduled_animations()  # the modal's fade-in, else a mid-way frame
    await pilot.pause(0.3)


# --- traces ----------------------------------------------------------------------------------

TRACE_A = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_B = "0af7651916cd43dd8448eb211c80319c"


def _span(trace: str, n: int, parent: int | None, name: str, component: str, start: float,
          took: float, *, status: str = "ok", error: str | None = None) -> SpanRow:
    attrs: dict[str, Any] = {"ccr.error": error} if error else {}
    return SpanRow(trace_id=trace, span_id=f"{n:016x}",
                   parent_id=f"{parent:016x}" if parent else None, name=name,
                   component=component, server="laptop", started_at=FROZEN - start,
                   ended_at=FROZEN - start + took, status=status, attributes=attrs)


async def write_traces(hub: Hub) -> None:
    """Two stored flows: a notification that reached Telegram, a command whose SSH failed."""
    await spans.write(hub.db, [
        _span(TRACE_A, 1, None, "hook", "hook", 60.0, 0.180),
        _span(TRACE_A, 2, 1, "ingest", "ingest", 59.82, 0.012),
        _span(TRACE_A, 3, 2, "session.upsert", "store", 59.818, 0.006),
        _span(TRACE_A, 4, 1, "outbox.deliver", "delivery", 59.80, 0.310),
        _span(TRACE_A, 5, 4, "telegram.send", "telegram", 59.79, 0.290),
        _span(TRACE_B, 11, None, "command.submit", "command", 30.0, 2.400, status="error",
              error="server_unavailable"),
        _span(TRACE_B, 12, 11, "command.store", "store", 29.998, 0.004),
        _span(TRACE_B, 13, 11, "ssh.send_keys", "ssh", 29.99, 2.300, status="error",
              error="ssh_connect_failed"),
        _span(TRACE_B, 14, 11, "breaker.failure", "breaker", 27.68, 0.002),
    ])


async def with_traces(pilot: Pilot[Any]) -> None:
    app = app_of(pilot)
    await settled(pilot)
    await write_traces(app.hub)
    await pilot.press("6")
    screen = await screen_settled(pilot, "traces")
    table = screen.query_one(TracesTable)
    assert table.row_count == 2
    await wait_for(pilot, lambda: table.has_focus)  # the cursor row is drawn focused
    timeline = screen.query_one(TraceTimeline)
    # The newest, the command's trace, opens below: its failed spans in red.
    await wait_for(pilot, lambda: timeline.timeline is not None)
    await pilot.pause(0.2)


# --- history ---------------------------------------------------------------------------------

HISTORY = [  # (id, pane, text, state, seconds before FROZEN, took, reply)
    ("c0a1b2c3d41", "%1", "run the tests", "completed", 3600, 42.0,
     "All 112 tests pass. I changed cart.py to round totals half-even."),
    ("c0a1b2c3d42", "%2", "deploy to staging", "failed", 1800, 0.4, None),
    ("c0a1b2c3d43", "%1", "export API_TOKEN=sk-live-abcdef0123456789abcdef and retry",
     "timeout", 900, 1800.0, None),
    ("c0a1b2c3d44", "%1", "fix the flaky test in checkout and explain why it was flaky",
     "completed", 300, 95.5, "The test depended on dict order; it sorts the lines now."),
    ("c0a1b2c3d45", "%2", "summarize the open pull requests", "executing", 20, None, None),
]


async def write_history(hub: Hub) -> None:
    """Five commands on laptop:1 and laptop:2 in every kind of state, one with a secret."""
    from ccr.core.models import CommandState
    from ccr.store import commands as rows

    for pane in ("%1", "%2"):
        await hub.sessions.ingest(hook_event(pane=pane, reply="Ready."))
    handles = {"%1": "laptop:1", "%2": "laptop:2"}
    for cid, pane, text, state, before, took, reply in HISTORY:
        session = await hub.sessions.resolve(handles[pane])
        at = FROZEN - before
        async with hub.db.transaction() as conn:
            await rows.insert(conn, command_id=cid, session_id=session.id, text=text,
                              source="telegram", chat_id=4242, reply_to=None, now=at)
            await rows.set_state(conn, cid, CommandState.EXECUTING, now=at + 0.3)
            if took is not None:
                await rows.set_state(conn, cid, CommandState(state), now=at + took,
                                     reply=reply, error_code="pane_gone"
                                     if state == "failed" else None,
                                     error_text="The tmux pane of session laptop:2 no longer "
                                                "exists" if state == "failed" else None)


async def with_history(pilot: Pilot[Any]) -> None:
    from ccr.console.widgets.history import CommandDetail, HistoryTable

    app = app_of(pilot)
    await settled(pilot)
    await write_history(app.hub)
    await pilot.press("7")
    screen = await screen_settled(pilot, "history")
    table = screen.query_one(HistoryTable)
    assert table.row_count == len(HISTORY)
    await wait_for(pilot, lambda: table.has_focus)
    table.move_cursor(row=1)
    await pilot.press("enter")
    detail = screen.query_one(CommandDetail)
    await wait_for(pilot, lambda: detail.detail is not None)
    await pilot.pause(0.2)


# --- starting and stopping sessions ----------------------------------------------------------


async def with_new_session_dialog(pilot: Pilot[Any]) -> None:
    from textual.widgets import Input

    from ccr.console.screens import NewSessionScreen

    app = app_of(pilot)
    await with_sessions(pilot)
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, NewSessionScreen))
    await wait_for(pilot, lambda: "/home/ana/shop" in str(
        app.screen.query_one("#recent").render()))
    box = app.screen.query_one("#dir", Input)
    box.value = "~/src/shop"
    await wait_for(pilot, lambda: box.has_focus)
    box.cursor_blink = False  # the cursor drawn steadily, not caught mid-blink
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.3)


async def with_stop_question(pilot: Pilot[Any]) -> None:
    from ccr.console.widgets.main import SessionsTable

    app = app_of(pilot)
    await with_sessions(pilot)
    table = app.main.query_one(SessionsTable)
    table.focus()
    table.move_cursor(row=0)
    await pilot.press("x")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.3)


# --- audit log -------------------------------------------------------------------------------

AUDIT = [  # (seconds before FROZEN, face, actor, name, action, what, session, outcome, refused)
    (3000, "telegram", "telegram:5001", "Ana Lima", "cmd", "/cmd laptop:1 run the tests",
     "laptop:1", "accepted as c0a1b2c3d41", False),
    (2400, "telegram", "telegram:7007", "Max Observer", "choice", "button p:3:1", None,
     "refused: You may not press a choice in Claude's prompt: that needs the operator role, "
     "and yours is observer. Nothing was done.", True),
    (1800, "cli", "api:admin", "admin", "new", "POST /api/sessions", "laptop:2", "ok (201)",
     False),
    (1200, "console", "console", "console", "dlq.retry", "retry dead letter 3", None,
     "dead letter 3 back in line", False),
    (600, "api", "api:grafana", "grafana", "cmd", "POST /api/commands", None,
     "refused: The API token 'grafana' may not type into a session: that needs the operator "
     "role, and yours is observer. Nothing was done.", True),
    (60, "telegram", "telegram:5001", "Ana Lima", "stop", "/stop laptop:2", "laptop:2",
     "done", False),
]


async def write_audit(hub: Hub) -> None:
    """Six entries from every face, two of them refused."""
    from ccr.store import audit as rows
    from ccr.store.audit import Entry

    for before, face, actor, name, action, what, session, outcome, refused in AUDIT:
        await rows.append(hub.db, Entry(
            at=FROZEN - before, face=face, actor=actor, actor_name=name, action=action,
            what=what, server=session.split(":")[0] if session else None, session=session,
            outcome=outcome, refused=refused, trace_id=None), None)


async def with_audit(pilot: Pilot[Any]) -> None:
    from ccr.console.widgets.audit import AuditTable

    app = app_of(pilot)
    await settled(pilot)
    await write_audit(app.hub)
    await pilot.press("8")
    table = app.views["audit"].query_one(AuditTable)
    await wait_for(pilot, lambda: table.row_count == len(AUDIT))
    table.focus()
    await wait_for(pilot, lambda: table.has_focus)  # the cursor row is drawn focused
    table.move_cursor(row=1)  # a refused attempt, shown in full below
    detail = app.views["audit"].query_one("#audit-detail")
    await wait_for(pilot, lambda: "grafana" in str(detail.render()))
    await pilot.pause(0.2)


@dataclass(frozen=True)
class State:
    run: Callable[[Pilot[Any]], Awaitable[None]]
    prepare: Callable[[Hub], None] | None = None

    async def play(self, pilot: Pilot[Any]) -> None:
        """Drive the app into the state, then wait until it is still (the picture taken
        next shows it, not a redraw half done)."""
        await self.run(pilot)
        await still(pilot)


async def still(pilot: Pilot[Any]) -> None:
    """Every hub event shown, no screen re-reading, every table's columns measured: a
    DataTable sizes its columns when it is next idle, after its rows changed."""
    from textual.widgets import DataTable

    app = app_of(pilot)
    await events_shown(pilot)
    await wait_for(pilot, lambda: all(  # each reload counts in `requested` before it reads
        screen.settled >= screen.requested
        for screen in app.views.values()
        if isinstance(screen, OperatorScreen) and screen.is_mounted))
    await wait_for(pilot, lambda: not any(
        table._require_update_dimensions or table._updated_cells
        for table in app.screen.query(DataTable)))
    await pilot.pause(0.05)


STATES: dict[str, State] = {
    "console-empty": State(settled),
    "console-sessions": State(with_sessions),
    "metrics": State(with_metrics, quiet_metrics),
    "breakers": State(with_open_breaker, fixed_pool),
    "dead-letters": State(with_dead_letters, failing_telegram),
    "dead-letters-retry": State(with_retry_question, failing_telegram),
    "alerts": State(with_alerts, quiet_metrics),
    "traces": State(with_traces),
    "history": State(with_history),
    "audit": State(with_audit),
    "new-session": State(with_new_session_dialog),
    "stop-session": State(with_stop_question),
}
"""Every screen state shown in screenshots/, by file name."""


# --- the overview ----------------------------------------------------------------------------

PANE_TEXT = [
    "╭───────────────────────────────────────────────╮",
    "│ ✻ Welcome to Claude Code                      │",
    "╰───────────────────────────────────────────────╯",
    "> run the tests",
    "● Bash(pytest -q)",
    "  ⎿  112 passed in 4.21s",
    "● All 112 tests pass. I changed cart.py to round totals half-even.",
    "",
    "> ",
]


def overview_hub(hub: Hub) -> None:
    quiet_metrics(hub)
    failing_telegram(hub)


async def with_overview(pilot: Pilot[Any]) -> None:
    """Everything at once: an hour of traffic, an alert, two dead letters, five commands,
    two sessions, laptop:1's real tmux pane live beside its last exchange."""
    from ccr.console.screens import OverviewScreen
    from tests.fixtures.tmux import Tmux

    app = app_of(pilot)
    await settled(pilot, main=False)
    hub = app.hub
    feed_series(hub)
    tmux = Tmux(socket_name=hub.settings.servers[0].tmux_socket)
    tmux.new_session("work", "sleep 3600")
    script = "printf '%s\\n' " + " ".join(f"'{line}'" for line in PANE_TEXT[:-1])
    pane = tmux.run("new-window", "-P", "-F", "#{pane_id}", "-t", "work",
                    f"{script}; printf '> '; exec sleep 3600").strip()
    assert pane == "%1", pane  # write_history's laptop:1
    tmux.wait_for_text(pane, "112 passed")
    await write_history(hub)
    await hub.sessions.ingest(hook_event(
        pane="%1", reply="All 112 tests pass. I changed cart.py to round totals half-even "
                         "and added a regression test for the 0.005 case."))
    assert hub.metrics is not None
    hub.metrics.series.count("ssh_calls", "laptop", 40, at=FROZEN - 60)
    hub.metrics.series.count("ssh_errors", "laptop", 30, at=FROZEN - 60)
    await hub.alerts.evaluate()  # the SSH error rate fires
    # laptop:2's command message (its live card for chat 4242) is dead-lettered first ...
    await until(pilot, lambda: _queued(hub), 1)
    await enqueue(hub, 5151, "laptop:2 needs your permission to use Bash")
    await until(pilot, lambda: _queued(hub), 2)  # ... then the notification
    if app.current_mode != "overview":
        await pilot.press("0")
    screen = await screen_settled(pilot, "overview")
    assert isinstance(screen, OverviewScreen)
    shown = screen.pane_shown
    screen.capture()
    await wait_for(pilot, lambda: screen.pane_shown > shown)
    await pilot.pause(0.2)


STATES["overview"] = State(with_overview, overview_hub)
