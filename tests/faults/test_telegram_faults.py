"""Telegram faults on real parts: the hub process, the Bot API stand-in over HTTP, the CLI.

Each test counts what reached the stand-in against what the hub accepted: every notification
arrives once and in order, or waits visibly in the dead-letter queue with a readable reason.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.hub import (
    HTTP,
    HubProcess,
    base_env,
    free_port,
    signed_headers,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.e2e

CHAT = 4242
NOT_ADMIN = 5151
TIMEOUT_S = 0.5


class Rig:
    """A hub with short Telegram timeouts and a fast dead-letter queue, and its stand-in."""

    def __init__(self, hub: HubProcess, botapi: Any) -> None:
        self.hub = hub
        self.botapi = botapi

    def notify(self, n: int) -> None:
        """Claude stops: one accepted notification carrying `note-NN`."""
        body = json.dumps({
            "event_id": f"evt-{uuid.uuid4().hex}", "server_id": "laptop",
            "hook_event_name": "Stop", "session_id": "s1", "cwd": "/w/shop",
            "last_reply": f"note-{n:02d}", "tmux": {"pane_id": "%77"},
        }).encode()
        resp = HTTP.post(f"{self.hub.url}/notify", content=body, timeout=10,
                          headers=signed_headers(body))
        assert resp.json()["status"] == "accepted"

    def notes(self) -> list[str]:
        """The notes that reached the chat, in arrival order (duplicates included)."""
        out = []
        for m in self.botapi.sent_messages(CHAT):
            for word in m["text"].split():
                if word.startswith("note-"):
                    out.append(word)
        return out

    def wait_notes(self, count: int, timeout: float = 15.0) -> list[str]:
        try:
            wait_until(lambda: len(self.notes()) >= count, timeout,
                       message=f"{count} notes at the stand-in")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; got {self.notes()}\n{self.hub.logs()[-3000:]}") from None
        return self.notes()

    def dlq(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.hub.api("GET", "/api/dlq").json()["entries"]
        return entries


@pytest.fixture
def make_rig(tmp_path: Path, botapi: Any) -> Iterator[Callable[..., Rig]]:
    hubs: list[HubProcess] = []

    def make(*, dlq_base_s: float = 3600.0) -> Rig:
        port = free_port()
        config = write_config(
            tmp_path / "ccr.toml", port=port, data_dir=tmp_path / "data",
            servers=[{"id": "laptop", "kind": "local"}],
            telegram={"base_url": botapi.base_url, "allowed_chats": [CHAT], "admins": [CHAT],
                      "poll_timeout": 1})
        with config.open("a") as f:
            f.write(f"[reliability]\ntelegram_timeout_s = {TIMEOUT_S}\ntelegram_base_s = 0.2\n"
                    f"telegram_max_s = 1.0\ndlq_interval_s = 0.2\ndlq_base_s = {dlq_base_s}\n")
        hub = HubProcess(config=config, port=port, workdir=tmp_path,
                         env=base_env(CCR_TELEGRAM_TOKEN=botapi.token, COLUMNS="250"))
        hubs.append(hub.start())
        return Rig(hub, botapi)

    yield make
    for hub in hubs:
        hub.stop()


def expected(n: int) -> list[str]:
    return [f"note-{i:02d}" for i in range(n)]


def test_429_and_502_are_retried_once_each_in_order(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.botapi.fail("sendMessage", 429, times=1, retry_after=1)
    rig.botapi.fail("sendMessage", 502, times=1)
    started = time.monotonic()
    for n in range(5):
        rig.notify(n)
    assert rig.wait_notes(5) == expected(5)
    assert time.monotonic() - started >= 1.0, "retry_after was not honoured"
    time.sleep(0.5)
    assert rig.notes() == expected(5)  # exactly once
    assert len(rig.botapi.calls_to("sendMessage")) == 7  # 5 sends + 2 retries
    assert rig.dlq() == []
    assert "attempt 1 of 3" in rig.hub.logs() and "attempt 2 of 3" in rig.hub.logs()


def test_a_hung_gateway_past_the_timeout_is_retried_once(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    # The request hangs past the client's timeout and never reaches Telegram (then a 504).
    rig.botapi.fail("sendMessage", 504, times=1, delay=TIMEOUT_S * 3)
    for n in range(4):
        rig.notify(n)
    assert rig.wait_notes(4) == expected(4)
    time.sleep(TIMEOUT_S * 3)
    assert rig.notes() == expected(4)
    assert "timed out" in rig.hub.logs()


def test_a_stall_that_lands_late_loses_nothing_and_keeps_order(
        make_rig: Callable[..., Rig]) -> None:
    """A read timeout is ambiguous: Telegram may have the message. It is sent again (losing
    it would be worse) and the log says a duplicate is possible; Telegram's sendMessage has
    no idempotency key, so this is the one case where a notification can show twice."""
    rig = make_rig()
    rig.botapi.stall("sendMessage", TIMEOUT_S * 3)
    for n in range(4):
        rig.notify(n)
    rig.wait_notes(4)
    time.sleep(TIMEOUT_S * 4)
    notes = rig.notes()
    firsts = list(dict.fromkeys(notes))
    assert firsts == expected(4)  # all there, in order of first arrival
    assert len(notes) - len(firsts) <= 1 and set(notes[len(firsts):]) <= {"note-00"}
    assert "a retry can show it twice" in rig.hub.logs()


def test_stays_down_then_dlq_then_retry_all_delivers_once_in_order(
        make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.botapi.fail("sendMessage", 502, times=10_000)
    for n in range(4):
        rig.notify(n)
    wait_until(lambda: len(rig.dlq()) == 4, 15, message="4 dead letters")
    assert rig.notes() == []
    listed = rig.hub.ccr("dlq", "list")
    assert listed.returncode == 0, listed.stderr
    assert "Telegram could not be reached" in listed.stdout and "Bad Gateway" in listed.stdout
    assert listed.stdout.count("notification for laptop:1") == 4
    first = rig.dlq()[0]
    shown = rig.hub.ccr("dlq", "show", str(first["id"]))
    assert shown.returncode == 0 and "failing since" in shown.stdout
    assert "0 of 5" in shown.stdout and "3" in shown.stdout

    rig.botapi.clear_faults()
    time.sleep(0.5)
    assert rig.notes() == []  # the queue waits for its schedule (an hour here) or a person
    retried = rig.hub.ccr("dlq", "retry", "--all")
    assert retried.returncode == 0 and "4 dead letter(s) back in line" in retried.stdout
    assert rig.wait_notes(4) == expected(4)
    time.sleep(0.5)
    assert rig.notes() == expected(4)
    assert [e["state"] for e in rig.hub.api("GET", "/api/dlq?delivered=true").json()["entries"]
            ] == ["delivered"] * 4
    assert rig.hub.ccr("dlq", "retry", "--all").stdout.startswith("Nothing to retry")
    empty = rig.hub.ccr("dlq", "list")
    assert "empty" in empty.stdout


def test_the_queue_retries_by_itself_on_schedule(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(dlq_base_s=0.5)
    rig.botapi.fail("sendMessage", 502, times=10_000)
    for n in range(3):
        rig.notify(n)
    wait_until(lambda: len(rig.dlq()) == 3, 15, message="3 dead letters")
    rig.botapi.clear_faults()
    assert rig.wait_notes(3) == expected(3)
    time.sleep(0.5)
    assert rig.notes() == expected(3)
    assert "retried by schedule, cycle" in rig.hub.logs()


def test_permanent_refusal_goes_to_the_queue_at_once(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.botapi.fail("sendMessage", 403, times=1)
    rig.notify(0)
    rig.notify(1)
    assert rig.wait_notes(1) == ["note-01"]  # the chat is not blocked behind it
    [entry] = rig.dlq()
    assert entry["error_type"] == "forbidden" and entry["attempts"] == 1
    assert "blocked" in entry["reason"]
    assert rig.hub.api("POST", f"/api/dlq/{entry['id']}/retry").json()["retried"] is True
    assert rig.wait_notes(2) == ["note-01", "note-00"]


def test_dead_letters_survive_sigkill(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.botapi.fail("sendMessage", 502, times=10_000)
    for n in range(3):
        rig.notify(n)
    wait_until(lambda: len(rig.dlq()) == 3, 15, message="3 dead letters")
    before = rig.dlq()
    rig.hub.kill()
    rig.hub.start()
    after = {e["id"]: (e["outbox_id"], e["reason"], e["state"]) for e in rig.dlq()}
    # (session recovery may add its own message about the made-up pane: compare ours)
    assert all(after[e["id"]] == (e["outbox_id"], e["reason"], e["state"]) for e in before)
    rig.botapi.clear_faults()
    assert rig.hub.ccr("dlq", "retry", "--all").returncode == 0
    assert rig.wait_notes(3) == expected(3)
    time.sleep(0.5)
    assert rig.notes() == expected(3)


def test_dlq_api_needs_the_token(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    for method, path in (("GET", "/api/dlq"), ("GET", "/api/dlq/1"), ("POST", "/api/dlq/retry"),
                         ("POST", "/api/dlq/1/retry"), ("DELETE", "/api/dlq")):
        assert HTTP.request(method, f"{rig.hub.url}{path}").status_code == 401
    missing = rig.hub.ccr("dlq", "retry", "99")
    assert missing.returncode == 1 and "no dead letter 99" in missing.stderr


def test_dlq_command_is_for_admins_and_retries(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.botapi.fail("sendMessage", 502, times=6)
    rig.notify(0)
    rig.notify(1)
    wait_until(lambda: len(rig.dlq()) == 2, 15, message="2 dead letters")
    rig.botapi.push_text(CHAT, "/dlq", user_id=NOT_ADMIN)
    rig.botapi.wait_for_message(lambda m: "may not read dead letters" in m["text"])
    rig.botapi.push_text(CHAT, "/dlq")
    listing = rig.botapi.wait_for_message(lambda m: "Dead letters (2)" in m["text"])
    assert "Telegram could not be reached" in listing["text"]
    assert rig.notes() == []
    rig.botapi.push_text(CHAT, "/dlq retry all")
    rig.botapi.wait_for_message(lambda m: "2 dead letter(s) are back in line" in m["text"])
    assert rig.wait_notes(2) == expected(2)
