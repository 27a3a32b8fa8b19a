"""Redaction stays linear in the text (issue 21): each shape, adversarial for
one pattern, at 64 KB, 256 KB and 1 MB, timed beside a plain scan of the
same text (one regex pass over every character, `\\S+`). The cost per MB must
not grow with the size (quadratic patterns took 14.7 s at 32 KB), and a
command of 1 MB is redacted in a small multiple of the plain scan.

    python scripts/bench_redact.py [--json bench-redact.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from treeship_store.redact import redact  # noqa: E402

# Each shape defeats one way a pattern could rescan: runs of token characters
# with a boundary after every "-", keywords with no value, quotes left open,
# schemes with no "://", key prefixes with no key.
SHAPES = {
    "uuids joined by -": lambda n: "-".join(str(uuid.UUID(int=i)) for i in range(n // 37 + 1)),
    "eyJ- repeated": lambda n: "eyJ-" * (n // 4 + 1),
    "KEY=\" repeated": lambda n: 'KEY="' * (n // 5 + 1),
    "a- repeated (schemes)": lambda n: "a-" * (n // 2 + 1),
    "://a:b without @": lambda n: "://a:" + "b" * n,
    "sk- prefixes": lambda n: "sk-ant-x " * (n // 9 + 1),
    "keys after a - (short)": lambda n: "-sk-ant-abc -xoxb-1 " * (n // 20 + 1),
    "eyJ after every -": lambda n: "a-eyJ-" * (n // 6 + 1),
    "-----BEGIN without key": lambda n: ("-----BEGIN " + "A " * 30) * (n // 71 + 1),
    "authorization: repeated": lambda n: "authorization: " * (n // 15 + 1),
    "shell heredoc": lambda n: ("cat <<'EOF' > f.py\nimport os\nAPI_KEY = os.environ['API_KEY']\n"
                                "print(API_KEY)\nEOF\n") * (n // 80 + 1),
}
SIZES = (64 << 10, 256 << 10, 1 << 20)
PLAIN = re.compile(r"\S+")


def best_of(function, text: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        function(text)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="bench-redact.json")
    args = parser.parse_args()
    results, worst_growth, worst_ratio = {}, 0.0, 0.0
    print(f"{'shape':28} {'size':>8} {'redact ms':>10} {'scan ms':>8} {'x scan':>7} {'ms/MB':>7}")
    for name, make in SHAPES.items():
        per_mb = []
        for size in SIZES:
            text = make(size)[:size]
            redact_s, scan_s = best_of(redact, text), best_of(PLAIN.findall, text)
            per_mb.append(redact_s / (size / (1 << 20)))
            ratio = redact_s / scan_s
            worst_ratio = max(worst_ratio, ratio) if size == SIZES[-1] else worst_ratio
            results[f"{name} {size}"] = {"redact_ms": redact_s * 1000, "scan_ms": scan_s * 1000, "ratio": ratio}
            print(f"{name:28} {size >> 10:>6}KB {redact_s * 1000:>10.1f} {scan_s * 1000:>8.1f} {ratio:>7.1f} "
                  f"{per_mb[-1] * 1000:>7.0f}")
        worst_growth = max(worst_growth, per_mb[-1] / per_mb[0])
    results["summary"] = {"worst_cost_per_mb_growth_64k_to_1m": worst_growth,
                          "worst_ratio_to_plain_scan_at_1mb": worst_ratio}
    print(f"cost per MB, 1 MB against 64 KB (1.0 = linear; quadratic would be 16): worst {worst_growth:.2f}")
    print(f"redaction of 1 MB against a plain scan of it: worst {worst_ratio:.1f}x")
    Path(args.json).write_text(json.dumps(results, indent=1))
    if worst_growth > 2:
        sys.exit("redaction is not linear in the text")


if __name__ == "__main__":
    main()
