"""Who calls the API and what their token may do: named tokens with roles (ccr.core.roles).

`[hub] api_token_env`'s token is the admin one (named "admin"); `[api] tokens` add named
tokens with a role. Every token is compared in constant time, all of them on every request,
so the time taken does not tell which one came close. Each route maps to an action; a route
beyond the token's role answers 403 with the reason, and the attempt is audited.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ccr.core import roles
from ccr.core.errors import CcrError
from ccr.core.roles import ADMIN_TOKEN_NAME, Role
from ccr.services.audit import Actor

if TYPE_CHECKING:
    from starlette.datastructures import Headers

    from ccr.hub import Hub

CLIENT_HEADER = "x-ccr-client"
"""`ccr` CLI sends `cli` here, so its entries say which face acted."""

ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), a) for m, p, a in (
        ("POST", r"^/api/commands$", "cmd"),
        ("POST", r"^/api/sessions$", "new"),
        ("DELETE", r"^/api/sessions/[^/]+$", "stop"),
        ("POST", r"^/api/sessions/[^/]+/clear$", "clear"),
        ("POST", r"^/api/sessions/[^/]+/restart$", "restart"),
        ("POST", r"^/api/sessions/[^/]+/esc$", "esc"),
        ("GET", r"^/api/dlq(/|$)", "dlq"),
        ("POST", r"^/api/dlq(/|$)", "dlq.retry"),
        ("DELETE", r"^/api/dlq(/|$)", "dlq.purge"),
        ("POST", r"^/api/alerts/[^/]+/ack$", "alerts.ack"),
        ("*", r"^/api/servers/", "servers"),
        ("GET", r"^/api/audit(/|$)", "audit"),
    )
]
"""Route -> action; the first match wins. Others: GET reads ("read"), anything else "admin"."""


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role
    face: str

    @property
    def actor(self) -> Actor:
        return Actor(self.face, f"api:{self.name}", self.name)


class Refused(Exception):
    """A token asked for more than its role allows (answered 403)."""

    def __init__(self, error: CcrError) -> None:
        super().__init__(error.message)
        self.error = error


def route_action(method: str, path: str) -> str:
    for m, pattern, name in ROUTES:
        if m in (method, "*") and pattern.search(path):
            return name
    return "read" if method in ("GET", "HEAD") else "admin"


def identify(hub: Hub, header: str | None, client: str | None = None) -> Caller | None:
    """The caller a bearer token names, or None for a missing or wrong token."""
    if not header or not header.startswith("Bearer "):
        return None
    given = header[len("Bearer "):].strip().encode("utf-8", "replace")
    found: Caller | None = None
    face = "cli" if client == "cli" else "api"
    known = [(ADMIN_TOKEN_NAME, hub.api_token, Role.ADMIN), *hub.api_tokens]
    for name, value, role in known:  # all compared, whichever matches
        if value and hmac.compare_digest(value.encode("utf-8"), given) and found is None:
            found = Caller(name, role, face)
    return found


@asynccontextmanager
async def guarded(hub: Hub, caller: Caller, method: str, path: str,
                  headers: Headers) -> AsyncIterator[None]:
    """Refuse (and audit) a route beyond the caller's role; audit one that changes something
    while it runs. An `Idempotency-Key` header makes a repeated request record once."""
    name = route_action(method, path)
    what = f"{method} {path}"
    given = headers.get("idempotency-key", "")[:100]
    key = f"api:{caller.name}:{given}" if given else None
    error = roles.refusal(caller.role, name, who=f"The API token '{caller.name}'")
    if error is not None:
        hub.log("warning", f"refused {what} to API token {caller.name} ({caller.role.label})")
        await hub.audit.refused(caller.actor, name, what, error, key=key)
        raise Refused(error)
    if not roles.action(name).changes:
        yield
        return
    async with hub.audit.acting(caller.actor, name, what, key=key):
        yield
