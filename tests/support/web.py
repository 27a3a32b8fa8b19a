"""The real web server and a real browser, for the web tests and
scripts/screenshot.py: `treeship-store serve` as its own process on a free
port of 127.0.0.1, and Debian's Chromium driven by Playwright; and what the
tests read the server's streams and addresses with."""

from __future__ import annotations

import os
import shutil
import socket
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


def sse_messages(lines, count):
    """The next `count` messages of a server-sent event stream (the lines of
    response.iter_lines(), read on), each a dict of its fields (event, id,
    data), comments and retry left out. A stream that falls silent ends in
    the client's read timeout: it fails, never hangs."""
    found, message = [], {}
    for line in lines:
        if line == "":
            if message:
                found.append(message)
                message = {}
            if len(found) == count:
                return found
        elif not line.startswith((":", "retry:")):
            name, _, value = line.partition(": ")
            message[name] = value
    return found


def own_ipv4_address():
    """This machine's address on its default route (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address
