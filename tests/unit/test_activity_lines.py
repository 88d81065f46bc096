"""Claude's steps in plain words on a command's live message, and the edit coalescing."""

from __future__ import annotations

from typing import Any

from ccr.core import activity as fmt
from ccr.core.activity import Step, Summary
from ccr.services.activity import Coalescer
from ccr.telegram import card
from ccr.telegram.render import LIMIT, u16len


def step(seq: int, tool: str, subject: str, status: str = "ok",
         error: str | None = None) -> Step:
    return Step(seq, tool, subject, status, error, 100.0 + seq, None)


def test_subjects_are_short_and_plain() -> None:
    assert fmt.subject("Bash", "pytest -q") == "pytest -q"
    assert fmt.subject("Bash", "cd app\nmake test") == "cd app …"
    assert fmt.subject("Edit", "/home/ana/shop/cart.py") == "cart.py"
    assert fmt.subject("Read", "/home/ana/shop/README.md") == "README.md"
    assert fmt.subject("Grep", '{"pattern":"def checkout","path":"/src"}') == "def checkout"
    assert fmt.subject("Task", '{"description":"Find the flaky test","prompt":"long"}') == \
        "Find the flaky test"
    assert fmt.subject("WebFetch", '{"url":"https://example.com/a"}') == "https://example.com/a"
    assert fmt.subject("Bash", "x" * 300).endswith("…")
    assert len(fmt.subject("Bash", "x" * 300)) == fmt.SUBJECT_CHARS
    assert fmt.subject("Odd", '{"sql":"select 1", "rows":') == '{"sql":"select 1", "rows":'
    assert fmt.subject("Read", None) == ""


def test_step_lines_mark_failures_and_name_mcp_tools_briefly() -> None:
    assert fmt.step_line(step(1, "Bash", "pytest -q")) == "Bash: pytest -q"
    assert fmt.step_line(step(2, "Edit", "cart.py", "failed", "String not found")) == \
        "✗ Edit: cart.py (String not found)"
    assert fmt.step_line(step(3, "mcp__db__query", "select 1")) == "db.query: select 1"
    assert fmt.step_line(step(4, fmt.SUBAGENT, "Explore", "running")) == "🤖 subagent Explore"
    assert fmt.step_line(step(5, "TodoWrite", "")) == "TodoWrite"


def test_the_summary_line_counts_tools_most_used_first() -> None:
    summary = Summary(12, 0, {"Read": 3, "Bash": 5, "Edit": 4})
    assert fmt.summary_line(summary) == "12 steps: 5 Bash, 4 Edit, 3 Read"
    assert fmt.summary_line(Summary(1, 1, {"Bash": 1})) == "1 step: 1 Bash · 1 failed"
    many = Summary(9, 0, {f"T{i}": 1 for i in range(9)})
    assert fmt.summary_line(many).endswith("1 T5, 3 other")
    assert fmt.summary_line(None) == "" and fmt.summary_line(Summary(0, 0, {})) == ""


def test_the_view_shows_the_running_step_and_the_last_five_before_it() -> None:
    steps = [step(i, "Read", f"f{i}.py") for i in range(1, 9)]
    steps.append(step(9, "Bash", "sleep 6; echo done", "running"))
    view = fmt.view(steps, Summary(9, 0, {"Read": 8, "Bash": 1}))
    assert view["now"] == "Bash: sleep 6; echo done"
    assert [r["line"] for r in view["recent"]] == [f"Read: f{i}.py" for i in range(4, 9)]
    assert view["summary"] == "9 steps: 8 Read, 1 Bash"


def payload(state: str, activity: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"command_id": "c1", "handle": "laptop:1", "text": "fix the tests", "state": state,
            "created_at": 100.0, "received_at": 101.0, "at": 130.0, "finished_at": 160.0,
            "activity": activity, **extra}


def test_a_running_command_shows_what_claude_does_now_and_its_last_steps() -> None:
    steps = [step(1, "Read", "README.md"), step(2, "Bash", "pytest -q", "failed", "Exit code 1"),
             step(3, "Edit", "cart.py"), step(4, "Bash", "pytest -q", "running")]
    html = card.text(payload("executing", fmt.view(steps, Summary(4, 1, {}))))
    lines = html.split("\n")
    assert "4 steps so far" in html
    assert "✓ Read: README.md" in lines and "✗ Bash: pytest -q (Exit code 1)" in lines
    assert "✓ Edit: cart.py" in lines
    assert lines.index("✓ Edit: cart.py") < lines.index("▶ <b>Bash: pytest -q</b>")


def test_the_final_message_keeps_only_the_summary_line() -> None:
    act = fmt.view([], Summary(12, 0, {"Bash": 5, "Edit": 4, "Read": 3}))
    html = card.text(payload("completed", act, reply="All green."))
    assert "12 steps: 5 Bash, 4 Edit, 3 Read" in html and "▶" not in html
    assert "All green." in html


def test_secrets_in_a_step_are_redacted_and_a_huge_activity_stays_within_the_limit() -> None:
    token = "ghp_" + "A1b2C3d4" * 5
    steps = [step(i, "Bash", f"curl -H 'Authorization: Bearer {token}' " + "x" * 500)
             for i in range(1, 7)]
    html = card.text(payload("executing", fmt.view(steps, Summary(6, 0, {"Bash": 6})),
                             text="y" * 5000))
    assert token not in html
    assert u16len(html) <= LIMIT


def test_edits_coalesce_to_one_per_window_and_the_next_one_waits_for_its_end() -> None:
    c = Coalescer(3.0)
    assert c.wait("c1", 10.0) == 0.0  # the first step shows at once
    c.mark("c1", 10.0)
    assert c.wait("c1", 10.5) == 2.5  # a step inside the window waits for its end
    assert c.wait("c2", 10.5) == 0.0  # another command's message has its own window
    c.mark("c1", 13.0)  # the trailing edit
    assert c.wait("c1", 16.2) == 0.0
    c.forget("c1")
    assert c.wait("c1", 13.1) == 0.0
