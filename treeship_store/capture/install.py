"""`hooks install` / `hooks uninstall`: our entries in an agent's hook settings.

Claude Code reads hooks from .claude/settings.json (or ~/.claude/...), Codex
from .codex/hooks.json (or ~/.codex/...); both as
{"hooks": {"<Event>": [{"matcher": ..., "hooks": [{"type": "command", ...}]}]}}.
We add one group per event holding our command, and recognise ours by the
command (`... hook <agent>` run by treeship-store). Everything else in the
file is left as it was; a second install changes nothing (or only updates
our command's path); uninstall removes ours and the groups and lists that
held only ours. The file is replaced atomically, and not written at all when
nothing changes.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

from ..errors import ValidationError, WriteError
from . import claude_code, codex

HOOK_TIMEOUT_SECONDS = 10  # the agent kills a hook after this; ours finish in well under a second
HOOK_EVENTS = {"claude-code": claude_code.HOOKS, "codex": codex.HOOKS}
TEXT_EVENTS = ("UserPromptSubmit",)  # installed with --with-text: the prompt (the answer comes with Stop)


def settings_path(agent: str, *, project: Path | None, user: bool) -> Path:
    """Where the agent reads its hooks: the project's settings, or the user's."""
    if user:
        home = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex") if agent == "codex" \
            else Path.home() / ".claude"
        return home.absolute() / ("hooks.json" if agent == "codex" else "settings.json")
    base = (project or Path.cwd()).resolve()  # as the agent sees it: its working directory, symlinks resolved
    return base / ".codex" / "hooks.json" if agent == "codex" else base / ".claude" / "settings.json"


def hook_command(agent: str, with_text: bool = False) -> str:
    """The command the agent runs: this installation's interpreter, by full
    path (the agent's PATH does not matter), importing our entry point
    itself. The console script's wrapper would cost every tool call 15 ms
    (pip's wrapper imports `re`), `python -m` 8 ms (runpy): a hook so started
    costs about 1.4x a bare interpreter (scripts/bench.py)."""
    return f"{_command_prefix()} hook {agent}" + " --with-text" * with_text


def _command_prefix() -> str:
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(ENTRY_POINT)}"


ENTRY_POINT = "from treeship_store.__main__ import main; main()"


def is_ours(entry: object, agent: str) -> bool:
    command = entry.get("command") if isinstance(entry, dict) else None
    return isinstance(command, str) and command.endswith((f" hook {agent}", f" hook {agent} --with-text")) and \
        ("treeship-store" in command or "treeship_store" in command)


def install(agent: str, path: Path, *, dry_run: bool = False, with_text: bool = False,
            statusline: bool = False) -> tuple[bool, str]:
    """Add our hooks to the settings at `path`; (changed, resulting text).
    `with_text` adds the prompt's hook and keeps what was said; installing
    without it turns that off again. `statusline` (Claude Code) sets our
    status line, unless the user has one of their own (WriteError)."""
    path = _settings_file(path)
    settings = _load(path)
    hooks = _hooks_table(settings, path)
    command = hook_command(agent, with_text)
    if not with_text:
        _remove_ours(hooks, agent, TEXT_EVENTS)
    for event in HOOK_EVENTS[agent] + TEXT_EVENTS * with_text:
        groups = hooks.setdefault(event, [])
        if not isinstance(groups, list):
            raise ValidationError(f"{path}: hooks.{event} is not a list; fix it by hand, nothing was changed")
        ours = [entry for group in groups if isinstance(group, dict) for entry in group.get("hooks") or ()
                if is_ours(entry, agent)]
        if ours:
            for entry in ours:
                entry["command"] = command  # the same, or this installation's path
        else:
            groups.append({"hooks": [{"type": "command", "command": command, "timeout": _timeout(agent, event)}]})
    if statusline:
        theirs = settings.get("statusLine")
        if theirs is not None and not _is_our_statusline(theirs):
            raise ValidationError(f"{path} has a status line of its own ({json.dumps(theirs)[:80]}); "
                                  "nothing was changed: remove it first to use ours")
        settings["statusLine"] = {"type": "command", "command": _command_prefix() + " statusline", "padding": 0}
    elif _is_our_statusline(settings.get("statusLine")):
        del settings["statusLine"]  # installing without --statusline takes ours back
    return _save(path, settings, dry_run)


def _is_our_statusline(entry: object) -> bool:
    command = entry.get("command") if isinstance(entry, dict) else None
    return isinstance(command, str) and command.endswith(" statusline") and \
        ("treeship-store" in command or "treeship_store" in command)


def _timeout(agent: str, event: str) -> int:
    return codex.TIMEOUTS.get(event, HOOK_TIMEOUT_SECONDS) if agent == "codex" else HOOK_TIMEOUT_SECONDS


def uninstall(agent: str, path: Path, *, dry_run: bool = False) -> tuple[bool, str]:
    """Remove our hooks from the settings at `path`; (changed, resulting text)."""
    path = _settings_file(path)
    if not path.exists():
        return False, ""
    settings = _load(path)
    hooks = _hooks_table(settings, path)
    _remove_ours(hooks, agent, list(hooks))
    if not hooks:
        del settings["hooks"]
    if _is_our_statusline(settings.get("statusLine")):
        del settings["statusLine"]
    return _save(path, settings, dry_run)


def _remove_ours(hooks: dict, agent: str, events) -> None:
    """Our entries out of these events' groups; a group or an event left empty goes too."""
    for event in [event for event in events if event in hooks]:
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept = []
        for group in groups:
            entries = group.get("hooks") if isinstance(group, dict) else None
            if isinstance(entries, list) and any(is_ours(entry, agent) for entry in entries):
                group["hooks"] = [entry for entry in entries if not is_ours(entry, agent)]
                if not group["hooks"]:
                    continue  # the group held only ours
            kept.append(group)
        if kept:
            hooks[event] = kept
        else:
            del hooks[event]


def _settings_file(path: Path) -> Path:
    """The file to change: a settings file that is a symlink (dotfiles kept in
    a repository) is changed where it points, and stays a symlink."""
    return path.resolve() if path.is_symlink() else path


def load_settings(path: Path) -> dict:
    """An agent's settings file as a dict ({} when absent or empty)."""
    return _load(path, keep_original=False)


def _load(path: Path, keep_original: bool = True) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise ValidationError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    if not text.strip():
        return {}
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValidationError(f"{path} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
                              "nothing was changed") from None
    if not isinstance(settings, dict):
        raise ValidationError(f"{path} is not a JSON object; nothing was changed")
    if keep_original:
        settings["__original__"] = text  # compared when saving, then dropped
    return settings


def _hooks_table(settings: dict, path: Path) -> dict:
    hooks = settings.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise ValidationError(f"{path}: \"hooks\" is not an object; fix it by hand, nothing was changed")
    return hooks


def _save(path: Path, settings: dict, dry_run: bool) -> tuple[bool, str]:
    original = settings.pop("__original__", None)
    text = json.dumps(settings, indent=2, ensure_ascii=False) + "\n"
    changed = original is None or json.loads(original) != settings
    if dry_run or not changed:
        return changed, text
    replace_file(path, text)
    return True, text


def replace_file(path: Path, text: str) -> None:
    """Replace a settings file atomically (written, synced, renamed), keeping
    its permissions (0600 for a new one)."""
    path = _settings_file(path)
    temporary = path.with_name(f".{path.name}.treeship-store.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        try:
            os.fchmod(fd, mode)
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError as error:
        raise WriteError(f"cannot write {path}: {error.strerror or error}; it was left as it was") from None
