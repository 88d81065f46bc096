"""GET /api/audit: the audit log, newest first (admin tokens only; ccr.api.access)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Query

from ccr.api.responses import JSONResponse
from ccr.core.durations import parse_duration
from ccr.core.errors import InputError
from ccr.services import audit

if TYPE_CHECKING:
    from ccr.hub import Hub


def router(hub: Hub) -> APIRouter:
    api = APIRouter()

    @api.get("/audit")
    async def audit_log(since: str | None = Query(None, max_length=16),
                        who: str | None = Query(None, max_length=100),
                        limit: int = Query(200, ge=1, le=5000)) -> JSONResponse:
        """Entries of the last `since` (90s, 15m, 2h, 7d; default: all kept), whose actor
        or its name contains `who`."""
        since_s = parse_duration(since) if since else None
        if since and since_s is None:
            err = InputError("bad_duration", text=since)
            return JSONResponse({"error": err.to_dict()}, status_code=422)
        entries = await hub.audit.recent(since_s=since_s, who=who, limit=limit)
        return JSONResponse({"entries": [audit.view(e) for e in entries]})

    return api
