"""Starting, stopping, clearing, restarting and interrupting Claude from the phone, the API
and the CLI: the real hub process, the Bot API stand-in, real tmux on a private socket, the
stand-in agent as the server's `claude_command` (its hook reports to the hub), locally and
over the private sshd."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHAT, STRANGER, World
from tests.fixtures.hub import (
    ROOT,
    SECRET,
    HubProcess,
    base_env,
    free_port,
    prompts,
    wait_until,
    write_config,
)
from tests.fixtures.sshd import Sshd
from tests.fixtures.tmux import Tmux

pytestmark = pytest.mark.e2e


def agent_command(world_dir: Path, server_id: str, hub_url: str, *extra: str) -> str:
    """The server's `claude_command`: the stand-in agent, its hook reporting as `server_id`."""
    env = [f"CCR_HUB_URL={hub_url}", f"CCR_SERVER_ID={server_id}",
           f"CCR_SHARED_SECRET={SECRET}", f"CCR_SPOOL_DIR={world_dir / ('spool-' + server_id)}",
           f"XDG_STATE_HOME={world_dir / ('hook-state-' + server_id)}", f"PYTHONPATH={ROOT}"]
    return shlex.join(["env", *env, sys.executable, "-m", "ccr.demo.agent", "--hook",
                       f"{sys.executable} -m ccr hook", "--state-dir",
                       str(world_dir / f"agent-{server_id}"), *extra])


def starts(world_dir: Path, server_id: str) -> list[dict[str, Any]]:
    """Each start of the agent on that server: its argv, pane and directory."""
    path = world_dir / f"agent-{server_id}" / "starts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def events(world_dir: Path, server_id: str) -> list[dict[str, Any]]:
    path = world_dir / f"agent-{server_id}" / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def buttons(msg: dict[str, Any]) -> list[tuple[str, str]]:
    rows = (msg.get("reply_markup") or {}).get("inline_keyboard") or []
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


def panes(tmux: Tmux) -> dict[str, str]:
    """{pane id: tmux session name} on a private tmux server (empty when it has none)."""
    out = tmux.run("list-panes", "-a", "-F", "#{pane_id} #{session_name}", check=False)
    return dict(line.split(" ", 1) for line in out.splitlines() if line.startswith("%"))


class Fleet(World):
    """A World whose servers get their Claude windows from the hub."""

    home: Path
    kr4_tmux: Tmux | None = None

    def say(self, text: str) -> int:
        return int(self.botapi.push_text(CHAT, text))

    def message(self, predicate: Any, timeout: float = 30.0) -> dict[str, Any]:
        try:
            return dict(self.botapi.wait_for_message(predicate, timeout=timeout))
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nhub log:\n{self.hub.logs()[-3000:]}") from None

    def tap(self, msg: dict[str, Any], data: str, chat: int = CHAT) -> str:
        before = len(self.botapi.callback_answers)
        self.botapi.push_callback(chat, msg["message_id"], data)
        wait_until(lambda: len(self.botapi.callback_answers) > before, 20, message="an answer")
        return str(self.botapi.callback_answers[before].get("text", ""))

    def start(self, server: str, directory: str) -> dict[str, Any]:
        """/new SERVER DIR; the message that names the new session."""
        seen = {m["message_id"] for m in self.botapi.sent_messages()}
        self.say(f"/new {server} {directory}")
        return self.message(lambda m: m["message_id"] not in seen
                            and "Claude started" in m["text"])

    def live(self) -> list[str]:
        return [s["handle"] for s in self.hub.api("GET", "/api/sessions").json()["sessions"]]


def make_fleet(tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd | None = None,
               *, commands: dict[str, Any] | None = None,
               reliability: dict[str, Any] | None = None,
               extra_servers: list[dict[str, Any]] | None = None,
               claude_command: Any = None) -> Fleet:
    """`claude_command(hub_url)` gives laptop's claude_command (default: the stand-in)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    home = tmp_path / "home"
    home.mkdir()
    servers: list[dict[str, Any]] = [{
        "id": "laptop", "kind": "local", "tmux_socket": tmux.socket_name,
        "claude_command": (claude_command(url) if claude_command is not None
                           else agent_command(tmp_path, "laptop", url))}]
    kr4_tmux = None
    if sshd is not None:
        kr4_tmux = Tmux()
        servers.append({"id": "kr4", "kind": "ssh", "host": sshd.host, "port": sshd.port,
                        "user": sshd.user, "identity": sshd.identity,
                        "known_hosts": sshd.known_hosts, "tmux_socket": kr4_tmux.socket_name,
                        "claude_command": agent_command(tmp_path, "kr4", url)})
    servers += extra_servers or []
    config = write_config(
        tmp_path / "ccr.toml", port=port, data_dir=tmp_path / "data", servers=servers,
        telegram={"base_url": botapi.base_url, "allowed_chats": [CHAT], "admins": [CHAT],
                  "poll_timeout": 1},
        executor={"settle_ms": 150, "enter_check_ms": 100}, reliability=reliability,
        sections={"commands": commands} if commands else None)
    hub = HubProcess(config=config, port=port, workdir=tmp_path,
                     env=base_env(CCR_TELEGRAM_TOKEN=botapi.token, HOME=str(home)))
    fleet = Fleet(hub=hub, botapi=botapi, tmux=tmux, workdir=tmp_path, sshd=sshd)
    fleet.home = home
    fleet.kr4_tmux = kr4_tmux
    return fleet


@pytest.fixture
def fleet(tmp_path: Path, botapi: Any, tmux: Tmux) -> Iterator[Fleet]:
    f = make_fleet(tmp_path, botapi, tmux)
    f.hub.start()
    yield f
    f.hub.stop()


def test_new_starts_claude_in_the_directory_and_names_the_session(fleet: Fleet) -> None:
    project = fleet.home / "src" / "shop"
    project.mkdir(parents=True)
    done = fleet.start("laptop", "~/src/shop")
    assert "laptop:1" in done["text"] and "shop on laptop" in done["text"]
    assert str(project) in done["text"]
    # The same message said "Starting…" first and was edited, not followed by another.
    assert done["edits"], "the reply is edited in place"
    assert "Starting Claude on laptop" in done["edits"][0]
    [start] = starts(fleet.workdir, "laptop")
    assert start["cwd"] == str(project.resolve()) and "--continue" not in start["argv"]
    assert panes(fleet.tmux)[start["pane"]] == "ccr", "in the server's tmux_session"
    assert fleet.live() == ["laptop:1"]
    assert [label for label, _ in buttons(done)] == ["⏹ Stop", "🧹 Clear", "🖼 Screen"]

    # A relative directory starts at the home directory; a second window joins the session.
    (fleet.home / "notes").mkdir()
    second = fleet.start("laptop", "notes")
    assert "laptop:2" in second["text"]
    assert starts(fleet.workdir, "laptop")[1]["cwd"] == str((fleet.home / "notes").resolve())
    assert sorted(panes(fleet.tmux).values()) == ["ccr", "ccr"]


def test_a_missing_or_hostile_directory_starts_nothing(fleet: Fleet, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for directory in ("no/such/dir", f"$(touch {marker})", f"; touch {marker}",
                      "/etc/passwd"):
        seen = {m["message_id"] for m in fleet.botapi.sent_messages()}
        fleet.say(f"/new laptop {directory}")
        msg = fleet.message(lambda m, seen=seen: m["message_id"] not in seen)
        assert "There is no directory" in msg["text"] and "nothing was started" in msg["text"]
        assert "1." in msg["text"], "numbered recovery steps"
    fleet.say("/new nowhere /tmp")
    msg = fleet.message(lambda m: "no server called 'nowhere'" in m["text"])
    assert not marker.exists()
    assert panes(fleet.tmux) == {}, "no window, not even a tmux session, was made"
    assert starts(fleet.workdir, "laptop") == []


def test_new_without_a_directory_offers_the_recent_ones(fleet: Fleet) -> None:
    (fleet.home / "app").mkdir()
    fleet.start("laptop", "app")
    fleet.say("/new laptop")
    question = fleet.message(lambda m: "in which directory" in m["text"])
    offered = dict(buttons(question))
    app = str((fleet.home / "app").resolve())
    assert "🏠 Home directory" in offered and len(offered) == 2
    label = next(label for label in offered if label.startswith("📁"))
    assert app.endswith(label.removeprefix("📁 …").removeprefix("📁 "))
    assert fleet.tap(question, offered[label])
    done = fleet.message(lambda m: m["message_id"] == question["message_id"]
                         and "Claude started" in m["text"])
    assert "laptop:2" in done["text"]
    assert [s["cwd"] for s in starts(fleet.workdir, "laptop")] == [app, app]


def test_stop_asks_then_ends_claude_and_the_session(fleet: Fleet) -> None:
    (fleet.home / "p").mkdir()
    fleet.start("laptop", "p")
    [start] = starts(fleet.workdir, "laptop")
    fleet.say("/stop laptop:1")
    ask = fleet.message(lambda m: m["text"].startswith("Stop ") and "laptop:1" in m["text"])
    labels = dict(buttons(ask))
    assert set(labels) == {"⏹ Yes, stop it", "Keep it running"}
    assert fleet.live() == ["laptop:1"], "nothing happens before the confirmation"

    fleet.tap(ask, labels["Keep it running"])
    fleet.message(lambda m: m["message_id"] == ask["message_id"] and "Left running" in m["text"])
    assert start["pane"] in panes(fleet.tmux)

    fleet.say("/stop laptop:1")
    ask = fleet.message(lambda m: m["message_id"] > ask["message_id"]
                        and m["text"].startswith("Stop "))
    update = fleet.botapi.push_callback(CHAT, ask["message_id"], labels["⏹ Yes, stop it"])
    done = fleet.message(lambda m: m["message_id"] == ask["message_id"]
                         and "stopped" in m["text"])
    assert "Claude exited on /exit" in done["text"] and "off /sessions" in done["text"]
    assert start["pane"] not in panes(fleet.tmux), "its window is gone"
    assert fleet.live() == []
    assert events(fleet.workdir, "laptop")[-1]["hook_event_name"] == "SessionEnd"
    assert prompts(fleet.workdir / "agent-laptop")[-1] == "/exit"

    # A redelivered tap has no second effect.
    count = len(fleet.botapi.sent_messages())
    fleet.botapi.redeliver(update)
    fleet.say("/sessions")
    fleet.message(lambda m: "No live sessions" in m["text"])
    assert len(fleet.botapi.sent_messages()) == count + 1


def test_clear_esc_and_restart(fleet: Fleet) -> None:
    (fleet.home / "work").mkdir()
    fleet.start("laptop", "work")
    state = fleet.workdir / "agent-laptop"
    fleet.say("/cmd laptop:1 remember this")
    fleet.message(lambda m: "You said: remember this" in m["text"])
    [first] = starts(fleet.workdir, "laptop")

    fleet.say("/clear laptop:1")
    cleared = fleet.message(lambda m: "/clear took" in m["text"])
    assert "the screen shows it" in cleared["text"]
    assert "You said: remember this" not in fleet.tmux.capture(first["pane"])
    assert [e["source"] for e in events(fleet.workdir, "laptop")
            if e["hook_event_name"] == "SessionStart"] == ["startup", "clear"]
    assert fleet.live() == ["laptop:1"], "a cleared session keeps its handle"

    fleet.say("/cmd laptop:1 /sleep 60")
    wait_until(lambda: prompts(state)[-1:] == ["/sleep 60"], 15, message="the long turn")
    fleet.tmux.wait_for_text(first["pane"], "Thinking")
    fleet.say("/esc laptop:1")
    fleet.message(lambda m: "Escape pressed in" in m["text"])
    fleet.tmux.wait_for_text(first["pane"], "interrupted")

    fleet.say("/restart laptop:1")
    done = fleet.message(lambda m: "Claude continues" in m["text"], timeout=40)
    assert "laptop:1" in done["text"] and "stopped" in done["text"]
    assert "laptop:2" in done["text"]
    first_start, second = starts(fleet.workdir, "laptop")
    assert second["argv"][-1] == "--continue" and second["cwd"] == first_start["cwd"]
    # (the first window was the tmux session's last, so tmux may hand out its id again)
    assert list(panes(fleet.tmux)) == [second["pane"]]
    assert fleet.live() == ["laptop:2"]
    fleet.tmux.wait_for_text(second["pane"], "continued")


def test_notification_buttons_and_forged_taps(fleet: Fleet) -> None:
    (fleet.home / "w").mkdir()
    fleet.start("laptop", "w")
    [start] = starts(fleet.workdir, "laptop")
    note = fleet.message(lambda m: "Claude is waiting" in m["text"] and "laptop:1" in m["text"])
    data = dict(buttons(note))
    assert set(data) == {"⏹ Stop", "🧹 Clear", "🖼 Screen"}
    token = data["⏹ Stop"].split(":", 1)[1]

    # Forged or foreign taps change nothing.
    assert "not allowed" in fleet.tap(note, f"sy:{token}", chat=STRANGER)
    assert "not valid" in fleet.tap(note, "sy:../../x")
    assert "not valid" in fleet.tap(note, "nd:99999")
    assert "not valid" in fleet.tap(note, "nh:nowhere")
    assert fleet.live() == ["laptop:1"] and start["pane"] in panes(fleet.tmux)

    fleet.tap(note, data["🧹 Clear"])
    cleared = fleet.message(lambda m: "/clear took" in m["text"])
    assert cleared["reply_to_message_id"] == note["message_id"], "answered under it"

    # Stop under the notification asks on the same message, then ends the session.
    assert "Confirm below" in fleet.tap(note, data["⏹ Stop"])
    asked = fleet.message(lambda m: m["message_id"] == note["message_id"]
                          and "⏹ Yes, stop it" in dict(buttons(m)))
    fleet.tap(asked, dict(buttons(asked))["⏹ Yes, stop it"])
    fleet.message(lambda m: "stopped: Claude exited" in m["text"])
    assert fleet.live() == [] and start["pane"] not in panes(fleet.tmux)
    assert "ended or expired" in fleet.tap(note, data["🧹 Clear"])


def test_claude_that_exits_at_once_or_stays_silent_is_told(tmp_path: Path, botapi: Any,
                                                          tmux: Tmux) -> None:
    silent = Tmux()
    fleet = make_fleet(tmp_path, botapi, tmux, commands={"start_timeout_s": 4}, extra_servers=[
        {"id": "broken", "kind": "local", "tmux_socket": tmux.socket_name,
         "tmux_session": "broken", "claude_command": "echo 'claude: command not found'; exit 127"},
        {"id": "quiet", "kind": "local", "tmux_socket": silent.socket_name,
         "claude_command": f"{shlex.quote(sys.executable)} -m ccr.demo.agent --no-greet "
                           f"--name quiet-agent --state-dir {tmp_path / 'quiet'}"}])
    fleet.hub.start()
    try:
        fleet.say("/new broken /tmp")
        msg = fleet.message(lambda m: "exited at once" in m["text"])
        assert "claude: command not found" in msg["text"] and "claude_command" in msg["text"]
        assert "broken" not in panes(tmux).values(), "its dead window was closed"

        fleet.say(f"/new quiet {tmp_path}")
        msg = fleet.message(lambda m: "did not report within 4 s" in m["text"])
        assert "quiet-agent" in msg["text"], "the window's last lines are shown"
        assert list(panes(silent).values()) == ["ccr"], "left open for a look"
    finally:
        fleet.hub.stop()
        silent.kill_server()


def test_api_and_cli_start_and_stop(fleet: Fleet) -> None:
    (fleet.home / "api").mkdir()
    resp = fleet.hub.api("POST", "/api/sessions", json={"server": "laptop", "dir": "~/api"})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["session"]["handle"] == "laptop:1" and body["directory"].endswith("/api")
    missing = fleet.hub.api("POST", "/api/sessions", json={"server": "laptop", "dir": "nope"})
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "dir_missing"
    unknown = fleet.hub.api("POST", "/api/sessions", json={"server": "mars", "dir": "/"})
    assert unknown.status_code == 404

    cli = fleet.hub.ccr("new", "laptop", str(fleet.home / "api"), timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "laptop:2" in cli.stdout
    assert sorted(fleet.live()) == ["laptop:1", "laptop:2"]

    gone = fleet.hub.api("DELETE", "/api/sessions/laptop:1")
    assert gone.status_code == 200 and gone.json()["how"] == "exit"
    refused = fleet.hub.ccr("stop", "laptop:2")  # no terminal to confirm on, no --yes
    assert refused.returncode != 0 and fleet.live() == ["laptop:2"]
    stopped = fleet.hub.ccr("stop", "laptop:2", "--yes")
    assert stopped.returncode == 0, stopped.stderr
    assert "Stopped laptop:2" in stopped.stdout and fleet.live() == []
    again = fleet.hub.api("DELETE", "/api/sessions/laptop:2")
    assert again.status_code == 404
    assert panes(fleet.tmux) == {}


def test_new_and_stop_over_ssh(tmp_path: Path, botapi: Any, tmux: Tmux, sshd: Sshd) -> None:
    fleet = make_fleet(tmp_path, botapi, tmux, sshd, reliability={"breaker_failures": 1})
    assert fleet.kr4_tmux is not None
    fleet.hub.start()
    try:
        project = tmp_path / "remote project"
        project.mkdir()
        fleet.say(f"/new kr4 {tmp_path}/nothing-here")
        fleet.message(lambda m: "There is no directory" in m["text"] and "kr4" in m["text"])
        assert panes(fleet.kr4_tmux) == {}
        done = fleet.start("kr4", str(project))
        assert "kr4:1" in done["text"] and "remote project on kr4" in done["text"]
        [start] = starts(tmp_path, "kr4")
        assert start["cwd"] == str(project.resolve())
        assert panes(fleet.kr4_tmux) == {start["pane"]: "ccr"}
        fleet.say("/stop kr4:1")
        ask = fleet.message(lambda m: m["text"].startswith("Stop ") and "kr4:1" in m["text"])
        fleet.tap(ask, dict(buttons(ask))["⏹ Yes, stop it"])
        done = fleet.message(lambda m: "kr4:1" in m["text"] and "stopped" in m["text"])
        assert "Claude exited on /exit" in done["text"]
        assert panes(fleet.kr4_tmux) == {} and fleet.live() == []
        assert os.path.exists(project)

        # A server that is down, then behind an open breaker: refused, nothing started.
        sshd.stop()
        fleet.say(f"/new kr4 {project}")
        fleet.message(lambda m: "Cannot reach kr4" in m["text"] and "1." in m["text"])
        fleet.say(f"/new kr4 {project}")
        fleet.message(lambda m: "kr4 is temporarily unavailable" in m["text"])
        assert panes(fleet.kr4_tmux) == {} and len(starts(tmp_path, "kr4")) == 1
    finally:
        fleet.hub.stop()
        fleet.kr4_tmux.kill_server()


def test_a_pane_that_is_no_longer_the_sessions_is_left_alone(fleet: Fleet) -> None:
    (fleet.home / "p").mkdir()
    fleet.start("laptop", "p")
    [start] = starts(fleet.workdir, "laptop")
    # tmux restarts and hands the same pane id to a program of another tmux session.
    fleet.tmux.kill_server()
    pane = fleet.tmux.new_session("other", ["cat"])
    assert pane == start["pane"]
    fleet.say("/esc laptop:1")
    msg = fleet.message(lambda m: "now belongs to tmux session 'other'" in m["text"])
    assert "pressed and typed nothing" in msg["text"]
    fleet.say("/clear laptop:1")
    # Refused by the pane check, or (when the killed Claude's SessionEnd came in first, as
    # it does under load) because laptop:1 is no longer live; either way nothing is typed.
    fleet.message(lambda m: m["message_id"] > msg["message_id"]
                  and (m["text"].count("now belongs to tmux session 'other'") == 1
                       or "There is no live session" in m["text"])
                  and "/clear" not in m["text"] and "Escape" not in m["text"])
    fleet.say("/stop laptop:1")
    ask = fleet.message(lambda m: m["text"].startswith("Stop ") and "laptop:1" in m["text"])
    fleet.tap(ask, dict(buttons(ask))["⏹ Yes, stop it"])
    # Refused either way: the pane is another session's, or (once the killed Claude's
    # SessionEnd came in) laptop:1 is no longer live.
    fleet.message(lambda m: m["message_id"] >= ask["message_id"]
                  and ("now belongs to tmux session 'other'" in m["text"]
                       or "There is no live session" in m["text"]))
    assert panes(fleet.tmux) == {pane: "other"}, "the other program's pane is still there"
    assert fleet.tmux.capture(pane).strip() == "", "nothing reached it"
