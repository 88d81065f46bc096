"""Roles in ccr.toml: validated with the key named, resolved per user, checked per action."""

from __future__ import annotations

import tomllib

import pytest

from ccr.core.config import parse_settings
from ccr.core.errors import ConfigError
from ccr.core.roles import ACTIONS, BUTTONS, Role, named_tokens, refusal, telegram_role


def settings(text: str) -> object:
    return parse_settings(tomllib.loads(text), "ccr.toml")


def test_without_operators_every_user_who_is_not_an_observer_operates() -> None:
    s = settings("[telegram]\nadmins = [1]\nobservers = [3]\n")
    assert telegram_role(s, 1) is Role.ADMIN  # type: ignore[arg-type]
    assert telegram_role(s, 2) is Role.OPERATOR  # type: ignore[arg-type]
    assert telegram_role(s, 3) is Role.OBSERVER  # type: ignore[arg-type]
    assert telegram_role(s, None) is Role.OBSERVER  # type: ignore[arg-type]


def test_with_operators_listed_an_unlisted_user_only_reads() -> None:
    s = settings("[telegram]\nadmins = [1]\noperators = [2]\n")
    assert telegram_role(s, 2) is Role.OPERATOR  # type: ignore[arg-type]
    assert telegram_role(s, 4) is Role.OBSERVER  # type: ignore[arg-type]
    assert telegram_role(s, 1) is Role.ADMIN  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "says"), [
    ("[telegram]\nadmins = [1]\nobservers = [1]\n",
     "user 1 is in both telegram.admins and telegram.observers"),
    ("[telegram]\noperators = [5, 6]\nobservers = [6]\n",
     "user 6 is in both telegram.operators and telegram.observers"),
    ("[telegram]\nadmins = [7]\noperators = [7]\n",
     "user 7 is in both telegram.admins and telegram.operators"),
    ("[telegram]\nobservers = [\"ann\"]\n", "telegram.observers[0]"),
    ('[api]\ntokens = [{ name = "x", env = "X", role = "boss" }]\n', "api.tokens[0].role"),
    ('[api]\ntokens = [{ name = "admin", env = "X" }]\n', "is the admin token's name"),
    ('[api]\ntokens = [{ name = "a", env = "X" }, { name = "a", env = "Y" }]\n',
     "'a' is used twice"),
    ('[api]\ntokens = [{ name = "a", env = "X" }, { name = "b", env = "X" }]\n',
     "same env variable"),
    ('[api]\ntokens = [{ name = "a", env = "CCR_API_TOKEN" }]\n',
     "api.tokens[0].env: CCR_API_TOKEN is hub.api_token_env"),
    ('[api]\ntokens = [{ name = "a", value = "s3cret" }]\n', "api.tokens[0].value: unknown key"),
    ("[audit]\nkeep_days = 0\n", "audit.keep_days"),
])
def test_bad_roles_name_the_key(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(text)
    assert info.value.code == "config_invalid"
    assert says in info.value.message


def test_named_tokens_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings('[api]\ntokens = [{ name = "grafana", env = "CCR_T_G" }, '
                 '{ name = "ci", env = "CCR_T_CI", role = "operator" }]\n[audit]\nkeep_days = 30\n')
    monkeypatch.setenv("CCR_T_G", "g-value")
    monkeypatch.delenv("CCR_T_CI", raising=False)
    assert named_tokens(s) == [("grafana", "g-value", Role.OBSERVER)]  # type: ignore[arg-type]
    assert s.audit.keep_days == 30  # type: ignore[attr-defined]


def test_each_role_is_refused_exactly_what_is_above_it() -> None:
    assert refusal(Role.OBSERVER, "sessions") is None
    assert refusal(Role.OBSERVER, "screen") is None and refusal(Role.OBSERVER, "tail") is None
    for name in ("cmd", "text", "choice", "cancel", "new", "stop", "clear", "restart", "esc"):
        err = refusal(Role.OBSERVER, name)
        assert err is not None and err.code == "not_allowed", name
        assert refusal(Role.OPERATOR, name) is None
    for name in ("dlq", "dlq.retry", "dlq.purge", "alerts.ack", "servers", "audit"):
        err = refusal(Role.OPERATOR, name)
        assert err is not None and "needs the admin role" in err.message, name
        assert refusal(Role.ADMIN, name) is None
    forged = refusal(Role.OBSERVER, "no-such-button")
    assert forged is not None and "Nothing was done" in forged.message


def test_every_button_prefix_names_a_known_action() -> None:
    assert set(BUTTONS.values()) <= set(ACTIONS)


def test_every_button_the_bot_offers_is_in_the_role_table() -> None:
    """A button added without its line in BUTTONS would fall to UNKNOWN (operators only), so an
    observer's tap of a read-only button (🖼 Screen) would be refused: each callback-data
    prefix written in ccr/telegram must be listed."""
    import re
    from pathlib import Path

    import ccr.telegram

    made = re.compile(r'(?:callback_data=|, |= )f?"([a-z]{1,4}):')
    offered = {prefix for path in Path(ccr.telegram.__file__).parent.glob("*.py")
               for prefix in made.findall(path.read_text())}
    assert {"scr", "p", "ack", "hi"} <= offered  # the scan sees the buttons
    assert offered <= set(BUTTONS), sorted(offered - set(BUTTONS))
    assert BUTTONS["scr"] == "screen" and refusal(Role.OBSERVER, BUTTONS["scr"]) is None
