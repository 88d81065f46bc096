"""The pieces behind /new, /stop and /clear that need no tmux: argv building, parsing what
tmux and the directory check print, and telling a cleared screen from a busy one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ccr.remote.transport import ProgramOutput
from ccr.remote.windows import (
    RESOLVE_DIR,
    new_session_args,
    new_window_args,
    pane_id_of,
    pane_state,
    resolve_argv,
    resolved,
)
from ccr.services.session_control import looks_cleared, tail
from ccr.telegram import render

HOSTILE_DIR = "$(touch /tmp/x); `id` ' \" \\ ;"


def test_the_directory_is_one_argument_everywhere() -> None:
    args = new_window_args(["-L", "s"], "ccr", HOSTILE_DIR, "claude")
    assert args.count(HOSTILE_DIR) == 1 and args[args.index("-c") + 1] == HOSTILE_DIR
    assert args[args.index(HOSTILE_DIR) + 1] == "claude" and args[:2] == ["-L", "s"]
    assert "=ccr:" in args and "remain-on-exit" in args
    first = new_session_args([], "ccr", "/w", "claude")
    assert first[:2] == ["new-session", "-d"] and first[first.index("-s") + 1] == "ccr"
    assert resolve_argv(HOSTILE_DIR) == ["sh", "-c", RESOLVE_DIR, "ccr-dir", HOSTILE_DIR]


@pytest.mark.parametrize("given, expect", [
    ("~", "HOME"), ("~/a b", "HOME/a b"), ("a b", "HOME/a b"), ("/", "/"),
    ("missing", None), (HOSTILE_DIR, None), ("~missing", None),
])
def test_resolve_program_reads_the_directory_as_data(tmp_path: Path, given: str,
                                                      expect: str | None) -> None:
    home = str(tmp_path)
    (tmp_path / "a b").mkdir()
    proc = subprocess.run(resolve_argv(given), capture_output=True, text=True,
                          env={"HOME": home, "PATH": "/usr/bin:/bin"}, check=False)
    out = ProgramOutput(proc.returncode, proc.stdout, proc.stderr)
    want = None if expect is None else expect.replace("HOME", home)
    assert resolved(out) == want
    assert not (tmp_path / "x").exists()


def test_a_failed_check_is_not_a_missing_directory() -> None:
    with pytest.raises(ValueError, match="no answer"):
        resolved(ProgramOutput(124, "", "no answer within 10 s"))
    with pytest.raises(ValueError):
        resolved(ProgramOutput(0, "not a path\n", ""))


def test_pane_state_and_new_pane_ids() -> None:
    state = pane_state("%3", "%3:0:ccr:node\n")
    assert state is not None and not state.dead and state.session_name == "ccr"
    assert not state.at_shell
    shell = pane_state("%3", "%3:1:work:bash\n")
    assert shell is not None and shell.dead and shell.at_shell
    assert pane_state("%3", ":::\n") is None, "tmux prints empty fields for no such pane"
    assert pane_state("%3", "%4:0:ccr:node\n") is None
    odd = pane_state("%3", "%3:0:ccr:a:b c\n")
    assert odd is not None and odd.command == "a:b c"
    assert pane_id_of("%12\n") == "%12" and pane_id_of("oops") is None


def test_a_cleared_screen_is_told_from_a_busy_one() -> None:
    before = "banner\nsession 1\n\n> remember this\n● You said: remember this\n\n> "
    assert looks_cleared(before, "banner\nsession 2\n\n> ")
    assert not looks_cleared(before, before + "/clear"), "still on the input line"
    busy = before + "/clear\n● You said: /clear\n\n> "
    assert not looks_cleared(before, busy), "taken as a prompt: the old lines stay"
    assert looks_cleared("> ", "> "), "nothing to clear: submitted is enough"


def test_tail_keeps_the_last_lines_without_blank_runs() -> None:
    screen = "one\n\n\n\ntwo\n" + "\n" * 40 + "Pane is dead (status 127)\n\n"
    assert tail(screen) == "one\n\ntwo\n\nPane is dead (status 127)"
    assert tail("\n".join(str(i) for i in range(40)), 3) == "37\n38\n39"


def test_session_buttons_on_plain_notifications_only() -> None:
    plain = {"token": "abcd2345", "answerable": True}
    assert render.session_buttons(plain) == [[("⏹ Stop", "ss:abcd2345"),
                                              ("🧹 Clear", "sc:abcd2345"),
                                              ("🖼 Screen", "scr:abcd2345")]]
    assert render.session_buttons({**plain, "answerable": False}) == []
    assert render.session_buttons({**plain, "token": "<b>x</b>"}) == []
    assert render.buttons("notification", {**plain, "prompt_id": 7, "options": []}) == []
