"""The hook on its own: transcript reading, spooling, timing. Runs the real `ccr hook`."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ccr import hook
from tests.fixtures.tmux import Tmux


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
    assert took < hook.REQUEST_TIMEOUT_S  # Claude never waits out a request's deadline
    spooled = list((tmp_path / "spool").glob("*.json"))
    assert len(spooled) == 1
    event = json.loads(spooled[0].read_text())
    assert event["last_reply"] == "hi" and event["server_id"] == "laptop"
    assert event["tmux"]["pane_id"] is None


def test_a_hung_hub_does_not_hold_the_hook_to_its_deadline(tmp_path: Path) -> None:
    # A hub that takes the connection and never answers: the hook gives up on its deadline.
    import socket

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        env = hook_env(tmp_path, f"http://127.0.0.1:{srv.getsockname()[1]}")
        proc, took = run_hook({"hook_event_name": "Notification", "session_id": "s1",
                               "message": "Claude is waiting for your input"}, env)
    assert proc.returncode == 0 and took < hook.REQUEST_TIMEOUT_S
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
    assert set(hooks) >= {"StopFailure", "SessionStart", "SessionEnd", "PermissionRequest",
                          "UserPromptSubmit"}
    command = hooks["Stop"][0]["hooks"][0]["command"]
    assert command.startswith(f"{sys.executable} -I -S -c ")
    assert all(h["hooks"][0]["command"] == command for entries in hooks.values()
               for h in entries)


# --- the fast path: what Claude waits for ------------------------------------------------------


def printed_command() -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "ccr.hook", "--print-settings"],
                          capture_output=True, timeout=10, check=True)
    return shlex.split(json.loads(proc.stdout)["hooks"]["Stop"][0]["hooks"][0]["command"])


def run_printed(event: dict[str, object] | bytes, env: dict[str, str], *extra: str,
                cwd: Path | None = None) -> tuple[subprocess.CompletedProcess[bytes], float]:
    argv = printed_command()
    argv[1:1] = extra  # interpreter options go before -c
    data = event if isinstance(event, bytes) else json.dumps(event).encode()
    started = time.monotonic()
    proc = subprocess.run(argv, input=data, capture_output=True, env=env, timeout=10,
                          check=False, cwd=cwd)
    return proc, time.monotonic() - started


def spooled(tmp_path: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "spool").glob("*.json"))]


def test_the_printed_command_runs_without_site_and_from_anywhere(tmp_path: Path) -> None:
    # Claude's cwd is the user's project: a hook.py there must not be what runs.
    (tmp_path / "hook.py").write_text("raise SystemExit(3)\n")
    env = hook_env(tmp_path, "http://127.0.0.1:9")
    proc, _ = run_printed({"hook_event_name": "Stop", "session_id": "s1",
                           "last_assistant_message": "ok"}, env, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == b"" and proc.stderr == b""
    assert [e["last_reply"] for e in spooled(tmp_path)] == ["ok"]


def test_the_run_claude_waits_for_imports_nothing_heavy(tmp_path: Path) -> None:
    env = hook_env(tmp_path, "http://127.0.0.1:9")
    for name in ("UserPromptSubmit", "Stop"):
        proc, _ = run_printed({"hook_event_name": name, "session_id": "s1", "prompt": "hi",
                               "last_assistant_message": "ok"}, env, "-X", "importtime")
        assert proc.returncode == 0 and proc.stdout == b""
        imported = {line.split("|")[-1].strip() for line in proc.stderr.decode().splitlines()
                    if line.startswith("import time:")}
        assert "hook" in imported
        heavy = {"json", "re", "subprocess", "urllib", "http", "socket", "pathlib", "typing",
                 "contextlib", "uuid", "secrets", "hashlib", "enum", "site"} & imported
        assert not heavy, f"the parent imported {heavy}"
    assert len(spooled(tmp_path)) == 2


def test_the_event_is_spooled_privately_before_the_run_returns(tmp_path: Path) -> None:
    import socket as sock

    with sock.socket() as srv:  # a hub that takes the connection and never answers
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        env = hook_env(tmp_path, f"http://127.0.0.1:{srv.getsockname()[1]}")
        proc, took = run_printed({"hook_event_name": "Stop", "session_id": "s1",
                                  "last_assistant_message": "ok"}, env)
        # the child waits on the hub, not Claude (how fast the run returns: bench/hook.py)
        assert proc.returncode == 0 and took < hook.REQUEST_TIMEOUT_S
        (path,) = (tmp_path / "spool").glob("*.json")
        assert path.stat().st_mode & 0o777 == 0o600
        assert json.loads(path.read_text())["last_reply"] == "ok"


def test_fast_json_matches_the_json_module() -> None:
    docs = ['{"a": [1, -2.5e3, null, true, false, "\\u00e9\\n\\"x\\""], "b": {}}',
            ' \n{"hook_event_name":"Stop","nested":{"deep":[[[]]]}} \t', "[]", '"s"', "12",
            '{"big": 123456789012345678901234567890, "nan": NaN}']
    for doc in docs:
        fast, slow = hook.loads(doc), json.loads(doc)
        assert repr(fast) == repr(slow)
        assert json.loads(hook.dumps(slow)) == slow or doc.endswith("NaN}")
    for bad in ("", "{", '{"a": 1} x', "{'a': 1}", '{"a": 1,}', "nope"):
        with pytest.raises(ValueError):
            hook.loads(bad)
    event = {"text": "é ✓ 日本", "lone": "\ud800", "n": 1.5, "none": None}
    body = hook.encode(event)
    assert json.loads(body) == {**event, "lone": "\ud800"}


def test_a_lone_surrogate_still_makes_a_valid_body() -> None:
    assert json.loads(hook.encode({"x": "a\udcffb"}).decode("ascii")) == {"x": "a\udcffb"}


# --- the child: what it adds, and the spool it leaves -------------------------------------------


def wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_the_child_reads_the_reply_from_the_transcript_when_stop_has_none(
        tmp_path: Path) -> None:
    path = transcript(tmp_path, [rec("user", "fix it"),
                                 rec("assistant", [{"type": "text", "text": "Fixed."}])])
    env = hook_env(tmp_path, "http://127.0.0.1:9")
    proc, _ = run_printed({"hook_event_name": "Stop", "session_id": "s1",
                           "transcript_path": str(path)}, env)
    assert proc.returncode == 0
    # The run spooled what stdin had; the child completed it and kept that for later.
    wait_for(lambda: [e.get("last_reply") for e in spooled(tmp_path)] == ["Fixed."])
    (event,) = spooled(tmp_path)
    assert event["last_prompt"] == "fix it"


def test_the_child_adds_the_tmux_session_name(tmp_path: Path, tmux: Tmux) -> None:
    pane = tmux.new_session("work-42", "sleep 30")
    env = hook_env(tmp_path, "http://127.0.0.1:9") | {
        "TMUX_PANE": pane, "TMUX": f"{tmux.socket_path},1,0"}
    proc, _ = run_printed({"hook_event_name": "Stop", "session_id": "s1",
                           "last_assistant_message": "ok"}, env)
    assert proc.returncode == 0
    wait_for(lambda: [e["tmux"] for e in spooled(tmp_path)] == [
        {"pane_id": pane, "socket": tmux.socket_path, "session_name": "work-42"}])


def test_flush_sends_the_spool_oldest_first_and_removes_what_was_sent(tmp_path: Path) -> None:
    got: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            assert self.headers["X-CCR-Signature"] == hook.sign(
                "s", self.headers["X-CCR-Timestamp"], body)
            got.append(json.loads(body))
            self.send_response(200 if len(got) != 3 else 422)  # the third is refused
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = hook_env(tmp_path, "http://127.0.0.1:9")
        for n in range(5):
            run_printed({"hook_event_name": "Notification", "session_id": f"s{n}",
                         "message": f"m{n}"}, env)
        order = [e["message"] for e in spooled(tmp_path)]
        assert order == [f"m{n}" for n in range(5)]
        env["CCR_HUB_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
        proc = subprocess.run([sys.executable, "-m", "ccr.hook", "--flush"], env=env,
                              capture_output=True, timeout=30, check=False)
        assert proc.returncode == 0 and b"sent 4, still spooled 0" in proc.stderr
        assert [e["message"] for e in got] == order
        assert len(list((tmp_path / "spool" / "rejected").glob("*.json"))) == 1
    finally:
        server.shutdown()


# --- what the hub is told ----------------------------------------------------------------------


def test_failed_turns_sessions_and_permission_requests_are_forwarded(tmp_path: Path) -> None:
    env = hook_env(tmp_path, "http://127.0.0.1:9")
    base = {"session_id": "s1", "cwd": "/p", "transcript_path": "/nope.jsonl"}
    runs: list[dict[str, object]] = [
        {"hook_event_name": "UserPromptSubmit", "prompt": "deploy it", "prompt_id": "p-1"},
        {"hook_event_name": "StopFailure", "error": "authentication_failed",
         "prompt_id": "p-1", "last_assistant_message": "Invalid API key · Fix external API key"},
        {"hook_event_name": "SessionStart", "source": "startup", "model": "claude-x"},
        {"hook_event_name": "SessionEnd", "reason": "prompt_input_exit"},
        {"hook_event_name": "PermissionRequest", "tool_name": "Bash",
         "tool_input": {"command": "rm -rf build", "description": "clean"}},
        {"hook_event_name": "PermissionRequest", "tool_name": "Edit",
         "tool_input": {"file_path": "/p/cart.py", "old_string": "a", "new_string": "b"}},
        {"hook_event_name": "PermissionRequest", "tool_name": "mcp__db__query",
         "tool_input": {"sql": "select 1", "rows": 5}},
        {"hook_event_name": "PermissionRequest", "tool_name": "Write",
         "tool_input": {"content": "x" * 2000}},
        {"hook_event_name": "SubagentStart", "agent_type": "Explore", "agent_id": "a-1"},
    ]
    for event in runs:
        proc, _ = run_printed({**base, **event}, env)
        assert proc.returncode == 0 and proc.stdout == b""
    events = spooled(tmp_path)
    names = [e["hook_event_name"] for e in events]
    assert names == [r["hook_event_name"] for r in runs]
    prompt, failure, start, end, bash, edit, mcp, write, agent = events
    assert (agent["agent_type"], agent["agent_id"]) == ("Explore", "a-1")
    assert prompt["prompt_id"] == "p-1" and prompt["last_prompt"] == "deploy it"
    assert failure["error"] == "authentication_failed" and failure["prompt_id"] == "p-1"
    assert failure["last_reply"] == "Invalid API key · Fix external API key"
    assert failure["last_prompt"] == "deploy it"
    assert start["source"] == "startup" and end["reason"] == "prompt_input_exit"
    assert (bash["tool_name"], bash["tool_input"]) == ("Bash", "rm -rf build")
    assert edit["tool_input"] == "/p/cart.py"
    assert mcp["tool_input"] == '{"sql":"select 1","rows":5}'
    assert str(write["tool_input"]).startswith('{"content":"xxx')
    assert len(str(write["tool_input"])) == 500 and str(write["tool_input"]).endswith("…")
    for event in (start, end, bash):
        assert "error" not in event and "last_reply" in event and event["last_reply"] is None


def test_tool_steps_are_forwarded_small_and_never_their_output(tmp_path: Path) -> None:
    """PreToolUse/PostToolUse/PostToolUseFailure reach the hub with the tool, its subject,
    the call's id and whether it failed; never the tool's output, and nothing on stdout (a
    PreToolUse hook's output could steer Claude)."""
    env = hook_env(tmp_path, "http://127.0.0.1:9")
    base = {"session_id": "s1", "cwd": "/p", "transcript_path": "/nope.jsonl",
            "prompt_id": "p-1", "tool_name": "Bash",
            "tool_input": {"command": "pytest -q", "description": "run the tests"}}
    runs: list[dict[str, object]] = [
        {"hook_event_name": "PreToolUse", "tool_use_id": "toolu_01"},
        {"hook_event_name": "PostToolUse", "tool_use_id": "toolu_01",
         "tool_response": {"stdout": "SECRET OUTPUT " * 500, "stderr": "", "interrupted": False}},
        {"hook_event_name": "PostToolUseFailure", "tool_use_id": "toolu_02",
         "error": "Exit code 1\n" + "E   assert 1 == 2\n" * 100, "is_interrupt": False},
        {"hook_event_name": "PostToolUse", "tool_use_id": "toolu_03",
         "tool_response": {"stdout": "", "interrupted": True}},
    ]
    for event in runs:
        proc, _ = run_printed({**base, **event}, env)
        assert proc.returncode == 0 and proc.stdout == b"" and proc.stderr == b""
    pre, post, failed, interrupted = spooled(tmp_path)
    assert (pre["tool_name"], pre["tool_input"], pre["tool_use_id"]) == (
        "Bash", "pytest -q", "toolu_01")
    assert pre["prompt_id"] == "p-1" and "tool_failed" not in pre
    assert post["tool_use_id"] == "toolu_01" and "tool_failed" not in post
    assert "SECRET OUTPUT" not in json.dumps(post) and "tool_response" not in post
    assert failed["tool_failed"] is True and failed["tool_error"] == "Exit code 1"
    assert "error" not in failed  # that field is a StopFailure's API error kind
    assert interrupted["tool_failed"] is True


def test_tool_summary_shapes() -> None:
    assert hook.tool_summary("Bash", {"command": "x" * 600}) == "x" * 499 + "…"
    assert hook.tool_summary("Read", {"file_path": "/a"}) == "/a"
    assert hook.tool_summary("NotebookEdit", {"notebook_path": "/n.ipynb"}) == "/n.ipynb"
    assert hook.tool_summary("Bash", {"cmd": "odd"}) == '{"cmd":"odd"}'
    assert hook.tool_summary("X", "plain") == "plain"
    assert hook.tool_summary("X", None) is None


# --- the child's HTTP client ---------------------------------------------------------------------


class Hub(ThreadingHTTPServer):
    """A /notify that answers 200 over HTTP/1.1 keep-alive; `mode` bends its answers."""

    daemon_threads = True

    def __init__(self) -> None:
        self.peers: list[int] = []
        self.bodies: list[bytes] = []
        self.mode = "keep"
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert self.path == "/notify"
                assert self.headers["X-CCR-Signature"] == hook.sign(
                    "s", self.headers["X-CCR-Timestamp"], body)
                outer.peers.append(self.client_address[1])
                outer.bodies.append(body)
                self.send_response(200)
                if outer.mode == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.write(b"2\r\n{}\r\n0\r\n\r\n")
                    return
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
                if outer.mode == "drop":  # close without saying so, as an idle timeout does
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def test_the_client_keeps_one_connection_and_recovers_when_the_hub_drops_it() -> None:
    hub_ = Hub()
    try:
        client = hook.HubClient(hub_.url + "/", "s")
        assert [client.post(b'{"n":%d}' % n, None, 2.0) for n in range(3)] == [200] * 3
        assert len(set(hub_.peers)) == 1  # one kept-open connection
        hub_.mode = "drop"
        assert client.post(b"{}", None, 2.0) == 200
        time.sleep(0.1)  # the hub has closed it by now; the next post finds out, reconnects
        hub_.mode = "chunked"
        assert client.post(b"{}", "00-" + "a" * 32 + "-" + "b" * 16 + "-01", 2.0) == 200
        assert client.sock is None  # a chunked answer is not read: the connection goes
        hub_.mode = "keep"
        assert client.post(b"{}", None, 2.0) == 200
        assert len(set(hub_.peers)) == 3
        client.close()
    finally:
        hub_.shutdown()
    assert hook.HubClient(hub_.url, "s").post(b"{}", None, 1.0) == 0  # nobody listens now


def test_split_url() -> None:
    assert hook.split_url("http://127.0.0.1:8765") == (False, "127.0.0.1", 8765, "")
    assert hook.split_url("https://hub.example/ccr/") == (True, "hub.example", 443, "/ccr")
    assert hook.split_url("http://[::1]:9/x") == (False, "::1", 9, "/x")


def test_sign_is_hmac_sha256_as_the_hub_checks_it() -> None:
    from ccr.api.auth import signature

    for secret in ("s", "é" * 40, "x" * 200):
        for body in (b"", b'{"a":1}', bytes(range(256)) * 10):
            assert hook.sign(secret, "1700000000", body) == signature(secret, "1700000000", body)
