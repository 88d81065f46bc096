"""The executor against a real tmux pane running the stand-in agent, which swallows an Enter
that arrives inside a burst of input the way Claude Code does."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from ccr.core.config import ExecutorSettings, LocalServer
from ccr.core.errors import InputError, RemoteError
from ccr.core.models import Session
from ccr.remote.executor import Executor
from tests.fixtures.hub import prompts, wait_until
from tests.fixtures.tmux import Tmux


def agent(tmux: Tmux, tmp_path: Path, name: str = "claude",
          burst_ms: float = 15.0) -> tuple[Session, Path]:
    """A stand-in Claude (no hook) in the private tmux; the session that points at it."""
    state = tmp_path / f"agent-{name}"
    argv = [sys.executable, "-m", "ccr.demo.agent", "--state-dir", str(state), "--no-greet",
            "--burst-ms", str(burst_ms)]
    pane = tmux.new_session(name, argv, cwd=tmp_path)
    tmux.wait_for_text(pane, "ccr stand-in agent")
    session = Session(id=1, server_id="laptop", number=1, token="abcdefgh", pane_id=pane,
                      tmux_socket=tmux.socket_path, tmux_session=name, claude_session_id="c",
                      project=str(tmp_path), last_event=None, last_prompt=None,
                      last_reply=None, created_at=0, updated_at=0, expires_at=1e12)
    return session, state


SLOW_BURST_MS = 150.0
"""A burst window the text and the Enter always fall in, even on a loaded machine."""


def executor(**settings: int) -> Executor:
    return Executor([LocalServer(id="laptop", kind="local")], ExecutorSettings(**settings))


async def test_an_enter_inside_the_burst_is_swallowed_like_claude_code(
        tmux: Tmux, tmp_path: Path) -> None:
    """Without the settle time and the check, the stand-in keeps the text on its input line:
    this is the failure the executor exists to avoid, so the stand-in must reproduce it.
    Its burst window is wider than Claude Code's here: under load the two tmux calls (text,
    then Enter) came more than 15 ms apart, and the Enter then rightly submitted."""
    session, state = agent(tmux, tmp_path, burst_ms=SLOW_BURST_MS)
    ex = executor(settle_ms=0, enter_check_ms=0)
    await ex.send_text(session, "swallowed")
    await asyncio.sleep(0.3)
    assert prompts(state) == []
    assert "> swallowed" in tmux.capture(session.pane_id or "")
    await ex.close()


async def test_a_lost_enter_is_sent_again_but_never_the_text(tmux: Tmux, tmp_path: Path) -> None:
    """The first Enter falls in the burst (swallowed), the check's Enter after a quiet gap
    longer than the burst submits."""
    session, state = agent(tmux, tmp_path, burst_ms=SLOW_BURST_MS)
    ex = executor(settle_ms=0, enter_check_ms=int(SLOW_BURST_MS * 3))
    delivery = await ex.send_text(session, "rescued by the check")
    assert delivery.enters == 2
    wait_until(lambda: prompts(state), 5)
    assert prompts(state) == ["rescued by the check"]
    await ex.close()


async def test_with_the_settle_time_one_enter_submits(tmux: Tmux, tmp_path: Path) -> None:
    session, state = agent(tmux, tmp_path)
    ex = executor(settle_ms=60, enter_check_ms=100)
    delivery = await ex.send_text(session, "first time right")
    assert delivery.enters == 1
    wait_until(lambda: prompts(state), 5)
    assert prompts(state) == ["first time right"]
    await ex.close()


async def test_concurrent_dispatches_to_one_pane_never_interleave(
        tmux: Tmux, tmp_path: Path) -> None:
    session, state = agent(tmux, tmp_path)
    ex = executor(settle_ms=40, enter_check_ms=60)
    texts = [f"line {n} " + "abcdefghij" * 4 for n in range(8)]
    await asyncio.gather(*(ex.send_text(session, t) for t in texts))
    wait_until(lambda: len(prompts(state)) >= len(texts), 10)
    assert sorted(prompts(state)) == sorted(texts)
    await ex.close()


async def test_multi_line_text_is_one_bracketed_paste(tmux: Tmux, tmp_path: Path) -> None:
    session, state = agent(tmux, tmp_path)
    ex = executor(settle_ms=60, enter_check_ms=100)
    await ex.send_text(session, "first line\r\n  second; `line`\nthird $(x)")
    wait_until(lambda: prompts(state), 5)
    assert prompts(state) == ["first line\n  second; `line`\nthird $(x)"]
    await ex.close()


async def test_a_gone_pane_is_a_clear_error_and_nothing_typed(
        tmux: Tmux, tmp_path: Path) -> None:
    session, _ = agent(tmux, tmp_path)
    agent(tmux, tmp_path, "other")  # keeps the tmux server alive
    tmux.kill_session("claude")
    ex = executor()
    with pytest.raises(RemoteError) as caught:
        await ex.send_text(session, "hello?")
    await ex.close()  # also its control client's tmux process
    assert caught.value.code == "pane_gone" and caught.value.sent is False
    assert "laptop:1" in caught.value.message


@pytest.mark.parametrize(("text", "code"), [("", "text_empty"), ("  \n ", "text_empty"),
                                            ("x" * 9001, "text_too_long")],
                         ids=["empty", "blank", "too-long"])
async def test_text_that_cannot_be_sent_is_refused_before_tmux(
        text: str, code: str, tmux: Tmux, tmp_path: Path) -> None:
    session, state = agent(tmux, tmp_path)
    with pytest.raises(InputError) as caught:
        await executor().send_text(session, text)
    assert caught.value.code == code
    await asyncio.sleep(0.2)
    assert prompts(state) == []
