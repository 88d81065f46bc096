"""TLS settings for clients of the hub's own API, which is plain HTTP on [hub] listen."""

from __future__ import annotations

import ssl


def no_ca_store() -> ssl.SSLContext:
    """A TLS context with no certificate loaded, for a client of the hub's plain-HTTP API.

    httpx builds its default context for every client, TLS or not, and loading the CA
    bundle costs about 50 ms of CPU each time (every CLI command paid it; the tests' waits,
    which poll the API, paid it every 50 ms). A URL that is https by mistake fails its
    certificate check with this context: it never skips it."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
