"""tmux on the hub's own machine, run as a subprocess with an argv (no shell)."""

from __future__ import annotations

import asyncio
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
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RemoteError("tmux_failed", sent=True, server=self.server_id,
                              detail=f"tmux did not answer within {self.timeout:g} s") from None
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
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return ProgramOutput(124, "", f"no answer within {self.timeout:g} s")
        return ProgramOutput(proc.returncode or 0, out.decode("utf-8", "replace"),
                             err.decode("utf-8", "replace"))
