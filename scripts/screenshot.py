"""Render the demo's busiest session page to a PNG for README.md.

    python scripts/screenshot.py [docs/session.png]

Writes the demo store, serves it (`treeship-store serve --port 0`), and
takes the picture in Debian's Chromium (headless) through Playwright.
"""

from __future__ import annotations

import json
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.web import browser, serving  # noqa: E402

from treeship_store.demo import write_demo  # noqa: E402


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


if __name__ == "__main__":
    main()
