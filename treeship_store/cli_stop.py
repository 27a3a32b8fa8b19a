"""How `push --follow` and `export otlp --follow` stop and pause: Ctrl-C or
SIGTERM finishes the batch in flight, and the pause between looks grows
with what a look costs."""

from __future__ import annotations

import signal
import time

FOLLOW_INTERVAL = 0.25  # seconds between looks for new lines with --follow, at least


class Stop:
    """Ctrl-C or SIGTERM: finish the batch in flight (its transaction and the
    local position after it), then stop."""

    def __init__(self):
        self.asked = False
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._ask)

    def _ask(self, *_) -> None:
        self.asked = True

    def __bool__(self) -> bool:
        return self.asked

    def pause_after(self, spent: float) -> None:
        """Between two looks of a follower: FOLLOW_INTERVAL, or twice what the
        last look took (a stat per session: 0.4 s at 100,000 sessions), so
        that looking never takes more than a third of a core."""
        self.wait(max(FOLLOW_INTERVAL, 2 * spent))

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.asked and time.monotonic() < deadline:
            time.sleep(min(0.05, deadline - time.monotonic()))
