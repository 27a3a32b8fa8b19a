"""Render the demo's busiest session page, and the stats page of two weeks
of agents' usage, to PNGs for README.md.

    python scripts/screenshot.py [docs/session.png [docs/stats.png]]

Writes the demo store (and a store of usage), serves each (`treeship-store
serve --port 0`), and takes the pictures in Debian's Chromium (headless)
through Playwright.
"""

from __future__ import annotations

import json
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.web import browser, serving  # noqa: E402

from treeship_store import Store  # noqa: E402
from treeship_store.demo import write_demo  # noqa: E402

# Two weeks of three agents' decisions: (agent, instance, model, provider, calls a day, tokens per call).
USAGE = [("claude-code", "ai_cc_main", "claude-sonnet-4-5", "anthropic", 40, (3000, 40000, 2000, 900)),
         ("Explore#1a2b3c4d", "ai_cc_sub_1a2b3c4d", "claude-haiku-4-5", "anthropic", 25, (1500, 8000, 0, 300)),
         ("codex", "ai_cx_main", "gpt-5", "openai", 30, (5000, 20000, 0, 1200))]


def write_usage(root: Path) -> None:
    """Decisions with their tokens' breakdown over 14 days, varied by day."""
    from datetime import datetime, timedelta, timezone
    start = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)
    with Store(root) as store:
        for day in range(14):
            for agent, instance, model, provider, calls, (fresh, cached, written, out) in USAGE:
                weight = 0.4 + 0.6 * ((day * 7 + len(agent)) % 10) / 10 * (day % 7 < 5)
                events = []
                for call in range(int(calls * weight)):
                    at = (start + timedelta(days=day, minutes=7 * call)).strftime("%Y-%m-%dT%H:%M:%SZ")
                    tokens = {"input": fresh, "cache_read": cached, "cache_write": written, "output": out}
                    events.append({"type": "agent.decision", "agent_id": f"agent://{agent.split('#')[0]}",
                                   "agent_name": agent, "agent_instance_id": instance, "host_id": "laptop",
                                   "model": model, "provider": provider, "timestamp": at,
                                   "tokens_in": fresh + cached + written, "tokens_out": out,
                                   "meta": {"tokens": {k: v for k, v in tokens.items() if v}}})
                if events:
                    store.append_many(f"ssn_day{day:02d}", events)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "docs" / "session.png")
    with tempfile.TemporaryDirectory() as work:
        write_demo(Path(work) / "demo" / ".treeship")
        with serving(Path(work) / "demo" / ".treeship") as url:
            with urllib.request.urlopen(url + "api/sessions") as response:
                sessions = json.load(response)["sessions"]
            busiest = max(sessions, key=lambda s: s["events"])["session_id"]
            with browser() as chromium:
                page = chromium.new_page()
                page.goto(f"{url}sessions/{busiest}")
                page.wait_for_selector("#session[data-ready]")
                page.locator("#timeline circle.mark").nth(5).click()
                page.screenshot(path=str(out), full_page=True)
        print(f"{out}: session {busiest}")
        charts = Path(sys.argv[2] if len(sys.argv) > 2 else out.with_name("stats.png"))
        write_usage(Path(work) / "usage" / ".treeship")
        with serving(Path(work) / "usage" / ".treeship") as url, browser() as chromium:
            page = chromium.new_page()
            page.set_viewport_size({"width": 900, "height": 900})
            page.goto(f"{url}stats")
            page.locator("section.charts").screenshot(path=str(charts))
        print(f"{charts}: the stats page's charts")


if __name__ == "__main__":
    main()
