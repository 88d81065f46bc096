"""Plain-dict views of domain records, shared by the API, CLI and console."""

from __future__ import annotations

from typing import Any

from ccr.core.config import LocalServer, SshServer
from ccr.core.models import Command, Session
from ccr.core.redact import redact


def session(s: Session) -> dict[str, Any]:
    return {
        "handle": s.handle, "token": s.token, "server": s.server_id, "project": s.project,
        "pane": s.pane_id, "tmux_session": s.tmux_session, "last_event": s.last_event,
        "last_prompt": s.last_prompt and redact(s.last_prompt),
        "last_reply": redact((s.last_reply or "")[:1000]) or None,
        "created_at": s.created_at, "updated_at": s.updated_at, "expires_at": s.expires_at,
    }


def command(c: Command) -> dict[str, Any]:
    return {
        "id": c.id, "session": c.handle, "text": c.text, "source": c.source,
        "state": c.state.value, "error_code": c.error_code, "error": c.error_text,
        "created_at": c.created_at, "finished_at": c.finished_at, "trace_id": c.trace_id,
        "phase": c.state.phase, "typed_at": c.typed_at, "received_at": c.received_at,
        "duration": c.duration, "alias": c.alias, "retry_of": c.retry_of,
        "prompt_id": c.prompt_id,
        "reply": redact((c.reply or "")[:1000]) or None,
    }


def server(s: LocalServer | SshServer, state: tuple[str, str, float] | None, *,
           breaker: str | None = None, last_hook: float | None = None) -> dict[str, Any]:
    st, detail, at = state or ("unknown", "", 0.0)
    where = "this machine" if isinstance(s, LocalServer) else f"{s.user}@{s.host}:{s.port}"
    return {"id": s.id, "kind": s.kind, "where": where, "state": st, "detail": detail,
            "checked_at": at or None, "breaker": breaker or "closed",
            "hooks_via": s.hooks_via if isinstance(s, SshServer) else "direct",
            "last_hook_at": last_hook}
