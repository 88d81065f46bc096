"""FastAPI routes. Thin: authenticate, validate, call one service, render the answer."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ccr.api import access, audit_routes
from ccr.api import servers as servers_api
from ccr.api.auth import verify_signature
from ccr.api.payloads import CommandRequest, HookPayload
from ccr.api.responses import JSONResponse  # redacts every body
from ccr.api.screen_routes import screen_routes
from ccr.api.session_routes import session_routes
from ccr.core.errors import CcrError
from ccr.services import dead_letters as dlq
from ccr.services import history
from ccr.services.hook_install import HOOK_TEST_EVENT
from ccr.store.deadletters import DeadLetter
from ccr.telemetry import alerts as alert_rules
from ccr.telemetry.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

if TYPE_CHECKING:
    from ccr.hub import Hub


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def _ccr_error(status: int, exc: CcrError) -> JSONResponse:
    return JSONResponse({"error": exc.to_dict()}, status_code=status)


def _validation(exc: ValidationError) -> JSONResponse:
    problems = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                for e in exc.errors()[:5]]
    return _error(422, "invalid_payload", "; ".join(problems))


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None once it passes `limit` bytes (checked while reading)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class _Unauthorized(Exception):
    """A request to /api/ without the right bearer token."""


def create_app(hub: Hub) -> FastAPI:
    app = FastAPI(title="ccr hub", version="0.1.0", docs_url=None, redoc_url=None)

    def authorized(request: Request) -> bool:
        """Any known token, whatever its role (reading /metrics is an observer's)."""
        return access.identify(hub, request.headers.get("authorization")) is not None

    async def require_token(request: Request) -> AsyncIterator[None]:
        """The caller's token names a role (ccr.api.access): 401 without one, 403 for a
        route beyond it; what changes something is audited while it runs."""
        caller = access.identify(hub, request.headers.get("authorization"),
                                 request.headers.get(access.CLIENT_HEADER))
        if caller is None:
            raise _Unauthorized
        request.state.caller = caller  # a route that names its caller reads it here
        async with access.guarded(hub, caller, request.method, request.url.path,
                                  request.headers):
            yield

    @app.exception_handler(_Unauthorized)
    async def unauthorized(request: Request, exc: _Unauthorized) -> JSONResponse:
        return _error(401, "unauthorized", "missing or wrong API token")

    @app.exception_handler(access.Refused)
    async def refused(request: Request, exc: access.Refused) -> JSONResponse:
        return _ccr_error(403, exc.error)

    # Every /api/ route needs the API token (the admin credential), checked before anything
    # else about the request.
    api = APIRouter(prefix="/api", dependencies=[Depends(require_token)])

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        if not hub.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ok"})

    def hook_counted(status: str, server: str | None = None, kind: str = "") -> None:
        """Count a hook event the ingest did not accept (accepted ones come as events)."""
        if hub.metrics is not None:
            hub.metrics.hook_event(server, kind, status)

    @app.post("/notify")
    async def notify(request: Request) -> JSONResponse:
        body = await _read_body(request, hub.settings.hub.max_body_bytes)
        if body is None:
            hook_counted("too_large")
            return _error(413, "too_large",
                          f"body over {hub.settings.hub.max_body_bytes} bytes")
        problem = verify_signature(hub.shared_secret, request.headers.get("x-ccr-timestamp"),
                                   request.headers.get("x-ccr-signature"), body)
        if problem:
            hook_counted("unauthorized")
            return _error(401, "unauthorized", problem)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            hook_counted("invalid")
            return _error(400, "bad_json", "the body is not valid JSON")
        if not isinstance(data, dict):
            hook_counted("invalid")
            return _error(400, "bad_json", "the body must be a JSON object")
        try:
            payload = HookPayload.model_validate(data)
        except ValidationError as exc:
            hook_counted("invalid")
            return _validation(exc)
        if hub.settings.server(payload.server_id) is None:
            hook_counted("unknown_server")
            return _error(403, "unknown_server",
                          f"server '{payload.server_id}' is not in the hub's ccr.toml")
        hub.fleet.heard(payload.server_id)
        if payload.hook_event_name == HOOK_TEST_EVENT:  # `ccr servers add/test`: no session
            fresh = await hub.fleet.test_event(payload.event_id, payload.server_id)
            return JSONResponse({"status": "test" if fresh else "duplicate"})
        traceparent = request.headers.get("traceparent") or data.get("traceparent")
        result = await hub.sessions.ingest(
            payload.to_event(hub.clock()),
            traceparent=traceparent if isinstance(traceparent, str) else None)
        trace_ref = {"trace_id": result.trace_id} if result.trace_id else {}
        if result.duplicate:
            hook_counted("duplicate", payload.server_id, payload.to_event(0).kind.value)
            return JSONResponse({"status": "duplicate", **trace_ref})
        session = result.session
        return JSONResponse({"status": "accepted",
                             "session": session.handle if session else None,
                             "notified": result.notified, **trace_ref})

    @api.get("/sessions")
    async def sessions() -> JSONResponse:
        live = await hub.sessions.live()
        return JSONResponse({"sessions": [hub.session_view(s) for s in live]})

    @api.get("/servers")
    async def servers() -> JSONResponse:
        return JSONResponse({"servers": hub.server_views()})

    @api.get("/commands")
    async def commands(limit: int = 20) -> JSONResponse:
        recent = await hub.commands.recent(max(1, min(limit, 500)))
        return JSONResponse({"commands": [hub.command_view(c) for c in recent]})

    @api.get("/commands/{command_id}")
    async def command_show(command_id: str) -> JSONResponse:
        """One command, with Claude's steps (`activity`: now, recent, summary)."""
        command = await hub.commands.get(command_id[:64])
        if command is None:
            return _error(404, "command_not_found", f"no command {command_id[:64]!r}")
        return JSONResponse({"command": {**hub.command_view(command),
                                         "activity": await hub.lifecycle.activity.view(
                                             command.id)}})

    @api.post("/commands")
    async def send(request: Request) -> JSONResponse:
        body = await _read_body(request, 256 * 1024)
        if body is None:
            return _error(413, "too_large", "body too large")
        try:
            req = CommandRequest.model_validate_json(body)
        except ValidationError as exc:
            return _validation(exc)
        result = await hub.commands.submit(text=req.text, ref=req.session, source="api")
        if result.command is None:
            err = result.error or CcrError("internal", detail="no command")
            status = 404 if err.code == "unknown_session" else 422
            return _ccr_error(status, err)
        body_out: dict[str, Any] = {"command": hub.command_view(result.command)}
        if result.error is not None:
            body_out["error"] = result.error.to_dict()
        return JSONResponse(body_out, status_code=200 if result.error is None else 502)

    # --- history -----------------------------------------------------------------------

    @api.get("/history")
    async def history_search(q: str = Query("", max_length=2000),
                             limit: int = Query(20, ge=1, le=500),
                             offset: int = Query(0, ge=0, le=10_000_000),
                             before: str | None = Query(None, max_length=64)) -> JSONResponse:
        """Commands matching the filter language (ccr.services.history), newest first."""
        try:
            page = await hub.history.search(q[:2000], limit=limit, offset=offset,
                                            before=before)
        except CcrError as exc:
            return _ccr_error(422, exc)
        return JSONResponse({"commands": [history.view(c) for c in page.commands],
                             "total": page.total, "offset": page.offset,
                             "next_before": page.next_before})

    @api.get("/history/{command_id}")
    async def history_show(command_id: str) -> JSONResponse:
        try:
            return JSONResponse(history.detail_view(await hub.history.detail(command_id)))
        except CcrError as exc:
            return _ccr_error(404 if exc.code == "command_not_found" else 422, exc)

    # --- traces ------------------------------------------------------------------------

    @api.get("/traces")
    async def traces(limit: int = 20) -> JSONResponse:
        return JSONResponse({"traces": await hub.tracing.recent(max(1, min(limit, 500)))})

    @api.get("/traces/{trace_id}")
    async def trace_show(trace_id: str) -> JSONResponse:
        try:
            return JSONResponse({"trace": await hub.tracing.timeline(trace_id)})
        except CcrError as exc:
            return _ccr_error(404 if exc.code == "trace_not_found" else 422, exc)

    # --- dead letters ------------------------------------------------------------------

    def dlq_view(entry: DeadLetter) -> dict[str, Any]:
        return dlq.view(entry, hub.dlq.schedule)

    @api.get("/dlq")
    async def dlq_list(delivered: bool = False) -> JSONResponse:
        entries = await hub.dlq.list(include_delivered=delivered)
        return JSONResponse({"entries": [dlq_view(e) for e in entries]})

    @api.get("/dlq/{entry_id}")
    async def dlq_show(entry_id: int) -> JSONResponse:
        try:
            entry = await hub.dlq.get(entry_id)
        except CcrError as exc:
            return _ccr_error(404, exc)
        return JSONResponse({"entry": dlq_view(entry)})

    @api.post("/dlq/retry")
    async def dlq_retry_all() -> JSONResponse:
        moved = await hub.dlq.retry_all()
        return JSONResponse({"retried": [dlq_view(e) for e in moved]})

    @api.post("/dlq/{entry_id}/retry")
    async def dlq_retry(entry_id: int) -> JSONResponse:
        try:
            result = await hub.dlq.retry(entry_id)
        except CcrError as exc:
            return _ccr_error(404, exc)
        return JSONResponse({"entry": dlq_view(result.entry), "retried": result.moved},
                            status_code=200 if result.moved else 409)

    @api.delete("/dlq")
    async def dlq_purge(archived: bool = False) -> JSONResponse:
        return JSONResponse({"purged": await hub.dlq.purge(archived_only=archived)})

    # --- metrics -------------------------------------------------------------------------

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> Response:
        """Prometheus text exposition; no token unless `[metrics] require_token` is set."""
        if hub.metrics is None:
            return _error(404, "metrics_off", "metrics are off ([metrics] enabled = false)")
        if hub.settings.metrics.require_token and not authorized(request):
            return _error(401, "unauthorized", "missing or wrong API token")
        return Response(hub.metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    @api.get("/metrics")
    async def metrics_snapshot() -> JSONResponse:
        """The time series' current figures (see `TimeSeries.snapshot`)."""
        if hub.metrics is None:
            return _error(404, "metrics_off", "metrics are off ([metrics] enabled = false)")
        return JSONResponse({"snapshot": hub.metrics.series.snapshot()})

    # --- health, time series, alerts -------------------------------------------------------
    # The API token is the admin credential; [api] tokens add named ones with a role
    # (ccr.api.access). Without a known token every /api route answers 401; a route beyond
    # the token's role answers 403.

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ())) or 'request'}: "
                    f"{e.get('msg', 'invalid')}" for e in exc.errors()[:5]]
        return _error(422, "invalid_request", "; ".join(problems))

    @api.get("/health")
    async def health() -> JSONResponse:
        """GREEN / YELLOW / RED for the hub and each server, with the reasons."""
        active = await hub.alerts.active()
        return JSONResponse({"health": hub.health().to_dict(),
                             "active_alerts": len(active)})

    @api.get("/series")
    async def series(name: str, server: str | None = None,
                     minutes: float = 60) -> JSONResponse:
        """One time series, one point per 10 s bucket, oldest first."""
        if hub.metrics is None:
            return _error(404, "metrics_off", "metrics are off ([metrics] enabled = false)")
        from ccr.telemetry.timeseries import NAMES

        if name not in NAMES:
            return _error(422, "unknown_series",
                          f"unknown series name {name[:64]!r}; known: "
                          f"{', '.join(sorted(NAMES))}")
        if server is not None and hub.settings.server(server) is None:
            return _error(422, "unknown_server",
                          f"server {server[:64]!r} is not in the hub's ccr.toml")
        window = hub.metrics.series.window_s / 60
        if not math.isfinite(minutes) or not 0 < minutes <= window:
            return _error(422, "invalid_minutes",
                          f"minutes must be more than 0 and at most {window:g}")
        points = hub.metrics.series.series(name, server, minutes)
        return JSONResponse({"name": name, "server": server, "minutes": minutes,
                             "resolution_s": hub.metrics.series.resolution_s,
                             "points": [[t, v] for t, v in points]})

    @api.get("/alerts")
    async def alerts(resolved: bool = False,
                     limit: int = 50) -> JSONResponse:
        """Active alerts (firing or acknowledged); `resolved=true`: the latest of every state."""
        found = (await hub.alerts.recent(max(1, min(limit, 500))) if resolved
                 else await hub.alerts.active())
        return JSONResponse({"alerts": [alert_rules.view(a) for a in found]})

    @api.post("/alerts/{alert_id}/ack")
    async def alert_ack(alert_id: int, request: Request,
                        body: AckRequest | None = None) -> JSONResponse:
        """Acknowledge a firing alert: quiet until it resolves (409 once resolved). Without
        a `by`, it is the token's (`api:grafana`), as the audit log names the caller."""
        caller: access.Caller = request.state.caller
        by = body.by if body is not None and body.by else f"api:{caller.name}"
        try:
            result = await hub.alerts.acknowledge(alert_id, by)
        except CcrError as exc:
            return _ccr_error(404 if exc.code == "alert_not_found" else 409, exc)
        return JSONResponse({"alert": alert_rules.view(result.alert),
                             "acknowledged": result.changed})

    api.include_router(servers_api.router(hub))
    api.include_router(audit_routes.router(hub))
    api.include_router(session_routes(hub))
    api.include_router(screen_routes(hub))
    app.include_router(api)
    return app


class AckRequest(BaseModel):
    """Who acknowledges (shown to the admins); without it, the API token's name."""

    model_config = ConfigDict(extra="forbid")
    by: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[\w@.:+-][\w@.:+ -]*$")
