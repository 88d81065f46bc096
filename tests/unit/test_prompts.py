"""The prompt parser on screens as `tmux capture-pane -p -J` returns them from Claude Code."""

from __future__ import annotations

import pytest

from ccr.core.dialogs import Option, parse

BOXED_BASH = """\
● I'll run the test suite to see what fails.

╭─────────────────────────────────────────────────────────────────────────────────╮
│ Bash command                                                                    │
│                                                                                 │
│   npm test -- --watch=false                                                     │
│   Run the test suite once                                                       │
│                                                                                 │
│ Do you want to proceed?                                                         │
│ ❯ 1. Yes                                                                        │
│   2. Yes, and don't ask again for npm test commands in /home/ana/shop           │
│   3. No, and tell Claude what to do differently (esc)                           │
╰─────────────────────────────────────────────────────────────────────────────────╯
"""

RULED_BASH = """\
● Let me check the disk usage.

────────────────────────────────────────────────────────────────────────────────────
 Bash command

   du -sh ~/projects/*<sp>
   Show the size of each project<sp>

 Do you want to proceed?
 ❯ 1. Yes
   2. Yes, and don't ask again for du commands in /home/ana
   3. No, and tell Claude what to do differently (esc)

 Esc to cancel · Tab to add additional instructions
""".replace("<sp>", "   ")  # tmux keeps trailing spaces inside a line

STAND_IN = """\
ccr stand-in agent — type a line, press Enter
session 1234 · state /tmp/agent

> /permission
● I need to run a command.

Bash command

  echo 'stand-in permission check'

Do you want to proceed?
❯ 1. Yes
  2. Yes, and don't ask again
  3. No, and tell Claude what to do differently (esc)
"""

REAL_BASH = """\
● I will run a command.

● Bash(touch created.txt && echo made it)
  ⎿  Waiting…

────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────
 Bash command

   touch created.txt && echo made it
   Run the command

 Do you want to proceed?
 ❯ 1. Yes
   2. Yes, and always allow access to proj/ from this project
   3. No

 Esc to cancel · Tab to amend · ctrl+e to explain
"""
"""Claude Code 2.1.197's Bash permission dialog, captured from tests/real (trailing spaces cut)."""

REAL_ASK = """\
❯ please ask me
────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────
 ☐ Choice

Which colour?

❯ 1. Red
     Pick red
  2. Blue
     Pick blue
  3. Type something.
────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────
  4. Chat about this

Enter to select · ↑/↓ to navigate · Esc to cancel
"""
"""Claude Code 2.1.197's AskUserQuestion menu, captured from tests/real: a rule line sits
between "3. Type something." and "4. Chat about this"."""


EDIT = """\
● Update(src/日本/app.py)

╭──────────────────────────────────────────────────────────────╮
│ Edit file                                                    │
│ ╭──────────────────────────────────────────────────────────╮ │
│ │ src/日本/app.py                                          │ │
│ │                                                          │ │
│ │   10    def greet(name):                                 │ │
│ │   11 -      return "hi " + name                          │ │
│ │   11 +      return f"こんにちは {name} 🎉"               │ │
│ ╰──────────────────────────────────────────────────────────╯ │
│ Do you want to make this edit to app.py?                     │
│ ❯ 1. Yes                                                     │
│   2. Yes, allow all edits during this session (shift+tab)    │
│   3. No, and tell Claude what to do differently (esc)        │
╰──────────────────────────────────────────────────────────────╯
"""

CREATE_WRAPPED = """\
╭────────────────────────────────────────────────╮
│ Create file                                    │
│ ╭────────────────────────────────────────────╮ │
│ │ notes/todo.md                              │ │
│ │  1 # Todo                                  │ │
│ ╰────────────────────────────────────────────╯ │
│ Do you want to create todo.md?                 │
│ ❯ 1. Yes                                       │
│   2. Yes, allow all edits during this session  │
│      (shift+tab)                               │
│   3. No, and tell Claude what to do            │
│      differently (esc)                         │
╰────────────────────────────────────────────────╯
"""

FETCH = """\
╭───────────────────────────────────────────────────────────╮
│ Fetch                                                     │
│                                                           │
│   https://docs.python.org/3/library/asyncio.html          │
│   Claude wants to fetch content from docs.python.org      │
│                                                           │
│ Do you want to allow Claude to fetch this content?        │
│ ❯ 1. Yes                                                  │
│   2. Yes, and don't ask again for docs.python.org         │
│   3. No, and tell Claude what to do differently (esc)     │
╰───────────────────────────────────────────────────────────╯
"""

PLAN = """\
╭──────────────────────────────────────────────────╮
│ Ready to code?                                   │
│                                                  │
│ Here is Claude's plan:                           │
│ ╭──────────────────────────────────────────────╮ │
│ │ 1. Add a /health route                       │ │
│ │ 2. Test it                                   │ │
│ ╰──────────────────────────────────────────────╯ │
│                                                  │
│ Would you like to proceed?                       │
│                                                  │
│ ❯ 1. Yes, and auto-accept edits                  │
│   2. Yes, and manually approve edits             │
│   3. No, keep planning                           │
╰──────────────────────────────────────────────────╯
"""

ASK = """\
● I have a question before I start.

────────────────────────────────────────────────────────────
 ☐ Database

Which database should the service use?

❯ 1. PostgreSQL
     Relational and robust; needs a server
  2. SQLite
     One file, nothing to run
  3. Type something.

Enter to select · ↑/↓ to navigate · Esc to cancel
"""

OLD_THEN_NEW = """\
│ Do you want to proceed?                                 │
│   1. Yes                                                │
│ ❯ 2. Yes, and don't ask again for ls commands           │
│   3. No, and tell Claude what to do differently (esc)   │
╰─────────────────────────────────────────────────────────╯

● Bash(ls)
  ⎿  README.md  src

● Now the tests.

╭─────────────────────────────────────────────────────────╮
│ Bash command                                            │
│                                                         │
│   pytest -q                                             │
│                                                         │
│ Do you want to proceed?                                 │
│ ❯ 1. Yes                                                │
│   2. Yes, and don't ask again for pytest commands       │
│   3. No, and tell Claude what to do differently (esc)   │
╰─────────────────────────────────────────────────────────╯
"""


def test_boxed_bash_permission() -> None:
    p = parse(BOXED_BASH)
    assert p is not None
    assert p.kind == "permission" and p.title == "Bash command"
    assert p.question == "Do you want to proceed?"
    assert p.context == ("npm test -- --watch=false", "Run the test suite once")
    assert p.options == (
        Option(1, "Yes"),
        Option(2, "Yes, and don't ask again for npm test commands in /home/ana/shop"),
        Option(3, "No, and tell Claude what to do differently (esc)"),
    )
    assert p.esc and p.selected == 1


def test_ruled_bash_permission_with_footer_and_trailing_spaces() -> None:
    p = parse(RULED_BASH)
    assert p is not None and p.kind == "permission"
    assert p.context == ("du -sh ~/projects/*", "Show the size of each project")
    assert [o.number for o in p.options] == [1, 2, 3]
    assert p.esc


def test_stand_in_agent_menu_without_border() -> None:
    p = parse(STAND_IN)
    assert p is not None and p.kind == "permission" and p.title == "Bash command"
    assert p.context == ("echo 'stand-in permission check'",)
    assert p.options[1] == Option(2, "Yes, and don't ask again")


def test_edit_file_with_nested_box_and_wide_characters() -> None:
    p = parse(EDIT)
    assert p is not None and p.kind == "permission" and p.title == "Edit file"
    assert p.question == "Do you want to make this edit to app.py?"
    assert p.context[0] == "src/日本/app.py"
    assert any("こんにちは" in line and "🎉" in line for line in p.context)
    assert p.options[1].label == "Yes, allow all edits during this session (shift+tab)"


def test_create_file_with_wrapped_option_labels() -> None:
    p = parse(CREATE_WRAPPED)
    assert p is not None and p.question == "Do you want to create todo.md?"
    assert p.options[1].label == "Yes, allow all edits during this session (shift+tab)"
    assert p.options[2].label == "No, and tell Claude what to do differently (esc)"


def test_fetch_permission() -> None:
    p = parse(FETCH)
    assert p is not None and p.kind == "permission" and p.title == "Fetch"
    assert p.context[0] == "https://docs.python.org/3/library/asyncio.html"


def test_plan_mode_menu() -> None:
    p = parse(PLAN)
    assert p is not None and p.kind == "plan" and p.title == "Ready to code?"
    assert p.question == "Would you like to proceed?"
    assert [o.label for o in p.options] == ["Yes, and auto-accept edits",
                                           "Yes, and manually approve edits",
                                           "No, keep planning"]
    assert "1. Add a /health route" in p.context
    assert not p.esc


def test_ask_user_question_with_descriptions() -> None:
    p = parse(ASK)
    assert p is not None and p.kind == "question"
    assert p.question == "Which database should the service use?"
    assert p.title == "☐ Database"
    assert p.options[0] == Option(1, "PostgreSQL", "Relational and robust; needs a server")
    assert p.options[2] == Option(3, "Type something.")
    assert p.esc


def test_only_the_last_prompt_counts() -> None:
    p = parse(OLD_THEN_NEW)
    assert p is not None and p.context == ("pytest -q",)
    assert p.options[1].label == "Yes, and don't ask again for pytest commands"


def test_highlight_moved_is_still_the_same_prompt() -> None:
    moved = BOXED_BASH.replace("│ ❯ 1. Yes ", "│   1. Yes ").replace("│   2. Yes,", "│ ❯ 2. Yes,")
    a, b = parse(BOXED_BASH), parse(moved)
    assert a is not None and b is not None and b.selected == 2 and a.same(b)
    assert not a.same(parse(FETCH))


NOT_PROMPTS = {
    "numbered list in a reply": """\
● Here is the plan:
  1. Read the config
  2. Write the tests
  3. Ship it

> \n""",
    "list at the very bottom, no pointer": """\
Do you want to proceed?
1. Yes
2. No
""",
    "answered prompt with output below": OLD_THEN_NEW + "\n● Bash(pytest -q)\n  ⎿  3 passed\n",
    "input box under a list": """\
Which one?
❯ 1. This
  2. That
────────────────
> hello
────────────────
  ? for shortcuts
""",
    "numbers out of order": """\
Pick one?
❯ 1. A
  3. C
""",
    "a single option": """\
Continue?
❯ 1. Yes
""",
    "empty": "",
    "blank lines": "\n\n   \n",
}


@pytest.mark.parametrize("screen", NOT_PROMPTS.values(), ids=NOT_PROMPTS.keys())
def test_screens_that_are_not_prompts(screen: str) -> None:
    assert parse(screen) is None


def test_real_claude_code_bash_permission() -> None:
    p = parse(REAL_BASH)
    assert p is not None and p.kind == "permission" and p.title == "Bash command"
    assert p.context == ("touch created.txt && echo made it", "Run the command")
    assert [o.label for o in p.options] == [
        "Yes", "Yes, and always allow access to proj/ from this project", "No"]
    assert p.esc and p.selected == 1


def test_real_claude_code_ask_user_question() -> None:
    p = parse(REAL_ASK)
    assert p is not None and p.kind == "question"
    assert p.question == "Which colour?" and p.title == "☐ Choice"
    assert p.options[:2] == (Option(1, "Red", "Pick red"), Option(2, "Blue", "Pick blue"))
    assert p.esc
