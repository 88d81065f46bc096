"""The local transport's subprocesses never outlive a call: a timeout or a cancellation
kills and reaps them, and their pipes are closed (no 'unclosed transport' warning)."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import uuid
import warnings

import pytest

from ccr.core.errors import RemoteError
from ccr.remote.local import LocalTransport


def running(marker: str) -> bool:
    return subprocess.run(["pgrep", "-f", marker], capture_output=True,
                          check=False).returncode == 0


def sleeper(transport: LocalTransport) -> str:
    """Point the transport's tmux at `sleep`, with an argument no other process has."""
    transport._tmux = "sleep"
    return f"30.{uuid.uuid4().int % 10**9:09d}"


async def test_a_cancelled_call_leaves_no_process_and_no_open_pipe() -> None:
    transport = LocalTransport("laptop")
    marker = sleeper(transport)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call = asyncio.create_task(transport.tmux([marker]))
        for _ in range(100):
            if running(marker):
                break
            await asyncio.sleep(0.02)
        assert running(marker)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert not running(marker)
        del call
        gc.collect()
        await asyncio.sleep(0.05)
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], caught


async def test_a_call_past_its_timeout_is_killed_and_says_so() -> None:
    transport = LocalTransport("laptop", timeout=0.3)
    marker = sleeper(transport)
    with pytest.raises(RemoteError) as failed:
        await transport.tmux([marker])
    assert "did not answer within 0.3 s" in str(failed.value)
    assert not running(marker)
    done = await transport.run(["sleep", marker])
    assert done.status == 124 and not running(marker)
