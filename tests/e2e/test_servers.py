"""`ccr servers add | list | test | remove` against a real sshd, the real hub process and the
real CLI, as a person runs them.

The SSH login's HOME is a temporary directory (`start_sshd(home=...)`), the CLI runs with a
temporary HOME too, and `real_home_untouched` checks after every test that the machine's
own ~/.claude, ~/.config/ccr and ~/.local/share/ccr were not touched.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ccr.hook import fast_command, settings_snippet
from tests.fixtures.hub import ROOT, SECRET, HubProcess, base_env, free_port, wait_until
from tests.fixtures.sshd import Sshd, _require_sshd, start_sshd

pytestmark = [pytest.mark.e2e, pytest.mark.ssh]

HOOK_SOURCE = (ROOT / "ccr" / "hook.py").read_bytes()
PERSONS_SETTINGS = {
    "model": "opus",
    "permissions": {"allow": ["Bash(ls:*)"]},
    "hooks": {
        "Stop": [{"hooks": [{"type": "command", "command": "/usr/local/bin/notify done"}]}],
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command",
                                                      "command": "/usr/local/bin/audit"}]}],
    },
}
CONFIG_HEAD = """# my fleet: comments must survive `ccr servers add/remove`
[hub]
listen = "127.0.0.1:{port}"   # loopback only
data_dir = "{data}"

[aliases]
ok = "yes, continue"  # short answers
"""


def _real_home() -> Path:
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def _snapshot(home: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for rel in (".claude/settings.json", ".config/ccr/hook.env", ".local/share/ccr/hook.py"):
        path = home / rel
        out[rel] = path.read_bytes() if path.exists() else None
    backups = sorted(p.name for p in (home / ".claude").glob("settings.json.ccr-backup-*"))
    out["backups"] = "\n".join(backups).encode()
    return out


@pytest.fixture(autouse=True)
def real_home_untouched() -> Iterator[None]:
    before = _snapshot(_real_home())
    yield
    assert _snapshot(_real_home()) == before, "the machine's own home was touched"


@dataclass
class Rig:
    """A server (sshd whose login HOME is `home`), a config file, and the CLI's own HOME."""

    sshd: Sshd
    home: Path
    cli_home: Path
    config: Path
    hub: HubProcess
    known_hosts: Path

    def ccr(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = base_env(HOME=str(self.cli_home), COLUMNS="200")
        return subprocess.run([sys.executable, "-m", "ccr", *args, "--config", str(self.config)],
                              env=env, capture_output=True, text=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL, cwd=self.cli_home)

    def add(self, server_id: str = "kr4", *extra: str) -> subprocess.CompletedProcess[str]:
        return self.ccr("servers", "add", server_id, f"{self.sshd.user}@{self.sshd.host}",
                        "--port", str(self.sshd.port), "--identity", str(self.sshd.identity),
                        "--known-hosts", str(self.known_hosts), "--hooks-via", "direct",
                        *extra)

    def servers(self) -> dict[str, dict[str, Any]]:
        return {s["id"]: s for s in self.hub.api("GET", "/api/servers").json()["servers"]}


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    _require_sshd()
    home = tmp_path / "server-home"
    server = start_sshd(tmp_path / "sshd", home=home)
    cli_home = tmp_path / "cli-home"
    cli_home.mkdir()
    port = free_port()
    config = tmp_path / "ccr.toml"
    config.write_text(CONFIG_HEAD.format(port=port, data=tmp_path / "data"))
    hub = HubProcess(config=config, port=port, workdir=tmp_path)
    try:
        yield Rig(server, home, cli_home, config, hub, server.known_hosts)
    finally:
        hub.stop()
        server.stop()


def _settings(home: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((home / ".claude" / "settings.json").read_text())
    return data


def _commands(settings: dict[str, Any]) -> list[str]:
    return [h["command"] for groups in settings.get("hooks", {}).values()
            for g in groups for h in g["hooks"]]


def _out(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def _fingerprint(sshd: Sshd) -> str:
    done = subprocess.run(["ssh-keygen", "-lf", str(sshd.workdir / "ssh_host_ed25519_key.pub")],
                          capture_output=True, text=True, check=True)
    return done.stdout.split()[1]


def test_add_over_ssh_keeps_the_persons_settings_proves_the_path_and_adds_nothing_twice(
        rig: Rig) -> None:
    (rig.home / ".claude").mkdir(parents=True)
    (rig.home / ".claude" / "settings.json").write_text(json.dumps(PERSONS_SETTINGS, indent=4))
    rig.hub.start()

    done = rig.add()
    assert done.returncode == 0, _out(done)
    assert "a test event from kr4's hook reached the hub" in done.stdout
    assert "kr4 is ready" in done.stdout

    # the hub serves it without a restart, heard its hook, and made no session of the test
    view = wait_until(lambda: rig.servers().get("kr4"), message="kr4 served")
    assert view["last_hook_at"] and view["hooks_via"] == "direct"
    assert rig.hub.api("GET", "/api/sessions").json()["sessions"] == []
    assert rig.hub.proc is not None and rig.hub.starts == 1

    settings = _settings(rig.home)
    assert settings["model"] == "opus"
    assert settings["permissions"] == PERSONS_SETTINGS["permissions"]
    commands = _commands(settings)
    assert "/usr/local/bin/notify done" in commands and "/usr/local/bin/audit" in commands
    ours = fast_command("/usr/bin/python3", f"{rig.home.resolve()}/.local/share/ccr")
    assert commands.count(ours) == len(settings_snippet(ours)["hooks"]), commands  # each event
    backups = list((rig.home / ".claude").glob("settings.json.ccr-backup-*"))
    assert len(backups) == 1
    assert json.loads(backups[0].read_text()) == PERSONS_SETTINGS

    assert (rig.home / ".local/share/ccr/hook.py").read_bytes() == HOOK_SOURCE
    env_file = rig.home / ".config/ccr/hook.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines()
               if not line.startswith("#"))
    assert env == {"CCR_SERVER_ID": "kr4", "CCR_SHARED_SECRET": SECRET,
                   "CCR_HUB_URL": f"http://127.0.0.1:{rig.hub.port}"}

    text = rig.config.read_text()
    assert text.startswith(CONFIG_HEAD.format(port=rig.hub.port, data=rig.config.parent / "data"))
    assert '[[servers]]\nid = "kr4"\nkind = "ssh"\nhost = "127.0.0.1"\n' in text

    # twice: nothing changes anywhere
    before = (rig.config.read_bytes(), (rig.home / ".claude/settings.json").read_bytes(),
              env_file.read_bytes())
    again = rig.add()
    assert again.returncode == 0, _out(again)
    assert "already in place" in again.stdout and "reached the hub" in again.stdout
    assert (rig.config.read_bytes(), (rig.home / ".claude/settings.json").read_bytes(),
            env_file.read_bytes()) == before
    assert len(list((rig.home / ".claude").glob("settings.json.ccr-backup-*"))) == 1

    # another target under the same id is refused
    other = rig.ccr("servers", "add", "kr4", "alice@kr4.example.org")
    assert other.returncode == 1 and "already in" in _out(other)
    assert rig.config.read_bytes() == before[0]


def test_add_without_settings_then_list_test_and_remove(rig: Rig) -> None:
    rig.hub.start()
    done = rig.add()
    assert done.returncode == 0, _out(done)
    assert "ccr's entries added" in done.stdout and "backup" not in done.stdout
    settings = _settings(rig.home)
    assert set(settings) == {"hooks"}
    assert set(settings["hooks"]) >= {"Stop", "SubagentStop", "Notification", "UserPromptSubmit"}

    listed = rig.ccr("servers", "list")
    assert listed.returncode == 0, _out(listed)
    row = next(line for line in listed.stdout.splitlines() if "kr4" in line)
    assert f"root@127.0.0.1:{rig.sshd.port}" in row and "direct" in row and "ago" in row

    tested = rig.ccr("servers", "test", "kr4")
    assert tested.returncode == 0, _out(tested)
    for check in ("connect", "tmux", "python3", "hook installed", "hook.env",
                  "Claude Code settings", "hook reaches the hub"):
        assert f"✓ {check}" in tested.stdout, tested.stdout

    # a piece taken away shows as ✗ with its fix
    (rig.home / ".config/ccr/hook.env").unlink()
    broken = rig.ccr("servers", "test", "kr4")
    assert broken.returncode == 1
    assert "✗ hook.env" in broken.stdout and "ccr servers add kr4" in broken.stdout

    # the person adds a hook of their own meanwhile: remove keeps it
    settings = _settings(rig.home)
    settings["hooks"]["Stop"].append({"hooks": [{"type": "command", "command": "mine"}]})
    (rig.home / ".claude/settings.json").write_text(json.dumps(settings))
    removed = rig.ccr("servers", "remove", "kr4")
    assert removed.returncode == 0, _out(removed)
    assert "hub: stopped serving kr4" in removed.stdout
    assert _settings(rig.home) == {"hooks": {"Stop": [
        {"hooks": [{"type": "command", "command": "mine"}]}]}}
    assert not (rig.home / ".config/ccr/hook.env").exists()
    assert not (rig.home / ".local/share/ccr/hook.py").exists()
    assert rig.config.read_text() == CONFIG_HEAD.format(port=rig.hub.port,
                                                        data=rig.config.parent / "data")
    assert "kr4" not in rig.servers()


def test_unknown_host_key_is_refused_without_confirmation_and_recorded_with_accept_new(
        rig: Rig) -> None:
    rig.known_hosts = rig.cli_home / ".ssh" / "known_hosts"  # nothing known yet
    config_before = rig.config.read_bytes()

    refused = rig.add("kr4", "--yes")  # --yes never trusts a key; no terminal to ask
    assert refused.returncode == 1
    assert _fingerprint(rig.sshd) in refused.stderr
    assert "--accept-new" in refused.stderr and "Traceback" not in _out(refused)
    assert not rig.known_hosts.exists()
    assert not (rig.home / ".config").exists() and not (rig.home / ".claude").exists()
    assert rig.config.read_bytes() == config_before

    accepted = rig.add("kr4", "--accept-new")  # the hub is not running
    assert accepted.returncode == 0, _out(accepted)
    assert f"host key {_fingerprint(rig.sshd)} trusted" in accepted.stdout
    pub = " ".join((rig.sshd.workdir / "ssh_host_ed25519_key.pub").read_text().split()[:2])
    assert rig.known_hosts.read_text() == f"[127.0.0.1]:{rig.sshd.port} {pub}\n"
    assert "The hub is not running: it serves kr4 from its next start" in accepted.stdout
    assert 'id = "kr4"' in rig.config.read_text()

    rig.hub.start()  # picks it up from the file it just wrote
    assert "kr4" in rig.servers()
    assert rig.ccr("servers", "test", "kr4").returncode == 0


def test_changed_host_key_is_refused_with_the_steps_to_check_it(rig: Rig) -> None:
    impostor = rig.cli_home / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor)],
                   check=True)
    rig.known_hosts = rig.cli_home / "known_hosts"
    old = " ".join(impostor.with_suffix(".pub").read_text().split()[:2])
    rig.known_hosts.write_text(f"[127.0.0.1]:{rig.sshd.port} {old}\n")

    refused = rig.add("kr4", "--accept-new", "--yes")
    assert refused.returncode == 1
    err = refused.stderr
    assert "possible impersonation" in err and _fingerprint(rig.sshd) in err
    assert "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub" in err
    assert f"ssh-keygen -R '[127.0.0.1]:{rig.sshd.port}'" in err
    assert rig.known_hosts.read_text() == f"[127.0.0.1]:{rig.sshd.port} {old}\n"
    assert not (rig.home / ".config").exists() and 'id = "kr4"' not in rig.config.read_text()


def test_local_server_added_to_a_running_hub(rig: Rig) -> None:
    rig.hub.start()
    done = rig.ccr("servers", "add", "laptop", "local")
    assert done.returncode == 0, _out(done)
    assert "reached the hub" in done.stdout
    settings = json.loads((rig.cli_home / ".claude/settings.json").read_text())
    assert all("ccr" in c for c in _commands(settings))
    assert stat.S_IMODE((rig.cli_home / ".config/ccr/hook.env").stat().st_mode) == 0o600
    assert rig.servers()["laptop"]["last_hook_at"]


def _interactive(rig: Rig, answer: str, *args: str) -> tuple[int, str]:
    """Run the CLI on a terminal (a pty) and answer its question with `answer`."""
    import pty
    import select
    import time

    master, slave = pty.openpty()
    env = base_env(HOME=str(rig.cli_home), COLUMNS="200", TERM="dumb")
    proc = subprocess.Popen([sys.executable, "-m", "ccr", *args, "--config", str(rig.config)],
                            stdin=slave, stdout=slave, stderr=slave, env=env, cwd=rig.cli_home)
    os.close(slave)
    seen, answered = b"", False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(master, answer.encode() + b"\n")
                answered = True
        elif proc.poll() is not None:
            break
    code = proc.wait(10)
    os.close(master)
    return code, " ".join(seen.decode("utf-8", "replace").split())  # lines wrap on a terminal


def test_unknown_host_key_is_trusted_only_when_the_person_says_yes(rig: Rig) -> None:
    rig.known_hosts = rig.cli_home / "known_hosts"
    add = ("servers", "add", "kr4", f"{rig.sshd.user}@{rig.sshd.host}", "--port",
           str(rig.sshd.port), "--identity", str(rig.sshd.identity), "--known-hosts",
           str(rig.known_hosts), "--hooks-via", "direct")

    code, shown = _interactive(rig, "n", *add)
    assert code == 1 and _fingerprint(rig.sshd) in shown and "Trust it" in shown
    assert not rig.known_hosts.exists() and not (rig.home / ".claude").exists()

    code, shown = _interactive(rig, "y", *add)
    assert code == 0, shown
    assert "trusted and recorded" in shown and rig.known_hosts.exists()
    assert (rig.home / ".config/ccr/hook.env").exists()


def test_a_hub_running_from_another_file_is_named(rig: Rig, tmp_path: Path) -> None:
    rig.hub.start()
    other = tmp_path / "elsewhere.toml"
    other.write_text(rig.config.read_text())
    rig.config = other
    done = rig.ccr("servers", "add", "laptop", "local")
    assert done.returncode == 1
    assert f"The running hub reads {tmp_path / 'ccr.toml'}, not {other}" in done.stderr
    assert "--config" in done.stderr and "Traceback" not in _out(done)


def test_add_over_ssh_sends_hooks_through_the_hubs_own_connection(rig: Rig) -> None:
    """hooks_via = "ssh" (the default): the running hub opens the forward for the new server
    at once, hook.env points at the server's loopback port, and the proof goes through it."""
    rig.hub.start()
    hooks_port = free_port()
    done = rig.ccr("servers", "add", "kr4", f"{rig.sshd.user}@{rig.sshd.host}",
                   "--port", str(rig.sshd.port), "--identity", str(rig.sshd.identity),
                   "--known-hosts", str(rig.known_hosts), "--hooks-port", str(hooks_port))
    assert done.returncode == 0, _out(done)
    assert "a test event from kr4's hook reached the hub" in done.stdout, _out(done)
    env = (rig.home / ".config" / "ccr" / "hook.env").read_text()
    assert f"CCR_HUB_URL=http://127.0.0.1:{hooks_port}" in env
    view = wait_until(lambda: rig.servers().get("kr4"), message="kr4 served")
    assert view["hooks_via"] == "ssh" and view["last_hook_at"]
    assert rig.hub.starts == 1, "no restart"
