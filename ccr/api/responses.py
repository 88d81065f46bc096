"""The API's JSON response: every string value in every body it sends is redacted.

The one choke point for the API's views (sessions, commands, traces, dead letters, alerts,
health, errors) and so for the CLI, which prints only what the API answers. Keys are kept;
numbers, booleans and nulls pass unchanged.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse as _JSONResponse

from ccr.core.redact import redact_values
from ccr.services import audit


class JSONResponse(_JSONResponse):
    """FastAPI's JSONResponse with the content redacted before it is encoded."""

    def render(self, content: Any) -> bytes:
        problem = content.get("error") if isinstance(content, dict) else None
        code = problem.get("code") if isinstance(problem, dict) else None
        audit.note(outcome=f"failed: {code} ({self.status_code})" if code
                   else f"ok ({self.status_code})")  # the request being audited, if any
        return super().render(redact_values(content))
