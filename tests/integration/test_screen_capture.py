"""The executor reads a pane as a picture needs it, on real tmux: its size and coloured rows
in one round trip; a pane that died, went away or now belongs to another tmux session (tmux
reuses pane ids) is `screen_gone`, so /screen never shows a stranger's pane."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from ccr.core.config import ExecutorSettings, LocalServer
from ccr.core.errors import RemoteError
from ccr.core.models import Session
from ccr.remote.executor import Executor
from tests.fixtures.tmux import Tmux


def session_in(tmux: Tmux, pane: str, name: str) -> Session:
    return Session(id=1, server_id="laptop", number=1, token="abcdefgh", pane_id=pane,
                   tmux_socket=tmux.socket_path, tmux_session=name, claude_session_id="c",
                   project="/p", last_event=None, last_prompt=None, last_reply=None,
                   created_at=0, updated_at=0, expires_at=1e12)


@pytest.fixture
async def executor() -> AsyncIterator[Executor]:
    ex = Executor([LocalServer(id="laptop", kind="local")], ExecutorSettings())
    yield ex
    await ex.close()


async def test_screen_has_the_size_and_the_colours(tmux: Tmux, executor: Executor) -> None:
    pane = tmux.new_session("work", "printf 'a \\033[31mred\\033[0m b\\n'; exec sleep 600",
                            width=70, height=12)
    tmux.wait_for_text(pane, "red")
    shot = await executor.screen(session_in(tmux, pane, "work"))
    assert (shot.width, shot.height, shot.session_name) == (70, 12, "work")
    assert len(shot.rows) == 12 and "\x1b[31mred" in shot.rows[0]
    assert await executor.tail(session_in(tmux, pane, "work"), 5) == "a red b"


async def test_a_gone_or_reused_pane_is_screen_gone(tmux: Tmux, executor: Executor) -> None:
    pane = tmux.new_session("mine", "exec sleep 600")
    other = tmux.new_session("stranger", "printf 'private\\n'; exec sleep 600")
    mine = session_in(tmux, pane, "mine")
    await executor.screen(mine)
    # The same pane id seen as belonging to "mine" while tmux says "stranger": refused.
    for probe in (replace(mine, pane_id=other), replace(mine, pane_id="%999")):
        with pytest.raises(RemoteError) as caught:
            await executor.screen(probe)
        assert caught.value.code == "screen_gone"
        assert "The pane of laptop:1 is gone" in caught.value.message
        with pytest.raises(RemoteError, match="is gone"):
            await executor.tail(probe, 10)
    tmux.kill_session("mine")
    with pytest.raises(RemoteError, match="is gone"):
        await executor.screen(mine)
