"""What `ccr doctor` makes of a machine's Claude Code: its version, and which of ccr's hook
events its ~/.claude/settings.json lacks (compared with what `ccr hook --print-settings`
prints)."""

from __future__ import annotations

import json

import pytest

from ccr.core.config import LocalServer, SshServer
from ccr.hook import settings_snippet
from ccr.services.doctor import ClaudeProbe, claude_checks, hooked_events, is_ccr_hook, parse_probe

WANTED = list(settings_snippet("ccr hook")["hooks"])
LOCAL = LocalServer(id="laptop", kind="local")
REMOTE = SshServer(id="kr4", kind="ssh", host="kr4.example", user="ana",
                   identity="/nonexistent/id", known_hosts="/nonexistent/kh")


def printed(command: str = "/usr/bin/python3 -m ccr.hook") -> str:
    """A settings.json holding exactly what `ccr hook --print-settings` prints."""
    return json.dumps(settings_snippet(command))


def test_the_probe_output_is_read_back() -> None:
    out = ("@ccr-home /home/ana\n@ccr-version 2.1.197 (Claude Code)\n@ccr-settings present\n"
           '{"hooks": {}}\n')
    assert parse_probe(out) == ClaudeProbe("/home/ana", "2.1.197 (Claude Code)",
                                           '{"hooks": {}}\n')
    assert parse_probe("@ccr-home /h\n@ccr-version\n@ccr-settings absent\n") == \
        ClaudeProbe("/h", None, None)


@pytest.mark.parametrize("command", [
    "ccr hook", "/usr/bin/python3 -m ccr.hook", "/root/.venv/bin/python -m ccr hook",
    "python3 /home/ana/.local/share/ccr/hook.py", "/opt/ccr/bin/ccr hook"])
def test_ccr_hook_commands_are_recognised(command: str) -> None:
    assert is_ccr_hook(command)
    assert hooked_events(printed(command)) == set(WANTED)


@pytest.mark.parametrize("command", ["notify-send done", "/usr/bin/my-hook", "ccrypt x", None])
def test_other_hooks_are_not_ccrs(command: object) -> None:
    assert not is_ccr_hook(command)


def test_a_settings_file_with_some_of_the_events_names_the_missing_ones() -> None:
    data = json.loads(printed())
    data["hooks"].pop("Notification")
    data["hooks"]["Stop"][0]["hooks"].insert(0, {"type": "command", "command": "say done"})
    data["model"] = "opus"
    probe = ClaudeProbe("/home/ana", "2.1.197 (Claude Code)", json.dumps(data))
    version, hooks = claude_checks(LOCAL, probe, WANTED)
    assert (version.ok, version.detail) == (True, "2.1.197 (Claude Code)")
    assert hooks.ok is None
    assert hooks.detail.startswith("missing in /home/ana/.claude/settings.json: Notification")
    assert "`ccr hook --print-settings`" in hooks.fix and "on this machine" in hooks.fix


def test_an_install_from_before_live_activity_is_named_in_plain_words() -> None:
    data = json.loads(printed())
    for event in ("PreToolUse", "PostToolUse", "PostToolUseFailure", "SubagentStart"):
        data["hooks"].pop(event)
    probe = ClaudeProbe("/home/ana", "2.1.197 (Claude Code)", json.dumps(data))
    _, hooks = claude_checks(LOCAL, probe, WANTED)
    assert hooks.ok is None
    assert "PreToolUse" in hooks.detail and "PostToolUseFailure" in hooks.detail
    assert "installed by an older ccr" in hooks.detail
    assert "what Claude is doing" in hooks.detail and "--print-settings" in hooks.fix


def test_all_hooks_present_is_a_pass() -> None:
    probe = ClaudeProbe("/home/ana", "2.1.197 (Claude Code)", printed())
    _, hooks = claude_checks(REMOTE, probe, WANTED)
    assert hooks.ok is True and f"all {len(WANTED)} events" in hooks.detail


def test_no_settings_or_no_ccr_hooks_fails_where_claude_is_installed() -> None:
    _, none = claude_checks(REMOTE, ClaudeProbe("/home/ana", "2.1.197 (Claude Code)", None),
                            WANTED)
    assert none.ok is False and "no /home/ana/.claude/settings.json" in none.detail
    assert none.fix.startswith("on kr4, merge")
    other = json.dumps({"hooks": {"Stop": [{"hooks": [{"type": "command",
                                                       "command": "say done"}]}]}})
    _, foreign = claude_checks(REMOTE, ClaudeProbe("/h", "2.1.197", other), WANTED)
    assert foreign.ok is False and "none of ccr's hooks" in foreign.detail


def test_broken_json_is_said_plainly() -> None:
    _, hooks = claude_checks(LOCAL, ClaudeProbe("/h", "2.1.197", "{ not json"), WANTED)
    assert hooks.ok is False and "/h/.claude/settings.json is not valid JSON" in hooks.detail
    assert hooks.fix.startswith("fix it by hand on this machine, then merge")


def test_claude_not_installed_is_a_warning_not_a_failure() -> None:
    version, hooks = claude_checks(REMOTE, ClaudeProbe("/home/ana", None, None), WANTED)
    assert version.ok is None and version.detail == "not found on kr4"
    assert "npm install -g @anthropic-ai/claude-code" in version.fix
    assert hooks.ok is None
    odd, _ = claude_checks(LOCAL, ClaudeProbe("/h", "Segmentation fault", None), WANTED)
    assert odd.ok is None and "`claude --version` said: Segmentation fault" in odd.detail
