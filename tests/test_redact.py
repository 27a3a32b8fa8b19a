"""Secrets never reach the disk: one case per pattern in capture/redact.py."""

import pytest

from treeship_store.capture.redact import PATTERNS, redact, redact_value

# (pattern name, text holding a secret, the secret, what must stay)
CASES = [
    ("private-key", "key: -----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- done",
     "MIIEow", "done"),
    ("url-password", "git clone https://alice:hunter2pass@git.example.com/repo.git", "hunter2pass",
     "https://alice:"),
    ("authorization", 'curl -H "Authorization: Bearer abcDEF123456" https://api.example.com', "abcDEF123456",
     "Authorization: Bearer "),
    ("anthropic-key", "ANTH=x; call sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv", "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv",
     "call "),
    ("openai-key", "using sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123 now", "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123",
     "now"),
    ("aws-access-key", "aws configure set id AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "aws configure"),
    ("github-token", "git push https://ghp_0123456789abcdefghijABCDEFGHIJ012345@github.com",
     "ghp_0123456789abcdefghijABCDEFGHIJ012345", "github.com"),
    ("slack-token", "post with xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij", "post with"),
    ("slack-webhook", "curl https://hooks.slack.com/services/T000/B000/XXXXsecret", "T000/B000/XXXXsecret",
     "hooks.slack.com/services/"),
    ("google-api-key", "maps?key2=AIzaSyA-0123456789abcdefghijklmnopqrstu", "AIzaSyA-0123456789abcdefghijklmnopqrstu",
     "maps?"),
    ("stripe-key", "stripe charges sk_live_0123456789abcdefXYZ", "sk_live_0123456789abcdefXYZ", "stripe charges"),
    ("jwt", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "token "),
    ("secret-assignment", "DB_PASSWORD='p@ss w0rd' MY_API_KEY=abc123 ./run --client-secret=s3cr3t",
     "abc123", "./run"),
]


def test_every_pattern_has_a_case():
    assert sorted(name for name, *_ in CASES) == sorted(name for name, _ in PATTERNS)


@pytest.mark.parametrize("name, text, secret, kept", CASES, ids=[case[0] for case in CASES])
def test_pattern_removes_the_secret_and_keeps_the_rest(name, text, secret, kept):
    result = redact(text)
    assert secret not in result
    assert kept in result
    assert "[REDACTED:" in result


def test_assignments_keep_their_names_and_lose_every_value():
    result = redact("DB_PASSWORD='p@ss w0rd' MY_API_KEY=abc123 ./run --client-secret=s3cr3t")
    assert "p@ss w0rd" not in result and "abc123" not in result and "s3cr3t" not in result
    assert result.startswith("DB_PASSWORD=[REDACTED:") and "MY_API_KEY=[REDACTED:" in result


def test_plain_text_is_left_alone():
    text = "pytest -q tests/test_store.py && git commit -m 'fix the key lookup'"
    assert redact(text) == text


def test_values_inside_json_are_redacted():
    assert redact_value({"a": ["sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv"], "n": 1}) == \
        {"a": ["[REDACTED:anthropic-key]"], "n": 1}
