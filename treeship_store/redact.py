"""Secrets out of anything we store: commands, URLs, summaries, reasons.

One table of patterns, applied in order to every free-text field before the
event is written. Each pattern keeps what identifies the secret's place (a
header name, a variable name, a URL's user) and replaces the secret itself
with [REDACTED:<name>], so a reader sees that something was there and what.
Every pattern has its own test (tests/test_redact.py).

A detector library was measured for this: detect-secrets takes 99-108 ms to
import and scan its first line, against 40-50 ms for everything else a hook
imports (the hook may cost 1.25x that), and it named an OpenAI key only as a
"high entropy string". So the patterns are ours, kept to the shapes the
providers publish.
"""

from __future__ import annotations

# (name, pattern). A pattern's group "keep", if any, is kept before the marker.
#
# Every pattern runs in time linear in the text: agents send commands of
# megabytes (heredocs), and a hook redacts them before writing. Each starts
# at a literal (`sk-ant-`, `://`, `KEY`, ...) rather than at any word
# boundary, a run that can fail after it is entered only at its start
# (`(?<![...])` instead of `\b`, which holds after every `-`), and runs that
# can fail after them are possessive (`{8,}+`): no start position rescans
# what another already scanned. A key's run that cannot fail once long
# enough (`sk-...{20,}`) may start after a `-`, as \b let it. scripts/bench_redact.py measures it against
# a plain scan, with adversarial shapes up to 1 MB.
PATTERNS: tuple[tuple[str, str], ...] = (
    # Checked before the key shapes below, which would match parts of them.
    ("private-key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"),
    # user:password@ after a scheme's "://" (the scheme itself is kept as text before the match).
    ("url-password", r"(?P<keep>://[^/\s:@]++:)[^@\s/]++(?=@)"),
    ("authorization", r"(?i)(?P<keep>\bauthorization\b[\"']?\s*+[:=]\s*+[\"']?(?:(?:bearer|basic|token)\s++)?)"
                      r"[^\s\"',;]+"),
    ("anthropic-key", r"(?<![A-Za-z0-9_])sk-ant-[A-Za-z0-9_-]{16,}"),
    ("openai-key", r"(?<![A-Za-z0-9_])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ("aws-access-key", r"\b(?:AKIA|ASIA|AIDA|AROA)[0-9A-Z]{16}\b"),
    ("github-token", r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    ("slack-token", r"(?<![A-Za-z0-9_])xox[abposr]-[A-Za-z0-9-]{10,}"),
    ("slack-webhook", r"(?P<keep>https://hooks\.slack\.com/services/)[A-Za-z0-9/_-]+"),
    ("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}"),
    ("stripe-key", r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{10,}"),
    # A JWT starts at a run's start or after a '-' in it (where \b held); the
    # run is entered once, at its start, and its words before the first
    # "eyJ" after a '-' are kept: a later start could only match less.
    ("jwt", r"(?<![A-Za-z0-9_-])(?P<keep>(?:(?!eyJ)[A-Za-z0-9_]*+-)*+)"
            r"eyJ[A-Za-z0-9_-]{8,}+\.eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{8,}"),
    # NAME=value where NAME ends in KEY, TOKEN, SECRET or PASSWORD (env
    # assignments, --flags, JSON-ish "name": "value" pairs); quoted or not.
    # Found from the keyword (the name before it is kept as text); a quote
    # left open takes the rest of the text, which is safer than a secret kept.
    ("secret-assignment", r"(?i)(?P<keep>(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD)[\"']?\s*+[=:]\s*+)"
                          r"(?:\"[^\"]*+\"?|'[^']*+'?|[^\s\"',;&|]++)"),
)

# What each pattern cannot match without: a text holding none of a pattern's
# literals (compared in lower case) is not searched with it, and a text
# holding none at all (most commands: `pytest -q`, `git status`) costs no
# `re` import, 8 ms of a hook's cold start. Before comparing, the four
# characters Python's IGNORECASE matches to an ASCII letter become it
# (`authorızatıon` with a dotless i still matches `(?i)authorization`).
LITERALS = {
    "private-key": ("-----begin ",), "url-password": ("://",), "authorization": ("authorization",),
    "anthropic-key": ("sk-ant-",), "openai-key": ("sk-",), "aws-access-key": ("akia", "asia", "aida", "aroa"),
    "github-token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), "slack-token": ("xox",),
    "slack-webhook": ("https://hooks.slack.com/services/",), "google-api-key": ("aiza",),
    "stripe-key": ("_live_", "_test_"), "jwt": ("eyj",),
    "secret-assignment": ("key", "token", "secret", "password", "passwd"),
}
_TO_ASCII = {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}


def caseless(text: str) -> str:
    """`text` in lower case, the four letters Python's IGNORECASE matches to
    ASCII ones made those: `in` on it finds what `(?i)` would."""
    return text.translate(_TO_ASCII).lower()
_compiled: dict = {}  # name -> pattern, compiled on first use


def redact(text: str) -> str:
    """`text` with every secret the patterns know replaced by a marker."""
    lowered = None
    for name, source in PATTERNS:
        if lowered is None:
            lowered = caseless(text)
        if not any(literal in lowered for literal in LITERALS[name]):
            continue
        pattern = _compiled.get(name)
        if pattern is None:
            import re  # noqa: PLC0415 - only for a text holding a pattern's literal
            pattern = _compiled[name] = re.compile(source)
        if pattern.groupindex.get("keep"):
            changed = pattern.sub(lambda match, name=name: f"{match.group('keep')}[REDACTED:{name}]", text)
        else:
            changed = pattern.sub(f"[REDACTED:{name}]", text)
        if changed != text:
            text, lowered = changed, None  # later patterns see the markers, as before
    return text


def redact_value(value: object) -> object:
    """Every string inside a JSON value redacted (for meta)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    return value
