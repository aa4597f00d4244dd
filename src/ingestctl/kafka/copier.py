"""The replay's copy loop: a batched read_committed reader feeding a transactional or
idempotent writer, and nothing else.

The loop follows what is fast in confluent-kafka: consume(N) batches from partitions
assigned at explicit offsets, no per-message Python callback (librdkafka reports failed
deliveries only), headers and timestamps passed through untouched, poll(0) once per batch,
and each partition stops at its planned end offset, not on a timeout."""

import sys
import time

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from ..config import Settings
from ..errors import ClusterError, FencedError, IncompleteError, TransactionExpiredError
from ..replay.provenance import INVALID_HEADERS, PROVENANCE_HEADERS, InvalidPolicy
from .client import ClientErrors, new_consumer, new_producer
from .errors import describe

# The broker aborts a transaction left open by a killed run after this long; a resumed run
# of the same replay shard aborts it at once (init_transactions).
TRANSACTION_TIMEOUT_MS = 60_000


MAX_BATCH = 5000


_FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}


def _utf8_size(known: dict[str, int], name: str) -> int:
    size = len(name.encode())
    if len(known) < 10_000:  # a topic with endless distinct names costs the encode only
        known[name] = size
    return size


class Copier:
    """Copies records of a bounded window from a source topic to a target topic.

    Call init_transactions() first (it fences any older run using the same transactional
    id and aborts its open transaction), then read the progress, then assign(), then
    alternate copy_batch() and commit(). Counters live in the `states` objects handed to
    assign() (attributes partition, end, next, records, bytes, filtered, invalid), updated
    after every batch.
    """

    def __init__(self, source: Settings, target: Settings, *, target_topic: str,
                 progress_topic: str, transactional_id: str | None, by_key: bool,
                 max_message_bytes: int, invalid: InvalidPolicy | None = None):
        self._source = source
        self._invalid_policy = invalid
        # (partition, offset, sentence) of the invalid record that stopped the copy (fail)
        self.invalid_stop: tuple[int, int, str] | None = None
        self._target = target
        self._target_topic = target_topic
        self._progress_topic = progress_topic
        self._transactional = transactional_id is not None
        self._by_key = by_key
        self._errors = ClientErrors()
        self._failed: list[tuple[KafkaError, int]] = []
        conf = {
            "enable.idempotence": True,
            "acks": "all",
            # Fewer, larger produce requests: against 10 ms and 256 KB, a fifth less CPU in
            # the broker and in librdkafka's threads per record (bench/replay.py, issue 19),
            # which share the two cores with the copy loop. Peak RSS 125 MB (was 115).
            "linger.ms": 50,
            "batch.num.messages": 10_000,
            "batch.size": 1_000_000,
            # Bounded queues keep memory flat whatever the window.
            "queue.buffering.max.messages": 100_000,
            "queue.buffering.max.kbytes": 32_768,
            "message.max.bytes": max_message_bytes,
            # Only failures reach Python: no per-message callback on the hot path.
            "delivery.report.only.error": True,
            "on_delivery": self._delivery_failed,
            # Used by --partitioning key: the Java client's hash for keys, random for nulls.
            "partitioner": "murmur2_random",
            # A fresh client waits half of this before its first metadata request (the
            # warm-up in init_transactions): 50 ms at the default 100, 5 ms here. Reconnects
            # after a failure still back off exponentially, up to reconnect.backoff.max.ms.
            "reconnect.backoff.ms": 10,
        }
        if transactional_id is not None:
            conf["transactional.id"] = transactional_id
            # -X transaction.timeout.ms wins: a broker's transaction.max.timeout.ms may be
            # lower, and a short one makes the broker abort a stalled run's transaction sooner.
            conf["transaction.timeout.ms"] = int(target.kafka.get("transaction.timeout.ms",
                                                                  TRANSACTION_TIMEOUT_MS))
        self._transaction_timeout = int(conf.get("transaction.timeout.ms",
                                                 TRANSACTION_TIMEOUT_MS)) / 1000
        self._committed_at = time.monotonic()  # of the last commit (or the start)
        self._producer = new_producer(target, self._errors, **conf)
        self._consumer = None
        self._states: dict[int, object] = {}
        self._pending: set[int] = set()
        self._leftover: list = []  # consumed, not yet written (the batch reached max_bytes)
        self._name_sizes: dict[str, int] = {}  # header name -> its size in UTF-8

    # -- setup ------------------------------------------------------------------------------

    def init_transactions(self) -> None:
        if not self._transactional:
            return
        try:
            # Learn the brokers first: otherwise librdkafka asks the bootstrap connection for
            # the coordinator, drops that connection, and asks again 500 ms later. (A request
            # for one topic's metadata does not always avoid it; a full one does.)
            self._producer.list_topics(timeout=self._target.timeout)
            self._producer.init_transactions(self._target.timeout)
        except KafkaException as exc:
            raise describe(exc, self._target, "starting the transactional producer",
                           self._errors) from None

    def assign(self, source_topic: str, replay_id: str, states: list, selection,
               dedupe: tuple[str, object] | None = None) -> None:
        """Start reading each unfinished partition at its next offset. `selection` has
        accepts(key, headers) (or filters == False) and drop_headers. `dedupe` is
        (header name, seen keys with admit(key, timestamp) -> write it?), or None."""
        self._states = {s.partition: s for s in states}
        size = max(self._states, default=-1) + 1
        self._end = [0] * size
        self._next = [0] * size
        self._records = [0] * size
        self._bytes = [0] * size
        self._filtered = [0] * size
        self._invalid = [0] * size
        self._duplicates = [0] * size
        self._missing_key = [0] * size
        self._provenance: list[list[tuple[str, bytes]]] = [[] for _ in range(size)]
        self._provenance_size = [0] * size
        for p, s in self._states.items():
            self._end[p], self._next[p] = s.end, s.next
            self._records[p], self._bytes[p], self._filtered[p] = s.records, s.bytes, s.filtered
            self._invalid[p] = s.invalid
            self._duplicates[p], self._missing_key[p] = s.duplicates, s.missing_key
            headers = [(PROVENANCE_HEADERS[0], replay_id.encode()),
                       (PROVENANCE_HEADERS[1], source_topic.encode()),
                       (PROVENANCE_HEADERS[2], str(p).encode())]
            self._provenance[p] = headers
            self._provenance_size[p] = sum(len(n) + len(v) for n, v in headers) + len(
                PROVENANCE_HEADERS[3])
        self._accepts = selection.accepts if selection.filters else None
        self._drop = selection.drop_headers
        self._plain = (self._accepts is None and not self._drop and dedupe is None
                       and self._invalid_policy is None)
        self._dedupe_header, seen = dedupe if dedupe is not None else (None, None)
        self._admit = seen.admit if seen is not None else None
        self._source_topic = source_topic
        self._pending = {p for p, s in self._states.items() if s.next < s.end}
        if not self._pending:
            return
        self._consumer = new_consumer(
            self._source, self._errors,
            # Once the prefetch queue is full librdkafka pauses fetching for
            # fetch.queue.backoff.ms, 1 s by default, while the copy drains the queue in a
            # fraction of that and then waits (librdkafka#2879): 50 ms gives ~1.4x the
            # throughput here. With it, 8 MB of prefetch copies as fast as 32 MB and keeps
            # peak RSS near 120 MB (32 MB: ~155 MB) whatever the window.
            **{"queued.max.messages.kbytes": 8_192, "fetch.wait.max.ms": 100,
               "fetch.queue.backoff.ms": 50},
        )
        self._consumer.assign([TopicPartition(source_topic, p, self._next[p])
                               for p in sorted(self._pending)])

    @property
    def done(self) -> bool:
        return not self._pending or self.invalid_stop is not None

    # -- the hot path -----------------------------------------------------------------------

    def copy_batch(self, max_records: int, max_bytes: int | None = None) -> tuple[int, int]:
        """Read up to max_records records, write the selected ones, stopping after the one
        that reaches max_bytes (the rest wait for the next call); (records, bytes) written.
        Bytes are key + value + headers as written (provenance headers included)."""
        if not self._pending:
            return 0, 0
        msgs = self._leftover
        if msgs:
            self._leftover = []
        else:
            # consume(n, timeout) waits out its whole timeout unless n messages arrive: take
            # what is queued, and block only until the first message when nothing is.
            msgs = self._consumer.consume(max_records, 0) or self._consumer.consume(1, 0.1)
        if max_bytes is None and self._plain:
            written, written_bytes = self._copy_plain(msgs)
            self._settle(at_tail=len(msgs) < max_records)
            return written, written_bytes
        limit = max_bytes or sys.maxsize
        produce = self._producer.produce
        poll = self._producer.poll
        topic = self._target_topic
        ends, nexts = self._end, self._next
        records, sizes, filtered = self._records, self._bytes, self._filtered
        provenance, provenance_size = self._provenance, self._provenance_size
        accepts, drop, by_key = self._accepts, self._drop, self._by_key
        policy = self._invalid_policy
        check = policy.problem if policy is not None else None
        invalid = self._invalid
        # Validation and dedupe sit behind one test, so a plain copy pays nothing for them.
        admit = self._admit
        gated = check is not None or admit is not None
        dedupe_header = self._dedupe_header
        duplicates, missing_key = self._duplicates, self._missing_key
        offset_header = PROVENANCE_HEADERS[3]
        name_sizes = self._name_sizes
        written = written_bytes = 0
        p = offset = -1
        try:
            for index, msg in enumerate(msgs):
                if msg.error() is not None:
                    raise self._read_error(msg.error())
                p = msg.partition()
                offset = msg.offset()
                if offset >= ends[p]:
                    continue
                nexts[p] = offset + 1
                key = msg.key()
                headers = msg.headers()
                if accepts is not None and not accepts(key, headers):
                    filtered[p] += 1
                    continue
                value = msg.value()
                offset_text = b"%d" % offset
                if gated:
                    if check is not None:
                        problem = check(value)
                        if problem is not None:
                            if policy.on_invalid == "fail":
                                nexts[p] = offset  # stop before it: a re-run starts there
                                self.invalid_stop = (p, offset, problem.message)
                                break
                            invalid[p] += 1
                            if policy.dead_letter_topic is not None:
                                written += 1
                                written_bytes += self._dead_letter(msg, offset_text, problem)
                            continue
                    if admit is not None:
                        dedupe_key = None
                        for name, header_value in headers or ():
                            if name == dedupe_header:
                                dedupe_key = header_value
                                break
                        if dedupe_key is None:
                            missing_key[p] += 1
                        elif not admit(dedupe_key, msg.timestamp()[1]):
                            duplicates[p] += 1
                            continue
                size = provenance_size[p] + len(offset_text)
                if key is not None:
                    size += len(key)
                if value is not None:
                    size += len(value)
                if headers:
                    if drop:
                        headers = [h for h in headers if h[0] not in drop]
                    for name, header_value in headers:
                        # Names arrive decoded: their UTF-8 sizes are looked up, not
                        # encoded again for every record.
                        size += name_sizes.get(name) or _utf8_size(name_sizes, name)
                        if header_value is not None:
                            size += len(header_value)
                    # One new list (the message's own may be cached by the client).
                    headers = [*headers, *provenance[p], (offset_header, offset_text)]
                else:
                    headers = [*provenance[p], (offset_header, offset_text)]
                timestamp_type, timestamp = msg.timestamp()
                # Positional (topic, value, key, partition, callback, on_delivery, timestamp,
                # headers): keyword parsing costs ~0.8 µs a record.
                try:
                    produce(topic, value, key, -1 if by_key else p, None, None,
                            timestamp if timestamp_type else 0, headers)
                except BufferError:  # librdkafka's queue is full: let it drain
                    self._produce_when_queued(topic, value, key, -1 if by_key else p, None,
                                              None, timestamp if timestamp_type else 0, headers)
                records[p] += 1
                sizes[p] += size
                written += 1
                written_bytes += size
                if written_bytes >= limit:
                    self._leftover = msgs[index + 1:]
                    break
            poll(0)
        except KafkaException as exc:
            raise self._write_error(exc, p, offset) from None
        self._settle(at_tail=not self._leftover and len(msgs) < max_records
                     and self.invalid_stop is None)
        return written, written_bytes

    def _copy_plain(self, msgs: list) -> tuple[int, int]:
        """copy_batch's loop for a copy with no filter, validation, dedupe, dropped header or
        byte quota: the same writes and counters with a third fewer steps per record (~0.2 µs
        of ~4 µs in bench/replay.py)."""
        produce, poll = self._producer.produce, self._producer.poll
        topic, by_key = self._target_topic, self._by_key
        ends, nexts, records, sizes = self._end, self._next, self._records, self._bytes
        provenance, provenance_size = self._provenance, self._provenance_size
        offset_header = PROVENANCE_HEADERS[3]
        name_sizes = self._name_sizes
        records_before = sum(records)
        written_bytes = 0
        p = offset = -1
        try:
            for msg in msgs:
                if msg.error() is not None:
                    raise self._read_error(msg.error())
                p = msg.partition()
                offset = msg.offset()
                if offset >= ends[p]:
                    continue
                key, value, headers = msg.key(), msg.value(), msg.headers()
                offset_text = b"%d" % offset
                size = provenance_size[p] + len(offset_text) + len(key or b"") + len(value or b"")
                if headers:
                    for name, header_value in headers:
                        size += name_sizes.get(name) or _utf8_size(name_sizes, name)
                        if header_value is not None:
                            size += len(header_value)
                    headers = [*headers, *provenance[p], (offset_header, offset_text)]
                else:
                    headers = [*provenance[p], (offset_header, offset_text)]
                timestamp_type, timestamp = msg.timestamp()
                try:
                    produce(topic, value, key, -1 if by_key else p, None, None,
                            timestamp if timestamp_type else 0, headers)
                except BufferError:
                    self._produce_when_queued(topic, value, key, -1 if by_key else p, None,
                                              None, timestamp if timestamp_type else 0, headers)
                nexts[p] = offset + 1
                records[p] += 1
                sizes[p] += size
                written_bytes += size
            poll(0)
        except KafkaException as exc:
            raise self._write_error(exc, p, offset) from None
        return sum(records) - records_before, written_bytes

    def _produce_when_queued(self, *args) -> None:
        while True:
            self._producer.poll(0.001)
            try:
                self._producer.produce(*args)
                return
            except BufferError:
                pass

    def _dead_letter(self, msg, offset_text: bytes, problem) -> int:
        """Write an invalid record as it was read (all its headers) to the dead-letter topic,
        in the open transaction, with the provenance and INVALID_HEADERS; its size. Keys
        choose the partition, as the Java client's partitioner would."""
        key, value = msg.key(), msg.value()
        headers = list(msg.headers() or []) + self._provenance[msg.partition()] + [
            (PROVENANCE_HEADERS[3], offset_text),
            (INVALID_HEADERS[0], problem.reason.encode()),
            (INVALID_HEADERS[1], problem.message.encode())]
        timestamp_type, timestamp = msg.timestamp()
        while True:
            try:
                self._producer.produce(self._invalid_policy.dead_letter_topic, value, key,
                                       timestamp=timestamp if timestamp_type else 0,
                                       headers=headers)
                break
            except BufferError:
                self._producer.poll(0.05)
        return len(key or b"") + len(value or b"") + sum(
            len(name.encode()) + len(v or b"") for name, v in headers)

    def _settle(self, at_tail: bool) -> None:
        """Finish partitions that reached their end, and copy counters to the states. At
        the tail, the consumer's position also finishes a partition whose last offsets are
        transaction markers (they occupy offsets but are never delivered)."""
        finished = [p for p in self._pending if self._next[p] >= self._end[p]]
        if at_tail and self._pending:
            for tp in self._consumer.position(
                    [TopicPartition(self._source_topic, p) for p in self._pending]):
                p = tp.partition
                if tp.offset >= self._end[p] and p not in finished:
                    self._next[p] = self._end[p]
                    finished.append(p)
        if finished:
            self._pending.difference_update(finished)
            self._consumer.pause([TopicPartition(self._source_topic, p) for p in finished])
        for p, state in self._states.items():
            state.next = min(self._next[p], self._end[p])
            state.records, state.bytes, state.filtered = (
                self._records[p], self._bytes[p], self._filtered[p])
            state.invalid = self._invalid[p]
            state.duplicates, state.missing_key = self._duplicates[p], self._missing_key[p]

    # -- transactions -----------------------------------------------------------------------

    def begin(self) -> None:
        if self._transactional:
            try:
                self._producer.begin_transaction()
            except KafkaException as exc:
                raise self._write_error(exc) from None

    def commit(self, progress: list[tuple[bytes, bytes]]) -> None:
        """Make the records written since begin() and these progress records durable
        together: one transaction, or (at-least-once) the records first, then the progress."""
        try:
            if not self._transactional:
                self._flush()
            for key, value in progress:
                while True:
                    try:
                        self._producer.produce(self._progress_topic, value, key, 0)
                        break
                    except BufferError:
                        self._producer.poll(0.05)
            if self._transactional:
                self._commit_transaction()
            else:
                self._flush()
        except KafkaException as exc:
            raise self._write_error(exc) from None
        if self._failed:
            raise self._write_error(None)

    def _commit_transaction(self) -> None:
        deadline = time.monotonic() + self._target.timeout
        while True:
            try:
                self._producer.commit_transaction(max(1.0, deadline - time.monotonic()))
                self._committed_at = time.monotonic()
                return
            except KafkaException as exc:
                err = exc.args[0]
                if self._fenced(err) or not err.retriable() or time.monotonic() > deadline:
                    raise

    def _flush(self) -> None:
        if self._producer.flush(self._target.timeout) > 0:
            raise ClusterError(
                f"writing to {self._target_topic} did not finish within "
                f"{self._target.timeout:g} s; check the target cluster (or raise --timeout)."
            )

    def abort(self) -> None:
        """Abort the open transaction, if any; best effort (a fenced producer cannot)."""
        if self._transactional:
            try:
                self._producer.abort_transaction(self._target.timeout)
            except KafkaException:
                pass

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    # -- errors -----------------------------------------------------------------------------

    def _delivery_failed(self, err: KafkaError, msg) -> None:
        if err is not None:
            self._failed.append((err, msg.partition()))

    def _fenced(self, err: KafkaError) -> bool:
        if err.code() in _FENCED:
            return True
        # After a fatal error, produce() reports only "Erroneous state" (_STATE).
        if err.code() not in (KafkaError._FATAL, KafkaError._STATE):
            return False
        # "Local: Fatal error" hides its cause: poll() raises it or reports it (error_cb,
        # or the delivery reports of the records the broker refused).
        try:
            self._producer.poll(0)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() in _FENCED:
                return True
        return any(e.code() in _FENCED for e in self._errors.errors) or any(
            e.code() in _FENCED for e, _ in self._failed)

    def _write_error(self, exc: KafkaException | None, partition: int = -1, offset: int = -1):
        """The IngestError for a failed write; exc is None when only a delivery failed."""
        err = exc.args[0] if exc is not None and exc.args else None
        fenced = isinstance(err, KafkaError) and self._fenced(err)
        timed_out = any(e.code() == KafkaError._MSG_TIMED_OUT for e, _ in self._failed)
        stalled = time.monotonic() - self._committed_at
        if (fenced or timed_out) and self._transactional and stalled > self._transaction_timeout:
            # The broker aborted our expired transaction (and fenced the producer), and
            # the records queued before the stall outlived message.timeout.ms (capped at
            # transaction.timeout.ms): not another run. A re-run resumes.
            return TransactionExpiredError(
                f"this run stalled for {stalled:.0f} s without committing, longer than "
                f"transaction.timeout.ms ({self._transaction_timeout * 1000:.0f} ms), so "
                "the broker aborted its open transaction; what was committed before stays "
                "copied: run the same command again to resume.")
        if fenced:
            return FencedError("another run of this replay shard started and fenced this one.")
        if self._failed:
            failed, target_partition = self._failed[0]
            if failed.code() == KafkaError._MSG_TIMED_OUT:
                # The target was unreachable for longer than the records may wait (a broker
                # restart, an outage): nothing is lost, and a re-run resumes.
                return IncompleteError(
                    f"writing to {self._target_topic} (partition {target_partition}) timed "
                    "out: the target cluster did not take the records in time; nothing after "
                    "the last committed progress counts as copied: run the same command again "
                    "to resume once the cluster is up."
                )
            return ClusterError(
                f"writing to {self._target_topic} (partition {target_partition}) failed: "
                f"{failed.str()}; nothing after the last committed progress counts as copied, "
                "so fix the cause and re-run the same command to resume."
            )
        if isinstance(err, KafkaError) and err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            return ClusterError(
                f"the record at {self._source_topic} partition {partition} offset {offset} is "
                f"larger than {self._target_topic} accepts once the provenance headers are "
                "added; raise the target's max.message.bytes and re-run to resume."
            )
        return describe(exc, self._target, f"writing to {self._target_topic}", self._errors)

    def _read_error(self, err: KafkaError):
        if err.code() in (KafkaError.OFFSET_OUT_OF_RANGE, KafkaError._AUTO_OFFSET_RESET):
            return ClusterError(
                f"reading {self._source_topic} failed: records of the window were deleted by "
                "retention before they were copied; what was committed is in the target."
            )
        return describe(KafkaException(err), self._source, f"reading {self._source_topic}",
                        self._errors)

