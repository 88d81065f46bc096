"""The pure parts of `ccr servers`: settings.json merge and strip, ccr.toml edits, targets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ccr import hook
from ccr.core.errors import CcrError
from ccr.services import claude_settings as cs
from ccr.services import config_file as cf
from ccr.services.servers import Target

COMMAND = "/usr/bin/python3 /home/dev/.local/share/ccr/hook.py"
SNIPPET = hook.settings_snippet(COMMAND)
PERSONS: dict[str, Any] = {
    "model": "opus",
    "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify done"}]}],
              "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command",
                                                            "command": "audit"}]}]},
}


@pytest.mark.parametrize("command", [
    COMMAND, "python3 ~/.local/share/ccr/hook.py", "/venv/bin/python -m ccr.hook", "ccr hook",
    "/usr/local/bin/ccr hook", "/opt/ccr/bin/ccr-hook",
    "/usr/bin/python3 -I -S -c 'import sys;sys.path.append(\"/src/ccr\");import hook;hook.main()'",
])
def test_ccr_commands_are_recognised(command: str) -> None:
    assert cs.is_ccr_command(command)


@pytest.mark.parametrize("command", ["notify done", "/usr/bin/occr hook", "accr.hook",
                                     "python3 ~/hooks/hook.py", "my-ccr-hooker"])
def test_other_commands_are_not(command: str) -> None:
    assert not cs.is_ccr_command(command)


def test_merge_keeps_the_persons_entries_and_is_idempotent() -> None:
    merged, changed = cs.merge(PERSONS, SNIPPET)
    assert changed and merged["model"] == "opus"
    assert merged["hooks"]["Stop"][0] == PERSONS["hooks"]["Stop"][0]
    assert merged["hooks"]["PreToolUse"][0] == PERSONS["hooks"]["PreToolUse"][0]
    assert cs.missing(merged, SNIPPET) == []
    again, changed = cs.merge(merged, SNIPPET)
    assert not changed and again == merged
    assert PERSONS["hooks"]["Stop"] == [{"hooks": [{"type": "command", "command": "notify done"}]}]


def test_an_install_from_before_live_activity_lacks_the_tool_events_until_merged() -> None:
    """An install made before ccr showed Claude's steps has no tool hooks: the check names
    them, and installing again adds them (matcher "" so every tool is seen)."""
    tool_events = ("PreToolUse", "PostToolUse", "PostToolUseFailure", "SubagentStart")
    older = {"hooks": {e: g for e, g in SNIPPET["hooks"].items() if e not in tool_events}}
    old, _ = cs.merge(PERSONS, older)
    assert cs.missing(old, SNIPPET) == sorted(tool_events)
    new, changed = cs.merge(old, SNIPPET)
    assert changed and cs.missing(new, SNIPPET) == []
    for event in tool_events:
        ours = [g for g in new["hooks"][event] if cs.is_ccr_command(g["hooks"][0]["command"])]
        assert ours and ours[0]["matcher"] == ""


def test_merge_replaces_a_stale_ccr_entry_instead_of_doubling_it() -> None:
    old, _ = cs.merge(PERSONS, hook.settings_snippet("python3 /old/place/ccr/hook.py"))
    new, changed = cs.merge(old, SNIPPET)
    assert changed
    commands = [h["command"] for g in new["hooks"]["Stop"] for h in g["hooks"]]
    assert commands == ["notify done", COMMAND]


def test_strip_takes_out_only_ccrs_hooks() -> None:
    merged, _ = cs.merge(PERSONS, SNIPPET)
    merged["hooks"]["Stop"][-1]["hooks"].append({"type": "command", "command": "mine too"})
    stripped, removed = cs.strip(merged)
    assert removed == len(SNIPPET["hooks"])
    assert stripped["hooks"]["Stop"] == [PERSONS["hooks"]["Stop"][0],
                                         {"hooks": [{"type": "command", "command": "mine too"}]}]
    assert cs.strip(cs.merge({}, SNIPPET)[0]) == ({}, len(SNIPPET["hooks"]))


@pytest.mark.parametrize("text", ["[1, 2]", '{"hooks": []}', '{"hooks": {"Stop": {}}}', "{"])
def test_a_file_not_shaped_like_settings_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        cs.parse(text)


def test_parse_takes_no_file_and_an_empty_one_as_empty() -> None:
    assert cs.parse(None) == {} and cs.parse(b"  \n") == {}
    assert json.loads(cs.dump(PERSONS)) == PERSONS


CONFIG = """# my hub
[hub]
listen = "127.0.0.1:8765"  # loopback

[[servers]]
id = "laptop"   # this machine
kind = "local"

# the big box
[[servers]]
id = "kr4"
kind = "ssh"
host = "kr4.example.org"

[aliases]
ok = "yes"  # short
"""


def _config(text: str) -> cf.ConfigText:
    return cf.ConfigText(Path("/x/ccr.toml"), text, True)


def test_adding_and_removing_an_entry_keeps_everything_else() -> None:
    entry = {"id": "gpu", "kind": "ssh", "host": "10.0.0.5", "port": 2222, "user": "dev"}
    added = cf.with_server(_config(CONFIG), entry)
    assert added.startswith(CONFIG.split("[aliases]")[0])
    assert added.endswith('user = "dev"\n\n[aliases]\nok = "yes"  # short\n')
    assert _config(added).settings().server("gpu") is not None
    assert cf.without_server(_config(added), "gpu") == CONFIG


def test_removing_an_entry_takes_its_comment_and_keeps_the_others() -> None:
    text = cf.without_server(_config(CONFIG), "kr4")
    assert "the big box" not in text and "kr4" not in text
    assert '# this machine' in text and 'ok = "yes"  # short' in text and "# my hub" in text
    with pytest.raises(CcrError) as exc:
        cf.without_server(_config(CONFIG), "nope")
    assert exc.value.code == "server_not_configured"


def test_a_new_file_gets_a_valid_entry_and_a_bad_entry_is_refused() -> None:
    text = cf.with_server(cf.ConfigText(Path("/x/ccr.toml"), "", False),
                          {"id": "laptop", "kind": "local"})
    assert _config(text).settings().servers[0].id == "laptop"
    with pytest.raises(CcrError) as exc:
        cf.with_server(_config(CONFIG), {"id": "kr4", "kind": "local"})  # id used twice
    assert exc.value.code == "config_invalid" and "used twice" in exc.value.message


def test_write_is_atomic_and_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "ccr.toml"
    path.write_text("x")
    path.chmod(0o640)
    cf.write(path, CONFIG)
    assert path.read_text() == CONFIG and path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["ccr.toml"]


def test_targets() -> None:
    t = Target.parse("dev@kr4.example.org", port=2222, identity=Path("k"))
    assert t.entry("kr4") == {"id": "kr4", "kind": "ssh", "host": "kr4.example.org",
                              "port": 2222, "user": "dev", "identity": str(Path("k").absolute())}
    assert Target.parse("local").entry("me") == {"id": "me", "kind": "local"}
    for bad in ("dev@", "a b@host", "dev@ho st"):
        with pytest.raises(CcrError):
            Target.parse(bad)
    with pytest.raises(CcrError):
        Target.parse("local", port=22)
