"""How a failed SSH connect reads: which RemoteError, with `sent=False` (nothing ran).

Shared by the pool and the single-connection transport; unknown and changed host keys get
different codes because they need different advice.
"""

from __future__ import annotations

import asyncssh

from ccr.core.config import SshServer
from ccr.core.errors import RemoteError


def host_key_error(server: SshServer) -> RemoteError:
    """Unknown and changed host keys are different problems with different advice."""
    known = False
    path = server.known_hosts
    if path.is_file():
        try:
            hosts = asyncssh.read_known_hosts(str(path))
            trusted = hosts.match(server.host, "", server.port)
            known = bool(trusted[0] or trusted[1] or trusted[2])
        except (OSError, ValueError, asyncssh.Error):
            known = False
    code = "ssh_host_key_changed" if known else "ssh_host_key_unknown"
    return RemoteError(code, sent=False, server=server.id, host=server.host, port=server.port,
                       known_hosts=str(path))


def connect_error(server: SshServer, exc: BaseException) -> RemoteError:
    """Translate a failure to connect; none of these ran a command."""
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return host_key_error(server)
    if isinstance(exc, asyncssh.PermissionDenied):
        return RemoteError("ssh_auth_failed", sent=False, server=server.id, detail=exc.reason)
    if isinstance(exc, FileNotFoundError | PermissionError) and exc.filename:
        detail = f"cannot read {exc.filename}"
        return RemoteError("ssh_auth_failed", sent=False, server=server.id, detail=detail)
    if isinstance(exc, TimeoutError):
        detail = "no answer (timed out)"
    elif isinstance(exc, asyncssh.Error):
        detail = exc.reason
    elif isinstance(exc, OSError):
        detail = exc.strerror or str(exc)
    else:
        detail = type(exc).__name__
    return RemoteError("ssh_unreachable", sent=False, server=server.id, detail=detail)
