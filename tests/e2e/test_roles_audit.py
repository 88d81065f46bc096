"""Roles and the audit log on real parts: the hub process, the Bot API stand-in driven through
python-telegram-bot, real tmux with the stand-in agent as laptop's Claude, the real `ccr` CLI.

Three people share one chat: an admin, an operator and an observer. What each may do follows
their own role, not the chat's; what an observer may not do changes nothing (the pane stays
untouched) and is answered; every change and every refusal is in `ccr audit --json` once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import CHAT
from tests.e2e.test_session_control import Fleet, buttons, make_fleet, starts
from tests.fixtures.hub import HTTP, prompts, wait_until
from tests.fixtures.tmux import Tmux

pytestmark = pytest.mark.e2e

ADMIN = CHAT  # the private chat's own user
OPERATOR = 5001
OBSERVER = 7007
GRAFANA = "grafana-token-value-0123456789"
CI = "ci-token-value-0123456789abcdef"
SECRET_TEXT = "deploy with PASSWORD=hunter2hunter2 now"


def with_roles(fleet: Fleet) -> Fleet:
    """Roles for the three users and two named API tokens, written into the fleet's ccr.toml."""
    config = fleet.hub.config
    text = config.read_text().replace(
        f"admins = [{ADMIN}]",
        f"admins = [{ADMIN}]\noperators = [{OPERATOR}]\nobservers = [{OBSERVER}]", 1)
    text += ('\n[api]\ntokens = [{ name = "grafana", env = "CCR_TOKEN_GRAFANA", '
             'role = "observer" }, { name = "ci", env = "CCR_TOKEN_CI", role = "operator" }]\n')
    text += "\n[metrics]\nrequire_token = true\n"
    config.write_text(text)
    fleet.hub.env.update(CCR_TOKEN_GRAFANA=GRAFANA, CCR_TOKEN_CI=CI)
    return fleet


@pytest.fixture
def team(tmp_path: Path, botapi: Any, tmux: Tmux) -> Iterator[Fleet]:
    f = with_roles(make_fleet(tmp_path, botapi, tmux))
    (f.home / "shop").mkdir()
    f.hub.start()
    yield f
    f.hub.stop()


def say(team: Fleet, user: int, text: str, reply_to: int | None = None) -> dict[str, Any]:
    """`user` writes in the shared chat; the bot's next new message (its answer)."""
    seen = {m["message_id"] for m in team.botapi.sent_messages()}
    update = team.botapi.push_text(CHAT, text, user_id=user, reply_to_message_id=reply_to)
    msg = team.message(lambda m: m["message_id"] not in seen)
    msg["update_id"] = update
    return msg


def say_edit(team: Fleet, user: int, message_id: int, text: str) -> dict[str, Any]:
    """`user` edits an earlier message of theirs into `text`; the bot's answer."""
    seen = {m["message_id"] for m in team.botapi.sent_messages()}
    team.botapi.push_edit(CHAT, message_id, text, user_id=user)
    return team.message(lambda m: m["message_id"] not in seen)


def tap(team: Fleet, user: int, message_id: int, data: str) -> str:
    """`user` taps a button; the bot's answer to the tap."""
    before = len(team.botapi.callback_answers)
    team.botapi.push_callback(CHAT, message_id, data, user_id=user)
    wait_until(lambda: len(team.botapi.callback_answers) > before, 20, message="an answer")
    return str(team.botapi.callback_answers[before].get("text", ""))


def audit(team: Fleet, *args: str) -> list[dict[str, Any]]:
    """`ccr audit --json` through the real CLI (the admin token)."""
    done = team.hub.ccr("audit", "--json", *args)
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def by(rows: list[dict[str, Any]], actor: str) -> list[tuple[str, bool]]:
    """(action, refused) of one actor's entries, oldest first."""
    return [(r["action"], r["refused"]) for r in reversed(rows) if r["actor"] == actor]


def test_each_role_does_what_it_may_and_every_action_is_audited_once(team: Fleet) -> None:
    agent = team.workdir / "agent-laptop"
    # The operator starts Claude; the observer's /new starts nothing and is told why.
    seen = {m["message_id"] for m in team.botapi.sent_messages()}
    team.botapi.push_text(CHAT, "/new laptop ~/shop", user_id=OPERATOR)
    started = team.message(lambda m: m["message_id"] not in seen
                           and "Claude started" in m["text"])
    # The stand-in greets with an idle Notification at start: wait for its card, so that it
    # is not taken below for the bot's answer to someone (in CI it came that late).
    team.message(lambda m: m["message_id"] not in seen and "waiting for your input" in m["text"])
    assert team.live() == ["laptop:1"]
    refused = say(team, OBSERVER, "/new laptop ~/shop")
    assert "may not start a session" in refused["text"] and "observer" in refused["text"]
    assert len(starts(team.workdir, "laptop")) == 1 and team.live() == ["laptop:1"]
    pane = starts(team.workdir, "laptop")[0]["pane"]

    # The operator types; the observer's /cmd and reply type nothing.
    team.botapi.push_text(CHAT, f"/cmd laptop:1 {SECRET_TEXT}", user_id=OPERATOR)
    wait_until(lambda: len(prompts(agent)) == 1, 30, message="the operator's prompt")
    refused = say(team, OBSERVER, "/cmd laptop:1 observer was here")
    assert "may not type into a session" in refused["text"]
    assert "Nothing was done" in refused["text"]
    refused = say(team, OBSERVER, "observer reply", reply_to=started["message_id"])
    assert "may not type into a session" in refused["text"]
    edited = say_edit(team, OBSERVER, refused["message_id"], "/cmd laptop:1 observer edit")
    assert "may not type into a session" in edited["text"]
    assert len(prompts(agent)) == 1
    assert "observer" not in team.tmux.capture(pane)

    # Buttons: the observer's Stop and a forged button are refused; the session lives on.
    [stop_data] = [d for label, d in buttons(started) if "Stop" in label]
    assert "may not stop a session" in tap(team, OBSERVER, started["message_id"], stop_data)
    forged = tap(team, OBSERVER, started["message_id"], "p:1:1")
    assert "may not press a choice" in forged
    assert team.live() == ["laptop:1"]

    # Reading is every role's: the observer's /sessions lists the session, and the pane is
    # theirs to see (🖼 Screen, /screen, /tail), none of which types anything.
    assert "laptop:1" in say(team, OBSERVER, "/sessions")["text"]
    [screen_data] = [d for label, d in buttons(started) if "Screen" in label]
    assert "Screen of laptop:1" in tap(team, OBSERVER, started["message_id"], screen_data)
    wait_until(lambda: len(team.botapi.sent_photos(CHAT)) == 1, 20, message="the tap's photo")
    team.botapi.push_text(CHAT, "/screen laptop:1", user_id=OBSERVER)
    wait_until(lambda: len(team.botapi.sent_photos(CHAT)) == 2, 20, message="/screen's photo")
    assert "laptop:1" in team.botapi.sent_photos(CHAT)[1]["caption"]
    assert "last 5 lines" in say(team, OBSERVER, "/tail laptop:1 5")["text"]
    assert len(prompts(agent)) == 1

    # Admin-only things are refused to the operator.
    assert "may not read dead letters" in say(team, OPERATOR, "/dlq")["text"]
    assert "may not read the audit log" in say(team, OPERATOR, "/audit")["text"]
    assert "may not acknowledge alerts" in say(team, OPERATOR, "/alerts ack 1")["text"]

    # The operator stops the session with the confirmation button.
    token = stop_data.partition(":")[2]
    tap(team, OPERATOR, started["message_id"], f"sy:{token}")
    wait_until(lambda: team.live() == [], 30, message="the session stopped")

    # A redelivered /cmd update is neither typed nor audited again.
    cmd_updates = [u for u in team.botapi._delivered
                   if u.get("message", {}).get("text", "").startswith("/cmd laptop:1 deploy")]
    team.botapi.redeliver(cmd_updates[0]["update_id"])
    assert "Audit log" in say(team, ADMIN, "/audit 1h")["text"]  # handled after it, in order
    assert prompts(agent) == [SECRET_TEXT, "/exit"], "the /exit is the operator's stop"

    rows = audit(team)
    assert by(rows, f"telegram:{OPERATOR}") == [
        ("new", False), ("cmd", False), ("dlq", True), ("audit", True), ("alerts.ack", True),
        ("stop", False)]
    assert by(rows, f"telegram:{OBSERVER}") == [
        ("new", True), ("cmd", True), ("text", True), ("cmd", True), ("stop", True),
        ("choice", True)]
    [cmd] = [r for r in rows if r["action"] == "cmd" and not r["refused"]]
    assert cmd["face"] == "telegram" and cmd["session"] == "laptop:1"
    assert cmd["server"] == "laptop" and cmd["outcome"].startswith("accepted as c")
    assert cmd["trace_id"] and cmd["actor_name"] == f"user{OPERATOR}"
    assert "[redacted]" in cmd["what"]
    assert "hunter2hunter2" not in json.dumps(rows)
    refusal = next(r for r in rows if r["actor"] == f"telegram:{OBSERVER}"
                   and r["action"] == "choice")
    assert refusal["what"] == "button p:1:1" and "needs the operator role" in refusal["outcome"]

    # --who narrows to one person; the admin's own /audit reads are not changes.
    assert {r["actor"] for r in audit(team, "--who", str(OBSERVER))} == {
        f"telegram:{OBSERVER}"}
    assert by(rows, f"telegram:{ADMIN}") == []


def api(team: Fleet, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return HTTP.request(method, f"{team.hub.url}{path}", headers=headers, timeout=60,
                         **kwargs)


def test_api_tokens_have_roles_and_their_calls_are_audited(team: Fleet) -> None:
    # Observer token: reads, but may not type (403 with the reason, audited).
    assert api(team, GRAFANA, "GET", "/api/sessions").status_code == 200
    denied = api(team, GRAFANA, "POST", "/api/commands",
                 json={"session": "laptop:1", "text": "hello"})
    assert denied.status_code == 403
    error = denied.json()["error"]
    assert error["code"] == "not_allowed"
    assert "'grafana' may not type into a session" in error["message"]
    assert error["steps"]
    assert api(team, "not-a-token", "GET", "/api/sessions").status_code == 401
    assert api(team, GRAFANA, "GET", "/metrics").status_code == 200  # a scraper's token
    assert HTTP.get(f"{team.hub.url}/metrics", timeout=30).status_code == 401

    # Operator token: starts and stops Claude, but admins' routes answer 403.
    started = api(team, CI, "POST", "/api/sessions", json={"server": "laptop", "dir": "~/shop"})
    assert started.status_code == 201, started.text
    # The observer token reads the pane (picture and text) and a command, but may not press Esc.
    png = api(team, GRAFANA, "GET", "/api/sessions/laptop:1/screen.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG"), png.text[:200]
    tail = api(team, GRAFANA, "GET", "/api/sessions/laptop:1/tail", params={"lines": "5"})
    assert tail.status_code == 200 and tail.json()["lines"] == 5
    assert api(team, GRAFANA, "GET", "/api/commands/c0000000000").status_code == 404
    esc = api(team, GRAFANA, "POST", "/api/sessions/laptop:1/esc")
    assert esc.status_code == 403 and "may not press Escape" in esc.json()["error"]["message"]
    for method, path in (("GET", "/api/dlq"), ("POST", "/api/dlq/retry"),
                         ("DELETE", "/api/dlq"), ("POST", "/api/alerts/1/ack"),
                         ("GET", "/api/audit"), ("POST", "/api/servers/sync")):
        answer = api(team, CI, method, path, json={"id": "box2"})
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "not_allowed"
    assert api(team, CI, "DELETE", "/api/sessions/laptop:1").status_code == 200

    # The admin token (the CLI's) adds and removes a server, and purges dead letters;
    # a request repeated with the same Idempotency-Key is recorded once.
    config = team.hub.config
    before = config.read_text()
    config.write_text(before + '\n[[servers]]\nid = "box2"\nkind = "local"\n')
    added = team.hub.api("POST", "/api/servers/sync", json={"id": "box2"})
    assert added.status_code == 200 and added.json()["action"] == "added", added.text
    config.write_text(before)
    removed = team.hub.api("POST", "/api/servers/sync", json={"id": "box2"})
    assert removed.json()["action"] == "removed", removed.text
    for _ in range(2):
        purged = api(team, team_admin_token(), "DELETE", "/api/dlq",
                     headers={"Idempotency-Key": "purge-1"})
        assert purged.status_code == 200
    assert team.hub.ccr("dlq", "purge", "--yes").returncode == 0

    rows = audit(team)
    mine = [(r["face"], r["actor"], r["action"], r["refused"]) for r in reversed(rows)]
    assert mine == [
        ("api", "api:grafana", "cmd", True),
        ("api", "api:ci", "new", False),
        ("api", "api:grafana", "esc", True),
        *[("api", "api:ci", action, True) for action in (
            "dlq", "dlq.retry", "dlq.purge", "alerts.ack", "audit", "servers")],
        ("api", "api:ci", "stop", False),
        ("api", "api:admin", "servers", False),
        ("api", "api:admin", "servers", False),
        ("api", "api:admin", "dlq.purge", False),
        ("cli", "api:admin", "dlq.purge", False),
    ]
    new = next(r for r in rows if r["action"] == "new")
    assert new["session"] == "laptop:1" and new["outcome"] == "ok (201)" and new["trace_id"]
    assert rows[0]["outcome"] == "0 dead letter(s) purged"
    assert GRAFANA not in json.dumps(rows) and CI not in json.dumps(rows)
    team.hub.env["COLUMNS"] = "200"  # a terminal's width (a pipe gets 80)
    table = team.hub.ccr("audit", "--since", "1h", "--who", "grafana")
    assert table.returncode == 0 and "api:grafana" in table.stdout
    assert "refused" in table.stdout and "api:ci" not in table.stdout
    wrong = team.hub.ccr("audit", "--since", "soon")
    assert wrong.returncode == 1 and "'soon' is not a duration" in wrong.stderr


def team_admin_token() -> str:
    from tests.fixtures.hub import API_TOKEN

    return API_TOKEN
