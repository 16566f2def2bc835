"""How fast this machine runs Python, so benchmark figures from different machines can be compared:
the CPU time of a fixed pure-Python loop (lower is faster). Printed by the other benchmarks.

Run: .venv/bin/python bench/calibrate.py
"""

from __future__ import annotations

import time


def loop_seconds(iterations: int = 10_000_000) -> float:
    """CPU seconds for `iterations` additions in a Python for-loop (best of three)."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        total = 0
        for i in range(iterations):
            total += i
        best = min(best, time.process_time() - started)
    return best


def machine_line() -> str:
    return f"machine speed: a 10M-iteration Python loop takes {loop_seconds():.2f} s of CPU (lower is faster)"


if __name__ == "__main__":
    print(machine_line())
