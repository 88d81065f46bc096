"""The API's HTTP server: uvicorn serving `create_app`, without uvicorn's signal handling.

Kept out of `ccr.hub`'s imports: FastAPI and uvicorn take ~0.4 s to import, and the hub
imports this module off the event loop only when it serves HTTP, so the console paints first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn

from ccr.api.app import create_app

if TYPE_CHECKING:
    from ccr.hub import Hub


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the hub decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_server(hub: Hub) -> QuietServer:
    """The hub's API as a server, started later with `serve(sockets=[...])`."""
    config = uvicorn.Config(create_app(hub), log_level="warning", access_log=False,
                            lifespan="off", timeout_graceful_shutdown=2)
    return QuietServer(config)
