"""`ccr service install|status` with the real CLI, into temporary directories only (--unit-dir,
--env-file, a private HOME): never the machine's /etc/systemd. The unit's ExecStart is then run
as systemd would run it, with only the secrets file's variables, and the hub answers."""

from __future__ import annotations

import os
import shlex
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ccr.services.systemd import read_env_file, systemd_running, unit_settings
from tests.fixtures.hub import HTTP, ROOT, SECRET, base_env, free_port, wait_until, write_config

pytestmark = pytest.mark.e2e


def ccr(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ccr", *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def flat(text: str) -> str:
    return " ".join(text.split())  # rich wraps at 80 columns


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, dict[str, str], int]:
    port = free_port()
    config = write_config(tmp_path / "ccr.toml", port=port, data_dir=tmp_path / "data",
                          servers=[{"id": "laptop", "kind": "local"}])
    home = tmp_path / "home"
    home.mkdir()
    env = base_env(HOME=str(home))
    env.pop("XDG_CONFIG_HOME", None)
    return config, env, port


def test_install_writes_the_unit_and_a_private_secrets_file_that_run_the_hub(
        tmp_path: Path, setup: tuple[Path, dict[str, str], int]) -> None:
    config, env, port = setup
    units, secrets = tmp_path / "units", tmp_path / "secrets" / "ccr.env"
    where = ["--config", str(config), "--unit-dir", str(units), "--env-file", str(secrets)]
    done = ccr("service", "install", "--user", *where, env=env)
    assert done.returncode == 0, done.stderr
    said = flat(done.stdout)
    assert "CCR_SHARED_SECRET from this shell" in said and "Written only" in said, said
    assert "CCR_TELEGRAM_TOKEN is set neither there nor in this shell" in said, said

    unit = units / "ccr.service"
    text = unit.read_text()
    keys = unit_settings(unit)
    assert keys["Restart"] == "on-failure" and keys["WantedBy"] == "default.target"
    assert keys["EnvironmentFile"] == str(secrets)
    argv = shlex.split(keys["ExecStart"])
    assert Path(argv[0]).is_absolute() and argv[-3:] == ["serve", "--config", str(config)]
    assert SECRET not in text and "User=" not in text, "no secret in the unit; runs as you"

    mode = stat.S_IMODE(secrets.stat().st_mode)
    assert mode == 0o600 and secrets.stat().st_uid == os.getuid()
    assert read_env_file(secrets) == {"CCR_SHARED_SECRET": SECRET,
                                      "CCR_API_TOKEN": "test-api-token"}

    # Installing again never overwrites a secret already there, and the file stays private.
    again = ccr("service", "install", "--user", *where,
                env=env | {"CCR_SHARED_SECRET": "another"})
    assert again.returncode == 0 and "CCR_SHARED_SECRET kept" in flat(again.stdout)
    assert read_env_file(secrets)["CCR_SHARED_SECRET"] == SECRET
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600

    # ExecStart as systemd runs it: only the EnvironmentFile's variables (and a PATH).
    service_env = {"PATH": os.environ["PATH"], "HOME": env["HOME"], "PYTHONPATH": str(ROOT),
                   **read_env_file(secrets)}
    hub = subprocess.Popen(argv, env=service_env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: _answers(port), 20, message="the hub started by ExecStart")
        status = ccr("service", "status", "--user", *where, env=env)
        out = flat(status.stdout)
        assert status.returncode == 0, out
        assert f"✓ unit {unit}" in out and "serve --config" in out
        assert f"✓ secrets {secrets}: mode 0600, yours only" in out, out
        assert "CCR_SHARED_SECRET, CCR_API_TOKEN set" in out, out
        assert f"✓ hub answers at http://127.0.0.1:{port}" in out
        hub.send_signal(signal.SIGTERM)
        # A clean stop exits 0, so Restart=on-failure leaves a stopped hub stopped.
        assert hub.wait(20) == 0
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait()

    secrets.chmod(0o644)
    status = ccr("service", "status", "--user", *where, env=env)
    out = flat(status.stdout)
    assert status.returncode == 1
    assert "✗ secrets" in out and "others can read it" in out, out
    assert f"✗ hub not answering at http://127.0.0.1:{port}" in out, out


def test_a_system_unit_runs_as_the_installing_user(
        tmp_path: Path, setup: tuple[Path, dict[str, str], int]) -> None:
    config, env, _ = setup
    done = ccr("service", "install", "--config", str(config), "--unit-dir",
               str(tmp_path / "units"), "--env-file", str(tmp_path / "ccr.env"),
               env=env | {"SUDO_USER": "ana"})
    assert done.returncode == 0, done.stderr
    keys = unit_settings(tmp_path / "units" / "ccr.service")
    assert keys["User"] == "ana" and keys["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(systemd_running(), reason="systemd runs here: install would use it")
def test_without_systemd_install_says_so_prints_the_unit_and_writes_nothing(
        setup: tuple[Path, dict[str, str], int]) -> None:
    config, env, _ = setup
    done = ccr("service", "install", "--user", "--config", str(config), env=env)
    assert done.returncode == 1
    assert "systemd is not running on this machine" in flat(done.stderr)
    assert "nothing installed" in flat(done.stderr)
    assert done.stdout.startswith("[Unit]") and "Restart=on-failure" in done.stdout
    assert f"--config {config}" in done.stdout
    home = Path(env["HOME"])
    assert not list(home.rglob("*")), "nothing written under HOME"


def _answers(port: int) -> bool:
    try:
        return HTTP.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False
