"""The Hub: builds every part from one Settings object, runs the background tasks, stops them.

`ccr serve` runs it headless; `ccr console` and `ccr demo` run the same Hub inside the
Textual app's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import secrets
import socket
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccr.core import redact, views
from ccr.core.config import LocalServer, Settings, SshServer
from ccr.core.errors import CcrError, ConfigError
from ccr.core.events import EventBus, HubLog, ServerStateChanged
from ccr.core.models import Command, Session
from ccr.core.roles import named_tokens
from ccr.reliability.board import build_board, load_board, probe_due
from ccr.reliability.breaker import BreakerPolicy
from ccr.reliability.retry import policies, telegram_policy
from ccr.remote.executor import Executor, tmux_target
from ccr.remote.forward import HookForwards
from ccr.remote.pool import SshPool
from ccr.remote.replace import BreakerGate
from ccr.services.audit import AuditService
from ccr.services.cache import ServerConfigCache, SessionCache
from ccr.services.commands import CommandService
from ccr.services.dead_letters import DeadLetterQueue
from ccr.services.delivery import DeliveryWorker, Sender
from ccr.services.drafts import DraftService
from ccr.services.fleet import Fleet
from ccr.services.history import HistoryService
from ccr.services.lifecycle import CommandLifecycle
from ccr.services.prompting import PromptService
from ccr.services.recovery import SessionRecovery
from ccr.services.screens import ScreenService
from ccr.services.secret_files import readable_secrets
from ccr.services.session_control import SessionControl
from ccr.services.sessions import SessionService
from ccr.services.topics import TopicService
from ccr.services.warnings import Warnings
from ccr.store.db import Database
from ccr.store.deadletters import Schedule
from ccr.store.outbox import OutboxItem
from ccr.telegram import richtext
from ccr.telemetry import alerts as alert_rules
from ccr.telemetry import logsink
from ccr.telemetry.alerts import AlertService, Figures
from ccr.telemetry.health import Health, assess
from ccr.telemetry.metrics import Metrics, from_store, keep_snapshots
from ccr.telemetry.tracing import Tracing

if TYPE_CHECKING:
    from ccr.api.http_server import QuietServer

PROBE_INTERVAL_S = 60.0


class _NoTelegram:
    """Sender used when Telegram is not configured: nothing is ever enqueued for it."""

    async def send(self, item: OutboxItem) -> int:
        from ccr.services.delivery import SendFailed

        raise SendFailed("Telegram is not configured")


class Hub:
    """Composition root and lifecycle owner."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time,
                 config_file: Path | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.bus = EventBus()
        self.ready = False
        self.data_dir = settings.hub.data_dir
        self.retry = policies(settings.reliability)
        self.db = Database(self.data_dir / "ccr.db", busy=self.retry.database, log=self.log)
        self.breakers = (build_board(BreakerPolicy.from_settings(settings.reliability), self.db,
                                     self.bus, clock)
                         if settings.reliability.breakers else None)
        self._probe_wake = asyncio.Event()
        if self.breakers is not None:
            self.breakers.listeners.append(lambda *_: self._probe_wake.set())
        secret = settings.secret(settings.hub.shared_secret_env)
        if secret is None:
            raise ConfigError("secret_missing", env=settings.hub.shared_secret_env,
                              purpose="hooks sign their events with it")
        self.shared_secret = secret
        self.api_token = settings.secret(settings.hub.api_token_env) or ""
        self.telegram_token = settings.secret(settings.telegram.token_env)
        self.api_tokens = named_tokens(settings)
        """[api] tokens: (name, value, role) of each whose variable is set."""
        redact.configure((self.shared_secret, self.api_token, self.telegram_token,
                          *(value for _, value, _ in self.api_tokens)))
        logsink.redact_python_logging()
        richtext.configure(rich=settings.commands.rich_messages)
        self.pool = SshPool(settings.pool, connect_timeout=settings.executor.connect_timeout_s,
                            gate=None if self.breakers is None else BreakerGate(self.breakers),
                            backoff=self.retry.ssh)
        self.executor = Executor(list(settings.servers), settings.executor,
                                 retry=self.retry.ssh, breakers=self.breakers, log=self.log,
                                 pool=self.pool)
        self.forwards = HookForwards(
            [s for s in settings.servers if isinstance(s, SshServer)], self.pool,
            backoff=self.retry.ssh, log=self.log, clock=clock,
            request_timeout_s=settings.executor.connect_timeout_s)
        """Remote port forwards that bring hooks_via = "ssh" servers' hooks to /notify."""
        self.sessions = SessionService(
            self.db, self.bus, clock=clock, ttl_seconds=settings.hub.session_ttl_hours * 3600,
            recipients=self._recipients,
        )
        self.commands = CommandService(self.db, self.bus, self.sessions, self.executor,
                                       clock=clock)
        self.commands.rich = settings.commands.rich_messages
        self.commands.aliases = dict(settings.aliases)
        self.lifecycle = CommandLifecycle(self.db, self.bus, self.sessions, self.executor,
                                          settings.commands, clock=clock)
        self.sessions.turns = self.lifecycle
        self.drafts = DraftService(self.db, self.sessions, clock=clock)
        self.control = SessionControl(self.db, self.bus, self.sessions, self.executor,
                                      clock=clock,
                                      start_timeout_s=settings.commands.start_timeout_s)
        self.history = HistoryService(self.db, clock, settings, log=self.log)
        self.screens = ScreenService(self.sessions, self.executor, clock=clock)
        """The pane as a picture or as text (/screen, /tail, the console's `s`)."""
        self.audit = AuditService(self.db, keep_days=settings.audit.keep_days, clock=clock,
                                  log=self.log, bus=self.bus)
        self.topics = TopicService(self.db, self.bus, self.sessions, clock=clock, log=self.log,
                                   chat_id=settings.telegram.topics_chat
                                   if self.telegram_token else 0)
        caching = settings.cache
        self.server_config: ServerConfigCache[LocalServer | SshServer] = ServerConfigCache(
            settings.server, ttl_s=caching.ttl_s, maxsize=caching.servers,
            enabled=caching.enabled)
        if caching.enabled:
            self.sessions.cache = SessionCache(ttl_s=caching.ttl_s,
                                               max_bytes=int(caching.session_mb * 1024 * 1024),
                                               max_keys=caching.session_keys)
        self.telegram: Any = None
        self.sender: Sender = _NoTelegram()
        rel = settings.reliability
        schedule = Schedule(base_s=rel.dlq_base_s, cycles=rel.dlq_cycles)
        self.delivery = DeliveryWorker(self.db, self.bus, self.sender, clock=clock,
                                       policy=telegram_policy(rel), schedule=schedule,
                                       admins=lambda: list(settings.telegram.admins))
        self.dlq = DeadLetterQueue(self.db, self.bus, schedule=schedule,
                                   interval_s=rel.dlq_interval_s, clock=clock,
                                   wake=self.delivery.wake)
        self.sessions.on_outbox = self.delivery.wake
        self.prompts = PromptService(
            self.db, self.executor, clock=clock, wake=self.delivery.wake, log=self.log,
            spawn=lambda coro: self.keep(asyncio.create_task(coro, name="prompt-read")),
            session=self.sessions.get,
            enabled=lambda: bool(self.telegram_token) and settings.commands.rich_messages)
        self.prompts.on_refused = self.lifecycle.refused
        self.sessions.hold_for = self.prompts.hold_for
        self.sessions.on_waiting = self.prompts.on_waiting
        self.commands.on_outbox = self.lifecycle.on_outbox = self.delivery.wake
        self.lifecycle.activity.on_outbox = self.delivery.wake
        self.sessions.degraded = self.degraded
        tr = settings.tracing
        self.tracing = Tracing(enabled=tr.enabled, otlp_endpoint=tr.otlp_endpoint,
                               retention_s=tr.retention_hours * 3600, max_spans=tr.max_spans,
                               log=self.log, clock=clock)
        self.tracing.attach(self.db)
        self.sessions.tracing = self.commands.tracing = self.control.tracing = self.tracing
        self.delivery.tracing = self.executor.tracing = self.tracing
        self.recovery = SessionRecovery(self.sessions, self.executor.list_panes,
                                        self._tmux_target, interval=rel.health_interval_s,
                                        clock=clock)
        self.executor.on_panes_changed = lambda _server: self.recovery.nudge()
        self.metrics: Metrics | None = None
        if settings.metrics.enabled:
            self.metrics = Metrics([s.id for s in settings.servers], clock=clock,
                                   connections=self.executor.connections,
                                   pool=self.pool.stats, forwards=self.forwards.figures)
            self.executor.observe = self.metrics.ssh_call
            self.db.observe = self.metrics.db_operation
            self.delivery.observe = self.metrics.telegram_send
            self._watch_caches(self.metrics)
        self.server_state: dict[str, tuple[str, str, float]] = {
            s.id: ("unknown", "not checked yet", 0.0) for s in settings.servers
        }
        self.alerts = AlertService(self.db, self.bus, settings.alerts, clock=clock,
                                   figures=self._alert_figures,
                                   admins=lambda: list(settings.telegram.admins)
                                   if self.telegram_token else [])
        self.alerts.on_outbox = self.delivery.wake
        self.sessions.on_claude_state = self.alerts.wake
        self.fleet = Fleet(self.db, config_file=config_file, current=settings.server,
                           add=self.add_server, remove=self.remove_server, clock=clock)
        self.warnings = Warnings(self.db, settings, clock=clock, screens=self.executor,
                                 session=self.sessions.get, last_hook=self.fleet.last_hook)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._daemons: set[asyncio.Task[Any]] = set()
        self._http: QuietServer | None = None
        self._stopping = asyncio.Event()

    # --- lifecycle -------------------------------------------------------------------------

    def _recipients(self) -> list[int]:
        # Not `self.telegram`: /notify is served while the bot is still starting, and an
        # event accepted then must still be queued (the outbox keeps it for the sender).
        if not self.telegram_token:
            return []
        return list(self.settings.telegram.allowed_chats)

    def _bind(self) -> socket.socket:
        host, port = self.settings.hub.host, self.settings.hub.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise ConfigError("config_invalid", path="ccr.toml",
                              detail=f"hub.listen: cannot listen on {host}:{port} "
                                     f"({exc.strerror}); is another hub running?") from None
        sock.listen(128)
        sock.setblocking(False)
        return sock

    async def start(self, *, http: bool = True) -> None:
        """Open the store, bind the API, start the workers; ready once /healthz says ok.

        `http=False` runs without the API (the console's snapshot tests use it).
        """
        sock = self._bind() if http else None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        await self.db.open()
        if self.breakers is not None:
            await load_board(self.breakers, self.db)
        if self.metrics is not None:
            await self._start_metrics(self.metrics)
        if not self.api_token:
            self.api_token = secrets.token_urlsafe(24)
            if http:
                self._write_token_file()
        if sock is not None:
            # imported and built in threads: the console keeps painting meanwhile
            server = await asyncio.to_thread(importlib.import_module, "ccr.api.http_server")
            http_server: QuietServer = await asyncio.to_thread(server.http_server, self)
            self._http = http_server  # its routes took ~0.2 s to build, off the loop
            self.spawn(http_server.serve(sockets=[sock]), "http")
        if self.telegram_token and self.settings.telegram.allowed_chats:
            await self._start_telegram(self.telegram_token)
        elif self.telegram_token:
            self.log("warning", "Telegram token set but [telegram] allowed_chats is empty: "
                                "the bot is off")
        self._warn_unreachable_stuck_alert()
        self.spawn(self.delivery.run(), "delivery", daemon=True)
        self.spawn(self.dlq.run(), "dead-letters", daemon=True)
        self.spawn(self.history.run(), "history-purge", daemon=True)
        self.spawn(self.audit.run(), "audit-purge", daemon=True)
        await self.commands.recover()
        self.spawn(self.lifecycle.watch(), "command-watch", daemon=True)
        self.spawn(self._watch_servers(), "servers", daemon=True)
        self.spawn(self.recovery.run(), "recovery", daemon=True)
        if self.topics.enabled:
            self.spawn(self.topics.run(), "topics", daemon=True)
        self.spawn(self.pool.run(), "ssh-pool", daemon=True)
        self.spawn(self.fleet.load(), "hook-times")
        if self.tracing.enabled:
            self.spawn(self.tracing.run(), "tracing", daemon=True)
        if self.settings.alerts.enabled:
            self.spawn(self.alerts.run(), "alerts", daemon=True)
        while self._http is not None and not self._http.started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # uvicorn offers no event for "listening"
        if sock is not None:
            self.forwards.start(self.settings.hub.host, sock.getsockname()[1])
            pinned = sum(1 for s in self.settings.servers
                         if isinstance(s, SshServer) and s.hooks_via == "ssh")
            if pinned * 2 > self.settings.pool.max_total:
                self.log("warning", f"{pinned} hook forwards each keep an SSH connection; "
                                    f"[pool] max_total = {self.settings.pool.max_total} leaves "
                                    "little room for commands: set it to at least "
                                    f"{pinned * 2}")
        for exposed in await asyncio.to_thread(readable_secrets, self.settings):
            self.log("warning", f"{exposed.describe()}: {exposed.fix}")
        self.ready = True
        self.log("info", f"hub listening on {self.settings.hub.url}" if http
                 else "hub started (API off)")

    async def _start_metrics(self, metrics: Metrics) -> None:
        """Metrics follow the bus from here on (no event missed); snapshots if configured."""
        if self.breakers is not None:
            metrics.set_breakers({sid: rec.state.value
                                  for sid, rec in self.breakers.states().items()})
        subscribed = asyncio.Event()
        self.spawn(metrics.run(self.bus, from_store(metrics, self.db, self.clock),
                               subscribed=subscribed), "metrics", daemon=True)
        await subscribed.wait()
        cfg = self.settings.metrics
        if cfg.snapshot_interval_s > 0:
            self.spawn(keep_snapshots(metrics, self.db, interval_s=cfg.snapshot_interval_s,
                                      keep_s=cfg.snapshot_keep_hours * 3600),
                       "metric-snapshots", daemon=True)

    async def _start_telegram(self, token: str) -> None:
        from ccr.telegram.bot import TelegramBot

        bot = TelegramBot(self, token)
        try:
            await bot.start()
        except Exception as exc:
            self.log("error", f"Telegram did not start ({type(exc).__name__}: {exc}); "
                              "notifications stay queued until it does")
            await bot.stop()
            return
        self.telegram = bot
        self.sender = bot
        self.delivery.sender = bot

    def _warn_unreachable_stuck_alert(self) -> None:
        """`command_stuck` can only fire before a command times out: say so when it cannot."""
        stuck_min = self.settings.alerts.stuck_after_min
        timeout_s = self.settings.commands.timeout_s
        if self.settings.alerts.enabled and stuck_min * 60 >= timeout_s:
            self.log("warning", f"[alerts] stuck_after_min = {stuck_min:g} is not below "
                                f"[commands] timeout_s = {timeout_s:g} s: a command "
                                "times out before it could be reported stuck; lower "
                                "stuck_after_min or raise timeout_s")

    def _write_token_file(self) -> None:
        path = self.data_dir / "api-token"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.api_token)

    async def stop(self) -> None:
        """Stop in reverse order; in-flight commands get a moment to finish."""
        self.ready = False
        self.lifecycle.activity.close()
        if self.telegram is not None:
            await self.telegram.stop()
        if self._http is not None:
            self._http.should_exit = True
        for task in self._daemons:
            task.cancel()
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=3)
            for t in still:
                t.cancel()
            await asyncio.gather(*still, return_exceptions=True)
        await self.forwards.close()
        await self.executor.close()
        await self.tracing.close()
        await self.db.close()
        with contextlib.suppress(OSError):
            token_file = self.data_dir / "api-token"
            if token_file.exists() and not self.settings.secret(self.settings.hub.api_token_env):
                token_file.unlink()

    def request_stop(self) -> None:
        self._stopping.set()

    async def run_until_stopped(self) -> None:
        await self.start()
        try:
            await self._stopping.wait()
        finally:
            await self.stop()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str,
              *, daemon: bool = False) -> asyncio.Task[Any]:
        """Start a background task; daemons (endless loops) are cancelled at stop."""
        task = asyncio.create_task(coro, name=name)
        self.keep(task)
        if daemon:
            self._daemons.add(task)
            task.add_done_callback(self._daemons.discard)
        return task

    def keep(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log("error", f"background task {task.get_name()} failed: "
                              f"{task.exception()!r}")

    def log(self, level: str, text: str) -> None:
        self.bus.publish(HubLog(level, text))

    def _watch_caches(self, metrics: Metrics) -> None:
        """Cache hits, misses and sizes as metrics (cache_hits_total{cache}...)."""
        if not self.settings.cache.enabled:
            return
        self.server_config.cache.observe = metrics.cache_lookup
        metrics.watch_cache(ServerConfigCache.NAME, lambda: len(self.server_config))
        cache = self.sessions.cache
        if cache is not None:
            cache.observe = metrics.cache_lookup
            metrics.watch_cache(SessionCache.NAME, lambda: len(cache))

    # --- servers ---------------------------------------------------------------------------

    def _tmux_target(self, session: Session) -> list[str] | None:
        server = self.server_config.get(session.server_id)
        return None if server is None else tmux_target(server, session)

    def unavailable(self) -> list[str]:
        """Servers whose last probe failed or whose breaker is not closed."""
        down = {sid for sid, (state, _, _) in self.server_state.items() if state == "down"}
        if self.breakers is not None:
            down |= {sid for sid, rec in self.breakers.states().items()
                     if rec.state != "closed"}
        return sorted(down)

    def _error_rates(self) -> tuple[dict[str, tuple[float | None, int]],
                                    dict[str, float | None]]:
        """Per server: (SSH error rate, calls) and p95 over the alert windows."""
        if self.metrics is None:
            return {}, {}
        return alert_rules.series_figures(self.metrics.series,
                                          [s.id for s in self.settings.servers],
                                          self.settings.alerts)

    async def _alert_figures(self) -> Figures:
        """What the alert rules look at now."""
        rates, p95s = self._error_rates()
        breakers = (alert_rules.breaker_figures(self.breakers.states())
                    if self.breakers is not None else None)
        return Figures(servers=tuple(s.id for s in self.settings.servers), breakers=breakers,
                       error_rates=rates if self.metrics is not None else None,
                       ssh_p95=p95s if self.metrics is not None else None,
                       dlq_size=await alert_rules.dlq_size(self.db),
                       claude_failures=await alert_rules.claude_failures(self.db),
                       **await self._warning_figures())

    async def _warning_figures(self) -> dict[str, Any]:
        stuck, silent = await self.warnings.figures()
        return {"stuck": stuck, "silent": silent, "exposed": await self.warnings.exposed()}

    def health(self) -> Health:
        """GREEN / YELLOW / RED per server and overall (ccr.telemetry.health)."""
        cfg = self.settings.alerts
        rates, _ = self._error_rates()
        overall: float | None = None
        if self.metrics is not None:
            calls = self.metrics.series.window("ssh_calls", None, cfg.error_rate_minutes) or 0
            if calls >= cfg.error_rate_min_calls:
                overall = self.metrics.series.window("error_rate", None, cfg.error_rate_minutes)
        breakers = ({sid: r.state.value for sid, r in self.breakers.states().items()}
                    if self.breakers is not None else {})
        return assess([s.id for s in self.settings.servers], breakers=breakers,
                      probes={sid: st[0] for sid, st in self.server_state.items()},
                      error_rates={sid: rate if calls >= cfg.error_rate_min_calls else None
                                   for sid, (rate, calls) in rates.items()},
                      error_rate=overall, yellow=cfg.health_yellow_error_rate,
                      red=cfg.health_red_error_rate)

    def degraded(self) -> str | None:
        """A line for notifications when too many servers are unavailable, else None."""
        total = len(self.settings.servers)
        down = self.unavailable()
        if not total or len(down) / total <= self.settings.reliability.degraded_fraction:
            return None
        return (f"{len(down)} of {total} servers unavailable ({', '.join(down)}); "
                "commands to them wait until they answer")

    async def add_server(self, server: LocalServer | SshServer) -> None:
        """Serve one more server from now on, without a restart (`ccr servers add`).

        The one change to Settings after start: its servers list is changed in place, so
        every part that reads the settings (ingest, bot, history, console) sees the server.
        """
        if self.settings.server(server.id) is not None:
            raise ValueError(f"server {server.id} is served already")
        self.settings.servers.append(server)
        self.executor.servers[server.id] = server
        self.server_config.invalidate(server.id)
        self.server_state[server.id] = ("unknown", "not checked yet", 0.0)
        if self.metrics is not None:
            self.metrics.add_server(server.id)
        self.recovery.forget(server.id)
        if isinstance(server, SshServer):
            self.forwards.add(server)  # its hooks ride this connection from now on
        self._probe_wake.set()  # the probe loop checks it now (and so opens its connection)
        self.log("info", f"now serving server {server.id}")

    async def remove_server(self, server_id: str) -> None:
        """Stop serving a server (`ccr servers remove`): its connections close, its breaker
        and state go; its sessions stay in the store and expire as usual."""
        server = self.settings.server(server_id)
        if server is None:
            return
        self.settings.servers.remove(server)
        self.server_config.invalidate(server_id)
        await self.forwards.remove(server_id)
        await self.executor.forget(server_id)
        self.server_state.pop(server_id, None)
        if self.breakers is not None:
            self.breakers.forget(server_id)
        self.recovery.forget(server_id)
        self._probe_wake.set()
        self.log("info", f"stopped serving server {server_id}")

    async def _watch_servers(self) -> None:
        """Probe each server every PROBE_INTERVAL_S; an open breaker only at half-open time.

        Servers added or removed while the hub runs join or leave the round at once."""
        due: dict[str, float] = {}
        while True:
            due = {s.id: due.get(s.id, 0.0) for s in self.settings.servers}
            now = self.clock()
            ready = [sid for sid, at in due.items() if at <= now]
            await asyncio.gather(*(self.probe(sid) for sid in ready))
            self._probe_wake.clear()
            due = {s.id: due.get(s.id, 0.0) for s in self.settings.servers}  # added meanwhile
            now = self.clock()
            for sid in due:
                regular = now + PROBE_INTERVAL_S if sid in ready else due[sid]
                due[sid] = probe_due(self.breakers, sid, now, regular)
            wait = max(0.0, min(due.values(), default=now + PROBE_INTERVAL_S) - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._probe_wake.wait(), wait)

    async def probe(self, server_id: str) -> tuple[str, str]:
        """Check a server's tmux answers; publish a change of state."""
        try:
            version = await self.executor.probe(server_id)
            state, detail = "up", version
        except CcrError as exc:
            state, detail = "down", exc.message
        if self.settings.server(server_id) is None:
            return "unknown", "no longer served"  # removed while it was probed
        previous = self.server_state.get(server_id, ("unknown", "", 0.0))[0]
        self.server_state[server_id] = (state, detail, self.clock())
        if state != previous:
            self.bus.publish(ServerStateChanged(server_id, state, detail))
        return state, detail

    # --- views for faces -----------------------------------------------------------------

    def session_view(self, s: Session) -> dict[str, Any]:
        return views.session(s)

    def command_view(self, c: Command) -> dict[str, Any]:
        return views.command(c)

    def server_views(self) -> list[dict[str, Any]]:
        breakers = self.breakers.states() if self.breakers is not None else {}
        return [views.server(s, self.server_state.get(s.id),
                             breaker=breakers[s.id].state.value if s.id in breakers else None,
                             last_hook=self.fleet.last_hook.get(s.id))
                for s in self.settings.servers]


def database_path(settings: Settings) -> Path:
    return settings.hub.data_dir / "ccr.db"
