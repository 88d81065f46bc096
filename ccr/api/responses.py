"""The API's JSON response: every string value in every body it sends is redacted.

The one choke point for the API's views (sessions, commands, traces, dead letters, alerts,
health, errors) and so for the CLI, which prints only what the API answers. Keys are kept;
numbers, booleans and nulls pass unchanged.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse as _JSONResponse

from ccr.core.redact import redact_values


class JSONResponse(_JSONResponse):
    """FastAPI's JSONResponse with the content redacted before it is encoded."""

    def render(self, content: Any) -> bytes:
        return super().render(redact_values(content))
