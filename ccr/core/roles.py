"""Who may do what: the three roles and the one table of actions every face checks.

Roles are ordered: an observer reads, an operator also types and starts/stops sessions, an
admin also manages dead letters, alerts, servers and reads the audit log. Each face turns
its input into an action name (a Telegram command, a button's prefix, an API route) and asks
`refusal(role, action)`; a new command is one line in `ACTIONS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from ccr.core.errors import CcrError

if TYPE_CHECKING:
    from ccr.core.config import Settings

ADMIN_TOKEN_NAME = "admin"
"""The actor name of `[hub] api_token_env`'s token (the CLI's)."""


class Role(IntEnum):
    OBSERVER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Action:
    """What an action needs, and whether it changes something (then it is audited)."""

    needs: Role
    changes: bool
    says: str
    """How a refusal names it: "type into a session"."""


def _read(says: str) -> Action:
    return Action(Role.OBSERVER, False, says)


def _op(says: str) -> Action:
    return Action(Role.OPERATOR, True, says)


def _admin(says: str, changes: bool = True) -> Action:
    return Action(Role.ADMIN, changes, says)


ACTIONS: dict[str, Action] = {
    # reading: every role
    "help": _read("read the help"),
    "sessions": _read("list sessions"),
    "history": _read("read the history"),
    "screen": _read("see a session's screen"),
    "tail": _read("read a session's output"),
    "status": _read("read the hub's status"),
    "alerts": _read("list alerts"),
    "read": _read("read the hub's state"),
    "full_reply": _read("read a full reply"),
    # changing a session: operators
    "cmd": _op("type into a session"),
    "text": _op("type into a session"),
    "choice": _op("press a choice in Claude's prompt"),
    "cancel": _op("cancel a command"),
    "interrupt": _op("interrupt Claude (Ctrl-C)"),
    "keep": _op("answer a confirmation"),
    "retry": _op("send a command again"),
    "draft": _op("send a drafted message"),
    "draft_drop": _op("drop a drafted message"),
    "new": _op("start a session"),
    "stop": _op("stop a session"),
    "clear": _op("clear a session"),
    "restart": _op("restart a session"),
    "esc": _op("press Escape in a session"),
    # managing the hub: admins
    "dlq": _admin("read dead letters", changes=False),
    "dlq.retry": _admin("retry dead letters"),
    "dlq.purge": _admin("purge dead letters"),
    "alerts.ack": _admin("acknowledge alerts"),
    "servers": _admin("add, change or remove servers"),
    "audit": _admin("read the audit log", changes=False),
    "admin": _admin("change the hub"),
}
"""Every action any face offers, by name. An action not listed needs an operator."""

UNKNOWN = Action(Role.OPERATOR, False, "do that")
"""Unlisted (unknown or forged) actions: operators only, and not audited unless refused."""

BUTTONS: dict[str, str] = {
    "ack": "alerts.ack", "hi": "history", "p": "choice", "c": "cancel", "cy": "interrupt",
    "cn": "keep", "r": "retry", "f": "full_reply", "fm": "full_reply", "s": "sessions",
    "h": "help", "d": "draft", "dn": "draft_drop", "ss": "stop", "sy": "stop", "sn": "keep",
    "sc": "clear", "ns": "new", "nd": "new", "nh": "new", "scr": "screen",
}
"""Telegram inline buttons: callback-data prefix -> action. Unknown or forged prefixes fall
to `UNKNOWN` (operators), so an observer's forged button is refused."""


def action(name: str) -> Action:
    return ACTIONS.get(name, UNKNOWN)


def refusal(role: Role, name: str, who: str = "You") -> CcrError | None:
    """None when `role` may do action `name`, else the error to answer with."""
    needed = action(name)
    if role >= needed.needs:
        return None
    return CcrError("not_allowed", who=who, what=needed.says, role=role.label,
                    needed=needed.needs.label)


def telegram_role(settings: Settings, user_id: int | None) -> Role:
    """The role of a Telegram user in an allowed chat (the sender's, never the chat's)."""
    tg = settings.telegram
    if user_id is None:
        return Role.OBSERVER
    if user_id in tg.admins:
        return Role.ADMIN
    if user_id in tg.observers:
        return Role.OBSERVER
    if not tg.operators or user_id in tg.operators:
        return Role.OPERATOR
    return Role.OBSERVER


def overlap(ids: list[int], field: str, earlier: Mapping[str, object]) -> list[int]:
    """Config check: a user id listed under two roles is an error naming both keys."""
    for other in ("admins", "operators"):
        if other == field:
            break
        listed = earlier.get(other)
        both = sorted(set(ids) & set(listed if isinstance(listed, list) else []))
        if both:
            raise ValueError(f"user {both[0]} is in both telegram.{other} and "
                             f"telegram.{field}; a user has one role, list them once")
    return ids


def named_tokens(settings: Settings) -> list[tuple[str, str, Role]]:
    """[api] tokens whose variable is set: (name, value, role). A token whose variable is
    empty is left out (it can never match), so an unset one cannot open the API."""
    out: list[tuple[str, str, Role]] = []
    for t in settings.api.tokens:
        value = settings.secret(t.env)
        if value:
            out.append((t.name, value, Role[t.role.upper()]))
    return out
