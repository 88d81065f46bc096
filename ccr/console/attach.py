"""`a` on a session row: hand the terminal to that session's tmux pane, then come back.

`attach_argv` builds the command (pure, unit-tested): `tmux [-L/-S socket] select-window ;
select-pane ; attach-session` on the pane for a local server, the same tmux line through
`ssh -t` for an SSH server, with the server's port, user, identity and known_hosts and
strict host-key checking (as ccr's own SSH connections verify the key against that file).

`CCR_ATTACH_WRAPPER` names a program run in front of that command (`WRAPPER tmux ...`). It is
for tests, which cannot hand a real terminal over: a wrapper that records its argv and exits;
with it set, a console that cannot suspend (headless) runs the command as is.
"""

from __future__ import annotations

import asyncio
import os
import shlex

from ccr.core.config import LocalServer, SshServer
from ccr.core.errors import CcrError
from ccr.core.models import Session
from ccr.remote.executor import tmux_target

WRAPPER_ENV = "CCR_ATTACH_WRAPPER"


def tmux_attach(sock: list[str], pane: str, tmux: str = "tmux") -> list[str]:
    """tmux's own argv: make the pane current in its window and session, then attach."""
    return [tmux, *sock, "select-window", "-t", pane, ";", "select-pane", "-t", pane, ";",
            "attach-session", "-t", pane]


def attach_argv(server: LocalServer | SshServer, session: Session) -> list[str]:
    """The command that attaches this terminal to the session's pane."""
    if not session.pane_id:
        raise CcrError("session_not_in_tmux", handle=session.handle)
    inner = tmux_attach(tmux_target(server, session), session.pane_id)
    if isinstance(server, LocalServer):
        return inner
    return ["ssh", "-t", "-p", str(server.port), "-l", server.user,
            "-i", str(server.identity), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={server.known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=no",
            "--", server.host, shlex.join(inner)]


def wrapped(argv: list[str]) -> list[str]:
    """`argv` behind the `CCR_ATTACH_WRAPPER` program when one is set (tests)."""
    wrapper = os.environ.get(WRAPPER_ENV, "").strip()
    return [wrapper, *argv] if wrapper else argv


async def run(argv: list[str]) -> int:
    """Run the attach command on the terminal as it is; its exit status. $TMUX is left out:
    a console running inside tmux attaches a nested client (tmux refuses one otherwise)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    proc = await asyncio.create_subprocess_exec(*argv, env=env)
    return await proc.wait()
