"""Trace ids: traceparent parsing and generation, the SQLite span store and its bounds."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest

from ccr import hook
from ccr.core.errors import CcrError, RemoteError
from ccr.store.db import Database
from ccr.telegram.render import command_result, error_text
from ccr.telemetry import spans as store
from ccr.telemetry.spans import SpanRow
from ccr.telemetry.tracing import (
    Tracing,
    current_trace_id,
    format_traceparent,
    new_traceparent,
    parse_traceparent,
    traced,
)

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


# --- traceparent ---------------------------------------------------------------------------


def test_generated_traceparents_are_valid_and_distinct() -> None:
    made = {new_traceparent() for _ in range(200)}
    assert len(made) == 200
    for header in made:
        assert TRACEPARENT.match(header)
        ctx = parse_traceparent(header)
        assert ctx is not None and format_traceparent(ctx) == header


def test_the_stdlib_hook_builds_a_traceparent_the_hub_accepts(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    event = hook.build_event({"hook_event_name": "Notification", "message": "hi"}, "laptop")
    assert TRACEPARENT.match(event["traceparent"])
    assert parse_traceparent(event["traceparent"]) is not None
    # It travels with the spooled event, so a re-sent event keeps its trace.
    path = hook.spool(event, tmp_path / "spool")
    assert json.loads(path.read_text())["traceparent"] == event["traceparent"]


def test_parse_reads_the_ids_and_flags() -> None:
    ctx = parse_traceparent(VALID)
    assert ctx is not None and ctx.is_remote
    assert f"{ctx.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert f"{ctx.span_id:016x}" == "00f067aa0ba902b7"
    assert int(ctx.trace_flags) == 1


@pytest.mark.parametrize("header", [
    None, "", "garbage", VALID.upper(), VALID.replace("00-", "ff-", 1),
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero span id
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",  # short flags
    VALID + "-extra",  # version 00 has exactly four fields
    "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  # not hex
    "0" * 600,
])
def test_invalid_traceparents_are_refused(header: str | None) -> None:
    assert parse_traceparent(header) is None


def test_a_later_version_may_carry_more_fields() -> None:
    assert parse_traceparent(VALID.replace("00-", "01-", 1) + "-what-ever") is not None


# --- the span store ------------------------------------------------------------------------


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    database = Database(tmp_path / "ccr.db")
    await database.open()
    yield database  # type: ignore[misc]
    await database.close()


def row(trace: str, span: str, at: float, **kw: object) -> SpanRow:
    fields: dict[str, object] = dict(parent_id=None, name="x", component="hub", server=None,
                                     status="ok", attributes={})
    fields.update(kw)
    return SpanRow(trace_id=trace, span_id=span, started_at=at, ended_at=at + 0.01,
                   **fields)  # type: ignore[arg-type]


async def test_purge_drops_spans_past_the_retention(db: Database) -> None:
    now = time.time()
    await store.write(db, [row("a" * 32, f"{i:016x}", now - 25 * 3600) for i in range(5)]
                      + [row("b" * 32, f"{i:016x}", now - 60) for i in range(3)])
    removed = await store.purge(db, now, retention_s=24 * 3600, max_rows=1000)
    assert removed == 5
    assert await store.count(db) == 3


async def test_the_tracing_purge_measures_age_on_the_hubs_clock(db: Database) -> None:
    """The hub's clock, not the wall clock, says what is old (a hub on a set clock, as the
    console's snapshots run, keeps the spans of its own day)."""
    day = 1_764_000_000.0
    tracing = Tracing(retention_s=24 * 3600, clock=lambda: day)
    tracing.attach(db)
    await store.write(db, [row("a" * 32, "1" * 16, day - 60),
                           row("b" * 32, "2" * 16, day - 25 * 3600)])
    assert await tracing.purge() == 1
    assert [r[0] for r in await db.fetchall("SELECT trace_id FROM spans")] == ["a" * 32]


async def test_purge_keeps_at_most_the_row_cap_newest_first(db: Database) -> None:
    now = time.time()
    await store.write(db, [row(f"{i:032x}", f"{i:016x}", now - 100 + i) for i in range(1, 51)])
    await store.purge(db, now, retention_s=3600, max_rows=20)
    assert await store.count(db) == 20
    kept = await db.fetchall("SELECT trace_id FROM spans ORDER BY id")
    assert [r[0] for r in kept] == [f"{i:032x}" for i in range(31, 51)]


async def test_timeline_accepts_the_short_id_and_orders_the_tree(db: Database) -> None:
    t = "4bf92f3577b34da6a3ce929d0e0e4736"
    await store.write(db, [
        row(t, "1" * 16, 100.0, name="hook", component="hook"),
        row(t, "2" * 16, 100.02, parent_id="1" * 16, name="ingest", component="ingest"),
        row(t, "4" * 16, 100.05, parent_id="1" * 16, name="late", component="hub"),
        row(t, "3" * 16, 100.03, parent_id="2" * 16, name="upsert", component="store",
            status="error", attributes={"ccr.error": "pane_gone"}),
    ])
    line = await store.timeline(db, t[:12].upper())
    assert line["trace_id"] == t and line["errors"] == 1
    assert [s["name"] for s in line["spans"]] == ["hook", "ingest", "upsert", "late"]
    assert [s["depth"] for s in line["spans"]] == [0, 1, 2, 1]
    assert line["spans"][1]["offset_ms"] == pytest.approx(20, abs=0.01)
    assert line["spans"][0]["duration_ms"] == pytest.approx(10, abs=0.01)
    recent = await store.recent(db, 5)
    assert recent[0]["trace_id"] == t and recent[0]["name"] == "hook"


async def test_unknown_ambiguous_and_invalid_references_are_explained(db: Database) -> None:
    await store.write(db, [row("ab" + "1" * 30, "1" * 16, 1.0),
                           row("ab" + "2" * 30, "2" * 16, 1.0)])
    for ref, code in (("ffff0000", "trace_not_found"), ("ab", "trace_id_invalid"),
                      ("abab", "trace_not_found"), ("xyz12345", "trace_id_invalid"),
                      ("ab1", "trace_id_invalid"), ("ab" + "1" * 31, "trace_id_invalid")):
        with pytest.raises(CcrError) as info:
            await store.resolve(db, ref)
        assert info.value.code == code, ref
    assert await store.resolve(db, "AB111") == "ab" + "1" * 30
    await store.write(db, [row("ab" + "1" * 29 + "3", "3" * 16, 1.0)])
    assert await store.resolve(db, "ab" + "1" * 30) == "ab" + "1" * 30
    with pytest.raises(CcrError) as info:
        await store.resolve(db, "ab11")
    assert info.value.code == "trace_ambiguous"


def test_attributes_never_carry_text_secrets_or_tokens() -> None:
    kept = store.scrub({
        "ccr.kind": "notification", "ccr.attempt": 2, "ccr.duplicate": False,
        "ccr.text": "run the tests", "ccr.message": "hi", "ccr.prompt": "p", "ccr.reply": "r",
        "api_token": "t", "ccr.secret": "s", "http.authorization": "Bearer x",
        "ccr.long": "x" * 500, "ccr.multi": "a\nb", "ccr.list": ["a"],
    })
    assert kept == {"ccr.kind": "notification", "ccr.attempt": 2, "ccr.duplicate": False}


# --- spans through the tracer ---------------------------------------------------------------


async def test_a_hook_trace_is_continued_and_stored_in_batches(db: Database) -> None:
    tracing = Tracing(flush_interval_s=0.05)
    tracing.attach(db)
    header = new_traceparent()
    trace_id, hook_span = header.split("-")[1:3]
    parent = tracing.hook_span(header, server="laptop", started=time.time() - 0.5,
                               received=time.time())
    with tracing.span("ingest", component="ingest", server="laptop", parent=parent) as span:
        assert current_trace_id() == trace_id
        async with traced(db.transaction(), tracing, "session.upsert", component="store"):
            pass
        span.set_attribute("ccr.text", "must not be stored")
    with pytest.raises(RemoteError), tracing.span("tmux send-keys", component="tmux"):
        raise RemoteError("pane_gone", handle="laptop:1")
    assert await store.count(db) == 0, "spans wait in memory, not in the ending coroutine"
    runner = asyncio.create_task(tracing.run())
    try:
        deadline = time.monotonic() + 5
        while await store.count(db) < 4 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    finally:
        runner.cancel()
    line = await tracing.timeline(trace_id[:12])
    by_name = {s["name"]: s for s in line["spans"]}
    assert set(by_name) == {"hook", "ingest", "session.upsert"}
    assert by_name["hook"]["span_id"] == hook_span and by_name["hook"]["parent_id"] is None
    assert by_name["hook"]["duration_ms"] >= 400
    assert by_name["ingest"]["parent_id"] == hook_span
    assert by_name["session.upsert"]["parent_id"] == by_name["ingest"]["span_id"]
    assert "ccr.text" not in by_name["ingest"]["attributes"]
    failed = [r for r in await db.fetchall("SELECT name, status, attributes FROM spans")
              if r["name"] == "tmux send-keys"]
    assert failed[0]["status"] == "error"
    assert json.loads(failed[0]["attributes"]) == {"ccr.error": "pane_gone"}


async def test_only_in_trace_spans_stay_quiet_outside_a_trace(db: Database) -> None:
    tracing = Tracing()
    tracing.attach(db)
    with tracing.span("breaker.check", component="breaker", only_in_trace=True):
        pass
    assert await tracing.flush() == 0


async def test_disabled_tracing_records_and_quotes_nothing(db: Database) -> None:
    tracing = Tracing.disabled()
    tracing.attach(db)
    with tracing.span("command", component="command", root=True):
        assert tracing.trace_id() is None
    assert await tracing.flush() == 0


async def test_a_flush_cancelled_while_writing_still_stores_its_spans(db: Database) -> None:
    """A reader's flush (the console's traces reload) can be cancelled by the next one; the
    spans it already took from the buffer must reach the table all the same."""
    tracing = Tracing()
    tracing.attach(db)
    for name in ("outbox.deliver", "telegram.send"):
        with tracing.span(name, component="delivery", root=True):
            pass
    async with db.transaction():  # the write lock is busy: the flush waits inside its write
        reader = asyncio.create_task(tracing.flush())
        await asyncio.sleep(0.05)
        reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    await tracing.flush()
    assert sorted(r["name"] for r in await db.fetchall("SELECT name FROM spans")) == [
        "outbox.deliver", "telegram.send"]


def test_the_buffer_is_bounded() -> None:
    tracing = Tracing()
    tracing.processor.buffer = type(tracing.processor.buffer)(maxlen=10)
    for _ in range(25):
        with tracing.span("x", component="hub", root=True):
            pass
    assert len(tracing.processor.buffer) == 10 and tracing.processor.dropped == 15


# --- errors quote their trace -----------------------------------------------------------------


def test_errors_quote_their_trace_everywhere() -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    exc = RemoteError("pane_gone", handle="laptop:1", server="laptop").with_trace(trace_id)
    assert exc.to_dict()["trace_id"] == trace_id
    assert exc.to_dict()["trace"] == "trace 4bf92f3577b3"
    assert exc.explain().endswith("(trace 4bf92f3577b3)")
    html = error_text(exc.to_dict())
    assert "trace <code>4bf92f3577b3</code>" in html
    msg = command_result({"handle": "laptop:1", "state": "failed", "text": "x",
                          "error": exc.to_dict()})
    assert "4bf92f3577b3" in msg
    assert "trace" not in error_text(CcrError("text_empty").to_dict())


async def test_a_resumed_command_stays_in_its_trace(db: Database) -> None:
    tracing = Tracing()
    tracing.attach(db)
    with tracing.span("command", component="command", root=True):
        trace_id = tracing.trace_id()
    assert trace_id is not None
    with tracing.in_trace(trace_id, "command.recover", component="command"), \
            tracing.span("command.dispatching", component="command"):
        assert tracing.trace_id() == trace_id
    await tracing.flush()
    line = await store.timeline(db, trace_id)
    names = [s["name"] for s in line["spans"]]
    assert names == ["command", "command.recover", "command.dispatching"]
    assert line["spans"][2]["depth"] == 1, "dispatching is a child of the recover span"


def test_otlp_without_its_extra_is_reported_not_fatal() -> None:
    said: list[tuple[str, str]] = []
    tracing = Tracing(otlp_endpoint="http://127.0.0.1:9/v1/traces",
                      log=lambda level, text: said.append((level, text)))
    try:
        import opentelemetry.exporter.otlp  # noqa: F401
    except ImportError:
        assert tracing.otlp is None
        assert said and "opentelemetry-exporter-otlp" in said[0][1]
    else:
        assert tracing.otlp is not None
    with tracing.span("x", component="hub", root=True):
        pass
    assert len(tracing.processor.buffer) == 1
