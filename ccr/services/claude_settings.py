"""Claude Code's settings.json: ccr's hook entries merged in or taken out, the rest kept.

ccr's own entries are recognised by their command (`is_ccr_command`), so a second `add`
adds nothing, an entry from an older install (another path, another timeout) is replaced
instead of doubled, and `remove` takes out only what ccr put there. A group that also holds
the person's own hooks keeps them.
"""

from __future__ import annotations

import json
import re
from typing import Any

_OURS = (
    re.compile(r"ccr/hook\.py\b"),  # python3 /home/u/.local/share/ccr/hook.py, .../ccr/hook.py
    re.compile(r"(?<![\w.-])ccr\.hook\b"),  # python -m ccr.hook
    re.compile(r"(?<![\w.-])ccr\s+hook\b"),  # ccr hook, /usr/local/bin/ccr hook
    re.compile(r"(?<![\w.-])ccr-hook\b"),  # a wrapper script named ccr-hook
    re.compile(r"ccr[\\/]?[\"']?\)\s*;\s*import hook\b"),  # sys.path.append(".../ccr");import hook
)

Settings = dict[str, Any]


class SettingsShapeError(ValueError):
    """The file is JSON but not shaped like Claude Code's settings (ccr leaves it alone)."""


def is_ccr_command(command: object) -> bool:
    """Is this hook command one that runs ccr's hook?"""
    return isinstance(command, str) and any(p.search(command) for p in _OURS)


def parse(text: str | bytes | None) -> Settings:
    """The settings as a dict ({} for no file or an empty one); ValueError when broken."""
    if text is None:
        return {}
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if not text.strip():
        return {}
    data = json.loads(text)
    if not isinstance(data, dict):
        raise SettingsShapeError("the top level is not an object")
    hooks = data.get("hooks", {})
    if not isinstance(hooks, dict):
        raise SettingsShapeError('"hooks" is not an object')
    for event, groups in hooks.items():
        if not isinstance(groups, list) or not all(
                isinstance(g, dict) and isinstance(g.get("hooks", []), list) for g in groups):
            raise SettingsShapeError(f'"hooks.{event}" is not a list of hook groups')
    return data


def dump(settings: Settings) -> bytes:
    return (json.dumps(settings, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _ours(settings: Settings) -> list[tuple[str, str, dict[str, Any]]]:
    """(event, matcher, hook) for each ccr hook in the settings."""
    found = []
    for event, groups in (settings.get("hooks") or {}).items():
        for group in groups:
            for hook in group.get("hooks", []):
                if isinstance(hook, dict) and is_ccr_command(hook.get("command")):
                    found.append((event, str(group.get("matcher", "")), hook))
    return found


def _wanted(snippet: Settings) -> list[tuple[str, str, dict[str, Any]]]:
    return [(event, str(group.get("matcher", "")), hook)
            for event, groups in snippet["hooks"].items()
            for group in groups for hook in group["hooks"]]


def _key(item: tuple[str, str, dict[str, Any]]) -> str:
    return json.dumps(item, sort_keys=True)


ACTIVITY_EVENTS = frozenset({"PreToolUse", "PostToolUse", "PostToolUseFailure", "SubagentStart"})
"""The events that bring Claude's steps to a command's live message (added in a later ccr)."""


def why_missing(events: list[str]) -> str:
    """What a person loses when ccr's entries for `events` are missing, in plain words."""
    if events and set(events) <= ACTIVITY_EVENTS:
        return ("installed by an older ccr, before the command's message showed what Claude is "
                "doing: until you install again it only says \"still working\"")
    return "those events never reach the hub"


def has_ours(settings: Settings) -> bool:
    """Does the file hold any ccr hook at all?"""
    return bool(_ours(settings))


def missing(settings: Settings, snippet: Settings) -> list[str]:
    """Events whose ccr entries are not exactly the snippet's (empty: all in place)."""
    have = {_key(i) for i in _ours(settings)}
    return sorted({event for event, m, h in _wanted(snippet) if _key((event, m, h)) not in have})


def strip(settings: Settings) -> tuple[Settings, int]:
    """The settings without ccr's hooks, and how many were taken out.

    A group left with no hooks goes, an event left with no groups goes, and "hooks" goes if
    nothing is left in it; everything else stays as it was, in its order.
    """
    out = json.loads(json.dumps(settings))
    removed = 0
    hooks = out.get("hooks")
    if not isinstance(hooks, dict):
        return out, 0
    for event in list(hooks):
        groups = []
        for group in hooks[event]:
            kept = [h for h in group.get("hooks", [])
                    if not (isinstance(h, dict) and is_ccr_command(h.get("command")))]
            removed += len(group.get("hooks", [])) - len(kept)
            if kept or not group.get("hooks"):
                groups.append({**group, "hooks": kept} if "hooks" in group else group)
        if groups:
            hooks[event] = groups
        else:
            del hooks[event]
    if not hooks:
        del out["hooks"]
    return out, removed


def merge(settings: Settings, snippet: Settings) -> tuple[Settings, bool]:
    """The settings with exactly the snippet's ccr hooks; False when they were already so.

    Entries of the person's own are kept where they are; ccr's stale ones (another command
    or timeout) are replaced, never doubled.
    """
    if not missing(settings, snippet) and len(_ours(settings)) == len(_wanted(snippet)):
        return settings, False
    out, _ = strip(settings)
    hooks = out.setdefault("hooks", {})
    for event, groups in snippet["hooks"].items():
        hooks.setdefault(event, []).extend(json.loads(json.dumps(groups)))
    return out, True
