"""The core loop as a user lives it: real hook -> real hub process -> Bot API stand-in ->
/cmd or a reply -> text in the right tmux pane, locally and over SSH."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ccr.hook import REQUEST_TIMEOUT_S
from tests.e2e.conftest import CHAT, STRANGER, World
from tests.fixtures.hub import HTTP, hook_env, prompts, run_hook, wait_until

pytestmark = pytest.mark.e2e


def test_notification_then_cmd_then_reply(world: World) -> None:
    pane, state = world.start_agent("laptop", "shop")
    note = world.notification_for("laptop:1")
    assert "Claude is waiting" in note["text"] and world.workdir.name in note["text"]

    world.botapi.push_text(CHAT, "/cmd laptop:1 run the tests")
    assert world.wait_prompts(state, 1) == ["run the tests"]
    # One live message per command, edited in place until it shows Claude's answer.
    done = world.botapi.wait_for_message(lambda m: "You said: run the tests" in m["text"])
    assert "laptop:1" in done["text"] and "Done in" in done["text"]
    about = [m for m in world.botapi.sent_messages(CHAT) if "run the tests" in m["text"]]
    assert [m["message_id"] for m in about] == [done["message_id"]]

    # The way people answer: reply to the message that shows Claude's answer.
    world.botapi.push_text(CHAT, "now fix them", reply_to_message_id=done["message_id"])
    assert world.wait_prompts(state, 2) == ["run the tests", "now fix them"]
    world.tmux.wait_for_text(pane, "You said: now fix them")


def test_reply_goes_to_the_session_it_answers(world: World) -> None:
    _, state_a = world.start_agent("laptop", "one")
    note_a = world.notification_for("laptop:1")
    _, state_b = world.start_agent("laptop", "two")
    note_b = world.notification_for("laptop:2")
    world.botapi.push_text(CHAT, "for two", reply_to_message_id=note_b["message_id"])
    world.botapi.push_text(CHAT, "for one", reply_to_message_id=note_a["message_id"])
    assert world.wait_prompts(state_b, 1) == ["for two"]
    assert world.wait_prompts(state_a, 1) == ["for one"]


HOSTILE = [
    "C-c", "Enter", "$(touch {marker})", "`touch {marker}`", "'; touch {marker}; '",
    'say "hi" \\ back\\slash', "ends with a semicolon;", ";", "-t %0 -l", "#{pane_id}",
    "äöü 日本 🎉", "line one\nline two\n  indented three",
]


@pytest.mark.parametrize("where", ["local", "ssh"])
def test_hostile_texts_arrive_literally(where: str, request: pytest.FixtureRequest,
                                        tmp_path: Path) -> None:
    w: World = request.getfixturevalue("world" if where == "local" else "ssh_world")
    server = "laptop" if where == "local" else "kr4"
    _, state = w.start_agent(server, "hostile")
    w.notification_for(f"{server}:1")
    marker = tmp_path / "pwned"
    texts = [t.replace("{marker}", str(marker)) for t in HOSTILE]
    for text in texts:
        w.botapi.push_text(CHAT, f"/cmd {server}:1 {text}")
        w.wait_prompts(state, texts.index(text) + 1)
    assert prompts(state) == texts
    assert not marker.exists(), "a text was interpreted by a shell"


def test_ssh_session_is_answered_over_ssh(ssh_world: World) -> None:
    _, state = ssh_world.start_agent("kr4", "remote")
    note = ssh_world.notification_for("kr4:1")
    assert "on kr4" in note["text"]
    ssh_world.botapi.push_text(CHAT, "hello over ssh", reply_to_message_id=note["message_id"])
    assert ssh_world.wait_prompts(state, 1) == ["hello over ssh"]
    assert ssh_world.sshd is not None and ssh_world.sshd.connection_pids(), \
        "the hub keeps its SSH connection open"


def test_unauthorized_chat_has_no_effect(world: World) -> None:
    _, state = world.start_agent("laptop", "guarded")
    world.notification_for("laptop:1")
    before = len(world.botapi.sent_messages())
    world.botapi.push_text(STRANGER, "/cmd laptop:1 rm -rf ~")
    world.botapi.push_text(STRANGER, "/sessions")
    world.botapi.push_text(CHAT, "/sessions")  # a later update from us proves the first ones ran
    world.botapi.wait_for_message(lambda m: "Live sessions" in m["text"])
    time.sleep(0.5)
    assert prompts(state) == []
    assert world.botapi.sent_messages(STRANGER) == []
    assert len(world.botapi.sent_messages()) == before + 1


def test_redelivered_update_is_typed_once(world: World) -> None:
    _, state = world.start_agent("laptop", "once")
    world.notification_for("laptop:1")
    update_id = world.botapi.push_text(CHAT, "/cmd laptop:1 only once")
    world.wait_prompts(state, 1)
    world.botapi.redeliver(update_id)
    world.botapi.push_text(CHAT, "/cmd laptop:1 second")
    world.wait_prompts(state, 2)
    time.sleep(0.5)
    assert prompts(state) == ["only once", "second"]


def test_unknown_handle_and_gone_pane_are_explained(world: World) -> None:
    world.start_agent("laptop", "doomed")
    world.notification_for("laptop:1")
    world.botapi.push_text(CHAT, "/cmd laptop:9 hello")
    msg = world.botapi.wait_for_message(lambda m: "laptop:9" in m["text"])
    assert "no live session" in msg["text"] and "/sessions" in msg["text"]
    world.tmux.crash_session("doomed")
    world.botapi.push_text(CHAT, "/cmd laptop:1 anyone there?")
    msg = world.botapi.wait_for_message(lambda m: "no longer exists" in m["text"])
    assert "Traceback" not in msg["text"] and "1." in msg["text"]


def test_wrong_secret_is_refused_and_kept_for_later(world: World) -> None:
    env = hook_env(world.hub.url, "laptop", world.workdir, CCR_SHARED_SECRET="wrong")
    event = {"hook_event_name": "Stop", "session_id": "x", "cwd": "/tmp/sneaky",
             "last_assistant_message": "hi"}
    assert run_hook(event, env).returncode == 0
    assert len(list((world.workdir / "spool-laptop").glob("*.json"))) == 1
    time.sleep(0.3)
    assert not [m for m in world.botapi.sent_messages() if "sneaky" in m["text"]]
    raw = json.dumps({"event_id": "e" * 10, "server_id": "laptop", "hook_event_name": "Stop"})
    resp = HTTP.post(f"{world.hub.url}/notify", content=raw,
                      headers={"X-CCR-Timestamp": str(int(time.time())),
                               "X-CCR-Signature": "sha256=" + "0" * 64})
    assert resp.status_code == 401


def test_hook_with_hub_down_delivers_after_it_returns(world: World) -> None:
    world.hub.stop()
    env = hook_env(world.hub.url, "laptop", world.workdir)
    started = time.monotonic()
    proc = run_hook({"hook_event_name": "Stop", "session_id": "s", "cwd": "/w/offline",
                     "last_assistant_message": "written while the hub was down"}, env)
    took = time.monotonic() - started
    assert proc.returncode == 0 and proc.stdout == b"" and took < REQUEST_TIMEOUT_S
    world.hub.start()
    # The next hook run sends the spooled event first.
    run_hook({"hook_event_name": "Stop", "session_id": "s2", "cwd": "/w/online",
              "last_assistant_message": "and this one"}, env)
    first = world.botapi.wait_for_message(lambda m: "written while the hub was down" in m["text"])
    second = world.botapi.wait_for_message(lambda m: "and this one" in m["text"])
    assert first["message_id"] < second["message_id"]
    # The hook's detached child removes each event once the hub took it.
    wait_until(lambda: not list((world.workdir / "spool-laptop").glob("*.json")), 5,
               message="an empty spool")


def test_sigkill_keeps_sessions_and_undelivered_notifications(world: World) -> None:
    world.botapi.fail("sendMessage", 502, times=1000)
    env = hook_env(world.hub.url, "laptop", world.workdir)
    for n in range(3):
        run_hook({"hook_event_name": "Stop", "session_id": f"s{n}", "cwd": f"/w/p{n}",
                  "last_assistant_message": f"reply {n}"}, env | {"TMUX_PANE": f"%{n + 50}"})
    # All three taken (each hook's child posts on its own, later under load), then SIGKILL.
    wait_until(lambda: len(world.hub.api("GET", "/api/sessions").json()["sessions"]) == 3, 20)
    world.hub.kill()
    world.botapi.clear_faults()
    world.hub.start()
    # Those whose three tries were spent before the kill wait in the dead-letter queue.
    assert world.hub.ccr("dlq", "retry", "--all").returncode == 0
    for n in range(3):
        world.botapi.wait_for_message(lambda m, n=n: f"reply {n}" in m["text"], timeout=20)
    texts = [m["text"] for m in world.botapi.sent_messages(CHAT)]
    assert sum("reply 0" in t for t in texts) == 1
    listed = world.hub.ccr("sessions", "--json")
    assert listed.returncode == 0
    assert [s["handle"] for s in json.loads(listed.stdout)] == ["laptop:1", "laptop:2", "laptop:3"]


def test_cli_send_and_sessions_use_the_running_hub(world: World) -> None:
    _, state = world.start_agent("laptop", "cli")
    world.notification_for("laptop:1")
    listed = world.hub.ccr("sessions")
    assert listed.returncode == 0 and "laptop:1" in listed.stdout
    sent = world.hub.ccr("send", "laptop:1", "from the shell")
    assert sent.returncode == 0, sent.stderr
    assert "Typed into laptop:1" in sent.stdout
    assert world.wait_prompts(state, 1) == ["from the shell"]
    bad = world.hub.ccr("send", "laptop:7", "nobody")
    assert bad.returncode == 1 and "no live session" in bad.stderr
    waited = world.hub.ccr("send", "laptop:1", "and wait", "--wait")
    assert waited.returncode == 0, waited.stderr
    assert "Done in" in waited.stdout and "You said: and wait" in waited.stdout
