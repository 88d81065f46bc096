"""The tmux argv and the small shell program behind starting and ending Claude windows.

Nothing here runs anything: the executor runs these argvs (under its breaker, trace and
pane locks). A directory a person typed on a phone is only ever an argument: the shell
program below is fixed text that reads it as `$1`, and tmux gets it as one argv element
(quoted by `shlex.join` on the way over SSH).
"""

from __future__ import annotations

from dataclasses import dataclass

from ccr.remote.transport import ProgramOutput

RESOLVE_DIR = (
    'd=$1; case $d in "~") d=$HOME ;; "~/"*) d=$HOME/${d#"~/"} ;; esac; '
    'cd -- "$HOME" 2>/dev/null || cd /; cd -- "$d" 2>/dev/null || exit 3; pwd -P'
)
"""`sh -c` program: $1 as an absolute directory (`~`, `~/x` and relative paths from the
login's home), printed by `pwd -P`; exits 3 when it is not a directory there."""
NO_SUCH_DIR = 3

PANE_FORMAT = "#{pane_id}:#{pane_dead}:#{session_name}:#{pane_current_command}"
"""Colons apart: tmux keeps them out of session names, and the free-form command comes last.
(A tab would do locally, but tmux prints it as `_` to a client without a UTF-8 locale.)"""
SHELLS = frozenset({"sh", "bash", "zsh", "fish", "dash", "ksh", "mksh", "tcsh", "csh", "ash"})
"""A pane whose foreground program is one of these is at a shell prompt, not in Claude."""


@dataclass(frozen=True)
class PaneState:
    """What tmux says about one pane now."""

    pane_id: str
    dead: bool
    """Its program exited and the pane stays only because of remain-on-exit."""
    session_name: str
    command: str
    """The foreground program (`claude`, `node`, `bash`...)."""

    @property
    def at_shell(self) -> bool:
        return self.command in SHELLS


def resolve_argv(directory: str) -> list[str]:
    return ["sh", "-c", RESOLVE_DIR, "ccr-dir", directory]


def resolved(out: ProgramOutput) -> str | None:
    """The absolute path `resolve_argv` printed, or None when there is no such directory.
    Anything else (no answer, no `sh`) is a ValueError naming what went wrong."""
    path = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    if out.status == NO_SUCH_DIR:
        return None
    if out.status != 0 or not path.startswith("/"):
        raise ValueError(out.stderr.strip()[:200] or f"exit status {out.status}")
    return path


def server_socket(tmux_socket: str) -> list[str]:
    """The configured socket (`-L NAME`), or tmux's default one."""
    return ["-L", tmux_socket] if tmux_socket else []


def _remain(tmux_session: str) -> list[str]:
    # In the same tmux command list as the window's creation, so it is set before tmux
    # can notice the program's exit: a command that fails at once leaves its words on a
    # dead pane for the person to read, instead of a window that vanished.
    return [";", "set-option", "-w", "-t", f"={tmux_session}:", "remain-on-exit", "on"]


def new_window_args(sock: list[str], tmux_session: str, directory: str,
                    command: str) -> list[str]:
    """A window in an existing session, made its current one; prints the new pane's id."""
    return [*sock, "new-window", "-P", "-F", "#{pane_id}", "-t", f"={tmux_session}:",
            "-c", directory, command, *_remain(tmux_session)]


def new_session_args(sock: list[str], tmux_session: str, directory: str,
                     command: str) -> list[str]:
    """The session itself, detached, its first window running `command`."""
    return [*sock, "new-session", "-d", "-P", "-F", "#{pane_id}", "-s", tmux_session,
            "-x", "200", "-y", "50", "-c", directory, command, *_remain(tmux_session)]


def pane_id_of(out: str) -> str | None:
    first = out.strip().split("\n", 1)[0].strip()
    return first if first.startswith("%") and first[1:].isdigit() else None


def pane_state(pane: str, out: str) -> PaneState | None:
    """Parse `display-message -p PANE_FORMAT`; None when tmux knows no such pane (it then
    prints empty fields rather than failing)."""
    fields = out.rstrip("\n").split("\n", 1)[0].split(":", 3)
    if len(fields) < 4 or fields[0] != pane:
        return None
    return PaneState(pane_id=fields[0], dead=fields[1] == "1", session_name=fields[2],
                     command=fields[3])
