"""The real web server and a real browser, for the web tests and
scripts/screenshot.py: `treeship-store serve` as its own process on a free
port of 127.0.0.1, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def serving(root: Path, *args: str, db: str | None = None) -> Iterator[str]:
    """`treeship-store serve --port 0` on `root` (or on the central store
    `db`); yields its base URL."""
    central = ["--db", db] if db else []
    process = subprocess.Popen([sys.executable, "-m", "treeship_store", "--root", str(root), *central, "serve",
                                "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        if not line.startswith("Serving "):
            raise RuntimeError(f"serve did not start: {line}{process.stderr.read()}")
        yield line.split(" at ", 1)[1].split()[0]
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def browser():
    """A headless Chromium with a new, empty profile."""
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()
