"""The operator screens driven with Pilot on a real hub: each shows real data and its action
works (metrics, breakers, dead letters with retry, alerts with ack, traces with a timeline)."""

from __future__ import annotations

import time
from pathlib import Path

from textual.widgets import Sparkline

from ccr.console.app import ConsoleApp
from ccr.console.screens import (
    AlertsScreen,
    BreakersScreen,
    ConfirmScreen,
    DeadLettersScreen,
    MainScreen,
    MetricsScreen,
    TracesScreen,
)
from ccr.console.widgets.alerts import AlertsTable
from ccr.console.widgets.breakers import BreakersTable, PoolTable
from ccr.console.widgets.deadletters import DeadLettersTable
from ccr.console.widgets.metrics import ServerMetrics
from ccr.console.widgets.traces import TracesTable, TraceTimeline
from tests.console.conftest import FROZEN, hook_event, make_hub, wait_for
from tests.console.states import FailingSender, enqueue, fixed_pool, open_breaker, settled
from tests.console.test_console import cell_texts
from tests.fixtures.tmux import Tmux


class Clock:
    def __init__(self) -> None:
        self.now = FROZEN

    def __call__(self) -> float:
        return self.now


async def test_number_keys_switch_screens_and_escape_goes_back(console: ConsoleApp) -> None:
    async with console.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        for key, kind in (("2", MetricsScreen), ("3", BreakersScreen),
                          ("4", DeadLettersScreen), ("5", AlertsScreen), ("6", TracesScreen)):
            await pilot.press(key)
            await pilot.pause(0.05)
            assert isinstance(console.screen, kind)
            keys = {key for key, active in console.screen.active_bindings.items()
                    if active.binding.show}
            assert {"1", "2", "3", "4", "5", "6", "escape"} <= keys  # all in the footer
        await pilot.press("escape")
        assert isinstance(console.screen, MainScreen)
        await pilot.press("3", "1")
        assert isinstance(console.screen, MainScreen)


async def test_events_reach_the_main_screen_while_another_is_shown(console: ConsoleApp) -> None:
    async with console.run_test(size=(120, 36)) as pilot:
        await settled(pilot)
        await pilot.press("3")
        await console.hub.sessions.ingest(hook_event(reply="Done."))
        await pilot.pause(0.2)
        await pilot.press("1")
        assert console.main.session_count == 1


async def test_metrics_show_the_hubs_own_series(tmp_path: Path, tmux: Tmux,
                                                frozen_env: None) -> None:
    pane = tmux.new_session("agent", ["cat"])
    app = ConsoleApp(make_hub(tmp_path, tmux, frozen=False), start_http=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await settled(pilot)
        hub = app.hub
        assert hub.metrics is not None
        ingested = await hub.sessions.ingest(hook_event(pane=pane))
        assert ingested.session is not None
        session = ingested.session
        await hub.commands.submit(text="echo metrics", session_id=session.id,
                                  source="console")
        await wait_for(pilot, lambda: (hub.metrics.series.window("commands", "laptop", 60)
                                       or 0) >= 1)
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, MetricsScreen)
        pane_widget = screen.query_one(ServerMetrics)
        assert pane_widget.border_title == "laptop"
        commands = pane_widget.row("commands")
        await wait_for(pilot, lambda: any(commands.data))
        assert len(commands.data) == 360  # 60 minutes of 10 s buckets
        assert commands.query_one(Sparkline).data == commands.data
        assert commands.value == "0.02/s 1m"  # one command in the last minute
        p95 = pane_widget.row("ssh_p95")
        assert p95.value.endswith("ms 5m") and any(p95.data)  # the probes and the typing
        assert pane_widget.row("error_rate").value == "0.0 % 5m"
        # The series is re-read on a timer; `r` does it at once.
        await hub.commands.submit(text="echo again", session_id=session.id,
                                  source="console")
        await wait_for(pilot, lambda: (hub.metrics.series.window("commands", "laptop", 60)
                                       or 0) >= 2)
        await pilot.press("r")
        assert commands.value == "0.03/s 1m"


async def test_breakers_follow_events_and_count_down(tmp_path: Path, tmux: Tmux,
                                                     frozen_env: None) -> None:
    clock = Clock()
    app = ConsoleApp(make_hub(tmp_path, tmux, clock=clock), start_http=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("3")
        table = app.screen.query_one(BreakersTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        assert cell_texts(table)[0][:2] == ["laptop", "closed"]
        board = app.hub.breakers
        assert board is not None
        for _ in range(5):
            await board.failure("laptop", "Cannot reach laptop")
        await wait_for(pilot, lambda: cell_texts(table)[0][1] == "open")
        row = cell_texts(table)[0]
        assert row[2] == "5" and row[3] == "in 30 s" and row[5] == "Cannot reach laptop"
        clock.now += 12  # the 1 s tick moves the countdown
        await wait_for(pilot, lambda: cell_texts(table)[0][3] == "in 18 s", within=3)
        clock.now += 30
        await wait_for(pilot, lambda: cell_texts(table)[0][3] == "due", within=3)
        await board.admit("laptop")  # the probe goes through: half-open
        await wait_for(pilot, lambda: cell_texts(table)[0][1] == "half-open")
        assert cell_texts(table)[0][3] == "probing now"


async def test_the_pool_table_follows_the_pool_figures(tmp_path: Path, tmux: Tmux,
                                                       frozen_env: None) -> None:
    hub = make_hub(tmp_path, tmux)
    figures: dict[str, dict[str, int | float]] = {
        "kr4": {"open": 1, "busy": 0, "idle": 1, "opened": 1}}
    fixed_pool(hub, figures)
    app = ConsoleApp(hub, start_http=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("3")
        table = app.screen.query_one(PoolTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        assert cell_texts(table)[0][:4] == ["kr4", "1", "0", "1"]
        # a connection lost and replaced, three callers waiting: the 1 s tick shows it
        figures["kr4"] = {"open": 1, "busy": 1, "idle": 0, "channels": 8, "waiting": 3,
                          "opened": 2, "failed": 1, "replaced": 1}
        await wait_for(pilot, lambda: cell_texts(table)[0][5] == "3", within=3)
        assert cell_texts(table)[0] == ["kr4", "1", "1", "0", "8", "3", "2", "1", "1", "0"]


async def test_dead_letters_show_and_retry_after_confirming(tmp_path: Path, tmux: Tmux,
                                                            frozen_env: None) -> None:
    hub = make_hub(tmp_path, tmux)
    sender = FailingSender()
    hub.delivery.sender = sender
    app = ConsoleApp(hub, start_http=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await settled(pilot)
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, DeadLettersScreen)
        assert screen.query_one("#empty").display
        outbox_id = await enqueue(hub, 4242, "laptop:1 finished")
        table = screen.query_one(DeadLettersTable)
        await wait_for(pilot, lambda: table.row_count == 1)  # DeadLettered refreshed it
        row = cell_texts(table)[0]
        assert row[2] == "4242" and row[3] == "queued"
        assert row[6] == "Forbidden: bot was blocked by the user"
        assert row[4].endswith("(in 1m)")
        assert not screen.query_one("#empty").display
        # Cancel: nothing moves.
        await pilot.press("r")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.screen is screen and (await hub.dlq.list())[0].state == "queued"
        # Confirm: the DLQ service puts it back; this time Telegram takes it.
        sender.down = False
        await pilot.press("r")
        await pilot.press("y")
        await wait_for(pilot, lambda: table.row_count == 0)
        assert sender.sent == [outbox_id]
        assert screen.query_one("#empty").display
        assert any("back in the outbox" in str(n.message) for n in app._notifications)


async def test_alerts_show_and_acknowledge_after_confirming(tmp_path: Path, tmux: Tmux,
                                                            frozen_env: None) -> None:
    hub = make_hub(tmp_path, tmux, servers=("laptop", "desk"))
    app = ConsoleApp(hub, start_http=False)

    def level() -> str:
        return app.sub_title.partition(" · ")[0]

    async with app.run_test(size=(120, 36)) as pilot:
        await settled(pilot)
        await wait_for(pilot, lambda: hub.server_state["desk"][0] != "unknown")
        await wait_for(pilot, lambda: level() == "GREEN")
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        table = screen.query_one(AlertsTable)
        await wait_for(pilot, lambda: screen.query_one("#empty").display)
        assert "no active alerts" in str(screen.query_one("#empty").render()).lower()
        assert not table.display
        # One server of two unavailable: YELLOW; the breaker rule fires for it.
        await open_breaker(hub, "laptop")
        await wait_for(pilot, lambda: level() == "YELLOW")
        header = app.format_title(app.title, app.sub_title)
        assert header.plain.startswith("ccr — YELLOW · API off · 1/2 servers up")
        assert any("yellow" in str(span.style) for span in header.spans)
        await hub.alerts.evaluate()
        await wait_for(pilot, lambda: table.row_count == 1)  # AlertFired refreshed it
        (alert,) = await hub.alerts.active()
        row = cell_texts(table)[0]
        assert row[:3] == [str(alert.id), "breaker_open", "laptop"]
        assert row[3] == "16:00:00 (0s)" and row[4] == "firing" and row[5] == "5 failures"
        assert "circuit breaker of laptop is open" in row[6]
        assert not screen.query_one("#empty").display
        detail = str(screen.query_one("#alert-detail").render())
        assert "refused until it closes" in detail and "firing" in detail
        # Cancel: nothing changes.
        await pilot.press("a")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.screen is screen
        assert (await hub.alerts.active())[0].state == "firing"
        # Confirm: the alert service acknowledges it, as "console".
        await pilot.press("a")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: cell_texts(table)[0][4] == "acknowledged")
        acked = await hub.alerts.get(alert.id)
        assert acked is not None and acked.state == "acknowledged"
        assert acked.acknowledged_by == "console"
        assert any("acknowledged" in str(n.message) for n in app._notifications)
        assert "acknowledged by console" in str(screen.query_one("#alert-detail").render())
        # A second `a` asks nothing: it is already acknowledged.
        await pilot.press("a")
        assert app.screen is screen
        assert any("already acknowledged by console" in str(n.message)
                   for n in app._notifications)
        # Both servers unavailable: RED, and a second alert, firing, below the first.
        await open_breaker(hub, "desk")
        await wait_for(pilot, lambda: level() == "RED")
        header = app.format_title(app.title, app.sub_title)
        assert any("red" in str(span.style) for span in header.spans)
        await hub.alerts.evaluate()
        await wait_for(pilot, lambda: table.row_count == 2)
        assert [(r[2], r[4]) for r in cell_texts(table)] == [("laptop", "acknowledged"),
                                                             ("desk", "firing")]


async def test_traces_list_and_timeline_with_error_spans(tmp_path: Path, tmux: Tmux,
                                                         frozen_env: None) -> None:
    hub = make_hub(tmp_path, tmux)
    hub.delivery.sender = FailingSender()
    app = ConsoleApp(hub, start_http=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await settled(pilot)
        await hub.sessions.ingest(hook_event(reply="Done."))  # a notification flow
        await enqueue(hub, 4242, "hello")  # a send that fails: an error span
        await pilot.press("6")
        screen = app.screen
        assert isinstance(screen, TracesScreen)
        table = screen.query_one(TracesTable)
        # The send's child span can end (and show as the trace's name) before its
        # root outbox.deliver is written: wait for the finished trace, not a row count.
        deadline = time.monotonic() + 30  # spans are written in batches: slow under load
        while time.monotonic() < deadline:
            if {"outbox.deliver", "ingest"} <= {row[2] for row in cell_texts(table)}:
                break
            await pilot.press("r")
            await pilot.pause(0.1)
        names = [row[2] for row in cell_texts(table)]
        failed = names.index("outbox.deliver")
        assert cell_texts(table)[failed][6] == "1"  # one error span
        table.move_cursor(row=failed)
        timeline = screen.query_one(TraceTimeline)
        await wait_for(pilot, lambda: timeline.timeline is not None
                       and timeline.timeline["trace_id"] == table.selected)
        text = timeline.render()
        assert "telegram.send" in text.plain and "↳ forbidden" in text.plain
        red = [s for s in text.spans if "red" in str(s.style)]
        assert red, "the failed span is drawn in red"
