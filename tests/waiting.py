"""Waiting for an event another thread or process makes happen: a file, a log line, a lock, a count.

The one place the tests poll: :func:`wait_for` checks a condition every few milliseconds until it
holds or a timeout passes; it never guesses how long something takes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Seconds between two checks of a condition.
POLL_S = 0.01


def wait_for(condition: Callable[[], object], timeout: float, what: str, *, alive: Callable[[], bool] | None = None) -> None:
    """Return once ``condition()`` is true; raise ``AssertionError`` naming ``what`` after ``timeout`` seconds.

    ``alive`` (optional) is checked too: when it turns false first (the process that should make the
    event happen has exited), fail at once instead of waiting out the timeout.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if alive is not None and not alive():
            if condition():
                return
            raise AssertionError(f"gave up waiting for {what}: the process exited first")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(POLL_S)
