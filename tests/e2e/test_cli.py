"""The `ccr` command as a new user meets it: the demo, doctor, serve's signals, bad config."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.botapi import BotApiStandIn
from tests.fixtures.hub import HTTP, ROOT, HubProcess, base_env, free_port, wait_until, write_config
from tests.fixtures.sshd import Sshd
from tests.fixtures.tmux import Tmux

pytestmark = pytest.mark.e2e


def ccr(*args: str, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ccr", *args], env=env or base_env(),
                          capture_output=True, text=True, timeout=timeout, check=False,
                          cwd=ROOT)


def test_demo_shows_the_whole_loop_and_cleans_up(tmux: Tmux, tmp_path: Path,
                                                 request: pytest.FixtureRequest) -> None:
    scratch = tmp_path / "tmp"  # where the demo makes its temporary folder
    scratch.mkdir()
    env = base_env(HOME=str(tmp_path), TERM="xterm-256color", TMPDIR=str(scratch))
    # Textual obeys COLUMNS/LINES over the pane's real size; env execs, so the pid stays.
    argv = ["env", "-u", "COLUMNS", "-u", "LINES", sys.executable, "-m", "ccr", "demo"]
    pane = tmux.new_session("demo", argv, width=170,
                            height=40, env=env, cwd=tmp_path)
    screen = tmux.wait_for_text(pane, "demo:1", timeout=30)
    assert "servers up" in screen
    demo_pid = tmux.run("display-message", "-p", "-t", pane, "#{pane_pid}").strip()
    demo_socket = f"ccr-demo-{demo_pid}"  # the demo's own private tmux server
    request.addfinalizer(lambda: subprocess.run(["tmux", "-L", demo_socket, "kill-server"],
                                                capture_output=True, check=False))
    assert subprocess.run(["tmux", "-L", demo_socket, "list-sessions"], capture_output=True,
                          check=False).returncode == 0, "the stand-in agent runs in the demo"
    tmux.run("send-keys", "-t", pane, "/")
    tmux.wait_for_text(pane, "Type into demo:1")
    tmux.run("send-keys", "-t", pane, "-l", "hello from a new user")
    tmux.run("send-keys", "-t", pane, "Enter")
    tmux.wait_for_text(pane, "You said: hello from a new user", timeout=20)
    tmux.run("send-keys", "-t", pane, "Escape")
    time.sleep(0.3)  # an Escape followed at once by q reads as Alt+q
    tmux.run("send-keys", "-t", pane, "q")
    wait_until(lambda: "demo" not in tmux.run("list-sessions", "-F", "#{session_name}",
                                               check=False)
               or not any(c.strip() for c in tmux.capture(pane).splitlines()[-2:]), 15,
               message="the demo to quit")
    wait_until(lambda: subprocess.run(["tmux", "-L", demo_socket, "list-sessions"],
                                      capture_output=True, check=False).returncode != 0, 10,
               message="the demo's tmux server to be gone")
    # The agent's goodbye reached the hub before it stopped: nothing stayed spooled, and
    # nothing was written into the demo's folder after it was removed.
    wait_until(lambda: not any(scratch.iterdir()), 10, message="the demo's folder to go")
    time.sleep(1.5)
    assert [p.name for p in scratch.iterdir()] == []


def test_console_in_a_terminal_comes_up_then_shows_the_hub(tmux: Tmux, tmp_path: Path) -> None:
    """`ccr console` in a real terminal: the overview is drawn, the hub fills it (its API up
    for the hooks), q quits cleanly; a hub that cannot start says why, not a traceback."""
    port = free_port()
    config = write_config(tmp_path / "ccr.toml", port=port, data_dir=tmp_path / "data",
                          servers=[{"id": "laptop", "kind": "local",
                                    "tmux_socket": tmux.socket_name}])
    env = base_env(HOME=str(tmp_path), TERM="xterm-256color")
    argv = ["env", "-u", "COLUMNS", "-u", "LINES", sys.executable, "-m", "ccr", "console",
            "--config", str(config)]
    pane = tmux.new_session("console", argv, width=200, height=60, env=env, cwd=tmp_path)
    screen = tmux.wait_for_text(pane, "1/1 servers up", timeout=30)
    assert "active alerts" in screen and "latest commands" in screen  # the overview
    assert HTTP.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    tmux.run("send-keys", "-t", pane, "q")
    wait_until(lambda: "console" not in tmux.run("list-sessions", "-F", "#{session_name}",
                                                  check=False), 15, message="the console to quit")

    done = ccr("console", "--config", str(config), env=base_env(HOME=str(tmp_path),
                                                                CCR_SHARED_SECRET=""),
               timeout=60)
    assert done.returncode != 0
    assert "CCR_SHARED_SECRET" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_doctor_checks_ssh_login_and_host_key(sshd: Sshd, tmp_path: Path) -> None:
    server = {"id": "kr4", "kind": "ssh", "host": sshd.host, "port": sshd.port,
              "user": sshd.user, "identity": sshd.identity, "known_hosts": sshd.known_hosts}
    with BotApiStandIn() as api:
        config = write_config(tmp_path / "ok.toml", port=free_port(), data_dir=tmp_path / "d",
                              servers=[server],
                              telegram={"base_url": api.base_url, "allowed_chats": [1]})
        done = ccr("doctor", "--config", str(config),
                   env=base_env(CCR_TELEGRAM_TOKEN=api.token))
    assert "✓ server kr4" in done.stdout and "reachable" in done.stdout, done.stdout
    assert "✓ Telegram token: bot @" in done.stdout

    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    config = write_config(tmp_path / "unknown.toml", port=free_port(),
                          data_dir=tmp_path / "d", servers=[server | {"known_hosts": empty}])
    done = ccr("doctor", "--config", str(config))
    assert done.returncode == 1
    assert "✗ server kr4" in done.stdout and "host key" in done.stdout
    assert "ssh-keyscan" in done.stdout and "Traceback" not in done.stdout + done.stderr


def test_doctor_says_which_transport_each_server_uses(sshd: Sshd, tmux: Tmux,
                                                     tmp_path: Path) -> None:
    tmux.new_session("work", ["sleep", "600"])
    servers = [{"id": "laptop", "kind": "local", "tmux_socket": tmux.socket_name},
               {"id": "kr4", "kind": "ssh", "host": sshd.host, "port": sshd.port,
                "user": sshd.user, "identity": sshd.identity, "known_hosts": sshd.known_hosts,
                "tmux_socket": tmux.socket_name},
               {"id": "empty", "kind": "local", "tmux_socket": f"{tmux.socket_name}-none"}]
    config = write_config(tmp_path / "auto.toml", port=free_port(), data_dir=tmp_path / "d",
                          servers=servers)
    done = ccr("doctor", "--config", str(config))
    out = done.stdout
    assert "server laptop transport: transport: control mode" in out, out
    assert "server kr4 transport: transport: control mode" in out, out
    # No tmux session there yet: commands work over exec, and doctor says why.
    assert "server empty transport: transport: exec (" in out, out
    assert "Traceback" not in out + done.stderr

    config = write_config(tmp_path / "exec.toml", port=free_port(), data_dir=tmp_path / "d",
                          servers=servers[:2], executor={"transport": "exec"})
    out = ccr("doctor", "--config", str(config)).stdout
    assert "server kr4 transport: transport: exec (configured)" in out, out


def test_serve_stops_cleanly_on_sigterm_and_sigint(tmp_path: Path) -> None:
    config = write_config(tmp_path / "ccr.toml", port=free_port(), data_dir=tmp_path / "data",
                          servers=[{"id": "laptop", "kind": "local"}])
    for sig in (signal.SIGTERM, signal.SIGINT):
        hub = HubProcess(config=config, port=int(re.findall(r":(\d+)", config.read_text())[0]),
                         workdir=tmp_path).start()
        assert hub.stop(sig) == 0
        assert "hub stopped" in hub.logs()
        assert "Traceback" not in hub.logs()


@pytest.mark.parametrize(("body", "named"), [
    ('[hub]\nlisten = "nowhere"\n', "hub.listen"),
    ('[[servers]]\nid = "kr4"\nkind = "ssh"\nhost = "h"\nport = 70000\n', "servers[0].port"),
    ('[[servers]]\nid = "Bad Id"\nkind = "local"\n', "servers[0].id"),
    ('[telegram]\ntoken = "123:abc"\n', "telegram.token"),
    ("[hub\n", "not valid TOML"),
], ids=["listen", "port", "server-id", "secret-in-file", "toml-syntax"])
def test_bad_config_is_named_by_its_key(body: str, named: str, tmp_path: Path) -> None:
    config = tmp_path / "ccr.toml"
    config.write_text(body)
    done = ccr("serve", "--config", str(config), timeout=20)
    assert done.returncode == 1
    assert named in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_missing_secret_is_explained(tmp_path: Path) -> None:
    config = write_config(tmp_path / "ccr.toml", port=free_port(), data_dir=tmp_path / "data",
                          servers=[{"id": "laptop", "kind": "local"}])
    env = base_env()
    env.pop("CCR_SHARED_SECRET")
    done = ccr("serve", "--config", str(config), env=env, timeout=20)
    assert done.returncode == 1
    assert "CCR_SHARED_SECRET is not set" in done.stderr and "export" in done.stderr


def test_demo_cleans_up_when_its_terminal_closes(tmux: Tmux, tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"  # where the demo makes its temporary folder
    scratch.mkdir()
    argv = ["env", "-u", "COLUMNS", "-u", "LINES", sys.executable, "-m", "ccr", "demo"]
    pane = tmux.new_session("demo", argv, width=120, height=36,
                            env=base_env(HOME=str(tmp_path), TMPDIR=str(scratch)),
                            cwd=tmp_path)
    tmux.wait_for_text(pane, "demo:1", timeout=30)
    pid = int(tmux.run('display-message', '-p', '-t', pane, '#{pane_pid}').strip())
    demo_socket = f"ccr-demo-{pid}"
    tmux.kill_session("demo")  # the terminal goes away: SIGHUP
    wait_until(lambda: subprocess.run(["tmux", "-L", demo_socket, "list-sessions"],
                                      capture_output=True, check=False).returncode != 0, 15,
               message="the demo's stand-in agent to be cleaned up after SIGHUP")
    wait_until(lambda: gone(pid), 15, message="the demo process itself to exit after SIGHUP")
    time.sleep(1.5)  # a goodbye hook still running would write the folder anew
    assert sorted(str(p.relative_to(scratch)) for p in scratch.rglob("*")) == []


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its parent counts as exited)."""
    try:
        return "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return True
