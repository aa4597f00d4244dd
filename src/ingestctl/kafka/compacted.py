"""Reading a compacted topic (the replay's progress topic): the latest value of every key."""

import time
from collections.abc import Callable

from confluent_kafka import KafkaException, TopicPartition

from ..config import Settings
from ..errors import ClusterError
from .client import Admin, ClientErrors, new_consumer
from .copier import TRANSACTION_TIMEOUT_MS
from .errors import describe
from .metadata import list_offsets


def read_compacted(settings: Settings, topic: str, partition: int = 0, *,
                   settle: bool = False,
                   on_wait: Callable[[str], None] | None = None) -> dict[bytes, bytes | None]:
    """The latest value of every key in one partition of a compacted topic (read_committed).

    With settle=False it reads what is decided now (up to the last stable offset). With
    settle=True it reads up to the high watermark taken now, waiting for transactions open
    below it to be committed or aborted: every transaction committed before this call is
    then seen, even when another writer's open transaction started earlier."""
    admin = Admin(settings)
    tp = (topic, partition)
    low = list_offsets(admin, {tp: "earliest"})[tp].offset
    end = list_offsets(admin, {tp: "latest"}, read_committed=not settle)[tp].offset
    if end <= low:
        return {}
    out: dict[bytes, bytes | None] = {}
    errors = ClientErrors()
    consumer = new_consumer(settings, errors)
    try:
        consumer.assign([TopicPartition(topic, partition, low)])
        patience = settings.timeout + (TRANSACTION_TIMEOUT_MS / 1000 if settle else 0)
        last_progress = time.monotonic()
        warned = False
        position = low
        while position < end:
            msgs = consumer.consume(1000, 0) or consumer.consume(1, 0.2)
            for msg in msgs:
                if msg.error() is not None:
                    raise describe(KafkaException(msg.error()), settings, f"reading {topic}",
                                   errors)
                if msg.offset() < end:
                    out[msg.key()] = msg.value()
            now_at = consumer.position([TopicPartition(topic, partition)])[0].offset
            if now_at > position:
                position, last_progress = now_at, time.monotonic()
                continue
            stalled = time.monotonic() - last_progress
            if settle and not warned and stalled > 2 and on_wait is not None:
                on_wait(f"waiting for an open transaction in {topic} to end (a replay that was "
                        f"killed; the broker aborts it within {TRANSACTION_TIMEOUT_MS // 1000} "
                        "s)")
                warned = True
            if stalled > patience:
                raise ClusterError(
                    f"reading {topic} stalled for {patience:g} s at offset {position} of "
                    f"{end}; check the target cluster (or raise --timeout)."
                )
    finally:
        consumer.close()
    return out

