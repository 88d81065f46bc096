"""A machine to set up: read and write files in the login's home and run short commands.

`SshMachine` does it over one verified SSH connection (files through SFTP, always by
absolute path, so the SFTP server's start directory never matters); `LocalMachine` does the
same on this machine. `ccr servers add/test/remove` install and check the hook through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

import asyncssh

from ccr.core.config import SshServer
from ccr.core.errors import RemoteError
from ccr.remote.ssh_errors import connect_error


@dataclass(frozen=True)
class RunResult:
    code: int
    out: str
    err: str


class Machine(Protocol):
    """What setting up a server needs from it."""

    server_id: str
    where: str
    """user@host:port, or "this machine"."""

    async def run(self, command: str, *, within_s: float = 30.0) -> RunResult:
        """A shell command line; its exit code and output (never raises for a non-zero)."""

    async def read(self, path: str) -> bytes | None:
        """A file's bytes, or None when it does not exist."""

    async def write(self, path: str, data: bytes, *, mode: int) -> None:
        """Replace a file atomically (parents made, owner-only); it never exists half-written
        or, for a secret, readable by others."""

    async def mode(self, path: str) -> int | None:
        """A file's permission bits, or None when it does not exist."""

    async def remove(self, path: str) -> bool:
        """Delete a file; False when there was none."""

    async def close(self) -> None: ...


def _tmp_name(path: str) -> str:
    p = PurePosixPath(path)
    return str(p.with_name(f".{p.name}.ccr-{secrets.token_hex(4)}"))


class LocalMachine:
    """This machine, as the user running ccr."""

    def __init__(self, server_id: str) -> None:
        self.server_id = server_id
        self.where = "this machine"

    async def run(self, command: str, *, within_s: float = 30.0) -> RunResult:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), within_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return RunResult(124, "", f"timed out after {within_s:g} s")
        return RunResult(proc.returncode or 0, out.decode("utf-8", "replace"),
                         err.decode("utf-8", "replace"))

    async def read(self, path: str) -> bytes | None:
        return await asyncio.to_thread(_read_local, path)

    async def write(self, path: str, data: bytes, *, mode: int) -> None:
        await asyncio.to_thread(_write_local, path, data, mode)

    async def mode(self, path: str) -> int | None:
        try:
            return stat.S_IMODE((await asyncio.to_thread(os.stat, path)).st_mode)
        except FileNotFoundError:
            return None

    async def remove(self, path: str) -> bool:
        try:
            await asyncio.to_thread(os.unlink, path)
        except FileNotFoundError:
            return False
        return True

    async def close(self) -> None:
        return None


def _read_local(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None


def _write_local(path: str, data: bytes, mode: int) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(_tmp_name(path))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class SshMachine:
    """A server over one SSH connection whose host key was verified."""

    def __init__(self, server: SshServer, conn: asyncssh.SSHClientConnection) -> None:
        self.server_id = server.id
        self.where = f"{server.user}@{server.host}:{server.port}"
        self.conn = conn
        self._sftp: asyncssh.SFTPClient | None = None

    async def _files(self) -> asyncssh.SFTPClient:
        if self._sftp is None:
            self._sftp = await self.conn.start_sftp_client()
        return self._sftp

    async def run(self, command: str, *, within_s: float = 30.0) -> RunResult:
        try:
            done = await asyncio.wait_for(self.conn.run(command, check=False), within_s)
        except TimeoutError:
            return RunResult(124, "", f"timed out after {within_s:g} s")
        out, err = done.stdout, done.stderr
        return RunResult(done.exit_status if done.exit_status is not None else 255,
                         out if isinstance(out, str) else (out or b"").decode("utf-8", "replace"),
                         err if isinstance(err, str) else (err or b"").decode("utf-8", "replace"))

    async def read(self, path: str) -> bytes | None:
        sftp = await self._files()
        try:
            async with sftp.open(path, "rb") as f:
                data = await f.read()
        except asyncssh.SFTPNoSuchFile:
            return None
        return data if isinstance(data, bytes) else data.encode()

    async def write(self, path: str, data: bytes, *, mode: int) -> None:
        sftp = await self._files()
        parent = str(PurePosixPath(path).parent)
        await sftp.makedirs(parent, attrs=asyncssh.SFTPAttrs(permissions=0o700),
                            exist_ok=True)
        tmp = _tmp_name(path)
        try:
            async with sftp.open(tmp, "wb", asyncssh.SFTPAttrs(permissions=mode)) as f:
                await f.write(data)
            await sftp.chmod(tmp, mode)
            await sftp.posix_rename(tmp, path)
        except BaseException:
            with contextlib.suppress(asyncssh.Error, OSError):
                await sftp.remove(tmp)
            raise

    async def mode(self, path: str) -> int | None:
        sftp = await self._files()
        try:
            attrs = await sftp.stat(path)
        except asyncssh.SFTPNoSuchFile:
            return None
        return None if attrs.permissions is None else stat.S_IMODE(attrs.permissions)

    async def remove(self, path: str) -> bool:
        sftp = await self._files()
        try:
            await sftp.remove(path)
        except asyncssh.SFTPNoSuchFile:
            return False
        return True

    async def close(self) -> None:
        if self._sftp is not None:
            self._sftp.exit()
        self.conn.close()
        with contextlib.suppress(asyncssh.Error, OSError, TimeoutError):
            await asyncio.wait_for(self.conn.wait_closed(), 2)


async def connect(server: SshServer, *, within_s: float) -> SshMachine:
    """Log in with the server's identity, verifying its host key against its known_hosts."""
    try:
        conn = await asyncio.wait_for(asyncssh.connect(
            server.host, port=server.port, username=server.user,
            client_keys=[str(server.identity)], known_hosts=str(server.known_hosts),
            agent_path=None, config=None, login_timeout=within_s), within_s)
    except (OSError, asyncssh.Error, TimeoutError, ValueError) as exc:
        raise connect_error(server, exc) from None
    return SshMachine(server, conn)


MachineError = (OSError, asyncssh.Error)
"""What a file or command step on a machine may raise (reported as hook_install_failed)."""


def machine_error(machine: Machine, action: str, exc: BaseException,
                  user: str = "the login") -> RemoteError:
    """A failed step on a machine as a plain error naming what was being done."""
    detail = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
    return RemoteError("hook_install_failed", server=machine.server_id, action=action,
                       detail=detail or type(exc).__name__, user=user)
