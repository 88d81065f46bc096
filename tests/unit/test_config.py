"""ccr.toml validation: the example loads, and every mistake is named by its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccr.core.config import LocalServer, SshServer, load_settings
from ccr.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ccr.toml"
    path.write_text(text)
    return path


def test_example_config_loads() -> None:
    settings = load_settings(ROOT / "ccr.toml")
    assert settings.hub.port == 8765
    assert isinstance(settings.servers[0], LocalServer)


def test_ssh_server_paths_are_expanded(tmp_path: Path) -> None:
    path = write(tmp_path, '[[servers]]\nid = "kr4"\nkind = "ssh"\nhost = "h"\n'
                           'identity = "~/.ssh/k"\n')
    server = load_settings(path).servers[0]
    assert isinstance(server, SshServer)
    assert "~" not in str(server.identity) and server.port == 22


@pytest.mark.parametrize(("text", "key"), [
    ('[hub]\nlisten = "nope"\n', "hub.listen"),
    ('[hub]\nlisten_on = "x:1"\n', "hub.listen_on: unknown key"),
    ('[[servers]]\nid = "Bad Id"\nkind = "local"\n', "servers[0].id"),
    ('[[servers]]\nid = "a"\nkind = "ftp"\n', "servers[0]"),
    ('[[servers]]\nid = "a"\nkind = "ssh"\n', "servers[0].host"),
    ('[[servers]]\nid = "a"\nkind = "local"\n[[servers]]\nid = "a"\nkind = "local"\n', "twice"),
    ('[telegram]\nallowed_chats = "me"\n', "telegram.allowed_chats"),
    ('[executor]\nsettle_ms = -1\n', "executor.settle_ms"),
])
def test_bad_config_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert info.value.code == "config_invalid"
    assert key in info.value.message


def test_missing_file_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "nope.toml")
    assert info.value.code == "config_missing"
    assert "nope.toml" in info.value.message


def test_broken_toml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "[hub\n"))
    assert "not valid TOML" in info.value.message


def test_ccr_config_env_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[hub]\nlisten = "127.0.0.1:9999"\n')
    monkeypatch.setenv("CCR_CONFIG", str(path))
    assert load_settings(None).hub.port == 9999
