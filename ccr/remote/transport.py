"""The small interface the executor uses to run tmux on a server.

A transport runs one tmux invocation (argv after `tmux`) and returns its stdout, or
raises `RemoteError`. `sent=False` on the error means the command provably never reached
tmux (so it may be retried); `sent=True` means it may have run. A later transport
(tmux control mode) plugs in behind the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ccr.core.errors import RemoteError


@dataclass(frozen=True)
class ProgramOutput:
    """What a program run on a server (not tmux) printed, and how it exited."""

    status: int
    stdout: str
    stderr: str


class Transport(Protocol):
    """Runs tmux on one server."""

    server_id: str

    async def tmux(self, args: list[str], *, stdin: bytes | None = None) -> str:
        """Run `tmux ARGS`; stdout on success, `RemoteError` otherwise."""
        ...

    async def close(self) -> None: ...


def tmux_failure(server_id: str, stderr: str) -> RemoteError:
    """Map tmux's complaint to an error code; tmux itself ran, so nothing of ours was typed."""
    text = stderr.strip()
    lowered = text.lower()
    gone = ("can't find pane", "can't find session", "can't find window", "no server running",
            "no such file or directory", "error connecting to",
            "server exited unexpectedly", "no current target", "no sessions")
    if any(g in lowered for g in gone):
        return RemoteError("pane_gone", sent=False, server=server_id, handle="?", detail=text)
    if "command not found" in lowered or ("not found" in lowered and "tmux" in lowered):
        return RemoteError("tmux_failed", sent=False, server=server_id,
                           detail="tmux is not installed or not on PATH")
    detail = text[:300] or "no output"
    return RemoteError("tmux_failed", sent=False, server=server_id, detail=detail)
