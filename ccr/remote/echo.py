"""Adaptive submit driven by the pane's own output on the tmux control channel.

The Enter may go once the agent has read the typed text and a quiet gap longer than its
paste window has passed. The agent reads the text before it echoes it, and the echo reaches
us as `%output` after that, so "the text shows on the input line and the pane printed
nothing for `quiet_s`" means the agent's last read is at least `quiet_s` old.

The control client is attached with `no-output`; output is turned on only while some pane
on it is watched, and off again after. Panes are never switched `off` one by one: when every
attached client is a control client that turned a pane off, tmux stops reading that pane
and the program in it blocks. tmux sends `%output` only for panes in the client's own
session, so the client may be switched to the pane's session (by session id, which changes
no window); never away from a session with `destroy-unattached` (leaving it would destroy
it), and never while another watch holds the client in its session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from ccr.remote.control import ControlClient, PaneWatch, one_line

OUTPUT_ON = 'refresh-client -f "!no-output"'
OUTPUT_OFF = 'refresh-client -f "no-output"'


async def start_watch(client: ControlClient, pane: str) -> PaneWatch | None:
    """Turn `%output` on for the pane's session; None when that cannot be done safely."""
    if pane in client.watches:
        return None
    out = await client.run([one_line(["display-message", "-p", "-t", pane, "#{session_id}", ";",
                                      "display-message", "-p",
                                      "#{session_id} #{destroy-unattached}"])])
    rows = out.split("\n")
    if len(rows) < 2 or not rows[0].startswith("$"):
        return None
    pane_session = rows[0].strip()
    own_session, _, destroy = rows[1].strip().partition(" ")
    lines: list[str] = []
    if client.watches:
        if client.watch_session != pane_session:
            return None  # another pane's watch keeps the client in its session
    else:
        if pane_session != own_session:
            if destroy not in ("off", "0", ""):
                return None
            lines.append(one_line(["switch-client", "-t", pane_session]))
        lines.append(OUTPUT_ON)
    watch = PaneWatch(pane)
    client.watches[pane] = watch
    client.watch_session = pane_session
    try:
        if lines:
            await client.run(lines)
    except BaseException:
        stop_watch(client, watch)
        raise
    watch.since = watch.last = time.monotonic()
    return watch


def stop_watch(client: ControlClient, watch: PaneWatch) -> None:
    """Forget the watch; the last one turns output off (not waited for: the Enter follows
    on the same channel, after it)."""
    if client.watches.get(watch.pane) is watch:
        del client.watches[watch.pane]
    if not client.watches:
        client.watch_session = None
        client.send_nowait([OUTPUT_OFF])


async def echoed_and_quiet(watch: PaneWatch, *, quiet_s: float, deadline: float,
                           shown: Callable[[], Awaitable[bool]]) -> bool:
    """Wait until the pane was quiet for `quiet_s` and `shown()` sees the typed text; False
    at `deadline` (monotonic) or when the channel closed."""
    checked = -1  # the output count at the last look; look again only after new output
    while not watch.closed:
        now = time.monotonic()
        if now >= deadline:
            return False
        quiet_at = watch.last + quiet_s
        if now < quiet_at:
            await asyncio.sleep(min(quiet_at, deadline) - now)
            continue
        if watch.outputs != checked:
            checked = watch.outputs
            if await shown():
                return True
            continue
        watch.event.clear()
        if watch.outputs == checked:
            try:
                await asyncio.wait_for(watch.event.wait(), deadline - now)
            except TimeoutError:
                return False
    return False
