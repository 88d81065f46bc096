"""GET /api/sessions/{handle}/screen.png (the pane as a PNG) and .../tail?lines=N (its last
lines as text), served by ccr.services.screens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ccr.api.responses import JSONResponse  # redacts every body
from ccr.api.session_routes import Handle, failure
from ccr.core.errors import CcrError
from ccr.services.screens import TAIL_DEFAULT

if TYPE_CHECKING:
    from ccr.hub import Hub

STATUS = {"screen_gone": 409, "tail_lines_invalid": 422}


def screen_routes(hub: Hub) -> APIRouter:
    router = APIRouter()

    def refused(exc: CcrError) -> JSONResponse:
        if exc.code in STATUS:
            return JSONResponse({"error": exc.to_dict()}, status_code=STATUS[exc.code])
        return failure(exc)

    @router.get("/sessions/{handle}/screen.png", response_model=None,
                responses={200: {"content": {"image/png": {}, "text/plain": {}}}})
    async def screen(handle: str = Handle) -> Response:
        """The pane as it is now, colours kept, as a PNG (X-Pane-Size: COLSxROWS). Without
        a monospace font on the hub: its text (text/plain), X-Ccr-Note saying why."""
        try:
            picture = await hub.screens.picture(handle)
        except CcrError as exc:
            return refused(exc)
        headers = {"X-Pane-Size": f"{picture.width}x{picture.height}",
                   "X-Session": picture.session.handle,
                   "Content-Disposition": f'inline; filename="{picture.filename}"'}
        if picture.png is None:
            return Response(picture.text + "\n", media_type="text/plain; charset=utf-8",
                            headers={**headers, "X-Ccr-Note": picture.note})
        return Response(picture.png, media_type="image/png", headers=headers)

    @router.get("/sessions/{handle}/tail")
    async def tail(handle: str = Handle,
                   lines: str = Query(str(TAIL_DEFAULT), max_length=20,
                                      description="How many lines (1 to 2000).")
                   ) -> JSONResponse:
        """The pane's last `lines` lines (history included), redacted."""
        try:
            result = await hub.screens.tail(handle, lines)
        except CcrError as exc:
            return refused(exc)
        return JSONResponse({"session": hub.session_view(result.session),
                             "lines": result.lines, "capped_from": result.capped_from,
                             "text": result.text})

    return router
