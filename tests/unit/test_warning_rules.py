"""The warning rules' thresholds, messages and config keys (the firing, cooldown and
resolution through the real hub are in tests/e2e/test_warnings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccr.core.config import AlertSettings, load_settings
from ccr.core.errors import ConfigError
from ccr.services.secret_files import readable_secrets
from ccr.telemetry.alerts import Figures, conditions, cooldown_s
from ccr.telemetry.warning_rules import ExposedFile, SilentServer, StuckCommand

CFG = AlertSettings()


def test_defaults_are_the_documented_ones() -> None:
    assert CFG.stuck_after_min == 20 and CFG.hooks_silent_after_min == 10
    assert cooldown_s("command_stuck", CFG) == 3600
    assert cooldown_s("hooks_silent", CFG) == 1800
    assert cooldown_s("secret_file_readable", CFG) == 3600


def test_stuck_commands_fire_per_server_at_the_threshold_naming_handles_only() -> None:
    stuck = (StuckCommand("kr4", "kr4:2", 20 * 60), StuckCommand("kr4", "kr4:3", 25 * 60),
             StuckCommand("laptop", "laptop:1", 19 * 60))
    got = conditions(Figures(stuck=stuck), CFG)
    assert [(c.rule, c.server, c.value) for c in got] == [("command_stuck", "kr4", 25 * 60)]
    assert "2 command(s) on kr4:2, kr4:3 have run for 25 min" in got[0].message


def test_silent_hooks_need_a_busy_pane() -> None:
    quiet = 11 * 60
    assert conditions(Figures(silent=(SilentServer("kr4", quiet, ()),)), CFG) == []
    assert conditions(Figures(silent=(SilentServer("kr4", 9 * 60, ("kr4:1",)),)), CFG) == []
    [c] = conditions(Figures(silent=(SilentServer("kr4", quiet, ("kr4:1",)),)), CFG)
    assert (c.rule, c.server) == ("hooks_silent", "kr4")
    assert "No hook event from kr4 for 11 min while Claude works in kr4:1" in c.message


def test_readable_secret_files_are_one_hub_wide_alert_with_every_fix() -> None:
    files = (ExposedFile("/a/ccr.env", 0o644, ("CCR_SHARED_SECRET",)),
             ExposedFile("/b/hook.env", 0o640, ("CCR_SHARED_SECRET",)))
    [c] = conditions(Figures(exposed=files), CFG)
    assert (c.rule, c.server, c.value) == ("secret_file_readable", None, 2.0)
    assert "Fix: chmod 600 /a/ccr.env && chmod 600 /b/hook.env" in c.message


@pytest.mark.parametrize("key", ["stuck_after_min", "hooks_silent_after_min"])
def test_a_bad_threshold_is_named_by_its_key(tmp_path: Path, key: str) -> None:
    path = tmp_path / "ccr.toml"
    path.write_text(f"[alerts]\n{key} = 0\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert f"alerts.{key}" in info.value.message


def test_only_files_holding_a_secret_and_readable_by_others_count(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCR_SHARED_SECRET", "s3cret-value-42")
    monkeypatch.delenv("CCR_API_TOKEN", raising=False)
    settings = load_settings(_config(tmp_path))
    holds_value = tmp_path / "a.env"
    holds_value.write_text("SOMETHING=s3cret-value-42\n")
    holds_name = tmp_path / "b.env"
    holds_name.write_text("export CCR_API_TOKEN='abc'\n")
    names_empty = tmp_path / "c.env"
    names_empty.write_text("CCR_API_TOKEN=\nOTHER=1\n")
    private = tmp_path / "d.env"
    private.write_text("CCR_SHARED_SECRET=s3cret-value-42\n")
    for p in (holds_value, holds_name, names_empty):
        p.chmod(0o644)
    private.chmod(0o600)
    found = readable_secrets(settings, [holds_value, holds_name, names_empty, private,
                                        tmp_path / "missing.env"])
    assert [(f.path.name, f.holds) for f in found] == [
        ("a.env", ("CCR_SHARED_SECRET",)), ("b.env", ("CCR_API_TOKEN",))]


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "ccr.toml"
    path.write_text(f'[hub]\ndata_dir = "{tmp_path / "d"}"\n')
    return path


def test_a_named_api_tokens_file_counts_too(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """An observer token from `[api] tokens` opens the API's reads: a file others can read
    holding it is as much a leak as one holding the admin token."""
    monkeypatch.setenv("CCR_TOKEN_GRAFANA", "grafana-token-value-0123")
    config = _config(tmp_path)
    config.write_text(config.read_text() + '[api]\ntokens = [{ name = "grafana", '
                      'env = "CCR_TOKEN_GRAFANA", role = "observer" }]\n')
    settings = load_settings(config)
    by_value = tmp_path / "grafana.env"
    by_value.write_text("TOKEN=grafana-token-value-0123\n")
    by_name = tmp_path / "service.env"
    by_name.write_text("CCR_TOKEN_GRAFANA=other\n")
    for p in (by_value, by_name):
        p.chmod(0o640)
    found = readable_secrets(settings, [by_value, by_name])
    assert [(f.path.name, f.holds) for f in found] == [
        ("grafana.env", ("CCR_TOKEN_GRAFANA",)), ("service.env", ("CCR_TOKEN_GRAFANA",))]
