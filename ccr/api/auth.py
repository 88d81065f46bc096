"""Request authentication: HMAC-signed hook events and bearer API tokens, constant time.

Hooks sign `timestamp + "." + body` with the shared secret (HMAC-SHA256) instead of sending
the secret: it never crosses the wire, the body cannot be altered in transit, and a
captured request stops working after the allowed clock skew. Event ids make replays
inside that window harmless.
"""

from __future__ import annotations

import hashlib
import hmac
import time

MAX_SKEW_S = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str | None, sig: str | None, body: bytes,
                     *, now: float | None = None) -> str | None:
    """None when the request is authentic, else the reason it is not."""
    if not timestamp or not sig:
        return "missing signature"
    try:
        ts = int(timestamp)
    except ValueError:
        return "bad timestamp"
    if abs((now if now is not None else time.time()) - ts) > MAX_SKEW_S:
        return "timestamp too far from the hub's clock"
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), sig.encode("ascii", "replace")):
        return "wrong signature"
    return None


def verify_bearer(token: str | None, header: str | None) -> bool:
    if not token or not header or not header.startswith("Bearer "):
        return False
    given = header[len("Bearer "):].strip()
    return hmac.compare_digest(token.encode("utf-8"), given.encode("utf-8", "replace"))
