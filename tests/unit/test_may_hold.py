"""A text a hub restart cut off while typing blocks its pane like an uncertain dispatch."""

from __future__ import annotations

from ccr.core.config import ExecutorSettings, LocalServer
from ccr.core.models import Session
from ccr.remote.executor import Executor, tmux_target


def test_a_text_cut_off_by_a_restart_is_remembered_for_its_pane() -> None:
    server = LocalServer(id="laptop", kind="local")
    executor = Executor([server], ExecutorSettings())
    session = Session(id=1, server_id="laptop", number=1, token="abcdefgh", pane_id="%3",
                      tmux_socket="/tmp/tmux-0/default", tmux_session="work",
                      claude_session_id=None, project=None, last_event=None,
                      last_prompt=None, last_reply=None, created_at=0, updated_at=0,
                      expires_at=1e12)
    executor.may_hold(session, "deploy exactly once")
    key = ("laptop", " ".join(tmux_target(server, session)), "%3")
    assert executor.leftovers.get(key) == "deploy exactly once"
    executor.may_hold(session.__class__(**{**session.__dict__, "pane_id": None}), "x")
    assert len(executor.leftovers) == 1  # no pane, nothing to guard
