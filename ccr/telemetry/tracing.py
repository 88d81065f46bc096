"""Trace ids for every notification flow and every command (OpenTelemetry, W3C traceparent).

The hook starts a notification's trace and sends its `traceparent`; ingest, the outbox row,
its delivery and the Telegram send continue it. A command's trace starts at submit. Each hub
has its own `TracerProvider` (no process-global state, so several hubs can share a process);
finished spans are buffered in memory by `SqliteSpanProcessor` and written to SQLite in
batches from an asyncio task, so no span ever waits on the database. OTLP export is an
option when `opentelemetry-exporter-otlp` is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, Status, StatusCode, TraceFlags

from ccr.telemetry import spans as store
from ccr.telemetry.spans import SpanRow

T = TypeVar("T")
AttrValue = str | int | float | bool
Attrs = Mapping[str, AttrValue]
BUFFER_LIMIT = 20_000
"""Spans waiting for their flush; past this the oldest are dropped (and counted)."""
PURGE_EVERY_S = 60.0


# --- W3C traceparent ---------------------------------------------------------------------


def new_traceparent() -> str:
    """A fresh `00-<32 hex trace id>-<16 hex span id>-01` (what ccr/hook.py builds too)."""
    trace_id, span_id = 0, 0
    while not trace_id:
        trace_id = secrets.randbits(128)
    while not span_id:
        span_id = secrets.randbits(64)
    return f"00-{trace_id:032x}-{span_id:016x}-01"


def parse_traceparent(header: str | None) -> SpanContext | None:
    """The remote span context a `traceparent` header names, or None when it is not valid.

    Version 00 must have exactly four fields; a later version may append fields. All-zero
    ids, upper-case hex and version ff are invalid (W3C Trace Context, section 3.2).
    """
    if not header or len(header) > 512:
        return None
    parts = header.strip().split("-")
    if len(parts) < 4:
        return None
    version, trace_hex, span_hex, flags_hex = parts[:4]
    if (len(version) != 2 or len(trace_hex) != 32 or len(span_hex) != 16
            or len(flags_hex) != 2 or version == "ff"
            or (version == "00" and len(parts) != 4)):
        return None
    hexdigits = "0123456789abcdef"
    if any(c not in hexdigits for c in version + trace_hex + span_hex + flags_hex):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if not trace_id or not span_id:
        return None
    return SpanContext(trace_id, span_id, is_remote=True,
                       trace_flags=TraceFlags(int(flags_hex, 16) & 0xFF))


def format_traceparent(ctx: SpanContext) -> str:
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags) & 0x01:02x}"


def current_traceparent() -> str | None:
    """The traceparent of the span running now, if any (stored with outbox rows)."""
    ctx = trace.get_current_span().get_span_context()
    return format_traceparent(ctx) if ctx.is_valid else None


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


# --- ids we must choose ourselves (the hook's span) ----------------------------------------

_forced: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "ccr_forced_ids", default=None)


class _Ids(RandomIdGenerator):
    """Random ids, except for a span whose ids were chosen elsewhere (the hook's)."""

    def generate_trace_id(self) -> int:
        forced = _forced.get()
        return forced[0] if forced else super().generate_trace_id()

    def generate_span_id(self) -> int:
        forced = _forced.get()
        return forced[1] if forced and forced[1] else super().generate_span_id()


# --- the SQLite side -----------------------------------------------------------------------


class SqliteSpanProcessor(SpanProcessor):
    """Turns each finished span into a row in a bounded memory buffer; `flush` writes them."""

    def __init__(self, limit: int = BUFFER_LIMIT) -> None:
        self.buffer: deque[SpanRow] = deque(maxlen=limit)
        self.dropped = 0

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is None or span.start_time is None or span.end_time is None:
            return
        attrs = dict(span.attributes or {})
        status = {StatusCode.ERROR: "error", StatusCode.OK: "ok"}.get(span.status.status_code,
                                                                      "ok")
        if len(self.buffer) == self.buffer.maxlen:
            self.dropped += 1
        self.buffer.append(SpanRow(
            trace_id=f"{ctx.trace_id:032x}", span_id=f"{ctx.span_id:016x}",
            parent_id=f"{span.parent.span_id:016x}" if span.parent else None,
            name=span.name, component=str(attrs.get("ccr.component") or "hub"),
            server=str(attrs["ccr.server"]) if attrs.get("ccr.server") else None,
            started_at=span.start_time / 1e9, ended_at=span.end_time / 1e9,
            status=status, attributes=store.scrub(attrs),
        ))

    def take(self) -> list[SpanRow]:
        rows = list(self.buffer)
        self.buffer.clear()
        return rows

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _ScrubbingProcessor(SpanProcessor):
    """Passes spans to another processor (OTLP) with their attributes already scrubbed."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner

    def on_end(self, span: ReadableSpan) -> None:
        self.inner.on_end(ReadableSpan(
            name=span.name, context=span.context, parent=span.parent, resource=span.resource,
            attributes=store.scrub(dict(span.attributes or {})), links=span.links,
            kind=span.kind, status=span.status, start_time=span.start_time,
            end_time=span.end_time, instrumentation_scope=span.instrumentation_scope))

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def otlp_processor(endpoint: str) -> SpanProcessor | None:
    """A batching OTLP/HTTP exporter when the optional extra is installed, else None."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore,import-untyped]
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return None
    return _ScrubbingProcessor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))


# --- the hub's tracing ---------------------------------------------------------------------


class Tracing:
    """One hub's tracer, span buffer and background writer.

    `enabled=False` gives a tracer that records nothing: no ids are quoted, no rows written.
    """

    def __init__(self, *, enabled: bool = True, otlp_endpoint: str = "",
                 retention_s: float = store.RETENTION_S, max_spans: int = store.MAX_SPANS,
                 flush_interval_s: float = 1.0, log: Callable[[str, str], None] | None = None,
                 service: str = "ccr-hub", clock: Callable[[], float] = time.time) -> None:
        self.enabled = enabled
        self.clock = clock  # the hub's: what "older than the retention" is measured from
        self.retention_s = retention_s
        self.max_spans = max_spans
        self.flush_interval_s = flush_interval_s
        self.log = log or (lambda level, text: None)
        self.processor = SqliteSpanProcessor()
        self.otlp: SpanProcessor | None = None
        self.provider: TracerProvider | None = None
        self.tracer: trace.Tracer
        self.db: Any = None
        self._purged_at = 0.0
        self._writes: set[asyncio.Task[int]] = set()
        if not enabled:
            self.tracer = trace.NoOpTracer()
            return
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}),
                                       sampler=ALWAYS_ON, id_generator=_Ids(),
                                       shutdown_on_exit=False)
        self.provider.add_span_processor(self.processor)
        if otlp_endpoint:
            self.otlp = otlp_processor(otlp_endpoint)
            if self.otlp is None:
                self.log("warning", "[tracing] otlp_endpoint is set but "
                                    "opentelemetry-exporter-otlp is not installed "
                                    "(pip install 'ccr[otlp]'); spans stay in SQLite only")
            else:
                self.provider.add_span_processor(self.otlp)
        self.tracer = self.provider.get_tracer("ccr")

    @classmethod
    def disabled(cls) -> Tracing:
        return cls(enabled=False)

    # --- spans ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def span(self, name: str, *, component: str, server: str | None = None,
             parent: str | SpanContext | None = None, root: bool = False,
             only_in_trace: bool = False, attrs: Attrs | None = None) -> Iterator[Span]:
        """A span around a block, current while it runs; an exception marks it as an error.

        `parent` continues a stored or received traceparent; `root` starts a new trace;
        `only_in_trace` records nothing outside a trace (background probes stay quiet).
        """
        if only_in_trace and not trace.get_current_span().is_recording():
            yield trace.INVALID_SPAN
            return
        ctx: otel_context.Context | None = None
        if root:
            ctx = otel_context.Context()
        elif parent is not None:
            remote = parse_traceparent(parent) if isinstance(parent, str) else parent
            ctx = (trace.set_span_in_context(NonRecordingSpan(remote)) if remote
                   else otel_context.Context())
        attributes: dict[str, AttrValue] = {"ccr.component": component, **(attrs or {})}
        if server:
            attributes["ccr.server"] = server
        with self.tracer.start_as_current_span(
            name, context=ctx, attributes=attributes, record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                if not isinstance(exc, GeneratorExit):
                    fail(span, exc)
                raise

    def in_trace(self, trace_id: str | None, name: str, *, component: str,
                 attrs: Attrs | None = None) -> contextlib.AbstractContextManager[Span]:
        """A root span in an existing trace (a command resumed after a restart)."""
        if not trace_id or not self.enabled:
            return self.span(name, component=component, root=True, attrs=attrs)
        return self._forced_span((int(trace_id, 16), 0), name, component=component,
                                 attrs=attrs)

    @contextlib.contextmanager
    def _forced_span(self, ids: tuple[int, int], name: str, *, component: str,
                     attrs: Attrs | None = None) -> Iterator[Span]:
        token = _forced.set(ids)
        try:
            cm = self.span(name, component=component, root=True, attrs=attrs)
            span = cm.__enter__()
        finally:
            _forced.reset(token)
        with contextlib.ExitStack() as stack:
            stack.push(cm)
            yield span

    def hook_span(self, traceparent: str | None, *, server: str, started: float,
                  received: float, attrs: Attrs | None = None) -> str | None:
        """Record the hook's own span (its ids come from its traceparent): from the event's
        creation on the server to the hub receiving it, spool time included. Returns the
        traceparent ingest continues: the hook's, or a new one when it sent none."""
        remote = parse_traceparent(traceparent)
        if not self.enabled:
            return traceparent if remote else None
        if remote is None:
            return None
        token = _forced.set((remote.trace_id, remote.span_id))
        try:
            span = self.tracer.start_span(
                "hook", context=otel_context.Context(), start_time=int(started * 1e9),
                attributes={"ccr.component": "hook", "ccr.server": server, **(attrs or {})})
        finally:
            _forced.reset(token)
        span.end(end_time=int(max(received, started) * 1e9))
        return traceparent

    @staticmethod
    def trace_id() -> str | None:
        return current_trace_id()

    @staticmethod
    def traceparent() -> str | None:
        return current_traceparent()

    # --- storage -------------------------------------------------------------------------

    def attach(self, db: Any) -> None:
        """The hub's Database; spans are written through it (never a second connection)."""
        self.db = db

    async def flush(self) -> int:
        """Write the buffered spans and wait for every write in flight; returns how many
        spans those writes stored.

        Each batch is written by a task of its own: a caller cancelled meanwhile (a screen's
        reload replaced by the next) must not roll back spans already taken from the buffer.
        """
        rows = self.processor.take()
        if rows and self.db is not None:
            task = asyncio.get_running_loop().create_task(self._write(rows))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)
        pending = list(self._writes)
        if not pending:
            return 0
        return sum(await asyncio.shield(asyncio.gather(*pending)))

    async def _write(self, rows: list[SpanRow]) -> int:
        try:
            await store.write(self.db, rows)
        except Exception as exc:  # tracing must never take the hub down
            self.log("warning", f"tracing: {len(rows)} span(s) not stored ({type(exc).__name__})")
            return 0
        return len(rows)

    async def purge(self, now: float | None = None) -> int:
        if self.db is None:
            return 0
        return await store.purge(self.db, self.clock() if now is None else now,
                                 retention_s=self.retention_s, max_rows=self.max_spans)

    async def run(self) -> None:
        """Flush every `flush_interval_s`; purge old spans every minute."""
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self.flush()
            if time.monotonic() - self._purged_at > PURGE_EVERY_S:
                self._purged_at = time.monotonic()
                with contextlib.suppress(Exception):
                    await self.purge()

    async def close(self) -> None:
        """Write what is buffered; stop the OTLP exporter."""
        await self.flush()
        if self.otlp is not None:
            await asyncio.to_thread(self.otlp.shutdown)

    async def timeline(self, ref: str) -> dict[str, Any]:
        """A trace (full id or a prefix of 4+ hex) as timeline data; see spans.timeline."""
        await self.flush()
        return await store.timeline(self.db, ref)

    async def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        await self.flush()
        return await store.recent(self.db, limit)


def fail(span: Span, exc: BaseException) -> None:
    """Mark a span as failed with the error's stable code, never its message."""
    code = (getattr(exc, "code", None) or getattr(exc, "category", None)
            or type(exc).__name__)
    span.set_status(Status(StatusCode.ERROR, str(code)))
    span.set_attribute("ccr.error", str(code))


@contextlib.asynccontextmanager
async def traced(cm: AbstractAsyncContextManager[T], tracing: Tracing, name: str, *,
                 component: str, server: str | None = None,
                 attrs: Attrs | None = None) -> AsyncIterator[T]:
    """`async with traced(db.transaction(), tracing, "session.upsert", ...) as conn:`."""
    with tracing.span(name, component=component, server=server, attrs=attrs):
        async with cm as value:
            yield value
