"""Benchmark of `export otlp` (issue 15), in one run:

12. the benchmark corpus exported as OTLP/HTTP to a receiver on 127.0.0.1
    in another process (tests/support/otlp_receiver.py: it decodes every
    request with opentelemetry-proto, as a collector would), spans/s and events/s; beside it, the same
    sessions' lines turned into spans without sending (spans.py alone), and
    a second export with nothing new.

    python scripts/bench_otel.py [--events 1000000] [--sessions 1000] [--json bench-otel.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
import corpus  # noqa: E402

from treeship_store import Store  # noqa: E402
from treeship_store.event import decode_line  # noqa: E402
from treeship_store.otel import Exporter, collector  # noqa: E402
from treeship_store.spans import session_spans  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=1_000)
    parser.add_argument("--json", default="bench-otel.json")
    args = parser.parse_args()
    results: dict = {"events": args.events, "sessions": args.sessions}
    with tempfile.TemporaryDirectory(prefix="treeship-bench-otel-") as work:
        root = corpus.generate(Path(work) / "store", args.events, args.sessions)
        store = Store(root)
        started = time.perf_counter()
        spans = 0
        for session_id in store.session_ids():
            lines = (root / "sessions" / session_id / "events.jsonl").read_bytes().split(b"\n")[:-1]
            spans += len(session_spans(session_id, [(n, decode_line(line)[0]) for n, line in enumerate(lines)]))
        mapping = time.perf_counter() - started
        receiver = subprocess.Popen([sys.executable, str(HERE.parent / "tests" / "support" / "otlp_receiver.py")],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            endpoint = f"http://127.0.0.1:{receiver.stdout.readline().strip()}"
            with Exporter(store, collector(endpoint)) as exporter:
                report = exporter.export()
                again = exporter.export()
            received = int(urllib.request.urlopen(endpoint).read())
        finally:
            receiver.stdin.close()
            receiver.wait()
        assert report.spans == spans == received, (report.spans, spans, received)
        results["12. export otlp"] = {
            "spans": report.spans, "seconds": round(report.seconds, 2),
            "spans_per_s": round(report.spans / report.seconds), "events_per_s": round(args.events / report.seconds)}
        results["12. lines to spans alone (read, decode, map)"] = {
            "seconds": round(mapping, 2), "share_of_export": round(mapping / report.seconds, 2)}
        results["12. export again (nothing new)"] = {"spans": again.spans, "seconds": round(again.seconds, 3)}
    print(json.dumps(results, indent=2))
    with open(args.json, "w") as out:
        json.dump({"date": time.strftime("%Y-%m-%d"), **results}, out, indent=2)


if __name__ == "__main__":
    main()
