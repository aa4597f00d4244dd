"""The records on either side of many offsets at once: for each offset c of a partition, the
last record below c and the first record at or after c.

A checkpoint needs these for every partition (its first and last record) and for every
group's committed offset (the record it will consume next and the one it consumed last), so
the lookups are batched: one consumer reads all partitions at once and, within a partition,
walks its offsets in ascending order, reading through offsets that lie close together and
seeking over long gaps. Control records of transactions and compacted-away offsets hold no
record, so nothing here assumes that offset c - 1 holds one.
"""

import time
from collections import deque

from confluent_kafka import KafkaError, TopicPartition

from ..config import Settings
from ..errors import ClusterError
from ..partitions import TP
from .client import new_consumer
from .errors import describe
from .records import Record, last_records_before, to_record

Around = tuple[Record | None, Record | None]  # (last record below c, first record at or after c)

# Start reading a few offsets below a point, so the record before it is found even when the
# offset right below holds a transaction marker.
_LOOK_BACK = 8
# Read through gaps up to this many offsets rather than seek: a seek costs a round trip.
_READ_THROUGH = 500


class _Walk:
    """One partition's ascending points and what has been read since the last seek. The
    last message seen is kept as the client's Message and made a Record only when it answers
    a point: most messages read answer none."""

    def __init__(self, tp: TP, points: list[int], log_start: int, end: int):
        self.tp = tp
        self.pending = deque(points)
        self.log_start = log_start
        self.end = end
        self.start = self.start_for(points[0])
        self.last_seen = None  # a confluent_kafka Message below the next point, or None
        self.last_offset = -1
        self.done = False

    def start_for(self, point: int) -> int:
        return max(self.log_start, point - _LOOK_BACK)

    def resolve(self, at: Record | None, result: dict, look_further_back: dict) -> None:
        point = self.pending.popleft()
        before = to_record(self.last_seen) if self.last_seen is not None else None
        if before is None and self.start > self.log_start:
            # Nothing between the read's start and the point held a record: look below it.
            look_further_back[(self.tp, point)] = self.start
        result[(self.tp, point)] = (before, at)


def records_around(settings: Settings, points: dict[TP, set[int]],
                   bounds: dict[TP, tuple[int, int]]) -> dict[tuple[TP, int], Around]:
    """For each partition's offsets (each within its (log-start, end) bounds, end being the
    last stable offset): the last record below the offset, at or above log-start, and the
    first record at or after it, below end. None where there is no such record."""
    result: dict[tuple[TP, int], Around] = {}
    walks: dict[TP, _Walk] = {}
    for tp, offsets in points.items():
        log_start, end = bounds[tp]
        wanted = sorted(offsets)
        if wanted[0] < log_start or wanted[-1] > end:
            raise ValueError(f"offsets of {tp} outside [{log_start}, {end}]: {wanted}")
        if log_start >= end:  # empty partition: nothing on either side
            result.update({(tp, c): (None, None) for c in wanted})
            continue
        walks[tp] = _Walk(tp, wanted, log_start, end)
    look_further_back: dict[tuple[TP, int], int] = {}
    if walks:
        _walk_all(settings, walks, result, look_further_back)
    if look_further_back:
        _find_records_further_back(settings, look_further_back, bounds, result)
    return result


def _walk_all(settings: Settings, walks: dict[TP, _Walk], result: dict,
              look_further_back: dict) -> None:
    consumer = new_consumer(settings, **{"fetch.wait.max.ms": 10})
    try:
        consumer.assign([TopicPartition(*tp, w.start) for tp, w in walks.items()])
        active = set(walks)
        finished: list[_Walk] = []
        last_progress = last_position_check = time.monotonic()

        def finish(walk: _Walk) -> None:
            # Nothing more below end: no record at or after the remaining points.
            while walk.pending:
                walk.resolve(None, result, look_further_back)
            walk.done = True
            active.discard(walk.tp)
            finished.append(walk)

        while active:
            # consume(n, timeout) waits out its timeout unless n messages arrive: take what
            # is queued, and block only until the first message when nothing is.
            messages = consumer.consume(1000, timeout=0) or consumer.consume(1, timeout=0.2)
            if messages:
                last_progress = time.monotonic()
            for msg in messages:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise describe(err, settings, "reading records")
                walk = walks.get((msg.topic(), msg.partition()))
                offset = msg.offset()
                if walk is None or walk.done or offset < walk.start or offset <= walk.last_offset:
                    continue  # fetched before a seek or a finish, or already seen
                if offset >= walk.end:
                    finish(walk)
                    continue
                if walk.pending[0] <= offset:
                    record = to_record(msg)
                    while walk.pending and walk.pending[0] <= offset:
                        walk.resolve(record, result, look_further_back)
                walk.last_seen, walk.last_offset = msg, offset
                if not walk.pending:
                    walk.done = True
                    active.discard(walk.tp)
                    finished.append(walk)
                elif offset + 1 >= walk.end:
                    finish(walk)
                elif walk.start_for(walk.pending[0]) > offset + 1 + _READ_THROUGH:
                    walk.start = walk.start_for(walk.pending[0])
                    walk.last_seen, walk.last_offset = None, -1
                    consumer.seek(TopicPartition(*walk.tp, walk.start))
            # Control records are never returned: a position at the end means nothing more.
            if active and (not messages or time.monotonic() - last_position_check > 0.05):
                last_position_check = time.monotonic()
                for tp in consumer.position([TopicPartition(*tp) for tp in active]):
                    walk = walks[(tp.topic, tp.partition)]
                    if tp.offset >= walk.end and not walk.done:
                        finish(walk)
            if finished:  # stop fetching what is answered (one call: each is a round trip)
                consumer.pause([TopicPartition(*w.tp) for w in finished])
                finished.clear()
            if active and time.monotonic() - last_progress > settings.timeout:
                names = ", ".join(f"{t}[{p}]" for t, p in sorted(active)[:5])
                raise ClusterError(
                    f"reading records stalled for {settings.timeout:g} s on {names}; "
                    "check that the brokers are up (or raise --timeout)."
                )
    finally:
        consumer.close()


def _find_records_further_back(settings: Settings, look_further_back: dict[tuple[TP, int], int],
                               bounds: dict[TP, tuple[int, int]], result: dict) -> None:
    """The rare case (long runs of markers or compaction gaps below a point): one lookup per
    partition and round through last_records_before."""
    rounds: list[dict[TP, tuple[int, int]]] = []
    for (tp, point), below in sorted(look_further_back.items()):
        for batch in rounds:
            if tp not in batch:
                batch[tp] = (point, below)
                break
        else:
            rounds.append({tp: (point, below)})
    for batch in rounds:
        found = last_records_before(settings, {tp: below for tp, (_, below) in batch.items()},
                                    {tp: bounds[tp][0] for tp in batch})
        for tp, (point, _) in batch.items():
            result[(tp, point)] = (found[tp], result[(tp, point)][1])
