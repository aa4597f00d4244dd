"""How fast records arrive on partitions: records a second from two samples of their end
offsets about a second apart, and bytes a second estimated from the size of their newest
records. What the rehearsal weighs retention.bytes against.

The end offset is the high watermark, not the last stable offset: retention deletes from the
log as it grows, aborted records and transaction markers included, and the last stable offset
stands still behind an open transaction (a rate of 0 for a second, then a jump). A
transactional producer's markers therefore count as records here; they take log space too.
Each sample is one batched ListOffsets request for every partition.

A record's size is its key, value and headers (names and values), plus RECORD_OVERHEAD_BYTES
of Kafka's framing. The newest RECENT_RECORDS committed records of each partition are read
through one consumer, counted and dropped (never kept: a value may be large)."""

import time
from dataclasses import dataclass

from ..kafka import Admin, metadata
from ..kafka.records import Record, scan_ranges
from ..partitions import TP

SAMPLE_SECONDS = 1.0
RECENT_RECORDS = 20
# Kafka's log format v2 (the one since Kafka 0.11): a record carries at least 7 bytes of its
# own framing (an attributes byte and six varints: length, timestamp delta, offset delta, key
# length, value length, header count; more for large records), and sits in a record batch
# whose header is 61 bytes. How many records share a batch is not visible to a consumer, so
# the batch header is counted in full for every record, as if each were its own batch: what a
# producer that sends records one at a time writes, and more than a batching (or compressing)
# producer writes. The estimate errs on the side that refuses sooner.
RECORD_OVERHEAD_BYTES = 7 + 61


@dataclass(frozen=True)
class PartitionIngest:
    topic: str
    partition: int
    records_per_sec: float
    record_bytes: float | None  # the newest records' mean size; None: none could be read

    @property
    def bytes_per_sec(self) -> float | None:
        if self.records_per_sec == 0:
            return 0.0
        return None if self.record_bytes is None else self.records_per_sec * self.record_bytes


@dataclass(frozen=True)
class Ingest:
    seconds: float  # between the two samples
    partitions: list[PartitionIngest]

    @property
    def records_per_sec(self) -> float:
        return sum(p.records_per_sec for p in self.partitions)

    def of_topic(self, topic: str) -> list[PartitionIngest]:
        return [p for p in self.partitions if p.topic == topic]


def record_size(record: Record) -> int:
    """Its key, value and headers, plus Kafka's framing (RECORD_OVERHEAD_BYTES)."""
    headers = sum(len(name.encode()) + len(value or b"") for name, value in record.headers)
    return len(record.key or b"") + len(record.value or b"") + headers + RECORD_OVERHEAD_BYTES


def measure(admin: Admin, tps: list[TP], interval: float = SAMPLE_SECONDS) -> Ingest:
    """Records a second per partition over `interval` seconds (from the high watermarks),
    and the mean size of each partition's newest records, read while the interval runs."""
    tps = sorted(set(tps))
    if not tps:
        return Ingest(0.0, [])

    def sample() -> tuple[float, dict[TP, int]]:
        began = time.monotonic()
        ends = metadata.list_offsets(admin, {tp: "latest" for tp in tps}, read_committed=False,
                                     what="sampling end offsets")
        return (began + time.monotonic()) / 2, {tp: ends[tp].offset for tp in tps}

    first_at, first = sample()
    sizes = recent_record_sizes(admin, tps)
    time.sleep(max(0.0, first_at + interval - time.monotonic()))
    second_at, second = sample()
    seconds = max(second_at - first_at, 1e-3)
    return Ingest(round(seconds, 3), [
        PartitionIngest(t, p, max(0, second[(t, p)] - first[(t, p)]) / seconds,
                        sizes.get((t, p)))
        for t, p in tps])


def recent_record_sizes(admin: Admin, tps: list[TP], count: int = RECENT_RECORDS
                        ) -> dict[TP, float]:
    """The mean record_size of up to `count` newest committed records of each partition (in
    the `count` offsets below the last stable offset); a partition without one there is left
    out. One consumer for all partitions."""
    marks = metadata.watermarks(admin, tps)  # (log-start, last stable offset)
    ranges = {tp: (max(start, end - count), end) for tp, (start, end) in marks.items()}
    totals: dict[TP, list[int]] = {}

    def add(record: Record) -> bool:
        total = totals.setdefault((record.topic, record.partition), [0, 0])
        total[0] += 1
        total[1] += record_size(record)
        return False

    scan_ranges(admin.settings, ranges, add)
    return {tp: size / n for tp, (n, size) in totals.items()}
