"""`ccr demo`: a hub with one local server, a stand-in Claude in tmux, and the console.

Nothing to configure: a private tmux socket, a temporary data folder, a random shared
secret. With a Telegram token and allowed chat in the user's own ccr.toml, the demo
uses that bot too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ccr.core.config import Settings, TelegramSettings, load_settings, parse_settings
from ccr.core.errors import CcrError, ConfigError

DEMO_SERVER = "demo"
SECRET_ENV = "CCR_DEMO_SHARED_SECRET"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def user_telegram() -> TelegramSettings | None:
    """The [telegram] section of the user's config, when it is usable."""
    try:
        settings = load_settings(None)
    except CcrError:
        return None
    tg = settings.telegram
    if settings.secret(tg.token_env) and tg.allowed_chats:
        return tg
    return None


def demo_settings(data_dir: Path, port: int, tmux_socket: str) -> Settings:
    data: dict[str, object] = {
        "hub": {"listen": f"127.0.0.1:{port}", "data_dir": str(data_dir),
                "shared_secret_env": SECRET_ENV, "api_token_env": "CCR_DEMO_API_TOKEN"},
        "servers": [{"id": DEMO_SERVER, "kind": "local", "tmux_socket": tmux_socket}],
    }
    tg = user_telegram()
    if tg is not None:
        data["telegram"] = tg.model_dump()
    return parse_settings(data, "<demo>")


def agent_command(settings: Settings, state: Path) -> list[str]:
    """The tmux pane's program: the stand-in agent, whose hook is the real `ccr hook`."""
    hook = f"{shlex.quote(sys.executable)} -m ccr.hook"
    return [sys.executable, "-m", "ccr.demo.agent", "--hook", hook,
            "--state-dir", str(state / "agent"), "--name", "demo"]


def start_agent(settings: Settings, tmux_socket: str, state: Path) -> str:
    """Start the stand-in agent in a detached tmux session; returns the attach command."""
    if shutil.which("tmux") is None:
        raise ConfigError("config_invalid", path="<demo>",
                          detail="tmux is not installed (sudo apt-get install tmux)")
    env = {
        "CCR_HUB_URL": settings.hub.url,
        "CCR_SERVER_ID": DEMO_SERVER,
        "CCR_SHARED_SECRET": os.environ[SECRET_ENV],
        "CCR_SPOOL_DIR": str(state / "spool"),
        "XDG_STATE_HOME": str(state / "hook-state"),
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    argv = ["tmux", "-L", tmux_socket, "new-session", "-d", "-s", "claude", "-x", "100",
            "-y", "30", "-c", str(state)]
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    argv += ["--", *agent_command(settings, state)]
    subprocess.run(argv, check=True, capture_output=True, timeout=10)
    return f"tmux -L {tmux_socket} attach -t claude"


def end_agent(tmux_socket: str, spool: Path, within: float = 3.0) -> None:
    """End the stand-in's tmux server and give its goodbye hook up to `within` s to reach
    the hub (if it still runs); then end whatever the demo started that is still running.
    Nothing is left spooled to be retried, or written into the demo's folder after it is
    removed (a hook still running would write its log there anew)."""
    subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], capture_output=True,
                   check=False)
    marker = f"CCR_SPOOL_DIR={spool}".encode()
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not started_for(marker) and not any(spool.glob("*.json")):
            return
        time.sleep(0.05)
    for pid in started_for(marker):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def started_for(marker: bytes) -> list[int]:
    """Live processes whose environment holds `marker`: the agent and its hooks, which run
    in sessions of their own. Read from /proc (Linux); elsewhere none are found and the
    demo only waits for its spool to empty."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone meanwhile, or not ours
        if marker in env.split(b"\0"):
            found.append(int(entry.name))
    return found


def run_demo(*, data_dir: Path | None = None, port: int = 0) -> None:
    from ccr.console.app import ConsoleApp
    from ccr.hub import Hub

    own_dir = data_dir is None
    base = Path(tempfile.mkdtemp(prefix="ccr-demo-")) if data_dir is None else data_dir
    base.mkdir(parents=True, exist_ok=True)
    tmux_socket = f"ccr-demo-{os.getpid()}"
    os.environ[SECRET_ENV] = secrets.token_hex(16)
    settings = demo_settings(base / "data", port or free_port(), tmux_socket)
    hub = Hub(settings)
    attach: list[str] = []

    def launch() -> None:
        attach.append(start_agent(settings, tmux_socket, base))
        hub.log("info", "stand-in Claude started in tmux; watch it with: " + attach[0])
        hub.log("info", "select its session, press / and type a line: it is typed into the "
                        "pane, the agent answers, and its hook reports back here")

    hung_up: list[int] = []

    def hang_up(signum: int, frame: object) -> None:
        hung_up.append(signum)
        raise SystemExit(0)  # a closed terminal or a kill still cleans up below

    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, hang_up)
    try:
        async def before_stop() -> None:
            await asyncio.to_thread(end_agent, tmux_socket, base / "spool")

        ConsoleApp(hub, after_start=launch, before_stop=before_stop).run()
    finally:
        # A closed terminal skips before_stop: end the agent here too, and let its goodbye
        # hook finish before its folder goes (a hook still running would write it anew).
        end_agent(tmux_socket, base / "spool")
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)
        if hung_up:
            # The terminal is gone: the console's input thread would spin on it and keep
            # the process alive. Everything worth keeping is cleaned up above.
            os._exit(0)
