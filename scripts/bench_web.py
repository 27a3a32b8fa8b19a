"""Benchmarks of the web view (issue 13), side by side in one run:

8. a session of 10,000 events, served and drawn: from the browser's request
   for the page to the timeline, panels and table drawn (Chromium, headless,
   through Playwright), median of several loads; target under a second.
9. the sessions page and /api/sessions with 100,000 sessions against the same
   with 1,000 (100,000 events each time, idle for a month): target as fast.

    python scripts/bench_web.py [--quick] [--json bench-web.json]

Run it from outside the checkout, with the web and test extras installed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import urllib.request

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
import corpus  # noqa: E402
from support.web import browser, serving  # noqa: E402

from treeship_store import Store  # noqa: E402

SIZES = {"full": dict(session_events=10_000, loads=7, events=100_000, sessions=[1_000, 100_000], requests=30),
         "quick": dict(session_events=2_000, loads=3, events=10_000, sessions=[100, 5_000], requests=10)}


def fetch_ms(url: str) -> float:
    """One GET on a new connection, body read, in ms. (httpx's client adds
    about 40 ms per request on loopback here, its own; urllib does not.)"""
    started = time.perf_counter()
    with urllib.request.urlopen(url) as response:
        response.read()
    return (time.perf_counter() - started) * 1000


def bench_session_page(work: Path, size: dict) -> dict:
    root = corpus.generate(work / "one-session", size["session_events"], 1)
    Store(root).reindex()
    session = next(iter(Store(root).session_ids()))
    with serving(root) as url, browser() as chromium:
        page = chromium.new_page()
        ready, drawing, api = [], [], []
        for _ in range(size["loads"]):
            page.goto(f"{url}sessions/{session}")
            page.wait_for_selector("#session[data-ready]", timeout=60_000)
            ready.append(float(page.get_attribute("#session", "data-ready-ms")))
            drawing.append(float(page.get_attribute("#session", "data-draw-ms")))
            marks = page.locator("#timeline circle.mark").count()
        for _ in range(size["loads"]):
            api.append(fetch_ms(f"{url}api/events?session={session}"))
    return {"events": size["session_events"], "marks_drawn": marks, "ready_ms": statistics.median(ready),
            "script_to_drawn_ms": statistics.median(drawing), "api_events_ms": statistics.median(api)}


def bench_sessions_page(work: Path, size: dict) -> dict:
    month_ago = time.time() - 30 * 86400
    medians = {}
    for count in size["sessions"]:
        root = corpus.generate(work / f"sessions-{count}", size["events"], count)
        for directory in (root / "sessions").iterdir():
            os.utime(directory / "events.jsonl", (month_ago, month_ago))
        Store(root).reindex(full=True)
        with serving(root) as url:
            for path in ("", "api/sessions"):
                fetch_ms(url + path)  # warm
                samples = [fetch_ms(url + path) for _ in range(size["requests"])]
                medians[(count, path or "/")] = statistics.median(samples)
    low, high = size["sessions"]
    return {f"{path} at {count:,} sessions ms": ms for (count, path), ms in medians.items()} | {
        f"{path} ratio": medians[(high, path)] / medians[(low, path)] for path in ("/", "api/sessions")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default="bench-web.json")
    args = parser.parse_args()
    size = SIZES["quick" if args.quick else "full"]
    with tempfile.TemporaryDirectory(prefix="treeship-bench-web-") as work:
        results = {"8. session page": bench_session_page(Path(work), size)}
        print(json.dumps(results, indent=2), flush=True)
        results["9. sessions page"] = bench_sessions_page(Path(work), size)
    print(json.dumps(results, indent=2))
    with open(args.json, "w") as out:
        json.dump({"mode": "quick" if args.quick else "full", "date": time.strftime("%Y-%m-%d"), **results}, out,
                  indent=2)


if __name__ == "__main__":
    main()
