"""Helpers the Python FFI tests share (run.py puts this folder on the path)."""

import time


def wait_until(condition, seconds=30):
    """Polls `condition` every 10 ms; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)
