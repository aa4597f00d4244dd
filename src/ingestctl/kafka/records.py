"""Reading records by position: the first record at or after an offset and the last record
before one (control records of transactions occupy offsets but are never returned, so both
scan rather than assume offset ± 1 holds a record), and bounded reads for peeking."""

import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, TopicPartition

from ..config import Settings
from ..errors import ClusterError
from ..partitions import TP
from .client import new_consumer
from .errors import describe


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


def to_record(msg) -> Record:
    return Record(msg.topic(), msg.partition(), msg.offset(), msg.timestamp()[1], msg.key(),
                  msg.value(), list(msg.headers() or []))


def read_ranges(settings: Settings, ranges: dict[TP, tuple[int, int]],
                limit_per_partition: int | None = None) -> dict[TP, list[Record]]:
    """Records with start <= offset < end for each partition (read_committed), reading all
    partitions through one consumer. Stops per partition at its end offset, not on a timeout;
    the settings' timeout bounds a stall."""
    out: dict[TP, list[Record]] = {tp: [] for tp in ranges}

    def keep(record: Record) -> bool:
        kept = out[(record.topic, record.partition)]
        kept.append(record)
        return bool(limit_per_partition) and len(kept) >= limit_per_partition

    scan_ranges(settings, ranges, keep)
    return out


def scan_ranges(settings: Settings, ranges: dict[TP, tuple[int, int]],
                visit: Callable[[Record], bool]) -> None:
    """Call visit(record) for every record with start <= offset < end of each partition
    (read_committed), in offset order within a partition, reading all partitions through one
    consumer and keeping none. A partition ends at its end offset, or at the record for which
    visit returns True. Stops per partition at its end, not on a timeout; the settings'
    timeout bounds a stall."""
    wanted = {tp: r for tp, r in ranges.items() if r[0] < r[1]}
    if not wanted:
        return
    consumer = new_consumer(settings)
    try:
        consumer.assign([TopicPartition(t, p, start) for (t, p), (start, _) in wanted.items()])
        pending = set(wanted)
        last_progress = time.monotonic()
        while pending:
            # consume(n, timeout) waits out its whole timeout unless n messages arrive: take
            # what is queued, and block only until the first message when nothing is.
            msgs = consumer.consume(1000, timeout=0) or consumer.consume(1, timeout=0.2)
            done = []
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise describe(err, settings, "reading records")
                tp = (msg.topic(), msg.partition())
                if tp not in pending:
                    continue
                offset = msg.offset()
                end = wanted[tp][1]
                stop = offset < end and visit(to_record(msg))
                if stop or offset + 1 >= end:
                    pending.discard(tp)
                    done.append(TopicPartition(*tp))
            if done:  # one call: each is a round trip to the client's thread
                consumer.pause(done)
            if msgs:
                last_progress = time.monotonic()
            # Control records (transaction markers) are skipped silently: the position tells
            # us the partition has nothing more below its end.
            if pending:
                positions = consumer.position([TopicPartition(*tp) for tp in pending])
                for tp in positions:
                    if tp.offset >= 0 and tp.offset >= wanted[(tp.topic, tp.partition)][1]:
                        pending.discard((tp.topic, tp.partition))
            if pending and time.monotonic() - last_progress > settings.timeout:
                names = ", ".join(f"{t}[{p}]" for t, p in sorted(pending)[:5])
                raise ClusterError(
                    f"reading records stalled for {settings.timeout:g} s on {names}; "
                    "check that the brokers are up (or raise --timeout)."
                )
    finally:
        consumer.close()


def first_records_from(settings: Settings, starts: dict[TP, int], ends: dict[TP, int]
                       ) -> dict[TP, Record | None]:
    """The first record at or after each start offset, below the partition's end."""
    ranges = {tp: (start, ends[tp]) for tp, start in starts.items()}
    read = read_ranges(settings, ranges, limit_per_partition=1)
    return {tp: (records[0] if records else None) for tp, records in read.items()}


def last_records_before(settings: Settings, befores: dict[TP, int], log_starts: dict[TP, int]
                        ) -> dict[TP, Record | None]:
    """The last record below each offset, at or above log-start. Widens the look-back window
    only for partitions where control records hid every record in it."""
    result: dict[TP, Record | None] = {}
    span = 1
    pending = {tp: b for tp, b in befores.items() if b > log_starts[tp]}
    result.update({tp: None for tp in befores if tp not in pending})
    while pending:
        ranges = {tp: (max(log_starts[tp], b - span), b) for tp, b in pending.items()}
        read = read_ranges(settings, ranges)
        next_pending = {}
        for tp, records in read.items():
            if records:
                result[tp] = records[-1]
            elif ranges[tp][0] <= log_starts[tp] or span >= 4096:
                result[tp] = None
            else:
                next_pending[tp] = pending[tp]
        pending = next_pending
        span *= 8
    return result


def scan_committed(settings: Settings, topic: str, ranges: dict[int, tuple[int, int]],
                   visit: Callable[[list | None, int], None], *,
                   patience: float | None = None,
                   on_wait: Callable[[str], None] | None = None) -> int:
    """Call visit(headers, timestamp) for every committed record of `topic` with
    start <= offset < end in each partition, without keeping them (a replay's resume reads
    back what it wrote). A transaction left open below an end holds the read at it until the
    broker decides it: `patience` bounds that wait (default: the settings' timeout), and
    on_wait hears once when it lasts. Returns the number of records read."""
    wanted = {p: r for p, r in ranges.items() if r[0] < r[1]}
    if not wanted:
        return 0
    patience = settings.timeout if patience is None else patience
    consumer = new_consumer(settings, **{"queued.max.messages.kbytes": 8_192,
                                         "fetch.queue.backoff.ms": 50})
    seen = 0
    try:
        consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in wanted.items()])
        pending = set(wanted)
        last_progress = time.monotonic()
        warned = False
        while pending:
            msgs = consumer.consume(1000, 0) or consumer.consume(1, 0.2)
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    raise describe(err, settings, f"reading {topic}")
                p = msg.partition()
                if p in pending and msg.offset() < wanted[p][1]:
                    visit(msg.headers(), msg.timestamp()[1])
                    seen += 1
            if msgs:
                last_progress = time.monotonic()
            # Positions, not records, end a partition: markers occupy the last offsets.
            for tp in consumer.position([TopicPartition(topic, p) for p in pending]):
                if tp.offset >= wanted[tp.partition][1]:
                    pending.discard(tp.partition)
                    consumer.pause([TopicPartition(topic, tp.partition)])
                    last_progress = time.monotonic()
            stalled = time.monotonic() - last_progress
            if pending and not warned and stalled > 2 and on_wait is not None:
                on_wait(f"waiting for an open transaction in {topic} to end before reading "
                        "on (a killed writer's; the broker aborts it after its "
                        "transaction.timeout.ms)")
                warned = True
            if pending and stalled > patience:
                raise ClusterError(
                    f"reading {topic} stalled for {patience:g} s at partition "
                    f"{min(pending)}; check the target cluster (or raise --timeout).")
    finally:
        consumer.close()
    return seen


class RangeReader:
    """The raw messages of offset ranges of one topic, batch by batch, for a caller that
    reads more records than fit in memory and counts them itself (`topics audit`).

    Each partition is assigned at its start offset (read_committed). The caller says which
    partitions it finished (it met a message at or past the end: messages past a partition's
    end may still be delivered, and the caller drops them); those are paused. A partition
    whose position passed its end finishes by itself, since control records of transactions
    are never delivered. Errors raise the translated IngestError; a read that makes no
    progress for the settings' timeout raises ClusterError. `overrides` are consumer
    properties (fetch tuning)."""

    _POSITION_CHECK_SECONDS = 0.5

    def __init__(self, settings: Settings, topic: str, ranges: dict[int, tuple[int, int]],
                 **overrides):
        self.settings = settings
        self.topic = topic
        self.ends = {p: end for p, (start, end) in ranges.items() if start < end}
        self.pending = set(self.ends)
        self._consumer = None
        if self.pending:
            self._consumer = new_consumer(settings, **overrides)
            self._consumer.assign([TopicPartition(topic, p, ranges[p][0])
                                   for p in sorted(self.pending)])
        self._last_progress = self._last_check = time.monotonic()

    def __enter__(self) -> "RangeReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def batch(self, size: int = 1000) -> list:
        """Up to `size` messages (confluent_kafka Messages without errors), fewer when no
        more arrived within 0.1 s."""
        if not self.pending:
            return []
        # Full batches: the caller's cost is per batch as much as per message, and a consumer
        # that outpaces the fetcher loses nothing by waiting for one.
        msgs = self._consumer.consume(size, timeout=0.1)
        now = time.monotonic()
        if msgs:
            self._last_progress = now
            if any(map(Message.error, msgs)):  # in C: this runs for every message
                msgs = self._without_errors(msgs)
        if not msgs or now - self._last_check >= self._POSITION_CHECK_SECONDS:
            self._last_check = now
            positions = self._consumer.position(
                [TopicPartition(self.topic, p) for p in sorted(self.pending)])
            self.finish([tp.partition for tp in positions
                         if tp.offset >= 0 and tp.offset >= self.ends[tp.partition]])
        if self.pending and now - self._last_progress > self.settings.timeout:
            names = ", ".join(f"{self.topic}[{p}]" for p in sorted(self.pending)[:5])
            raise ClusterError(
                f"reading records stalled for {self.settings.timeout:g} s on {names}; "
                "check that the brokers are up (or raise --timeout)."
            )
        return msgs

    def _without_errors(self, msgs: list) -> list:
        kept = []
        for msg in msgs:
            err = msg.error()
            if err is None:
                kept.append(msg)
            elif err.code() != KafkaError._PARTITION_EOF:
                raise describe(err, self.settings, f"reading {self.topic}")
        return kept

    def finish(self, partitions) -> None:
        """Stop reading these partitions (each reached its end)."""
        done = sorted(p for p in set(partitions) if p in self.pending)
        if done:
            self.pending.difference_update(done)
            self._consumer.pause([TopicPartition(self.topic, p) for p in done])

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
