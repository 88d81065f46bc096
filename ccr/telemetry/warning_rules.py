"""Warnings before it hurts: the rules for a stuck command, a server whose hooks went silent
while its panes are busy, and a secret in a file others may read (`[alerts]` thresholds).

- `command_stuck` (per server): a command typed there runs with no hook event from its
  session's Claude for `stuck_after_min`: Claude may wait on a dialog ccr was not told of,
  or hang; the person who sent it is still waiting.
- `hooks_silent` (per server): no hook event from the server for `hooks_silent_after_min`
  while one of its live panes is busy: a command runs there and its screen changed since the
  previous look or shows Claude's working line ("esc to interrupt"). Claude works, but its
  hook does not reach the hub (hook.env, secret or hub URL changed, a forward down).
- `secret_file_readable` (hub-wide): a file holding a secret others may read.

Pure functions of the figures, like `ccr.telemetry.alerts.conditions`; messages name
handles, minutes and paths, never a command's text or a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ccr.core.config import AlertSettings

RULES: dict[str, str] = {
    "command_stuck": "Command stuck, no hook activity",
    "hooks_silent": "Hooks silent while Claude works",
    "secret_file_readable": "Secret in a file others can read",
}


@dataclass(frozen=True)
class StuckCommand:
    server: str
    handle: str
    quiet_s: float
    """Since the command was typed or its Claude was last heard, whichever is later."""


@dataclass(frozen=True)
class SilentServer:
    server: str
    quiet_s: float
    """Since the server's hook was last heard (or the hub started, if never)."""
    busy: tuple[str, ...]
    """Handles of its busy panes."""


@dataclass(frozen=True)
class ExposedFile:
    path: str
    mode: int
    holds: tuple[str, ...]


@dataclass(frozen=True)
class WarningCondition:
    rule: str
    server: str | None
    value: float | None
    message: str


def _min(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def conditions(stuck: Sequence[StuckCommand] | None, silent: Sequence[SilentServer] | None,
               exposed: Sequence[ExposedFile] | None,
               cfg: AlertSettings) -> list[WarningCondition]:
    """The warnings that hold (pure; None: that figure was not read)."""
    out: list[WarningCondition] = []
    by_server: dict[str, list[StuckCommand]] = {}
    for s in stuck or ():
        if s.quiet_s >= cfg.stuck_after_min * 60:
            by_server.setdefault(s.server, []).append(s)
    for sid, cmds in sorted(by_server.items()):
        longest = max(c.quiet_s for c in cmds)
        which = ", ".join(sorted({c.handle for c in cmds}))
        out.append(WarningCondition(
            "command_stuck", sid, longest,
            f"{len(cmds)} command(s) on {which} have run for {_min(longest)} with no hook "
            f"event from Claude (threshold {cfg.stuck_after_min:g} min): it may wait on a "
            f"dialog or hang. Look with /screen {cmds[0].handle}; Cancel or /stop it if so."))
    for q in silent or ():
        if q.busy and q.quiet_s >= cfg.hooks_silent_after_min * 60:
            out.append(WarningCondition(
                "hooks_silent", q.server, q.quiet_s,
                f"No hook event from {q.server} for {_min(q.quiet_s)} while Claude works in "
                f"{', '.join(q.busy)}: its hook does not reach the hub, so replies and "
                f"dialogs there go unseen. Run `ccr servers test {q.server}`."))
    if exposed:
        files = "; ".join(f"{e.path} (mode {e.mode:04o}, holds {', '.join(e.holds)})"
                          for e in exposed)
        fixes = " && ".join(f"chmod 600 {e.path}" for e in exposed)
        out.append(WarningCondition(
            "secret_file_readable", None, float(len(exposed)),
            f"Files on the hub's machine that others may read hold ccr's keys ({files}). "
            f"Fix: {fixes}, then consider changing what they hold."))
    return out


def cooldown_s(rule: str, cfg: AlertSettings) -> float | None:
    """The rule's cooldown; None for a rule of another module."""
    return {"command_stuck": cfg.stuck_cooldown_s,
            "hooks_silent": cfg.hooks_silent_cooldown_s,
            "secret_file_readable": cfg.secret_file_cooldown_s}.get(rule)
