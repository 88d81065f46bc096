"""Masks passwords, tokens, API keys, private keys and connection strings in free text.

Everything a person sees (Telegram messages, the console, the API's session views that the
CLI prints) passes Claude's and the user's text through `redact` first. It applies a tested
list of precompiled patterns, one pass each, then masks the hub's own configured secrets.

Module state: `configure` stores the hub's shared secret, API token and bot token once, in
`Hub.__init__`. A process runs one hub, the values never change while it runs, and the
renderers that need them (Telegram, console, views) are plain functions called from many
places; threading a secrets argument through every one of them would add a parameter to a
dozen signatures for a value that is process-wide by nature. The state is write-once per
hub, read-only afterwards, and a missing `configure` only means the literal-secret pass is
skipped: the patterns still apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

MASK = "[redacted]"
HINT = "…" + MASK
MAX_ROUNDS = 4  # sweeps of PATTERNS at most; see redact
MIN_EXTRA = 8  # shorter configured values would mask ordinary words

# -----BEGIN ... PRIVATE KEY----- block up to its END line, or to the end of a clipped text.
PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----"
    r"[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)")
# scheme://user:password@host: keeps scheme, user and host, masks the password.
URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*):([^\s@/]+)@")
# Authorization: Bearer|Basic|Token xxx (an HTTP header or its curl -H spelling).
AUTHORIZATION_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|bot)\s+)?)"
    r"([^\s\"',;]+)")
# A bare "Bearer xxx" credential outside a header.
BEARER = re.compile(r"\b(Bearer\s+)([A-Za-z0-9._~+/-]{8,}=*)")
# Telegram bot token: numeric bot id, colon, 30+ character secret; keeps the bot id.
TELEGRAM_BOT_TOKEN = re.compile(r"(\d{6,}):[A-Za-z0-9_-]{30,}")
# GitHub personal, OAuth, user-to-server, server-to-server and refresh tokens.
GITHUB_TOKEN = re.compile(r"(gh[pousr]_)[A-Za-z0-9]{30,}")
# GitHub fine-grained personal access tokens.
GITHUB_PAT = re.compile(r"(github_pat_)[A-Za-z0-9_]{30,}")
# Anthropic (sk-ant-…) and OpenAI (sk-…, sk-proj-…) style API keys.
SK_API_KEY = re.compile(r"(?<![A-Za-z0-9])(sk-(?:ant-|proj-)?)[A-Za-z0-9_-]{20,}")
# AWS access key ids (long-term AKIA, temporary ASIA).
AWS_ACCESS_KEY_ID = re.compile(r"((?:AKIA|ASIA))[0-9A-Z]{16}")
# Slack bot, app, user, refresh and legacy tokens.
SLACK_TOKEN = re.compile(r"(xox[abprs]-)[A-Za-z0-9-]{10,}")
# Google API keys.
GOOGLE_API_KEY = re.compile(r"(AIza)[0-9A-Za-z_-]{35}")
# JSON Web Tokens: three base64url parts, the first two JSON objects ("eyJ").
JWT = re.compile(r"(eyJ)[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
# key = value / key: value / "key": "value" where the key names a password, secret or token
# (password, DB_PASSWORD, aws_secret_access_key, api_key, client_secret, GITHUB_TOKEN, …).
ASSIGNMENT = re.compile(
    r"(?i)(?P<key>(?P<word>passwd|password|passphrase|pwd|secret|token|api[_-]?key|apikey"
    r"|access[_-]?key|private[_-]?key|credentials?)"
    r"[a-z0-9_-]*[\"']?\s*[:=](?!=)\s*)(?P<quote>[\"']?)(?P<value>[^\s\"'`,;&<>=][^\s\"'`,;&<>]*)")

_PASSWORD_WORDS = ("pass", "pwd")


def _hinted(m: re.Match[str]) -> str:
    """The kept prefix (group 1) and a hint that the rest was masked."""
    return m.group(1) + HINT


def _pem(m: re.Match[str]) -> str:
    kind = m.group(1) or ""
    return f"-----BEGIN {kind}PRIVATE KEY-----{MASK}-----END {kind}PRIVATE KEY-----"


def _assignment(m: re.Match[str]) -> str:
    value = m.group("value")
    if MASK in value:  # already masked by a more specific pattern: keep its hint
        return m.group(0)
    word = m.group("word").lower()
    if not any(w in word for w in _PASSWORD_WORDS) and (
            len(value) < 8 or value.isdigit()):
        return m.group(0)  # "max_tokens=4096", "token: expired": not a credential
    return m.group("key") + m.group("quote") + MASK


def _keep_masked(prefix_group: int) -> Callable[[re.Match[str]], str]:
    def sub(m: re.Match[str]) -> str:
        if MASK in m.group(prefix_group + 1):
            return m.group(0)
        return m.group(prefix_group) + MASK
    return sub


PATTERNS: tuple[tuple[str, re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    ("pem_private_key", PEM_PRIVATE_KEY, _pem),
    ("url_credentials", URL_CREDENTIALS, lambda m: f"{m.group(1)}:{MASK}@"),
    ("authorization_header", AUTHORIZATION_HEADER, _keep_masked(1)),
    ("bearer", BEARER, lambda m: m.group(1) + MASK),
    ("telegram_bot_token", TELEGRAM_BOT_TOKEN, lambda m: m.group(1) + ":" + HINT),
    ("github_token", GITHUB_TOKEN, _hinted),
    ("github_pat", GITHUB_PAT, _hinted),
    ("sk_api_key", SK_API_KEY, _hinted),
    ("aws_access_key_id", AWS_ACCESS_KEY_ID, _hinted),
    ("slack_token", SLACK_TOKEN, _hinted),
    ("google_api_key", GOOGLE_API_KEY, _hinted),
    ("jwt", JWT, _hinted),
    ("assignment", ASSIGNMENT, _assignment),
)

_configured: tuple[str, ...] = ()


def configure(secrets: Iterable[str | None]) -> None:
    """Remember the hub's own secrets (shared secret, API token, bot token) for `redact`."""
    global _configured
    _configured = tuple(s for s in secrets if s)


@lru_cache(maxsize=32)
def _literal(secrets: frozenset[str]) -> re.Pattern[str] | None:
    usable = sorted((s for s in secrets if len(s) >= MIN_EXTRA and s not in MASK),
                    key=len, reverse=True)
    if not usable:
        return None
    return re.compile("|".join(re.escape(s) for s in usable))


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with credentials masked; never raises.

    Known token shapes keep a short hint of what they were, the masked part replaced by
    `…[redacted]` (`sk-ant-…[redacted]`, `ghp_…[redacted]`, `123456789:…[redacted]`).
    Passwords in assignments and URLs, Authorization headers, private key bodies and the
    configured or `extra` secrets (8 characters or longer) become a plain `[redacted]`,
    keeping the key, URL user and host or the PEM BEGIN/END lines around it.
    Applying it twice gives the same text. If anything goes wrong the whole text is masked
    (failing closed: a person never sees an unredacted text because of a bug here).
    """
    try:
        if not text:
            return text
        # One sweep of the patterns normally settles it. A mask can expose a new match next
        # to it (a token glued to the tail of another), so a changed text is swept again
        # until it stops changing: redact(redact(t)) == redact(t). Clean text: one sweep.
        for _round in range(MAX_ROUNDS):
            before = text
            for _name, pattern, sub in PATTERNS:
                text = pattern.sub(sub, text)
            if text == before:
                break
        literal = _literal(frozenset((*_configured, *extra)))
        if literal is not None:
            text = literal.sub(MASK, text)
        return text
    except Exception:
        return MASK


def redact_values(value: Any) -> Any:
    """`value` with every string in it (nested dicts, lists and tuples too) redacted; keys,
    numbers, booleans and None unchanged. For JSON-like payloads and views."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_values(v) for v in value]
    return value
