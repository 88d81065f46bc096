"""The hook on its own: transcript reading, spooling, timing. Runs the real `ccr hook`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ccr import hook


def rec(kind: str, content: object, **extra: object) -> str:
    return json.dumps({"type": kind, "isSidechain": False,
                       "message": {"role": kind, "content": content}, **extra})


def transcript(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_last_turn_skips_tool_results_meta_and_trailing_records(tmp_path: Path) -> None:
    path = transcript(tmp_path, [
        rec("user", "old prompt"),
        rec("assistant", [{"type": "text", "text": "old reply"}]),
        rec("user", "run the tests and fix what fails"),
        rec("assistant", [{"type": "thinking", "thinking": "hmm"},
                          {"type": "text", "text": "Running them."},
                          {"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]),
        rec("user", [{"type": "tool_result", "tool_use_id": "t1", "content": "2 failed"}]),
        rec("user", "<command-name>/clear</command-name>", isMeta=True),
        json.dumps({"type": "assistant", "isSidechain": True,
                    "message": {"content": [{"type": "text", "text": "subagent noise"}]}}),
        rec("assistant", [{"type": "text", "text": "Tests pass now."}]),
        json.dumps({"type": "system", "subtype": "stop_hook_summary"}),
        "{not json",
    ])
    prompt, reply = hook.transcript_turn(path)
    assert prompt == "run the tests and fix what fails"
    assert reply == "Running them.\n\nTests pass now."


def test_system_reminders_are_stripped() -> None:
    assert hook.clean("<system-reminder>x\ny</system-reminder>Done.") == "Done."


def test_missing_transcript_is_no_error(tmp_path: Path) -> None:
    assert hook.transcript_turn(tmp_path / "nope.jsonl") == (None, None)


def run_hook(event: dict[str, object], env: dict[str, str], *args: str,
             timeout: float = 10) -> tuple[subprocess.CompletedProcess[bytes], float]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ccr.hook", *args],
                          input=json.dumps(event).encode(), capture_output=True,
                          env=env, timeout=timeout, check=False)
    return proc, time.monotonic() - started


def hook_env(tmp_path: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CCR_", "TMUX"))}
    env.update(CCR_HUB_URL=url, CCR_SERVER_ID="laptop", CCR_SHARED_SECRET="s",
               CCR_SPOOL_DIR=str(tmp_path / "spool"), XDG_STATE_HOME=str(tmp_path / "state"),
               HOME=str(tmp_path))
    return env


def test_hub_down_exits_0_fast_silently_and_spools(tmp_path: Path) -> None:
    env = hook_env(tmp_path, "http://127.0.0.1:9")  # nothing listens on the discard port
    proc, took = run_hook({"hook_event_name": "Stop", "session_id": "s1", "cwd": "/p",
                           "last_assistant_message": "hi"}, env)
    assert proc.returncode == 0 and proc.stdout == b""
    assert took < 2.0
    spooled = list((tmp_path / "spool").glob("*.json"))
    assert len(spooled) == 1
    event = json.loads(spooled[0].read_text())
    assert event["last_reply"] == "hi" and event["server_id"] == "laptop"
    assert event["tmux"]["pane_id"] is None


def test_unroutable_hub_still_returns_within_2s(tmp_path: Path) -> None:
    # A hub that takes the connection and never answers: the hook gives up on its deadline.
    import socket

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        env = hook_env(tmp_path, f"http://127.0.0.1:{srv.getsockname()[1]}")
        proc, took = run_hook({"hook_event_name": "Notification", "session_id": "s1",
                               "message": "Claude is waiting for your input"}, env)
    assert proc.returncode == 0 and took < 2.0
    assert len(list((tmp_path / "spool").glob("*.json"))) == 1


def test_garbage_stdin_is_ignored_with_exit_0(tmp_path: Path) -> None:
    env = hook_env(tmp_path, "http://127.0.0.1:9")
    proc = subprocess.run([sys.executable, "-m", "ccr.hook"], input=b"\xff{nope",
                          capture_output=True, env=env, timeout=10, check=False)
    assert proc.returncode == 0 and proc.stdout == b""
    assert not (tmp_path / "spool").exists() or not list((tmp_path / "spool").glob("*.json"))


def test_user_prompt_submit_is_posted_and_remembered_for_the_next_stop(tmp_path: Path) -> None:
    env = hook_env(tmp_path, "http://127.0.0.1:9")
    run_hook({"hook_event_name": "UserPromptSubmit", "session_id": "s9",
              "prompt": "exact prompt"}, env)
    (prompt_file,) = (tmp_path / "spool").glob("*.json")  # the hub confirms it arrived
    prompt_event = json.loads(prompt_file.read_text())
    assert prompt_event["hook_event_name"] == "UserPromptSubmit"
    assert prompt_event["last_prompt"] == "exact prompt"
    run_hook({"hook_event_name": "Stop", "session_id": "s9", "last_assistant_message": "ok"},
             env)
    events = [json.loads(f.read_text()) for f in (tmp_path / "spool").glob("*.json")]
    (stop,) = [e for e in events if e["hook_event_name"] == "Stop"]
    assert stop["last_prompt"] == "exact prompt"


def test_print_settings_is_claude_code_hooks_json() -> None:
    proc = subprocess.run([sys.executable, "-m", "ccr.hook", "--print-settings"],
                          capture_output=True, timeout=10, check=True)
    hooks = json.loads(proc.stdout)["hooks"]
    assert set(hooks) >= {"Stop", "SubagentStop", "Notification"}
    assert hooks["Stop"][0]["hooks"][0]["type"] == "command"
    assert "ccr.hook" in hooks["Stop"][0]["hooks"][0]["command"]
