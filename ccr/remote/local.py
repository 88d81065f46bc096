"""tmux on the hub's own machine, run as a subprocess with an argv (no shell)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil

from ccr.core.errors import RemoteError
from ccr.remote.transport import ProgramOutput, tmux_failure


class LocalTransport:
    """Runs `tmux` directly; nothing is interpreted by a shell."""

    def __init__(self, server_id: str, *, timeout: float = 10.0) -> None:
        self.server_id = server_id
        self.timeout = timeout
        self._tmux = shutil.which("tmux") or "tmux"

    async def tmux(self, args: list[str], *, stdin: bytes | None = None) -> str:
        try:
            proc = await asyncio.create_subprocess_exec(
                self._tmux, *args,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            raise RemoteError("tmux_failed", sent=False, server=self.server_id,
                              detail="tmux is not installed on this machine") from None
        done = await finish(proc, stdin, self.timeout)
        if done is None:
            raise RemoteError("tmux_failed", sent=True, server=self.server_id,
                              detail=f"tmux did not answer within {self.timeout:g} s")
        out, err = done
        if proc.returncode != 0:
            raise tmux_failure(self.server_id, err.decode("utf-8", "replace"))
        return out.decode("utf-8", "replace")

    async def close(self) -> None:
        return None

    async def run(self, argv: list[str]) -> ProgramOutput:
        """Run a program (not tmux) on this machine, for checks such as `ccr doctor`."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            return ProgramOutput(127, "", str(exc))
        done = await finish(proc, None, self.timeout)
        if done is None:
            return ProgramOutput(124, "", f"no answer within {self.timeout:g} s")
        out, err = done
        return ProgramOutput(proc.returncode or 0, out.decode("utf-8", "replace"),
                             err.decode("utf-8", "replace"))


async def finish(proc: asyncio.subprocess.Process, stdin: bytes | None,
                 within: float) -> tuple[bytes, bytes] | None:
    """The process's output, or None when it did not end within `within` seconds. It never outlives
    the call: on a timeout or a cancellation it is killed and reaped, so its pipes close
    (left to the garbage collector they warn of an unclosed transport)."""
    try:
        return await asyncio.wait_for(proc.communicate(stdin), within)
    except TimeoutError:
        await _reap(proc)
        return None
    except asyncio.CancelledError:
        await _reap(proc)
        raise


async def _reap(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()
