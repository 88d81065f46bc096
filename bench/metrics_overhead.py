"""Metrics overhead on the command path, and the metrics' memory and query latency at size.

1. Command path, metrics on vs off, in one run: two in-process hubs (real SQLite, real
   executor, a real local tmux pane running `cat`), identical but for `[metrics] enabled`.
   Commands alternate between them (on, off, on, off ...), each the full
   `CommandService.submit` path: command row, state changes, events, two tmux calls,
   result. Settle and Enter check are 0 so the hub's own work is what is timed.
2. Size: a hub with 20 servers whose time series hold 60 minutes of synthetic traffic (every
   10 s bucket: SSH calls with latencies, commands, errors, gauges; Telegram sends). Reports
   the metrics' memory (tracemalloc, what filling allocated) and the p95 of `snapshot()`,
   `GET /api/metrics` and `GET /metrics` over HTTP.

Run `python -m bench.metrics_overhead [--count 500]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/metrics_overhead.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.stats import Summary, percentile, table
from ccr.core.config import parse_settings
from ccr.core.models import EventKind, HookEvent
from ccr.hub import Hub
from tests.fixtures.hub import free_port
from tests.fixtures.tmux import Tmux

SECRET = "bench-secret"
TOKEN = "bench-token"


def _env() -> None:
    os.environ["CCR_SHARED_SECRET"] = SECRET
    os.environ["CCR_API_TOKEN"] = TOKEN
    os.environ.pop("CCR_TELEGRAM_TOKEN", None)
    for k in ("TMUX", "TMUX_PANE"):
        os.environ.pop(k, None)


def make_hub(data: Path, servers: list[str], *, metrics: bool, http_port: int = 0) -> Hub:
    port = http_port or free_port()
    return Hub(parse_settings({
        "hub": {"listen": f"127.0.0.1:{port}", "data_dir": str(data)},
        "executor": {"settle_ms": 0, "enter_check_ms": 0},
        "metrics": {"enabled": metrics, "snapshot_interval_s": 0},
        "servers": [{"id": sid, "kind": "local"} for sid in servers],
    }))


async def command_path(count: int, warmup: int, workdir: Path) -> dict[str, list[float]]:
    """Seconds per submitted command, by mode, interleaved."""
    tmux = Tmux(socket_name=f"ccr-bench-m-{uuid.uuid4().hex[:8]}")
    hubs: dict[str, Hub] = {}
    try:
        for mode in ("on", "off"):
            hub = make_hub(workdir / mode, ["laptop"], metrics=mode == "on")
            await hub.start(http=False)
            hubs[mode] = hub
            pane = tmux.new_session(f"sink-{mode}", "cat >/dev/null")
            await hub.sessions.ingest(HookEvent(
                event_id=uuid.uuid4().hex, server_id="laptop", kind=EventKind.STOP,
                hook_event_name="Stop", claude_session_id=mode, cwd=str(workdir),
                pane_id=pane, tmux_socket=tmux.socket_path, tmux_session=f"sink-{mode}",
                message=None, notification_type=None, last_prompt=None, last_reply=None,
                sent_at=time.time()))
        out: dict[str, list[float]] = {"on": [], "off": []}
        for i in range(warmup + count):
            order = ("on", "off") if i % 2 == 0 else ("off", "on")
            for mode in order:
                started = time.perf_counter()
                result = await hubs[mode].commands.submit(text=f"bench {i}", ref="laptop:1",
                                                          source="bench")
                took = time.perf_counter() - started
                if result.error is not None:
                    raise RuntimeError(f"{mode}: {result.error.explain()}")
                if i >= warmup:
                    out[mode].append(took)
        return out
    finally:
        for hub in hubs.values():
            await hub.stop()
        tmux.kill_server()


def fill(hub: Hub, servers: list[str], rng: random.Random) -> None:
    """60 minutes of traffic for every server, bucket by bucket, in the past hour."""
    assert hub.metrics is not None
    ts = hub.metrics.series
    now = time.time()
    for step in range(360):
        at = now - 3600 + step * 10 + 5
        for sid in servers:
            calls = rng.randint(5, 30)
            ts.count("ssh_calls", sid, calls, at=at)
            for _ in range(calls):
                ts.observe("ssh_seconds", sid, rng.lognormvariate(-4, 1), at=at)
            ts.count("ssh_errors", sid, rng.randint(0, 2), at=at)
            ts.count("commands", sid, rng.randint(0, 5), at=at)
            ts.count("command_errors", sid, rng.randint(0, 1), at=at)
            ts.gauge("sessions_live", sid, rng.randint(0, 8), at=at)
        ts.count("telegram_sends", n=rng.randint(0, 10), at=at)
        ts.count("telegram_failures", n=rng.randint(0, 1), at=at)
        ts.observe("telegram_seconds", seconds=rng.lognormvariate(-3, 0.5), at=at)
        ts.gauge("dlq_size", value=rng.randint(0, 5), at=at)
    # Every Prometheus series a busy hub would have, too.
    statuses = ("ok", "pane_gone", "tmux_error", "unreachable", "auth_failed", "host_key",
                "uncertain", "error")
    codes = {"ok": None, "pane_gone": "pane_gone", "tmux_error": "tmux_failed",
             "unreachable": "ssh_unreachable", "auth_failed": "ssh_auth_failed",
             "host_key": "ssh_host_key_changed", "uncertain": "delivery_uncertain",
             "error": "internal"}
    for sid in servers:
        for status in statuses:
            for _ in range(20):
                hub.metrics.ssh_call(sid, codes[status], rng.lognormvariate(-4, 1))
        for state in ("pending", "dispatching", "executing", "failed", "uncertain"):
            hub.metrics.commands.labels(sid, state).inc(rng.randint(1, 500))
        for kind in ("stop", "subagent_stop", "waiting", "notification"):
            hub.metrics.hook_event(sid, kind, "duplicate")
        for a, b in (("closed", "open"), ("open", "half_open"), ("half_open", "closed")):
            hub.metrics.breaker_changes.labels(sid, a, b).inc()


async def at_size(workdir: Path, n_servers: int, requests: int) -> dict[str, Any]:
    servers = [f"s{i:02d}" for i in range(n_servers)]
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    hub = make_hub(workdir / "size", servers, metrics=True)
    assert hub.metrics is not None
    empty = tracemalloc.get_traced_memory()[0]
    fill(hub, servers, random.Random(5))
    full = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    series_bytes = hub.metrics.series.memory_bytes()
    snap_s = []
    for _ in range(requests):
        t0 = time.perf_counter()
        hub.metrics.series.snapshot()
        snap_s.append(time.perf_counter() - t0)
    await hub.start()
    api_s: list[float] = []
    prom_s: list[float] = []
    size = 0
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=hub.settings.hub.url, headers=headers) as c:
            for _ in range(10):
                await c.get("/api/metrics")
            for _ in range(requests):
                t0 = time.perf_counter()
                r = await c.get("/api/metrics")
                api_s.append(time.perf_counter() - t0)
                r.raise_for_status()
                t0 = time.perf_counter()
                r = await c.get("/metrics")
                prom_s.append(time.perf_counter() - t0)
                r.raise_for_status()
                size = len(r.content)
    finally:
        await hub.stop()
    return {"servers": n_servers, "metrics_bytes": full - base, "empty_bytes": empty - base,
            "series_bytes": series_bytes, "snapshot": snap_s, "api": api_s, "prom": prom_s,
            "exposition_bytes": size}


def per_call_costs(n: int = 20000) -> dict[str, float]:
    """Microseconds per instrumentation call: a noise-free bound on the per-command cost."""
    from ccr.core.events import CommandChanged
    from ccr.core.models import Command, CommandState
    from ccr.telemetry.metrics import Metrics

    m = Metrics(["laptop"])
    cmd = Command(id="c1", session_id=1, handle="laptop:1", text="x", source="bench",
                  chat_id=None, state=CommandState.EXECUTING, error_code=None,
                  error_text=None, created_at=0, finished_at=None)
    event = CommandChanged(cmd)
    out = {}
    for name, call in (("ssh_call", lambda: m.ssh_call("laptop", None, 0.003)),
                       ("db_operation", lambda: m.db_operation("transaction", 0.001)),
                       ("event (CommandChanged)", lambda: m.handle(event))):
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        out[name] = (time.perf_counter() - t0) / n * 1e6
    return out


def _ms(seconds: list[float]) -> Summary:
    return Summary.of([s * 1000 for s in seconds])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=500, help="commands per mode (default 500)")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--servers", type=int, default=20)
    p.add_argument("--requests", type=int, default=200, help="snapshot and scrape requests")
    opts = p.parse_args(argv)
    _env()
    with tempfile.TemporaryDirectory(prefix="ccr-bench-metrics-") as tmp:
        work = Path(tmp)
        path = asyncio.run(command_path(opts.count, opts.warmup, work))
        size = asyncio.run(at_size(work, opts.servers, opts.requests))
    on, off = _ms(path["on"]), _ms(path["off"])
    mean_on = sum(path["on"]) / len(path["on"]) * 1000
    mean_off = sum(path["off"]) / len(path["off"]) * 1000
    rows = []
    for label, s, mean in (("metrics on", on, mean_on), ("metrics off", off, mean_off)):
        rows.append([label, str(s.n), f"{mean:.3f}", f"{s.p50:.3f}", f"{s.p95:.3f}",
                     f"{s.p99:.3f}"])
    rows.append(["overhead", "", f"{(mean_on / mean_off - 1) * 100:+.1f} %",
                 f"{(on.p50 / off.p50 - 1) * 100:+.1f} %",
                 f"{(on.p95 / off.p95 - 1) * 100:+.1f} %",
                 f"{(on.p99 / off.p99 - 1) * 100:+.1f} %"])
    print("\nCommand path (CommandService.submit -> SQLite -> local tmux), interleaved, ms")
    print(table(["mode", "n", "mean", "p50", "p95", "p99"], rows))
    costs = per_call_costs()
    # Per submitted command: 2 tmux calls, 5 database operations (3 transactions, 2 reads
    # at most), 3 CommandChanged events.
    per_cmd = 2 * costs["ssh_call"] + 5 * costs["db_operation"] + 3 * costs[
        "event (CommandChanged)"]
    print("\nInstrumentation cost per call (us), and per command vs the command's mean")
    print(table(["call", "us"], [[k, f"{v:.2f}"] for k, v in costs.items()]
                + [["per command (2 ssh + 5 db + 3 events)",
                    f"{per_cmd:.1f} = {per_cmd / 10 / mean_off:.3f} % of {mean_off:.2f} ms"]]))
    print(f"\nAt size: {size['servers']} servers, 60 min of 10 s buckets filled")
    mib = 1024 * 1024
    print(table(["figure", "value", "requirement"], [
        ["metrics memory (tracemalloc, hub built + filled)",
         f"{size['metrics_bytes'] / mib:.2f} MiB", "< 100 MB"],
        ["  of which the time series' arrays", f"{size['series_bytes'] / mib:.2f} MiB", ""],
        ["snapshot() p50 / p95",
         f"{percentile(size['snapshot'], 0.5) * 1000:.2f} / "
         f"{percentile(size['snapshot'], 0.95) * 1000:.2f} ms", ""],
        ["GET /api/metrics p50 / p95 (HTTP)",
         f"{percentile(size['api'], 0.5) * 1000:.2f} / "
         f"{percentile(size['api'], 0.95) * 1000:.2f} ms", "p95 < 200 ms"],
        ["GET /metrics p50 / p95 (HTTP)",
         f"{percentile(size['prom'], 0.5) * 1000:.2f} / "
         f"{percentile(size['prom'], 0.95) * 1000:.2f} ms", ""],
        ["/metrics exposition size", f"{size['exposition_bytes'] / 1024:.1f} KiB", ""],
    ]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
