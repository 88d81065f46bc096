"""One error hierarchy for every face: a stable code, a plain message and recovery steps.

Faces (Telegram, console, CLI, API) never show a raw exception; they render a `CcrError`
through `explain()`, so the same failure reads the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Explanation:
    """What a person is told about an error code."""

    title: str
    steps: tuple[str, ...]


# Each code is mapped once, here. `{placeholders}` are filled from the error's context.
CATALOG: dict[str, Explanation] = {
    "config_missing": Explanation(
        "No configuration file was found at {path}.",
        (
            "Copy the example: `cp ccr.toml ~/.config/ccr/ccr.toml` and edit it.",
            "Or point ccr at one with `--config PATH` or the CCR_CONFIG variable.",
        ),
    ),
    "config_invalid": Explanation(
        "The configuration is not valid: {detail}",
        ("Fix the key named above in {path}.", "Run `ccr doctor` to check it again."),
    ),
    "secret_missing": Explanation(
        "The environment variable {env} is not set ({purpose}).",
        (
            "Set it before starting ccr, for example `export {env}=...`.",
            "Secrets never go in ccr.toml; the file only names the variable.",
        ),
    ),
    "unknown_server": Explanation(
        "There is no server called '{server}'.",
        (
            "Check the server ids in ccr.toml.",
            "Use /sessions to see the servers that have sessions.",
        ),
    ),
    "unknown_session": Explanation(
        "There is no live session '{handle}'.",
        (
            "Send /sessions to see the live sessions and their handles (like laptop:1).",
            "Sessions expire 24 h after their last activity; a new message from Claude "
            "brings them back.",
        ),
    ),
    "session_not_in_tmux": Explanation(
        "Session {handle} is not running inside tmux, so ccr cannot type into it.",
        ("Start Claude Code inside a tmux session on that machine.",),
    ),
    "pane_gone": Explanation(
        "The tmux pane of session {handle} no longer exists; nothing was typed.",
        (
            "Check that Claude Code is still running on {server}.",
            "Start it again in tmux; its next message registers the session again.",
        ),
    ),
    "tmux_failed": Explanation(
        "tmux on {server} refused the command: {detail}",
        ("Check that tmux is installed and running on {server}.", "Run `ccr doctor`."),
    ),
    "ssh_pool_busy": Explanation(
        "Every SSH connection to {server} is busy: {detail}",
        (
            "Wait a moment and send again; nothing was typed.",
            "Raise [pool] max_per_server if this happens often.",
        ),
    ),
    "ssh_unreachable": Explanation(
        "Cannot reach {server} over SSH: {detail}",
        (
            "Check that {server} is up and its SSH port is open.",
            "Run `ccr doctor` to test the connection.",
        ),
    ),
    "ssh_auth_failed": Explanation(
        "{server} refused the SSH login: {detail}",
        (
            "Check `user` and `identity` for {server} in ccr.toml.",
            "Make sure the public key is in the server's ~/.ssh/authorized_keys.",
        ),
    ),
    "ssh_host_key_unknown": Explanation(
        "The host key of {server} is not in {known_hosts}, so ccr will not connect.",
        (
            "Verify the key's fingerprint with the server's owner.",
            "Then add it: `ssh-keyscan -p {port} {host} >> {known_hosts}`.",
        ),
    ),
    "ssh_host_key_changed": Explanation(
        "The host key of {server} does not match {known_hosts}: possible impersonation.",
        (
            "Do not connect until you know why the key changed.",
            "If the server was reinstalled, remove the old line with "
            "`ssh-keygen -R '[{host}]:{port}' -f {known_hosts}` and add the new key.",
        ),
    ),
    # --- adding, testing and removing servers (`ccr servers ...`) ----------------------
    "host_key_unconfirmed": Explanation(
        "{host}:{port} is not in {known_hosts} yet. Its host key has the fingerprint "
        "{fingerprint}; ccr trusts it only when you confirm it is the server's.",
        (
            "Check the fingerprint on the server itself: `ssh-keygen -lf "
            "/etc/ssh/ssh_host_{key_type}_key.pub` (or ask its owner).",
            "If it matches, run the command again in a terminal and answer yes, or add "
            "`--accept-new` to record it in {known_hosts}.",
        ),
    ),
    "host_key_mismatch": Explanation(
        "{host}:{port} now offers a host key ({fingerprint}) that is not the one {known_hosts} "
        "holds for it: possible impersonation. ccr did not log in.",
        (
            "Do not go on until you know why the key changed: compare the fingerprint with "
            "`ssh-keygen -lf /etc/ssh/ssh_host_{key_type}_key.pub` run on the server itself.",
            "If the server was reinstalled, remove the old line with "
            "`ssh-keygen -R '[{host}]:{port}' -f {known_hosts}`, then run the command again.",
        ),
    ),
    "server_exists": Explanation(
        "A server called '{server}' is already in {path}, for {existing}.",
        (
            "Choose another id for {target}.",
            "Or take the old one out first: `ccr servers remove {server}`.",
        ),
    ),
    "server_not_configured": Explanation(
        "There is no server '{server}' in {path}.",
        ("`ccr servers list` shows the servers it has.",
         "Pass `--config PATH` if the hub uses another file."),
    ),
    "server_target_invalid": Explanation(
        "'{target}' is not a server to add: {detail}",
        ("Give USER@HOST (for example `ccr servers add kr4 alice@kr4.example.org`), "
         "or `local` for this machine.",),
    ),
    "claude_settings_invalid": Explanation(
        "{path} on {server} is not valid JSON ({detail}), so ccr left it as it is.",
        (
            "Fix the file by hand (or move it aside), then run the command again.",
            "ccr keeps every other setting and hook in that file when it adds its own.",
        ),
    ),
    "python_missing": Explanation(
        "There is no python3 on {server}; ccr's hook needs it (standard library only).",
        ("Install it there, for example `sudo apt-get install python3`, then run the "
         "command again.",),
    ),
    "hook_install_failed": Explanation(
        "ccr could not {action} on {server}: {detail}",
        (
            "Check that {user} may write to its home directory on {server}.",
            "Run the command again; each step is safe to repeat.",
        ),
    ),
    "hub_config_elsewhere": Explanation(
        "The running hub reads {hub_config}, not {path}, so it does not serve '{server}'.",
        (
            "Add the server to the hub's file: run the command again with "
            "`--config {hub_config}`.",
            "Or restart the hub with `ccr serve --config {path}`.",
        ),
    ),
    "hub_without_config": Explanation(
        "The running hub was not started from a configuration file, so it cannot take "
        "'{server}' without a restart.",
        ("Restart it with `ccr serve --config {path}`; it serves the server from then on.",),
    ),
    "delivery_uncertain": Explanation(
        "ccr lost contact with {server} while typing ({detail}); the text may or may not "
        "have arrived in {handle}.",
        (
            "Look at the session before sending again: ccr never retypes on its own.",
            "If the text is not there, send it again.",
        ),
    ),
    "input_waiting": Explanation(
        "{handle}'s input box still holds \"{text}\" from an earlier command that may not "
        "have arrived, so ccr typed nothing: your command would have been glued to it.",
        (
            "Look at {handle}: press Enter there to send that text, or clear it.",
            "Then send your command again.",
        ),
    ),
    "server_unavailable": Explanation(
        "{server} is temporarily unavailable: its last {failures} attempts failed, so ccr "
        "did not try to type. It will try {server} again {retry_in}.",
        (
            "Nothing was typed: send the command again once {server} is back.",
            "Check that {server} is up and reachable; run `ccr doctor` to test it.",
            "The console's servers table and the hub's log show when it recovers.",
        ),
    ),
    "stale_command": Explanation(
        "A command for {handle} was not typed: the hub was down for too long after accepting it.",
        ("Check the session, then send the command again if it is still wanted.",),
    ),
    "text_empty": Explanation(
        "There is no text to send.",
        ("Write the text after the handle, for example `/cmd laptop:1 run the tests`.",),
    ),
    "text_too_long": Explanation(
        "The text is {length} characters long; the limit is {limit}.",
        ("Send it in shorter parts.",),
    ),
    "hub_unreachable": Explanation(
        "The ccr hub at {url} is not answering.",
        ("Start it with `ccr serve` (or `ccr console`).", "Check [hub] listen in ccr.toml."),
    ),
    "api_unauthorized": Explanation(
        "The hub refused the API token.",
        (
            "Set {env} to the hub's API token.",
            "A hub started without it writes a token to its data_dir/api-token file.",
        ),
    ),
    "dlq_not_found": Explanation(
        "There is no dead letter {entry}.",
        ("Run `ccr dlq list` (or send /dlq) to see the entries and their numbers.",),
    ),
    "admin_only": Explanation(
        "{what} is for the hub's admins only.",
        (
            "Ask an admin to do it for you.",
            "Admins are the user ids in [telegram] admins in ccr.toml.",
        ),
    ),
    "not_allowed": Explanation(
        "{who} may not {what}: that needs the {needed} role, and yours is {role}. "
        "Nothing was done.",
        (
            "Ask an admin of the hub to do it, or to give you the {needed} role.",
            "Roles are set in ccr.toml: [telegram] admins/operators/observers, "
            "[api] tokens.",
        ),
    ),
    "bad_duration": Explanation(
        "'{text}' is not a duration.",
        ("Write a number and a unit: 90s, 15m, 2h, 7d or 1w.",),
    ),
    "trace_not_found": Explanation(
        "There is no trace {ref} (traces are kept 24 h).",
        ("Run `ccr trace` to list recent traces.",
         "Check the id: it is quoted as `trace ID` in error messages."),
    ),
    "trace_ambiguous": Explanation(
        "More than one trace starts with {ref}.",
        ("Give more of the id (12 characters are always enough in practice).",),
    ),
    "trace_id_invalid": Explanation(
        "'{ref}' is not a trace id: it must be 4 to 32 hexadecimal characters.",
        ("Copy the id quoted after `trace` in the error message.",),
    ),
    "alert_not_found": Explanation(
        "There is no alert {alert}.",
        ("Run `ccr alerts` (or send /alerts) to see the active alerts and their numbers.",),
    ),
    "alert_resolved": Explanation(
        "Alert {alert} has already resolved; there is nothing to acknowledge.",
        ("If it fires again, it comes as a new alert with a new number.",),
    ),
    "unknown_session_near": Explanation(
        "There is no live session '{handle}'. Did you mean {suggestions}?",
        (
            "Send the command again with one of those handles.",
            "Send /sessions to see every live session.",
        ),
    ),
    "no_live_session": Explanation(
        "There is no live session to send to.",
        ("A session appears when its Claude Code sends its first notification.",
         "Send /sessions to check."),
    ),
    "command_timeout": Explanation(
        "Claude did not finish the command in {handle} within {minutes} minutes "
        "(no Stop event came).",
        (
            "Look at the session: Claude may still be working or waiting in a menu.",
            "Use Re-run to send the command again if it is still wanted.",
        ),
    ),
    "command_cancelled": Explanation(
        "The command for {handle} was withdrawn before it was typed.",
        ("Nothing reached the session. Send it again if it is still wanted.",),
    ),
    "command_interrupted": Explanation(
        "ccr pressed Ctrl-C in {handle} to interrupt Claude.",
        ("Claude stopped what it was doing; send a new command when ready.",),
    ),
    "command_refused": Explanation(
        "You chose “{answer}” in {handle}, so Claude stopped that work.",
        ("Claude waits for your next words: send a command to say what to do instead.",),
    ),
    "command_not_found": Explanation(
        "There is no command '{command}' (commands are kept {days} days).",
        ("Use /history or `ccr history` to find the command.",),
    ),
    "command_not_cancellable": Explanation(
        "The command for {handle} is already {state}; there is nothing to cancel.",
        ("Use Re-run to send it again, or /history to see what happened.",),
    ),
    "button_invalid": Explanation(
        "This button is not valid (any more): {why}.",
        ("Send /sessions or /history for fresh buttons.",),
    ),
    "prompt_gone": Explanation(
        "The question in {handle} is no longer on the screen, so nothing was typed.",
        (
            "It was answered already, or Claude moved on.",
            "Reply to the latest notification of that session to answer it now.",
        ),
    ),
    "prompt_answered": Explanation(
        "The question in {handle} was already answered ({answer}); nothing more was typed.",
        ("Look at the session's newest notification for what Claude does now.",),
    ),
    # Starting, stopping and clearing sessions (ccr.services.session_control).
    "dir_missing": Explanation(
        "There is no directory '{dir}' on {server}, so nothing was started.",
        (
            "Give an absolute path, or one relative to the home directory of {server}'s "
            "login (`~` and `~/src/app` work).",
            "Send /new {server} without a directory for buttons of the directories used "
            "there before.",
        ),
    ),
    "dir_check_failed": Explanation(
        "ccr could not check the directory on {server} ({detail}), so nothing was started.",
        ("Check that {server} answers: `ccr doctor`.", "Then send the command again."),
    ),
    "pane_not_session": Explanation(
        "The tmux pane {pane} on {server} now belongs to tmux session '{found}', not to "
        "{handle}'s '{expected}', so ccr pressed and typed nothing.",
        (
            "The session's pane closed and tmux reused its number; send /sessions for the "
            "live sessions.",
            "If Claude still runs somewhere, its next message registers it again.",
        ),
    ),
    "claude_silent": Explanation(
        "Claude was started on {server} in {dir} but did not report within {seconds} s.",
        (
            "Read what its window shows (below): Claude may be asking something at the "
            "keyboard, such as whether to trust the folder.",
            "Check that Claude Code's hooks on {server} reach the hub: `ccr doctor`.",
            "The window is left open in tmux session '{tmux_session}' on {server}; "
            "its first message registers the session.",
        ),
    ),
    "claude_start_failed": Explanation(
        "The Claude command on {server} exited at once (in {dir}), before Claude reported; "
        "its window was closed.",
        (
            "Read its last words (below).",
            "Check `claude_command` for {server} in ccr.toml (now `{command}`): it must start "
            "Claude Code on that machine, found on the PATH of tmux's shell there.",
        ),
    ),
    "clear_unconfirmed": Explanation(
        "/clear was typed into {handle}, but its screen did not show a fresh conversation "
        "within {seconds} s.",
        (
            "Look at the session (below): Claude may have been busy; /esc {handle} "
            "interrupts it, then /clear {handle} again.",
        ),
    ),
    "session_dir_unknown": Explanation(
        "ccr does not know the directory {handle} ran in, so it cannot start it again.",
        ("Start a new session with /new {server} DIR.",),
    ),
    "history_query_invalid": Explanation(
        "The history filter is not valid: {detail}.",
        ("Example: `/history laptop state:failed tests` (server, session, state, words).",),
    ),
    # A turn Claude Code ended on an API error (its StopFailure hook), by the error's kind.
    "claude_logged_out": Explanation(
        "Claude on {server} is logged out: run `claude /login` on {server}.",
        (
            "On that machine, run `claude /login` (in any terminal, or type /login in the "
            "session's pane); with an API key, set a valid ANTHROPIC_API_KEY instead.",
            "Then tap Retry (or send the prompt again): Claude did nothing with it.",
        ),
    ),
    "claude_rate_limited": Explanation(
        "Claude on {server} hit its usage limit (rate limit) and stopped before answering.",
        (
            "Wait for the limit to reset: Claude's own message above says when, if it knows "
            "(usage limits reset every few hours; a per-minute limit within a minute).",
            "Then tap Retry (or send the prompt again); at once, it fails the same way.",
        ),
    ),
    "claude_billing": Explanation(
        "Claude on {server} was refused for billing: the account is out of credits or its "
        "payment failed.",
        (
            "Check the account's billing and credits (console.anthropic.com for an API key, "
            "or the Claude plan's usage page).",
            "Then tap Retry (or send the prompt again).",
        ),
    ),
    "claude_api_error": Explanation(
        "Anthropic's API failed while Claude on {server} was answering (a fault on their "
        "side, not in your command).",
        (
            "Tap Retry (or send the prompt again) in a minute.",
            "If it keeps failing, check https://status.anthropic.com.",
        ),
    ),
    "claude_bad_request": Explanation(
        "Anthropic's API refused Claude's request on {server} as invalid.",
        (
            "The conversation may be too long or hold something the API rejects: type "
            "/compact (or /clear) in the session, then tap Retry (or send the prompt again).",
            "If it persists, update Claude Code on that machine (`claude update`).",
        ),
    ),
    "claude_output_limit": Explanation(
        "Claude's answer in {handle} hit the output-token limit and was cut off.",
        (
            "Tap Retry, or ask for less at once (or tell Claude to continue where it stopped).",
            "The limit can be raised with CLAUDE_CODE_MAX_OUTPUT_TOKENS on that machine.",
        ),
    ),
    "claude_model_not_found": Explanation(
        "The model Claude on {server} is set to use does not exist, or this account may not "
        "use it.",
        (
            "Choose another model: type /model in the session (or fix `model` in "
            "~/.claude/settings.json on that machine).",
            "Then tap Retry (or send the prompt again).",
        ),
    ),
    "claude_failed": Explanation(
        "Claude on {server} stopped on an error before answering ({kind}).",
        (
            "Look at the session's pane for Claude's full message.",
            "Tap Retry (or send the prompt again) to try once more.",
        ),
    ),
    "claude_exited": Explanation(
        "Claude Code in {handle} ended ({why}) before answering this command.",
        (
            "Nothing more is typed into that pane until Claude Code runs there again.",
            "Start it again in that pane (for example `claude --continue`): its first event "
            "brings the session back. Then tap Retry.",
        ),
    ),
    # The pane as a picture or as text (ccr.services.screens).
    "screen_gone": Explanation(
        "The pane of {handle} is gone (its tmux session ended), so there is no screen to "
        "show.",
        (
            "Send /sessions for the live sessions.",
            "Start Claude there again (/restart {handle}, or /new {server} DIR); its first "
            "message registers the session.",
        ),
    ),
    "tail_lines_invalid": Explanation(
        "'{lines}' is not a number of lines: give a whole number from 1 to {limit}.",
        ("For example `/tail laptop:1 50` (30 lines when you give none).",),
    ),
    "internal": Explanation(
        "Something went wrong inside ccr ({detail}).",
        ("Try again.", "If it keeps happening, run `ccr doctor` and check the hub's log."),
    ),
}


STOP_FAILURES: dict[str, str] = {
    "authentication_failed": "claude_logged_out",
    "rate_limit": "claude_rate_limited",
    "billing_error": "claude_billing",
    "server_error": "claude_api_error",
    "invalid_request": "claude_bad_request",
    "max_output_tokens": "claude_output_limit",
    "model_not_found": "claude_model_not_found",
}
"""StopFailure's `error` kind -> the code that explains it; any other kind: `claude_failed`."""
CLAUDE_CODES = frozenset({*STOP_FAILURES.values(), "claude_failed"})


class _Default(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "?"


class CcrError(Exception):
    """An error a person can act on. `code` is stable; `context` fills the catalog text.

    `trace_id` is set where the failing flow's trace is known; every face quotes it.
    """

    trace_id: str | None = None

    def __init__(self, code: str, **context: object) -> None:
        if code not in CATALOG:
            raise ValueError(f"unknown error code {code!r}")
        self.code = code
        self.context = context
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return CATALOG[self.code].title.format_map(_Default(self.context))

    @property
    def steps(self) -> tuple[str, ...]:
        return tuple(s.format_map(_Default(self.context)) for s in CATALOG[self.code].steps)

    def with_trace(self, trace_id: str | None) -> CcrError:
        """Attach the trace this error happened in (kept when one is already set)."""
        if trace_id and not self.trace_id:
            self.trace_id = trace_id
        return self

    @property
    def trace_ref(self) -> str | None:
        """The short form people quote: `trace 4bf92f3577b3`."""
        return f"trace {short_trace(self.trace_id)}" if self.trace_id else None

    def explain(self) -> str:
        """Plain text: the message, then numbered recovery steps (then the trace id)."""
        lines = [self.message]
        lines += [f"{i}. {step}" for i, step in enumerate(self.steps, 1)]
        if self.trace_ref:
            lines.append(f"({self.trace_ref})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"code": self.code, "message": self.message,
                                  "steps": list(self.steps)}
        if self.trace_id:
            out["trace_id"] = self.trace_id
            out["trace"] = self.trace_ref
        return out


def short_trace(trace_id: str) -> str:
    """The first 12 hex characters of a trace id; `ccr trace` accepts them as they are."""
    return trace_id[:12]


class ConfigError(CcrError):
    """The configuration file or environment is wrong."""


class RemoteError(CcrError):
    """Reaching a server or its tmux failed."""

    def __init__(self, code: str, *, sent: bool = False, **context: object) -> None:
        # `sent` is False when the failure provably happened before any key reached tmux.
        self.sent = sent
        super().__init__(code, **context)


class NotFoundError(CcrError):
    """A session, server or other thing named by the user does not exist."""


class InputError(CcrError):
    """The user's input cannot be accepted as it is."""


class ClaudeError(CcrError):
    """Claude Code itself failed a turn (its StopFailure hook): logged out, rate limited..."""


def stop_failure(kind: str | None, *, server: str, handle: str) -> ClaudeError:
    """The explanation of a StopFailure's `error` kind, for that server and session."""
    clean = "".join(ch for ch in (kind or "") if ch.isalnum() or ch in "_-")[:64] or "unknown"
    return ClaudeError(STOP_FAILURES.get(clean, "claude_failed"), server=server, handle=handle,
                       kind=clean.replace("_", " "))
