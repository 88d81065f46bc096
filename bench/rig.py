"""The world the hub benchmarks run in, built from the test suite's real parts.

The Bot API stand-in (in this process), a private OpenSSH sshd on 127.0.0.1, a private tmux
server with stand-in agents in its panes (for `local` servers, and for `ssh` servers through
that sshd), and the real hub process (`python -m ccr serve`). `Rig` owns all of them and
takes everything down on exit, also after an error, Ctrl-C, SIGTERM or SIGHUP.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/command_path.py` from anywhere
    sys.path.insert(0, str(ROOT))

from tests.botapi import BotApiStandIn  # noqa: E402
from tests.fixtures.hub import HubProcess, base_env, free_port, hook_env, write_config  # noqa: E402
from tests.fixtures.sshd import Sshd, start_sshd  # noqa: E402
from tests.fixtures.tmux import Tmux  # noqa: E402

CHAT = 4242
LOCAL_ID = "laptop"
SSH_ID = "kr4"


def clean_env() -> dict[str, str]:
    """os.environ without the variables that tie a tmux client to an enclosing tmux."""
    return {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}


@dataclass(frozen=True)
class Prompt:
    """One line of an agent's prompts.jsonl."""

    text: str
    at: float
    """When the agent took the Enter (its own time.time(), microsecond resolution)."""
    seen: float
    """When this process noticed the line (time.perf_counter())."""


class PromptWatch:
    """Tails a stand-in agent's prompts.jsonl by polling its size every `interval` seconds."""

    def __init__(self, path: Path, interval: float) -> None:
        self.path = path
        self.interval = interval
        self._offset = 0
        self._partial = b""

    def poll(self) -> list[Prompt]:
        """Prompts appended since the last call (complete lines only)."""
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return []
        if size <= self._offset:
            return []
        with self.path.open("rb") as f:
            f.seek(self._offset)
            data = f.read(size - self._offset)
        seen = time.perf_counter()
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        out = []
        for line in lines:
            if line.strip():
                record = json.loads(line)
                out.append(Prompt(str(record["text"]), float(record["at"]), seen))
        return out

    def wait_for(self, token: str, deadline: float) -> tuple[Prompt | None, list[Prompt]]:
        """The first new prompt that contains `token` (or None by `deadline`), and the others."""
        others: list[Prompt] = []
        while True:
            for prompt in self.poll():
                if token in prompt.text:
                    return prompt, others
                others.append(prompt)
            if time.perf_counter() >= deadline:
                return None, others
            time.sleep(self.interval)


@dataclass(frozen=True)
class Agent:
    """One stand-in agent in its pane, registered with the hub as session `handle`."""

    server: str
    kind: str  # "local" or "ssh"
    handle: str  # e.g. "laptop:1"
    pane: str
    state_dir: Path


@dataclass(frozen=True)
class Target(Agent):
    """An agent's pane and the two ways of typing into it: ccr, and the plain reference."""

    watch: PromptWatch
    socket: str
    sshd: Sshd | None = None
    control_path: Path | None = None
    ssh_log: Path | None = None

    def tmux_args(self, *args: str) -> list[str]:
        return ["tmux", "-S", self.socket, *args]

    def reference(self, text: str, settle_s: float) -> None:
        """Type `text` literally, wait `settle_s`, then Enter: two plain tmux invocations,
        local subprocesses or `ssh` over a warm OpenSSH ControlMaster."""
        self._run(self.tmux_args("send-keys", "-t", self.pane, "-l", "--", text))
        time.sleep(settle_s)
        self._run(self.tmux_args("send-keys", "-t", self.pane, "Enter"))

    def _run(self, argv: list[str]) -> None:
        if self.sshd is None:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, env=clean_env(), timeout=10,
                                  check=False)
            err = proc.stderr.decode(errors="replace")
        else:
            # The ControlPersist master outlives this call: give it no pipe to hold open.
            assert self.control_path is not None and self.ssh_log is not None
            argv = self.sshd.ssh_argv(shlex.join(argv), control_path=self.control_path)
            with self.ssh_log.open("ab") as log:
                proc = subprocess.run(argv, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=log, env=clean_env(),
                                      timeout=10, check=False)
            err = self.ssh_log.read_text(errors="replace")[-500:]
        if proc.returncode != 0:
            raise RuntimeError(f"reference {self.kind} dispatch failed "
                               f"(rc={proc.returncode}): {err}")

    def interrupt(self, tmux: Tmux) -> None:
        """Ctrl-C in the agent: drop whatever a lost Enter left on its input line."""
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            tmux.run("send-keys", "-t", self.pane, "C-c", check=False)


def make_targets(rig: Rig, poll_interval: float) -> dict[str, Target]:
    """Each server kind's agent as a Target (for a rig with one agent of each kind)."""
    control_dir = Path(tempfile.mkdtemp(prefix="ccrb-", dir="/tmp"))  # short socket path
    rig.on_exit(shutil.rmtree, control_dir, True)
    targets: dict[str, Target] = {}
    for agent in rig.agents:
        ssh = agent.kind == "ssh"
        targets[agent.kind] = Target(
            **vars(agent), watch=PromptWatch(agent.state_dir / "prompts.jsonl", poll_interval),
            socket=rig.tmux.socket_path, sshd=rig.sshd if ssh else None,
            control_path=control_dir / "cm" if ssh else None,
            ssh_log=rig.workdir / "ssh-reference.log" if ssh else None)
    return targets


def _announces(handle: str) -> Callable[[dict[str, Any]], bool]:
    """Matches the hub's notification that introduces session `handle`."""
    return lambda m: handle in m["text"] and "Reply to this message" in m["text"]


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, turned into an exception so every cleanup runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@dataclass
class Rig:
    """Bot API stand-in, sshd, tmux, the agents and the hub; `with Rig(...) as rig:`.

    The hub serves the `local` and `ssh` servers named (every ssh one reaches the same
    private sshd); `start_agents` puts `panes_per_server` agents on each of them."""

    local: tuple[str, ...] = (LOCAL_ID,)
    ssh: tuple[str, ...] = (SSH_ID,)
    panes_per_server: int = 1
    admins: bool = True
    """Whether CHAT is also the hub's `[telegram] admins` (alerts and dead letters go there)."""
    burst_ms: float = 15.0
    hooks_every_prompt: bool = False
    keep: bool = False
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ccr-bench-")))
    api: BotApiStandIn = field(init=False)
    tmux: Tmux = field(init=False)
    sshd: Sshd = field(init=False)
    hub: HubProcess = field(init=False)
    agents: list[Agent] = field(default_factory=list, init=False)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, init=False)
    _port: int = field(default=0, init=False)

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Rig:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            old = signal.signal(sig, _raise_interrupted)
            self._stack.callback(signal.signal, sig, old)
        if not self.keep:
            self._stack.callback(shutil.rmtree, self.workdir, True)
        try:
            self._build()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # Ignore a second Ctrl-C while tearing down, so nothing is left running.
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self._stack.close()
        finally:
            signal.signal(signal.SIGINT, old)

    def on_exit(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run `callback(*args)` when the rig comes down (before what it started is stopped)."""
        self._stack.callback(callback, *args)

    def _build(self) -> None:
        self.api = self._stack.enter_context(BotApiStandIn())
        self.sshd = start_sshd(self.workdir / "sshd")
        self._stack.callback(self.sshd.stop)
        self.tmux = Tmux(socket_name=f"ccr-bench-{uuid.uuid4().hex[:8]}")
        # kill-server leaves the socket file behind; remove it after the server is gone.
        sockets = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        self._stack.callback((sockets / self.tmux.socket_name).unlink, missing_ok=True)
        self._stack.callback(self.tmux.kill_server)
        self._port = free_port()
        self.hub = HubProcess(config=self.workdir / "ccr.toml", port=self._port,
                              workdir=self.workdir,
                              env=base_env(CCR_TELEGRAM_TOKEN=self.api.token))
        self._stack.callback(self.hub.stop)

    def start_hub(self, settle_ms: int | None, enter_check_ms: int | None) -> None:
        """(Re)start the hub with these executor settings (None: the hub's own default).

        Sessions live in the hub's database, so they survive the restart."""
        self.hub.stop()
        executor = {k: v for k, v in (("settle_ms", settle_ms),
                                      ("enter_check_ms", enter_check_ms)) if v is not None}
        servers: list[dict[str, Any]] = [{"id": s, "kind": "local"} for s in self.local]
        servers += [{"id": s, "kind": "ssh", "host": self.sshd.host, "port": self.sshd.port,
                     "user": self.sshd.user, "identity": self.sshd.identity,
                     "known_hosts": self.sshd.known_hosts,
                     "hooks_via": "direct"} for s in self.ssh]  # agents post to hub.url
        telegram: dict[str, Any] = {"base_url": self.api.base_url, "allowed_chats": [CHAT]}
        if self.admins:
            telegram["admins"] = [CHAT]
        write_config(self.hub.config, port=self._port, data_dir=self.workdir / "data",
                     servers=servers, telegram=telegram, executor=executor or None)
        self.hub.start(timeout=30)

    def start_agents(self) -> None:
        """The agents, one at a time (a loaded machine may time a hook out), each registered
        by its greeting hook and announced to the chat before the next one starts."""
        for server in (*self.local, *self.ssh):
            kind = "ssh" if server in self.ssh else "local"
            env = hook_env(self.hub.url, server, self.workdir)
            for k in range(self.panes_per_server):
                state = self.workdir / f"agent-{server}-{k}"
                pane = self.tmux.new_session(f"{server}-{k}", self._agent_argv(state), env=env,
                                             cwd=self.workdir)
                handle = self._registered(pane)
                self.api.wait_for_message(_announces(handle), timeout=30)
                self.agents.append(Agent(server, kind, handle, pane, state))

    def _registered(self, pane: str, timeout: float = 30.0) -> str:
        """The handle of the hub's session in `pane`, once the hub knows it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for session in self.hub.api("GET", "/api/sessions").json()["sessions"]:
                if session["pane"] == pane:
                    return str(session["handle"])
            time.sleep(0.05)
        raise RuntimeError(f"the agent in pane {pane} did not register in {timeout:g} s; "
                           f"hub log:\n{self.hub.logs()[-3000:]}")

    def _agent_argv(self, state: Path) -> list[str]:
        """The stand-in agent. Its hook runs for the greeting only, unless every prompt's
        hooks were asked for: a hook is a Python start-up that would load the 2 cores
        between commands and stretch the run, and nothing on the measured path needs it."""
        real_hook = f"{shlex.quote(sys.executable)} -m ccr hook"
        if self.hooks_every_prompt:
            hook = real_hook
        else:
            mark = shlex.quote(str(state / "greeted"))
            hook = (f"if [ -e {mark} ]; then exec cat >/dev/null; fi; : > {mark}; "
                    f"exec {real_hook}")
        return [sys.executable, "-m", "ccr.demo.agent", "--hook", hook, "--state-dir",
                str(state), "--burst-ms", f"{self.burst_ms:g}", "--name", "bench"]

    def versions(self) -> dict[str, str]:
        """Versions of the moving parts, for the report."""
        out = {"python": sys.version.split()[0]}
        for name, argv in (("tmux", ["tmux", "-V"]), ("ssh", ["ssh", "-V"])):
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=5,
                                      check=False)
                out[name] = (proc.stdout or proc.stderr).strip()
        return out
