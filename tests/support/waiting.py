"""Polling for eventually consistent results in end-to-end tests (never a timed assertion: the timeout
only bounds how long a failing test hangs)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout_s: float = 30, interval_s: float = 0.1) -> T:
    """Call `check` until it returns something truthy or the timeout passes; return its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)
