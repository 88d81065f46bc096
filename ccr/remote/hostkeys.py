"""Host keys for a server being added: which key it offers, whether known_hosts trusts it,
and recording it once a person has confirmed it.

Nothing here logs in: the key is read in the key exchange, before any authentication, so an
impostor never sees a login attempt.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import asyncssh

from ccr.core.config import SshServer
from ccr.remote.ssh_errors import connect_error

Verdict = Literal["known", "unknown", "changed"]


@dataclass(frozen=True)
class OfferedKey:
    """The host key a server offered, as a person checks it."""

    key: asyncssh.SSHKey
    verdict: Verdict

    @property
    def fingerprint(self) -> str:
        return str(self.key.get_fingerprint("sha256"))

    @property
    def key_type(self) -> str:
        """`ed25519`, `ecdsa`, `rsa`: the part of the server's key file name that differs."""
        alg = self.key.get_algorithm()
        for short in ("ed25519", "ecdsa", "rsa", "dss"):
            if short in alg:
                return short
        return alg


def host_pattern(host: str, port: int) -> str:
    """How known_hosts names a host: `host` on port 22, `[host]:port` elsewhere."""
    return host if port == 22 else f"[{host}]:{port}"


def trusted_keys(path: Path, host: str, port: int) -> list[asyncssh.SSHKey]:
    """The keys `path` trusts for host:port (none when the file is missing or unreadable)."""
    if not path.is_file():
        return []
    try:
        match = asyncssh.read_known_hosts(str(path)).match(host, "", port)
    except (OSError, ValueError, asyncssh.Error):
        return []
    return list(match[0])


async def offered_key(server: SshServer, *, within_s: float) -> OfferedKey:
    """Ask the server for its host key (no login) and judge it against its known_hosts.

    Where known_hosts already trusts keys for the host, the exchange is limited to their
    algorithms, as a real connection would be, so a server with several keys is not taken
    for a changed one. RemoteError when the server cannot be reached.
    """
    trusted = trusted_keys(server.known_hosts, server.host, server.port)
    algs = [a.decode() for k in trusted for a in k.sig_algorithms]
    key: asyncssh.SSHKey | None = None
    try:
        if algs:
            try:
                key = await asyncio.wait_for(asyncssh.get_server_host_key(
                    server.host, server.port, server_host_key_algs=algs, config=None), within_s)
            except asyncssh.KeyExchangeFailed:
                key = None  # it no longer has a key of the trusted kind: ask for any
        if key is None:
            key = await asyncio.wait_for(asyncssh.get_server_host_key(
                server.host, server.port, config=None), within_s)
    except (OSError, asyncssh.Error, TimeoutError, ValueError) as exc:
        raise connect_error(server, exc) from None
    if key is None:
        raise connect_error(server, OSError("the server sent no host key"))
    wire = key.public_data
    if any(k.public_data == wire for k in trusted):
        return OfferedKey(key, "known")
    return OfferedKey(key, "changed" if trusted else "unknown")


def record(path: Path, host: str, port: int, key: asyncssh.SSHKey) -> str:
    """Append the key to known_hosts (made, owner-only, when missing); the line written."""
    algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
    line = f"{host_pattern(host, port)} {algorithm} {blob}\n"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    prefix = ""
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            prefix = "" if f.read(1) == b"\n" else "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(prefix + line)
    return line.strip()
