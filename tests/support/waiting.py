"""Waiting, in tests, for what a broker, a consumer group or a Connect worker does on its own
schedule: a bound on how long to wait for an outcome, never an assertion about speed."""

import time

import pytest


def wait_for(what: str, check, timeout: float = 60, interval: float = 0.2):
    """Call check() until it returns something truthy, and return that; fail naming `what`
    when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(interval)
    return result
