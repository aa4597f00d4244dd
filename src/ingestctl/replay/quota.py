"""The replay's throughput quota: token buckets on bytes and on records per second.

A bucket starts empty and holds at most 50 ms of tokens, so a pause (a slow commit, a
stalled fetch) is made up for with at most that much of a burst, and a batch may take
tokens it does not have yet: the debt becomes the wait before the next batch. Batches are
kept to about 20 ms of quota (in bytes, a batch ends with the record that reaches it). Both
bounds keep the rate achieved over any 10 s within about 1 % of the quota, as long as one
record is small against 20 ms of quota. The clock is injected so this is tested without
waiting.
"""

import time
from dataclasses import dataclass
from typing import Protocol

BURST_SECONDS = 0.05
BATCH_SECONDS = 0.02


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class TokenBucket:
    def __init__(self, rate: float, now: float):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._capacity = rate * BURST_SECONDS
        self._tokens = 0.0
        self._last = now

    def take(self, amount: float, now: float) -> float:
        """Take `amount` tokens; return how long to wait before taking more."""
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= amount
        return -self._tokens / self.rate if self._tokens < 0 else 0.0


@dataclass
class Quota:
    """Limits on bytes/s and records/s (either may be None: unlimited)."""

    bytes_per_second: float | None = None
    records_per_second: float | None = None

    @property
    def limited(self) -> bool:
        return self.bytes_per_second is not None or self.records_per_second is not None

    def share(self, parts: int) -> "Quota":
        """One worker's part of the quota when `parts` workers share it."""
        return Quota(
            self.bytes_per_second / parts if self.bytes_per_second else None,
            self.records_per_second / parts if self.records_per_second else None,
        )

    def estimated_seconds(self, total_bytes: int, records: int) -> float | None:
        if not self.limited:
            return None
        return max(total_bytes / self.bytes_per_second if self.bytes_per_second else 0.0,
                   records / self.records_per_second if self.records_per_second else 0.0)


class Limiter:
    """Applies a Quota to a stream of batches: `batch_limits` says how many records and
    bytes the next batch may hold (a batch stops at the first record that reaches the byte
    limit), `wait_after` how long to pause after a batch has been written."""

    def __init__(self, quota: Quota, clock: Clock, max_batch: int):
        self.clock = clock
        self._max_batch = max_batch
        now = clock.monotonic()
        self._bytes = TokenBucket(quota.bytes_per_second, now) if quota.bytes_per_second else None
        self._records = (TokenBucket(quota.records_per_second, now)
                         if quota.records_per_second else None)

    def batch_limits(self) -> tuple[int, int | None]:
        records = self._max_batch
        if self._records is not None:
            records = max(1, min(records, int(self._records.rate * BATCH_SECONDS)))
        max_bytes = None
        if self._bytes is not None:
            max_bytes = max(1, int(self._bytes.rate * BATCH_SECONDS))
        return records, max_bytes

    def wait_after(self, written_bytes: int, written_records: int) -> float:
        now = self.clock.monotonic()
        wait = 0.0
        if self._bytes is not None and written_bytes:
            wait = self._bytes.take(written_bytes, now)
        if self._records is not None and written_records:
            wait = max(wait, self._records.take(written_records, now))
        return wait
