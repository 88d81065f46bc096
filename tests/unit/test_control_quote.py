"""The control-mode quoting: what tmux's command parser receives is exactly what was sent.

Every value goes through a real `tmux -C` client: `set-buffer -b NAME <quoted>`, then the
buffer is read back raw with `tmux save-buffer -` (bytes, no escaping). Each value is
framed by `<`/`>` because tmux ignores an empty `set-buffer`.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccr.remote.control import ControlClient, command_lines, open_local, quote
from tests.fixtures.tmux import Tmux

NASTY = ["", ";", "a;", "\\;", "#{pane_id}", "#[fg=red]", "$HOME", "${HOME}", "~", "'", '"',
         "\\", "{", "}", "%if 1", "-t %0", "\n", "\r\n", "\t", "\x1b[201~", "\x7f", "\x01",
         "äöü 日本 🎉", "\u2028", "\ufeff", "end with backslash\\", "#", "# comment"]
TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
               max_size=60) | st.sampled_from(NASTY) | st.lists(
                   st.sampled_from(NASTY), max_size=6).map("".join)


def test_quote_refuses_nul_and_never_leaves_raw_newlines() -> None:
    with pytest.raises(ValueError):
        quote("a\x00b")
    assert "\n" not in quote("a\nb\r") and quote(";") == '";"'
    assert command_lines(["display-message", "-p", "x", ";", "capture-pane", "-p"]) == [
        '"display-message" "-p" "x"', '"capture-pane" "-p"']


@pytest.fixture(scope="module")
def server() -> Iterator[Tmux]:
    t = Tmux()
    t.new_session("quote", "sleep 600")
    yield t
    t.kill_server()


@pytest.fixture(scope="module")
def channel(server: Tmux) -> Iterator[tuple[asyncio.AbstractEventLoop, ControlClient]]:
    """One control client for every example (on a loop of its own)."""
    loop = asyncio.new_event_loop()

    async def start() -> ControlClient:
        client = ControlClient("t", await open_local("t", ["-L", server.socket_name]),
                               timeout=5)
        await client.start(5)
        return client

    client = loop.run_until_complete(start())
    yield loop, client
    loop.run_until_complete(client.close())
    loop.close()


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(TEXT, min_size=1, max_size=5))
def test_tmux_receives_exactly_the_value_sent(
        server: Tmux, channel: tuple[asyncio.AbstractEventLoop, ControlClient],
        values: list[str]) -> None:
    loop, client = channel
    lines = [line for i, v in enumerate(values)
             for line in command_lines(["set-buffer", "-b", f"q{i}", f"<{v}>"])]
    loop.run_until_complete(client.run(lines))
    got = [subprocess.run(server.argv("save-buffer", "-b", f"q{i}", "-"),
                          capture_output=True, check=True).stdout for i in range(len(values))]
    loop.run_until_complete(client.run(
        [line for i in range(len(values)) for line in command_lines(["delete-buffer", "-b",
                                                                     f"q{i}"])]))
    assert got == [f"<{v}>".encode() for v in values]
