"""Will our hooks actually run? And, when asked, Codex's trust for them.

Claude Code runs the hooks in its settings unless `disableAllHooks` is set.
Codex 0.169 has two gates, both kept in `$CODEX_HOME/config.toml`, and skips
a hook that does not pass them without a word:

- a project's `.codex/` is loaded only for a trusted project:
  `[projects."DIR"] trust_level = "trusted"` (DIR or a directory above it);
- each hook runs only once the user trusted that very hook:
  `[hooks.state."<hooks.json path>:<event>:<group>:<handler>"]
  trusted_hash = "sha256:..."`, the SHA-256 of the hook's normalised
  identity (event, matcher, command, timeout, async, status message) as
  compact JSON with sorted keys, which is what Codex's `/hooks` screen writes
  (codex-rs/hooks/src/engine/discovery.rs, `command_hook_hash`). Changing the
  command, timeout or matcher changes the hash, and the hook stops running.

`write_codex_trust` writes those entries for our hooks, only when the user
asks (`hooks install codex --trust`): trust is Codex's safety feature, and
marking a project trusted also lets Codex load everything else in its
`.codex/`. It needs tomlkit (the `codex` extra), which keeps the rest of the
file (comments, order) as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import tomllib
from pathlib import Path

from ..errors import ValidationError
from .install import HOOK_EVENTS, is_ours, load_settings, replace_file


class Check:
    """One thing that must hold for the hooks to run, and what it found."""

    def __init__(self, name: str, ok: bool, detail: str):
        self.name, self.ok, self.detail = name, ok, detail


def codex_home() -> Path:
    return Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")


def hook_key(hooks_path: Path, event: str, group: int, handler: int) -> str:
    return f"{hooks_path}:{_snake(event)}:{group}:{handler}"


def hook_hash(event: str, group: dict, handler: dict) -> str:
    """The trusted_hash Codex expects for a command hook, as it computes it."""
    entry = {"type": "command", "command": handler.get("command"),
             "timeout": max(1, handler["timeout"]) if type(handler.get("timeout")) is int else 600,
             "async": handler.get("async") is True}
    if isinstance(handler.get("statusMessage"), str):
        entry["statusMessage"] = handler["statusMessage"]
    identity = {"event_name": _snake(event), "hooks": [entry]}
    if isinstance(group.get("matcher"), str):
        identity["matcher"] = group["matcher"]
    data = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(data.encode()).hexdigest()


def our_hooks(agent: str, settings: dict) -> list[tuple[str, int, int, dict, dict]]:
    """(event, group index, handler index, group, handler) of each of our hooks."""
    found = []
    hooks = settings.get("hooks") if isinstance(settings.get("hooks"), dict) else {}
    for event, groups in hooks.items():
        for g, group in enumerate(groups if isinstance(groups, list) else ()):
            handlers = group.get("hooks") if isinstance(group, dict) else None
            for h, handler in enumerate(handlers if isinstance(handlers, list) else ()):
                if is_ours(handler, agent):
                    found.append((event, g, h, group, handler))
    return found


def status(agent: str, settings_path: Path, project: Path | None) -> list[Check]:
    """The checks that decide whether our hooks for `agent` will run."""
    settings = load_settings(settings_path)
    ours = our_hooks(agent, settings)
    missing = [event for event in HOOK_EVENTS[agent] if event not in {found[0] for found in ours}]
    checks = [Check("installed", bool(ours) and not missing,
                    f"{len(ours)} hooks in {settings_path}" + (f"; missing: {', '.join(missing)}" if missing else "")
                    if ours else f"none in {settings_path}")]
    if ours:
        program = shlex.split(ours[0][4]["command"])[0]
        checks.append(Check("command", os.access(program, os.X_OK), program + (
            "" if os.access(program, os.X_OK) else " is not an executable file: install again")))
    if agent == "claude-code":
        disabled = settings.get("disableAllHooks") is True
        checks.append(Check("enabled", not disabled, "disableAllHooks is set in " + str(settings_path) if disabled
                            else "hooks are not disabled"))
        return checks
    config_path = codex_home() / "config.toml"
    config = _read_toml(config_path)
    if project is not None:
        trusted = project_trust(config, project)
        checks.append(Check("project trusted", trusted == "trusted", f"{project} in {config_path}: " + (
            trusted or "no trust_level (Codex does not load this project's .codex/)")))
    states = config.get("hooks", {}).get("state", {}) if isinstance(config.get("hooks"), dict) else {}
    untrusted, changed = [], []
    for event, g, h, group, handler in ours:
        state = states.get(hook_key(settings_path, event, g, h)) if isinstance(states, dict) else None
        stored = state.get("trusted_hash") if isinstance(state, dict) else None
        if stored is None:
            untrusted.append(event)
        elif stored != hook_hash(event, group, handler) or (isinstance(state, dict) and state.get("enabled") is False):
            changed.append(event)
    checks.append(Check("hooks trusted", bool(ours) and not untrusted and not changed,
                        "every hook trusted, hashes current" if ours and not untrusted and not changed else
                        "; ".join(part for part in (
                            untrusted and f"not trusted: {', '.join(untrusted)}",
                            changed and f"changed or disabled since trusted: {', '.join(changed)}") if part)
                        or "nothing to trust"))
    return checks


def project_trust(config: dict, project: Path) -> str | None:
    """The trust_level of `project` or the nearest directory above it that has one."""
    projects = config.get("projects") if isinstance(config.get("projects"), dict) else {}
    for directory in (project, *project.parents):
        entry = projects.get(str(directory))
        if isinstance(entry, dict) and isinstance(entry.get("trust_level"), str):
            return entry["trust_level"]
    return None


def write_codex_trust(settings_path: Path, project: Path | None) -> list[str]:
    """Trust our Codex hooks in $CODEX_HOME/config.toml (and `project`, whose
    .codex/ they live in); returns what was written."""
    try:
        import tomlkit  # noqa: PLC0415 - only for --trust
    except ImportError:
        raise ValidationError("--trust needs tomlkit: pip install 'treeship-store[codex]'; nothing was changed") \
            from None
    config_path = codex_home() / "config.toml"
    try:
        text = config_path.read_text(encoding="utf-8") if config_path.exists() else ""
        document = tomlkit.parse(text)
    except (OSError, UnicodeDecodeError, tomlkit.exceptions.TOMLKitError) as error:
        raise ValidationError(f"cannot read {config_path} as TOML ({error}); nothing was changed") from None
    written = []
    if project is not None and project_trust(document.unwrap(), project) != "trusted":
        projects = document.setdefault("projects", tomlkit.table(is_super_table=True))
        projects[str(project)] = tomlkit.table()
        projects[str(project)]["trust_level"] = "trusted"
        written.append(f'[projects."{project}"] trust_level = "trusted"')
    hooks = document.setdefault("hooks", tomlkit.table(is_super_table=True))
    states = hooks.setdefault("state", tomlkit.table(is_super_table=True))
    for event, g, h, group, handler in our_hooks("codex", load_settings(settings_path)):
        key, digest = hook_key(settings_path, event, g, h), hook_hash(event, group, handler)
        if not isinstance(states.get(key), dict):
            states[key] = tomlkit.table()
        if states[key].get("trusted_hash") != digest:
            states[key]["trusted_hash"] = digest
            written.append(f'[hooks.state."{key}"] trusted_hash = "{digest}"')
    if written:
        result = tomlkit.dumps(document)
        tomllib.loads(result)  # what Codex will read must still be TOML
        replace_file(config_path, result)
    return written


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValidationError(f"cannot read {path} as TOML: {error}") from None


def _snake(event: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", event).lower()

