"""`treeship-store statusline`: one line for Claude Code's status line.

Claude Code runs the status-line command whenever the conversation changes,
with the session's JSON on standard input, and shows the first line it
prints. Ours: the model, the session's cost, its tokens and failed commands
so far, e.g. `Opus · $0.0184 · 5.6k tokens · 1 failed`. Started like a hook
(before click, importing what recording imports and no more; tests/test_cli.py
checks): the tokens and failures come from the session's record, read with
string tests and the hook's JSON decoder; the cost is the one Claude Code
reports in its JSON (`cost.total_cost_usd`), which is what our prices give
for the same tokens (tests/test_costs.py), without loading the price data on
every refresh. A session not recorded yet, or a store that cannot be read,
gives a line that says so: a status line never fails loudly.
"""

from __future__ import annotations

import os
import sys

from .. import jsoncodec
from ..projector import failed as is_failed


def line(data: bytes, root: str | None) -> str:
    """The status line for Claude Code's status JSON `data`."""
    from ..errors import StoreError
    from ..event import check_session_id
    from ..record.log import SessionLog
    from . import hook_root
    try:
        payload = jsoncodec.loads(data)
    except ValueError:
        return "treeship: the status JSON did not parse"
    payload = payload if isinstance(payload, dict) else {}
    model = payload.get("model")
    name = model.get("display_name") or model.get("id") if isinstance(model, dict) else None
    cost = payload.get("cost")
    usd = cost.get("total_cost_usd") if isinstance(cost, dict) else None
    head = [part for part in (_shown(name[:60]) if isinstance(name, str) else None,
                              f"${usd:.4f}" if type(usd) in (int, float) and 0 <= usd < 1e9 else None) if part]
    try:
        session_id = check_session_id(payload.get("session_id"))
        store_root = hook_root(payload.get("cwd"), root)
        log = SessionLog(os.path.join(store_root, "sessions"), session_id).open_for_reading()
        if log is None:
            return " · ".join([*head, "treeship: nothing recorded yet"])
        try:
            tokens, failures = _tally(log)
        finally:
            log.close()
    except (StoreError, OSError) as error:
        return " · ".join([*head, f"treeship: {getattr(error, 'strerror', None) or error}"])
    return " · ".join([*head, f"{_short(tokens)} tokens", f"{failures} failed"])


def _tally(log) -> tuple[int, int]:
    """(tokens in and out, failed processes) of the session's record."""
    tokens = failures = 0
    for _, _, raw in log.lines():
        if b'"agent.decision"' not in raw and b'"agent.completed_process"' not in raw:
            continue  # most lines: not even parsed
        try:
            event = jsoncodec.loads(raw)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        if event.get("type") == "agent.decision":
            tokens += sum(n for n in (event.get("tokens_in"), event.get("tokens_out")) if type(n) is int and n > 0)
        failures += is_failed(event)
    return tokens, failures


def _shown(text: str) -> str:
    """A name from the JSON as one line of text: no control character, no
    half of a surrogate pair (which no terminal encoding can print)."""
    return "".join(" " if c < " " or "\ud800" <= c <= "\udfff" or c == "\x7f" else c for c in text).strip()


def _short(count: int) -> str:
    for size, unit in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)


def run(root: str | None) -> int:
    """Print the line; 0 whatever happened (a status line shows what it can)."""
    text = line(sys.stdin.buffer.read(), root or os.environ.get("TREESHIP_STORE_ROOT") or None)
    sys.stdout.buffer.write(text.encode("utf-8", "replace") + b"\n")
    return 0
