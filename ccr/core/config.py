"""ccr.toml: one validated Settings object built at start; a bad key is named in the error.

Secrets never live in the file: it names the environment variables that hold them.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ccr.core.command_settings import CommandSettings, check_aliases
from ccr.core.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("~/.config/ccr/ccr.toml")
SERVER_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubSettings(_Strict):
    """Where the hub listens and keeps its data."""

    listen: str = "127.0.0.1:8765"
    """host:port of the ingest endpoint and the API."""
    data_dir: Path = Path("~/.local/share/ccr")
    """SQLite database and the hub's runtime files."""
    shared_secret_env: str = "CCR_SHARED_SECRET"
    """Environment variable holding the secret hooks sign their events with."""
    api_token_env: str = "CCR_API_TOKEN"
    """Environment variable holding the token CLI and API clients send."""
    session_ttl_hours: float = Field(24.0, gt=0)
    """A session expires this long after its last activity."""
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    """Largest hook event accepted by POST /notify."""
    hook_url: str = Field("", max_length=2048, pattern=r"^(https?://\S+)?$")
    """The hub's URL as a server with `hooks_via = "direct"` reaches it; empty: `listen`'s."""

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, for example 127.0.0.1:8765")
        return v

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):  # nosec B104: maps a wildcard listen address to loopback; binds nothing
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


class TelegramSettings(_Strict):
    """The bot. Without a token in `token_env` the hub runs without Telegram."""

    token_env: str = "CCR_TELEGRAM_TOKEN"
    base_url: str = ""
    """Optional self-hosted Bot API server, e.g. http://127.0.0.1:8081/bot."""
    allowed_chats: list[int] = Field(default_factory=list)
    """Only these chats are served; notifications go to all of them."""
    admins: list[int] = Field(default_factory=list)
    """Users with the admin role: all an operator does, plus dead letters, alerts, servers
    and the audit log."""
    operators: list[int] = Field(default_factory=list)
    """Users who may type, press choices, cancel, start and stop sessions. Empty: every user
    in an allowed chat who is not an observer (nor an admin) is an operator."""
    observers: list[int] = Field(default_factory=list)
    """Users who get the notifications and may read (/sessions, /history, /screen, /tail,
    /status) but change nothing."""
    poll_timeout: float = Field(10.0, ge=0, le=50)
    """Long-polling timeout for getUpdates, in seconds."""
    topics_chat: int = 0
    """A forum supergroup (one of allowed_chats) where each session gets its own topic;
    0: off."""

    @field_validator("operators", "observers")
    @classmethod
    def _one_role(cls, v: list[int], info: ValidationInfo) -> list[int]:
        """A user has one role: listed twice would leave which one applies to guesswork."""
        from ccr.core.roles import overlap

        return overlap(v, info.field_name or "?", info.data)

    @field_validator("topics_chat")
    @classmethod
    def _topics_chat_allowed(cls, v: int, info: ValidationInfo) -> int:
        if v and v not in info.data.get("allowed_chats", []):
            raise ValueError(f"chat {v} must also be listed in telegram.allowed_chats (the "
                             "bot serves only those chats); add it there, or set "
                             "topics_chat = 0 to turn topics off")
        return v


class ExecutorSettings(_Strict):
    """How text is typed into a pane."""

    settle_ms: int = Field(300, ge=0, le=5000)
    """Pause between the typed text and its Enter; Claude Code swallows an Enter inside a burst."""
    enter_check_ms: int = Field(150, ge=0, le=5000)
    """After the Enter, wait this long and check the text left the input line."""
    max_text_chars: int = Field(8000, ge=1, le=100_000)
    command_timeout_s: float = Field(10.0, gt=0)
    """Deadline for one tmux call, local or over SSH."""
    connect_timeout_s: float = Field(10.0, gt=0)
    transport: Literal["auto", "control", "exec"] = "auto"
    """auto (default): a tmux control-mode client per server (one SSH channel), exec when
    tmux refuses it; control: control mode only; exec: one tmux process (SSH exec channel)
    per call."""
    submit: Literal["fixed", "adaptive"] = "adaptive"
    """adaptive (default; control mode, else fixed): send the Enter once the pane shows the
    typed text and has been quiet `adaptive_min_ms`, at most `settle_ms` after typing; fixed:
    always wait `settle_ms`."""
    adaptive_min_ms: int = Field(20, ge=0, le=5000)
    """Adaptive submit never sends the Enter sooner than this after the text nor, when it
    watches the pane's output, after the pane last printed: keep it above the agent's paste
    window (Claude Code and the stand-in agent: ~15 ms)."""
    adaptive_output: bool = True
    """Adaptive submit watches the pane's output on the control channel (true) or polls the
    pane every 2 ms (false)."""


class ReliabilitySettings(_Strict):
    """Retries per operation kind and per-server circuit breakers; each can be turned off."""

    retries: bool = True
    """false: every operation is tried once (no SSH, Telegram or database retries)."""
    breakers: bool = True
    """false: no circuit breakers; every command tries its server."""
    ssh_attempts: int = Field(5, ge=1, le=20)
    """Tries of an SSH/tmux call that provably never reached tmux (never one that may have)."""
    ssh_base_s: float = Field(1.0, gt=0, le=60)
    """First backoff before the second try; doubles each time, with full jitter."""
    ssh_max_s: float = Field(16.0, gt=0, le=600)
    """Longest backoff between two SSH tries."""
    telegram_attempts: int = Field(3, ge=1, le=20)
    """Tries of one Telegram request; Telegram's retry_after is honoured."""
    telegram_base_s: float = Field(0.5, gt=0, le=60)
    telegram_max_s: float = Field(5.0, gt=0, le=600)
    db_attempts: int = Field(10, ge=1, le=100)
    """Tries to start a write transaction while another process holds the database lock."""
    db_base_s: float = Field(0.01, gt=0, le=10)
    db_total_s: float = Field(5.0, gt=0, le=120)
    """Give up on a locked database after this long in all."""
    breaker_failures: int = Field(5, ge=1, le=1000)
    """Consecutive failed operations on a server that open its breaker."""
    breaker_open_s: float = Field(30.0, gt=0, le=86400)
    """An open breaker lets one probe through (half-open) after this long."""
    breaker_successes: int = Field(2, ge=1, le=100)
    """Successful probes in a row that close a half-open breaker."""
    telegram_timeout_s: float = Field(10.0, gt=0, le=120)
    """Deadline for one Telegram send (connect, write, read); a stall past it is a failure."""
    dlq_interval_s: float = Field(60.0, gt=0, le=86400)
    """How often the dead-letter queue is worked."""
    dlq_base_s: float = Field(60.0, gt=0, le=86400)
    """Wait before a dead letter's first retry cycle; doubles each cycle (60/120/240/480/960)."""
    dlq_cycles: int = Field(5, ge=0, le=50)
    """Retry cycles before a dead letter is archived and the admins are told."""
    health_interval_s: float = Field(30.0, gt=0, le=3600)
    """How often every session's pane is checked (one tmux call per server)."""
    degraded_fraction: float = Field(0.3, ge=0, le=1)
    """Above this share of servers unavailable, notifications say the hub is degraded."""


class MetricsSettings(_Strict):
    """Prometheus metrics at GET /metrics and the in-memory time series behind the console."""

    enabled: bool = True
    """false: no metrics, no time series, /metrics answers 404 (a rollback switch)."""
    require_token: bool = False
    """true: GET /metrics needs an API token (any role) as a bearer token, like the API. The
    exposition holds no secret, token or message text, only counts and timings per server."""
    snapshot_interval_s: float = Field(60.0, ge=0, le=3600)
    """How often the time series' figures are stored in SQLite; 0: never."""
    snapshot_keep_hours: float = Field(24.0, gt=0, le=24 * 30)
    """Stored snapshots older than this are deleted."""


class LocalServer(_Strict):
    """tmux on the hub's own machine."""

    id: Annotated[str, Field(pattern=SERVER_ID_PATTERN)]
    kind: Literal["local"]
    tmux_socket: str = ""
    """Optional tmux -L NAME."""
    name: str = ""
    claude_command: str = Field("claude", min_length=1, max_length=1024)
    """The command line that starts Claude Code on this server (for /new and /restart)."""
    tmux_session: str = Field("ccr", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """The tmux session that receives the windows of sessions started from ccr."""


class SshServer(_Strict):
    """tmux on another machine, reached over SSH with a verified host key."""

    id: Annotated[str, Field(pattern=SERVER_ID_PATTERN)]
    kind: Literal["ssh"]
    host: str
    port: int = Field(22, gt=0, lt=65536)
    user: str = Field(default_factory=lambda: os.environ.get("USER", "root"))
    identity: Path = Path("~/.ssh/id_ed25519")
    known_hosts: Path = Path("~/.ssh/known_hosts")
    tmux_socket: str = ""
    name: str = ""
    claude_command: str = Field("claude", min_length=1, max_length=1024)
    """The command line that starts Claude Code on this server (for /new and /restart)."""
    tmux_session: str = Field("ccr", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """The tmux session that receives the windows of sessions started from ccr."""
    hooks_via: Literal["ssh", "direct"] = "ssh"
    """How the server's hooks reach the hub: "ssh" through a port the hub forwards over its own
    SSH connection (the server needs no route to the hub), "direct" to `[hub] hook_url`."""
    hooks_port: int = Field(28765, gt=0, lt=65536)
    """With hooks_via = "ssh": the port on the server's 127.0.0.1 that leads to the hub."""

    @field_validator("identity", "known_hosts")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()


Server = Annotated[LocalServer | SshServer, Field(discriminator="kind")]


class Settings(_Strict):
    """Everything the hub needs, validated once at start."""

    hub: HubSettings = Field(default_factory=HubSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    reliability: ReliabilitySettings = Field(default_factory=ReliabilitySettings)
    tracing: TracingSettings = Field(default_factory=lambda: TracingSettings())
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    cache: CacheSettings = Field(default_factory=lambda: CacheSettings())
    alerts: AlertSettings = Field(default_factory=lambda: AlertSettings())
    pool: PoolSettings = Field(default_factory=lambda: PoolSettings())
    commands: CommandSettings = Field(default_factory=CommandSettings)
    aliases: dict[str, str] = Field(default_factory=dict)
    """Words that stand for longer texts: `ok = "yes, continue"` types the text for "ok"."""
    servers: list[Server] = Field(default_factory=list)
    api: ApiSettings = Field(default_factory=lambda: ApiSettings())
    audit: AuditSettings = Field(default_factory=lambda: AuditSettings())

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: dict[str, str]) -> dict[str, str]:
        return check_aliases(v)

    @model_validator(mode="after")
    def _unique_ids(self) -> Settings:
        seen: set[str] = set()
        for s in self.servers:
            if s.id in seen:
                raise ValueError(f"server id '{s.id}' is used twice")
            seen.add(s.id)
        return self

    @model_validator(mode="after")
    def _token_envs(self) -> Settings:
        for i, token in enumerate(self.api.tokens):
            if token.env == self.hub.api_token_env:
                raise ValueError(f"api.tokens[{i}].env: {token.env} is hub.api_token_env, "
                                 "the admin token's variable; give this token its own")
        return self

    def server(self, server_id: str) -> LocalServer | SshServer | None:
        return next((s for s in self.servers if s.id == server_id), None)

    def hook_url_for(self, server: LocalServer | SshServer) -> str:
        """The URL that server's hook posts to: the forwarded port or the hub's own URL."""
        if isinstance(server, SshServer) and server.hooks_via == "ssh":
            return f"http://127.0.0.1:{server.hooks_port}"
        return self.hub.hook_url or self.hub.url

    def secret(self, env: str) -> str | None:
        value = os.environ.get(env, "")
        return value or None


def config_path(explicit: str | Path | None = None) -> Path:
    """The config file to use: --config, then CCR_CONFIG, then ~/.config/ccr/ccr.toml."""
    chosen = explicit or os.environ.get("CCR_CONFIG") or DEFAULT_CONFIG_PATH
    return Path(chosen).expanduser()


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("local", "ssh"):  # discriminator branch names are not keys
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_settings(data: dict[str, object], path: Path | str = "<memory>") -> Settings:
    """Validate a parsed TOML document, naming the first bad key in the error."""
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        details = []
        for err in exc.errors()[:3]:
            key = _loc(tuple(err["loc"])) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            details.append(f"{key}: {msg}")
        raise ConfigError("config_invalid", path=str(path), detail="; ".join(details)) from None


def load_settings(explicit: str | Path | None = None) -> Settings:
    """Read and validate the config file."""
    path = config_path(explicit)
    if not path.is_file():
        raise ConfigError("config_missing", path=str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        detail = f"not valid TOML ({exc})"
        raise ConfigError("config_invalid", path=str(path), detail=detail) from None
    return parse_settings(data, path)


class TracingSettings(_Strict):
    """Trace ids for notification flows and commands, kept in SQLite; OTLP export optional."""

    enabled: bool = True
    """false: no spans are recorded and errors quote no trace id."""
    otlp_endpoint: str = ""
    """Also export spans over OTLP/HTTP, e.g. http://127.0.0.1:4318/v1/traces (needs the
    optional extra: pip install 'ccr[otlp]')."""
    retention_hours: float = Field(24.0, gt=0, le=24 * 30)
    """Spans older than this are purged."""
    max_spans: int = Field(200_000, ge=1000, le=10_000_000)
    """At most this many spans are kept; the oldest go first."""


class AlertSettings(_Strict):
    """Alert rules for the admins (see README "Alerts"); each rule has its own cooldown."""

    enabled: bool = True
    """false: no rule is evaluated and no alert is sent (a rollback switch)."""
    interval_s: float = Field(15.0, gt=0, le=60)
    """How often the rules are evaluated (a breaker change is evaluated at once)."""
    error_rate: float = Field(0.10, ge=0, le=1)
    """A server's SSH error rate over `error_rate_minutes` above this fires an alert."""
    error_rate_minutes: float = Field(5.0, gt=0, le=60)
    error_rate_min_calls: int = Field(5, ge=1, le=100_000)
    """Fewer SSH calls than this in the window: the error rate is not judged (by alerts
    or health); one failed call of one is not a 100 % error rate."""
    error_rate_cooldown_s: float = Field(900.0, ge=0, le=86400)
    breaker_cooldown_s: float = Field(300.0, ge=0, le=86400)
    """A breaker that is not closed fires an alert (cooldown 5 min)."""
    dlq_size: int = Field(100, ge=0, le=10_000_000)
    """More dead letters than this waiting in the queue fires an alert."""
    dlq_cooldown_s: float = Field(600.0, ge=0, le=86400)
    ssh_p95_s: float = Field(10.0, gt=0, le=3600)
    """A server's SSH call p95 over `ssh_p95_minutes` above this fires an alert."""
    ssh_p95_minutes: float = Field(5.0, gt=0, le=60)
    ssh_p95_cooldown_s: float = Field(1800.0, ge=0, le=86400)
    claude_cooldown_s: float = Field(3600.0, ge=0, le=86400)
    """Claude Code logged out or refused for billing on a server (a StopFailure with
    `authentication_failed` / `billing_error`, until a later Stop) fires an alert (1 h)."""
    stuck_after_min: float = Field(20.0, gt=0, le=1440)
    """A command still running with no hook event from its Claude for this long fires
    `command_stuck` (per server; any hook event of that session counts as activity)."""
    stuck_cooldown_s: float = Field(3600.0, ge=0, le=86400)
    hooks_silent_after_min: float = Field(10.0, gt=0, le=1440)
    """No hook event from a server for this long while one of its live panes is busy (a
    command runs there and the screen keeps changing or shows Claude's working line) fires
    `hooks_silent`: the hook there is likely broken."""
    hooks_silent_cooldown_s: float = Field(1800.0, ge=0, le=86400)
    secret_file_cooldown_s: float = Field(3600.0, ge=0, le=86400)
    """A file holding the shared secret, the API token or the bot token that others may read
    (checked at start and every `interval_s`) fires `secret_file_readable`."""
    health_yellow_error_rate: float = Field(0.05, ge=0, le=1)
    """Health: at or above this error rate a server (or the hub) is not GREEN."""
    health_red_error_rate: float = Field(0.30, ge=0, le=1)
    """Health: above this error rate a server (or the hub) is RED."""


class CacheSettings(_Strict):
    """Caches for session lookups and server configuration (see README "Caches")."""

    enabled: bool = True
    """false: every lookup reads the database (a rollback switch)."""
    ttl_s: float = Field(300.0, gt=0, le=300)
    """An entry is dropped this long after it was read, at most 5 min; every write that
    changes a session drops it at once."""
    session_mb: float = Field(32.0, gt=0, le=1024)
    """Memory for cached sessions (their texts weighed); least recently used go first."""
    session_keys: int = Field(50_000, ge=100, le=10_000_000)
    """Handles, tokens and message ids remembered (each names a cached session)."""
    servers: int = Field(1024, ge=1, le=100_000)
    """Server configurations cached by id."""


class PoolSettings(_Strict):
    """The SSH connection pool (README, configuration keys `pool.*`)."""

    min_per_server: int = Field(1, ge=0, le=50)
    """Connections kept open per SSH server once it was used (re-opened when one dies)."""
    max_per_server: int = Field(5, ge=1, le=100)
    channels_per_connection: int = Field(8, ge=1, le=64)
    """Channels one connection carries at once (OpenSSH's MaxSessions is 10)."""
    max_total: int = Field(100, ge=1, le=10_000)
    """Connections across all servers; at the cap the least recently used idle one closes."""
    wait_timeout_s: float = Field(10.0, gt=0, le=600)
    """A caller waits this long for a channel when the server's connections are all busy."""
    idle_close_s: float = Field(300.0, gt=0, le=86400)
    """A connection unused this long is closed (down to `min_per_server`)."""
    health_interval_s: float = Field(30.0, gt=0, le=3600)
    """Upkeep period; a connection is only probed when nothing proved it alive meanwhile."""
    keepalive_s: float = Field(15.0, gt=0, le=3600)
    """SSH keepalive interval; three unanswered ones drop the connection."""


class ApiToken(_Strict):
    """A named API token with a role; its value lives in the environment variable `env`."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    """Shown in the audit log as the actor (e.g. "grafana")."""
    env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    """Environment variable holding the token (never the token itself)."""
    role: Literal["observer", "operator", "admin"] = "observer"


class ApiSettings(_Strict):
    """Extra API tokens beside `[hub] api_token_env` (which stays the admin token)."""

    tokens: list[ApiToken] = Field(default_factory=list)

    @field_validator("tokens")
    @classmethod
    def _unique(cls, v: list[ApiToken]) -> list[ApiToken]:
        from ccr.core.roles import ADMIN_TOKEN_NAME

        names: set[str] = set()
        for t in v:
            if t.name == ADMIN_TOKEN_NAME or t.name in names:
                why = "is the admin token's name" if t.name == ADMIN_TOKEN_NAME else "is used twice"
                raise ValueError(f"token name {t.name!r} {why}; pick another name")
            names.add(t.name)
        envs = [t.env for t in v]
        if len(set(envs)) != len(envs):
            raise ValueError("two tokens read the same env variable; give each its own")
        return v


class AuditSettings(_Strict):
    """The audit log: who did what, kept append-only in SQLite (README "Audit log")."""

    keep_days: float = Field(90.0, gt=0, le=3650)
    """Entries older than this are deleted (checked every hour)."""
