"""`ccr doctor` on Claude Code, as a person reads it: the version found on this machine and on
an SSH server (a private sshd), and whether each machine's ~/.claude/settings.json holds ccr's
hooks. A fake `claude` on PATH and settings in temporary HOMEs: never the real ~/.claude."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccr.hook import settings_snippet
from tests.fixtures.hub import ROOT, base_env, free_port, write_config
from tests.fixtures.sshd import Sshd, _require_sshd, start_sshd

pytestmark = pytest.mark.e2e
WANTED = list(settings_snippet("ccr hook")["hooks"])


def fake_claude(bin_dir: Path) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    claude = bin_dir / "claude"
    claude.write_text("#!/bin/sh\necho '2.1.197 (Claude Code)'\n")
    claude.chmod(0o755)
    return bin_dir


def home_with(home: Path, settings: dict[str, object] | None) -> Path:
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    if settings is not None:
        (home / ".claude" / "settings.json").write_text(json.dumps(settings, indent=2))
    return home


def printed_settings(env: dict[str, str]) -> dict[str, object]:
    """What `ccr hook --print-settings` prints, run for real."""
    done = subprocess.run([sys.executable, "-m", "ccr", "hook", "--print-settings"], env=env,
                          capture_output=True, text=True, timeout=30, check=True)
    return dict(json.loads(done.stdout))


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[tuple[Sshd, Path]]:
    """A private sshd whose remote commands get their own HOME and the fake claude."""
    _require_sshd()
    home = tmp_path / "remote-home"
    bin_dir = fake_claude(tmp_path / "remote-bin")
    server = start_sshd(tmp_path / "sshd", env={
        "HOME": str(home), "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"})
    try:
        yield server, home
    finally:
        server.stop()


def doctor(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`ccr doctor`, on a terminal wide enough that no line of it is wrapped."""
    return subprocess.run([sys.executable, "-m", "ccr", "doctor", "--config", str(config)],
                          env={**env, "COLUMNS": "400"}, capture_output=True, text=True,
                          timeout=90, check=False, cwd=ROOT)


def test_doctor_reports_claude_and_its_hooks_here_and_over_ssh(
        tmp_path: Path, remote: tuple[Sshd, Path]) -> None:
    sshd, remote_home = remote
    local_home = tmp_path / "local-home"
    env = base_env(HOME=str(local_home),
                   PATH=f"{fake_claude(tmp_path / 'bin')}:{os.environ.get('PATH', '')}")
    # Here: ccr's settings from an older ccr, without Notification (and the newer events).
    partial = printed_settings(env)
    hooks = partial["hooks"]
    assert isinstance(hooks, dict)
    hooks.pop("Notification")
    home_with(local_home, partial)
    # On kr4: exactly what `ccr hook --print-settings` prints, beside settings of its own.
    home_with(remote_home, {"model": "opus", **printed_settings(env)})
    config = write_config(tmp_path / "ccr.toml", port=free_port(), data_dir=tmp_path / "d",
                          servers=[{"id": "laptop", "kind": "local"},
                                   {"id": "kr4", "kind": "ssh", "host": sshd.host,
                                    "port": sshd.port, "user": sshd.user,
                                    "identity": sshd.identity,
                                    "known_hosts": sshd.known_hosts}])
    done = doctor(config, env)
    out = done.stdout
    assert "Traceback" not in out + done.stderr
    assert "✓ server laptop Claude Code: 2.1.197 (Claude Code)" in out, out
    assert "✓ server kr4 Claude Code: 2.1.197 (Claude Code)" in out, out
    settings = local_home / ".claude" / "settings.json"
    assert f"! server laptop Claude hooks: missing in {settings}: Notification" in out, out
    assert ("→ on this machine, merge the \"hooks\" that `ccr hook --print-settings` prints "
            f"into {settings} (keep hooks of your own;") in out, out
    assert (f"✓ server kr4 Claude hooks: ccr's hooks for all {len(WANTED)} events in "
            f"{remote_home / '.claude' / 'settings.json'}") in out, out


def test_doctor_without_claude_or_settings_warns_and_does_not_crash(
        tmp_path: Path, remote: tuple[Sshd, Path]) -> None:
    sshd, remote_home = remote
    (remote_home / ".claude").mkdir(parents=True)
    (remote_home / ".claude" / "settings.json").write_text("{ this is not json")
    local_home = tmp_path / "local-home"
    local_home.mkdir()
    no_claude = tmp_path / "empty-bin"
    no_claude.mkdir()
    for tool in ("tmux", "sh", "head", "timeout"):  # what the checks need, and no claude
        found = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                               text=True, check=False).stdout.strip()
        if found:
            (no_claude / tool).symlink_to(found)
    env = base_env(HOME=str(local_home), PATH=str(no_claude))
    config = write_config(tmp_path / "ccr.toml", port=free_port(), data_dir=tmp_path / "d",
                          servers=[{"id": "laptop", "kind": "local"},
                                   {"id": "kr4", "kind": "ssh", "host": sshd.host,
                                    "port": sshd.port, "user": sshd.user,
                                    "identity": sshd.identity,
                                    "known_hosts": sshd.known_hosts}])
    done = doctor(config, env)
    out = done.stdout
    assert "Traceback" not in out + done.stderr
    assert "! server laptop Claude Code: not found on this machine" in out, out
    assert "npm install -g @anthropic-ai/claude-code" in out
    assert f"! server laptop Claude hooks: no {local_home}/.claude/settings.json" in out, out
    settings = remote_home / ".claude" / "settings.json"
    assert f"✗ server kr4 Claude hooks: {settings} is not valid JSON" in out, out
    assert done.returncode == 1, "a broken settings file where Claude runs is a problem"
