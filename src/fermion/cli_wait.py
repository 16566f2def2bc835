"""Waiting in the CLI for work the server's workers do (calculations after an activation), with a
progress line on stderr whenever the progress changes (stdout stays the command's answer)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Annotated

import typer

DEFAULT_TIMEOUT_S = 3600.0

Wait = Annotated[bool, typer.Option("--wait", help="Wait until the calculation is done, showing progress.")]
Timeout = Annotated[
    float, typer.Option("--timeout", min=0, help="With --wait: give up after this many seconds (0: never).")
]


def wait_for(step: Callable[[], tuple[bool, str]], timeout_s: float, interval_s: float = 0.5) -> bool:
    """Call `step` (done?, progress line) until it is done or `timeout_s` has passed (0: no limit);
    True once done."""
    deadline = time.monotonic() + timeout_s if timeout_s > 0 else math.inf
    shown = None
    while True:
        done, line = step()
        if line != shown:
            typer.echo(line, err=True)
            shown = line
        if done:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
