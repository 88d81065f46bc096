"""Routes for `ccr servers`: the hub serves a server as its config file now says."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ccr.api.responses import JSONResponse
from ccr.core.errors import CcrError

if TYPE_CHECKING:
    from ccr.hub import Hub


class SyncRequest(BaseModel):
    """Which server to serve as the hub's config file says, and the file the caller edited."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    config: str | None = Field(None, max_length=4096)


def router(hub: Hub) -> APIRouter:
    """Mounted under the authenticated /api router."""
    api = APIRouter()

    @api.post("/servers/sync")
    async def sync(body: SyncRequest) -> JSONResponse:
        """Re-read the hub's config file and serve server `id` exactly as it now says:
        added, changed, removed, or unchanged. No restart."""
        try:
            done = await hub.fleet.sync(body.id, body.config)
        except CcrError as exc:
            return JSONResponse({"error": exc.to_dict()}, status_code=409)
        views = {v["id"]: v for v in hub.server_views()}
        return JSONResponse({"server": done.server_id, "action": done.action,
                             "config": done.config, "view": views.get(done.server_id)})

    return api
