"""Warnings before it hurts, as the admin's phone sees them: a stuck command, a server whose
hooks went silent while Claude works, a secret in a file others can read. Each fires once,
stays quiet within its cooldown and resolves when the condition clears: the real hub, tmux,
the stand-in agent and the Bot API stand-in. `ccr doctor` names the readable file too."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHAT, World, make_world
from tests.e2e.test_cli import ccr
from tests.fixtures.hub import SECRET, base_env, free_port, write_config
from tests.fixtures.tmux import Tmux

pytestmark = pytest.mark.e2e

QUIET_S = 3
"""The thresholds of these tests, in seconds (0.05 min)."""
SETTLE_S = 4.0
"""Evaluations (one a second) a test lets pass before it says no second alert came."""


def alerts_titled(w: World, title: str) -> list[dict[str, Any]]:
    return [m for m in w.botapi.sent_messages(CHAT)
            if "Alert #" in m["text"] and title in m["text"]]


def started(tmp_path: Path, botapi: Any, tmux: Tmux, **alerts: Any) -> World:
    w = make_world(tmp_path, botapi, tmux, None,
                   sections={"alerts": {"interval_s": 1, **alerts}})
    home = tmp_path / "home"
    home.mkdir()
    w.hub.env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    return w


def sleeping_command(w: World, n: int) -> tuple[str, Path]:
    """A command that keeps Claude working (and its hook quiet) for 10 minutes."""
    pane, state = w.start_agent("laptop", f"quiet{n}")
    w.notification_for(f"laptop:{n}")
    w.botapi.push_text(CHAT, f"/cmd laptop:{n} /sleep 600")
    w.botapi.wait_for_message(lambda m: "/sleep 600" in m["text"] and "✓✓" in m["text"]
                              and f"laptop:{n}" in m["text"])
    return pane, state


def test_a_command_without_hook_activity_alerts_once_and_resolves_when_claude_is_heard(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = started(tmp_path, botapi, tmux, stuck_after_min=QUIET_S / 60)
    w.hub.start()
    try:
        pane, _ = sleeping_command(w, 1)
        alert = w.botapi.wait_for_message(
            lambda m: "Alert #" in m["text"] and "Command stuck" in m["text"], timeout=20)
        text = alert["text"]
        assert "laptop:1" in text and "no hook event from Claude" in text
        assert "/screen laptop:1" in text
        assert "/sleep 600" not in text, "an alert never quotes a command"
        assert [b["callback_data"][:4] for row in alert["reply_markup"]["inline_keyboard"]
                for b in row] == ["ack:"]
        listed = w.hub.api("GET", "/api/alerts").json()["alerts"]
        assert [(a["rule"], a["server"]) for a in listed] == [("command_stuck", "laptop")]
        # Claude is heard again (its turn ends): resolved, once.
        w.post_hook(pane, "Stop", last_assistant_message="slept at last")
        w.botapi.wait_for_message(lambda m: "Resolved: alert" in m["text"], timeout=15)
        assert w.hub.api("GET", "/api/alerts").json()["alerts"] == []
        # Stuck again within the cooldown (1 h): nobody is told a second time.
        sleeping_command(w, 2)
        time.sleep(QUIET_S + SETTLE_S)
        assert len(alerts_titled(w, "Command stuck")) == 1
        assert w.hub.api("GET", "/api/alerts").json()["alerts"] == []
    finally:
        w.hub.stop()


def test_hooks_silent_while_claude_works_alert_once_and_resolve_when_a_hook_arrives(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = started(tmp_path, botapi, tmux, hooks_silent_after_min=QUIET_S / 60)
    w.hub.start()
    try:
        pane, _ = sleeping_command(w, 1)
        tmux.wait_for_text(pane, "Thinking")  # Claude's working line: the pane is busy
        alert = w.botapi.wait_for_message(
            lambda m: "Alert #" in m["text"] and "Hooks silent" in m["text"], timeout=20)
        text = alert["text"]
        assert "No hook event from laptop" in text and "laptop:1" in text
        assert "ccr servers test laptop" in text
        assert [a["rule"] for a in w.hub.api("GET", "/api/alerts").json()["alerts"]] \
            == ["hooks_silent"]
        assert len(alerts_titled(w, "Command stuck")) == 0, "stuck_after_min is 20 min"
        # A hook from laptop arrives: resolved.
        w.post_hook(pane, "Stop", last_assistant_message="slept at last")
        w.botapi.wait_for_message(lambda m: "Resolved: alert" in m["text"], timeout=15)
        assert w.hub.api("GET", "/api/alerts").json()["alerts"] == []
        # Silent again while busy, within the cooldown (30 min): no second alert.
        sleeping_command(w, 2)
        time.sleep(QUIET_S + SETTLE_S)
        assert len(alerts_titled(w, "Hooks silent")) == 1
    finally:
        w.hub.stop()


def test_a_still_pane_with_silent_hooks_is_not_busy(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    """A command 'running' in a pane whose screen neither changes nor shows Claude working
    (e.g. Claude idle at its prompt after a lost Stop) is no sign of broken hooks."""
    w = started(tmp_path, botapi, tmux, hooks_silent_after_min=QUIET_S / 60)
    w.hub.start()
    try:
        pane, _ = sleeping_command(w, 1)
        tmux.run("send-keys", "-t", pane, "Escape")  # interrupts the turn; no hook says so
        tmux.wait_for_text(pane, "interrupted")
        time.sleep(QUIET_S + SETTLE_S)
        assert alerts_titled(w, "Hooks silent") == []
    finally:
        w.hub.stop()


def test_a_secret_in_a_file_others_can_read_alerts_at_start_and_resolves_after_chmod(
        tmp_path: Path, botapi: Any, tmux: Tmux) -> None:
    w = started(tmp_path, botapi, tmux)
    hook_env = tmp_path / "hook.env"
    hook_env.write_text(f"CCR_SERVER_ID=laptop\nCCR_SHARED_SECRET={SECRET}\n")
    hook_env.chmod(0o644)
    w.hub.env["CCR_HOOK_ENV"] = str(hook_env)
    w.hub.start()
    try:
        alert = w.botapi.wait_for_message(
            lambda m: "Alert #" in m["text"] and "Secret in a file" in m["text"], timeout=20)
        text = alert["text"]
        assert f"{hook_env} (mode 0644, holds CCR_SHARED_SECRET)" in text
        assert f"chmod 600 {hook_env}" in text
        assert SECRET not in text
        assert f"chmod 600 {hook_env}" in w.hub.logs(), "the hub's log says so at start"
        hook_env.chmod(0o600)
        w.botapi.wait_for_message(lambda m: "Resolved: alert" in m["text"], timeout=15)
        assert w.hub.api("GET", "/api/alerts").json()["alerts"] == []
        hook_env.chmod(0o640)  # readable again, within the cooldown (1 h): nobody told twice
        time.sleep(SETTLE_S)
        assert len(alerts_titled(w, "Secret in a file")) == 1
    finally:
        w.hub.stop()


def test_doctor_names_a_readable_secrets_file_and_the_chmod_that_fixes_it(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    env_file = home / ".config" / "ccr" / "ccr.env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text(f"CCR_SHARED_SECRET={SECRET}\nCCR_API_TOKEN=some-token-here\n")
    env_file.chmod(0o644)
    config = write_config(tmp_path / "ccr.toml", port=free_port(), data_dir=tmp_path / "d",
                          servers=[])
    env = base_env(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    done = ccr("doctor", "--config", str(config), env=env)
    assert done.returncode == 1
    assert (f"✗ secret file {env_file}: mode 0644: others may read the CCR_SHARED_SECRET, "
            "CCR_API_TOKEN it holds") in done.stdout, done.stdout
    assert f"chmod 600 {env_file}" in done.stdout
    assert SECRET not in done.stdout + done.stderr
    env_file.chmod(0o600)
    done = ccr("doctor", "--config", str(config), env=env)
    assert "✓ secret files: none readable by others" in done.stdout, done.stdout
    assert str(env_file) not in done.stdout
