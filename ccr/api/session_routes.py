"""POST /api/sessions starts Claude on a server; DELETE /api/sessions/{handle} stops it;
.../clear, .../restart and .../esc do the rest (ccr.services.session_control)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from ccr.api.responses import JSONResponse  # redacts every body
from ccr.core.config import SERVER_ID_PATTERN
from ccr.core.errors import CcrError, NotFoundError, RemoteError
from ccr.services.session_control import Started

if TYPE_CHECKING:
    from ccr.hub import Hub

Handle = Path(min_length=1, max_length=64, description="laptop:1, or the session's token")
STATUS = {"dir_missing": 422, "session_dir_unknown": 422, "session_not_in_tmux": 422,
          "pane_not_session": 409, "pane_gone": 409, "input_waiting": 409,
          "claude_silent": 504, "claude_start_failed": 502}


class StartRequest(BaseModel):
    """Where to start Claude: a server id and a directory there (absolute, or from the
    home directory of the server's login; `~` works)."""

    model_config = ConfigDict(extra="forbid")
    server: str = Field(min_length=1, max_length=32, pattern=SERVER_ID_PATTERN)
    dir: str = Field("~", min_length=1, max_length=1024)


def status_of(err: CcrError) -> int:
    if err.code in STATUS:
        return STATUS[err.code]
    if isinstance(err, NotFoundError):
        return 404
    return 503 if isinstance(err, RemoteError) else 422


def failure(err: CcrError, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": err.to_dict(), **extra}, status_code=status_of(err))


def session_routes(hub: Hub) -> APIRouter:
    router = APIRouter()

    def started(result: Started) -> JSONResponse:
        if result.session is None:
            err = result.error or CcrError("internal", detail="no session")
            return failure(err, directory=result.directory, pane=result.pane_id,
                           screen=result.screen)
        return JSONResponse({"session": hub.session_view(result.session),
                             "directory": result.directory, "pane": result.pane_id,
                             "seconds": round(result.seconds, 3),
                             "resumed": result.resumed}, status_code=201)

    @router.post("/sessions", status_code=201)
    async def start(req: StartRequest) -> JSONResponse:
        """Start Claude in a new tmux window; answers once its first hook named the session
        (201), or why not (404 server, 422 directory, 502 exited, 503 server down, 504 quiet)."""
        return started(await hub.control.start(req.server, req.dir))

    @router.delete("/sessions/{handle}")
    async def stop(handle: str = Handle) -> JSONResponse:
        """End Claude in the session (Escape, /exit, its pane closed if it lingers)."""
        try:
            result = await hub.control.stop(handle)
        except CcrError as exc:
            return failure(exc)
        assert result is not None  # only a Telegram update can be a redelivery
        return JSONResponse({"session": hub.session_view(result.session), "how": result.how})

    @router.post("/sessions/{handle}/clear")
    async def clear(handle: str = Handle) -> JSONResponse:
        """Type /clear; `confirmed` says whether the fresh conversation was seen."""
        try:
            result = await hub.control.clear(handle)
        except CcrError as exc:
            return failure(exc)
        assert result is not None
        return JSONResponse({"session": hub.session_view(result.session),
                             "confirmed": bool(result.how), "how": result.how,
                             "screen": result.screen})

    @router.post("/sessions/{handle}/restart", status_code=201)
    async def restart(handle: str = Handle) -> JSONResponse:
        """Stop, then start again in the same directory with --continue."""
        try:
            result = await hub.control.restart(handle)
        except CcrError as exc:
            return failure(exc)
        assert result is not None
        return started(result[1])

    @router.post("/sessions/{handle}/esc")
    async def esc(handle: str = Handle) -> JSONResponse:
        """Press Escape: Claude stops what it is doing."""
        try:
            session = await hub.control.esc(handle)
        except CcrError as exc:
            return failure(exc)
        assert session is not None
        return JSONResponse({"session": hub.session_view(session)})

    return router
