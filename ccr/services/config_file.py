"""Adding and removing a `[[servers]]` entry in the person's ccr.toml, keeping the rest.

tomlkit round-trips the file: comments, blank lines, key order and the other sections stay
exactly as written. Every result is checked with the real Settings parser before it is
written, and written atomically (a temporary file renamed over the old one, its mode kept).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.items
from tomlkit.exceptions import TOMLKitError

from ccr.core.config import LocalServer, Settings, SshServer, parse_settings
from ccr.core.errors import ConfigError, InputError

HEADER = ("# ccr configuration (https://github.com/ccr: README \"Configuration keys\").\n"
          "# Made by `ccr servers add`; edit it freely, comments are kept.\n")


@dataclass(frozen=True)
class ConfigText:
    """The file's text as read (empty when it does not exist yet)."""

    path: Path
    text: str
    exists: bool

    def settings(self) -> Settings:
        return _validated(self.text, self.path)


def read(path: Path) -> ConfigText:
    if not path.exists():
        return ConfigText(path, "", False)
    try:
        return ConfigText(path, path.read_text(encoding="utf-8"), True)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("config_invalid", path=str(path),
                          detail=f"cannot read it ({exc})") from None


def _validated(text: str, path: Path) -> Settings:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config_invalid", path=str(path),
                          detail=f"not valid TOML ({exc})") from None
    return parse_settings(data, path)


def target_of(server: LocalServer | SshServer) -> str:
    """What a server entry points at, as a person reads it."""
    if isinstance(server, LocalServer):
        return "this machine (local)"
    return f"{server.user}@{server.host}:{server.port}"


def same_target(a: LocalServer | SshServer, b: LocalServer | SshServer) -> bool:
    if isinstance(a, LocalServer) or isinstance(b, LocalServer):
        return a.kind == b.kind
    return (a.host, a.port, a.user) == (b.host, b.port, b.user)


def _document(config: ConfigText) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(config.text)
    except TOMLKitError as exc:
        raise ConfigError("config_invalid", path=str(config.path),
                          detail=f"not valid TOML ({exc})") from None


def _entry_table(entry: dict[str, Any]) -> tomlkit.items.Table:
    table = tomlkit.table()
    for key, value in entry.items():
        table.add(key, value)
    return table


def _ends_with_blank_line(item: tomlkit.items.Item) -> bool:
    return item.as_string().endswith("\n\n")


def with_server(config: ConfigText, entry: dict[str, Any]) -> str:
    """The file's text with one more `[[servers]]` table (checked by the real parser)."""
    doc = _document(config)
    table = _entry_table(entry)
    servers = doc.get("servers")
    if isinstance(servers, tomlkit.items.AoT):
        if len(servers) and not _ends_with_blank_line(servers[-1]):
            table.trivia.indent = "\n"  # a blank line above it, which leaves with it
        if list(doc.keys())[-1] != "servers":
            table.add(tomlkit.nl())  # and one below it, before the next section
        servers.append(table)
    elif isinstance(servers, tomlkit.items.Array):
        inline = tomlkit.inline_table()
        inline.update(entry)
        servers.append(inline)  # `servers = [{...}]` stays inline
    elif servers is None:
        aot = tomlkit.aot()
        aot.append(table)
        if not config.text.strip():
            doc.add(tomlkit.comment(HEADER.splitlines()[0].lstrip("# ")))
            doc.add(tomlkit.comment(HEADER.splitlines()[1].lstrip("# ")))
        if config.text and not config.text.endswith("\n\n"):
            doc.add(tomlkit.nl())
        doc.append("servers", aot)
    else:
        raise ConfigError("config_invalid", path=str(config.path),
                          detail="servers: must be a list of [[servers]] tables")
    text = tomlkit.dumps(doc)
    _validated(text, config.path)
    return text


def _tail(table: tomlkit.items.Table) -> list[tuple[Any, tomlkit.items.Item]]:
    """The body after the entry's own lines: from the first blank line past its last key on,
    if comments follow (they describe what comes next, such as a commented-out example)."""
    body = table.value.body
    last_key = max((i for i, (key, _) in enumerate(body) if key is not None), default=-1)
    for i in range(last_key + 1, len(body)):
        if isinstance(body[i][1], tomlkit.items.Whitespace):
            rest = body[i:]
            if any(isinstance(item, tomlkit.items.Comment) for _, item in rest):
                return list(rest)
            return []
    return []


def _lead(table: tomlkit.items.Table) -> int:
    """How many comment lines end `table`'s body with no blank line after them: they sit
    right above the next entry and describe it."""
    body = table.value.body
    n = 0
    while n < len(body) and isinstance(body[len(body) - 1 - n][1], tomlkit.items.Comment):
        n += 1
    return n


def without_server(config: ConfigText, server_id: str) -> str:
    """The file's text without the `[[servers]]` entry `server_id` (checked by the parser).

    The comment lines right above the entry go with it; comments after a blank line below
    it (about what follows) stay.
    """
    doc = _document(config)
    servers = doc.get("servers")
    if not isinstance(servers, tomlkit.items.AoT | tomlkit.items.Array):
        raise InputError("server_not_configured", server=server_id, path=str(config.path))
    found = [i for i, s in enumerate(servers) if isinstance(s, dict) and s.get("id") == server_id]
    if not found:
        raise InputError("server_not_configured", server=server_id, path=str(config.path))
    index = found[0]
    if isinstance(servers, tomlkit.items.AoT):
        removed = servers[index]
        tail = _tail(removed)
        if index > 0:
            before = servers[index - 1].value.body
            del before[len(before) - _lead(servers[index - 1]):]
            if index == len(servers) - 1 and not _ends_with_blank_line(removed):
                while before and isinstance(before[-1][1], tomlkit.items.Whitespace):
                    before.pop()  # the blank line that only separated the entry
            before.extend(tail)
            return _checked(doc, servers, index, config.path)
        while tail and isinstance(tail[0][1], tomlkit.items.Whitespace):
            tail.pop(0)  # what came before the entry already ends in its own blank line
        if len(servers) > 1 and tail:
            following = servers[1]
            following.trivia.indent = "".join(item.as_string() for _, item in tail) \
                + following.trivia.indent
        elif tail:
            for _, item in tail:
                doc.add(item)
    return _checked(doc, servers, index, config.path)


def _checked(doc: tomlkit.TOMLDocument, servers: tomlkit.items.AoT | tomlkit.items.Array,
             index: int, path: Path) -> str:
    del servers[index]
    if isinstance(servers, tomlkit.items.AoT) and not len(servers):
        del doc["servers"]
    text = tomlkit.dumps(doc)
    if text.endswith("\n\n"):
        text = text.rstrip("\n") + "\n"  # the blank line that separated the entry
    _validated(text, path)
    return text


def write(path: Path, text: str) -> None:
    """Replace the file atomically, keeping its mode (a new file is owner-only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    tmp = path.with_name(f".{path.name}.ccr-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
