"""Real consumers for the rollback and reset tests: a live group member, and a consumer that
reports where a group really starts reading."""

from contextlib import contextmanager

from confluent_kafka import Consumer

from .waiting import wait_for


@contextmanager
def member(bootstrap: str, group: str, topic: str, client_id: str = "sink-worker-1"):
    """A consumer that has joined the group and holds an assignment (the group is Stable)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "client.id": client_id, "enable.auto.commit": False,
                         "auto.offset.reset": "latest"})
    consumer.subscribe([topic])

    def joined():
        consumer.poll(0.2)  # joining happens inside poll
        return consumer.assignment()

    wait_for("the consumer to join the group", joined, timeout=30, interval=0)
    try:
        yield consumer
    finally:
        consumer.close()


def first_records(bootstrap: str, group: str, topic: str, partitions) -> dict[int, tuple]:
    """Join the group as a fresh consumer and return, per partition, the (offset, key) of the
    first record it is given: where the group's committed offsets make it start. Without a
    committed offset it fails (auto.offset.reset=error) rather than guess."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "error"})
    consumer.subscribe([topic])
    first: dict[int, tuple] = {}

    def one_more() -> bool:
        msg = consumer.poll(0.5)
        if msg is not None:
            assert msg.error() is None, msg.error()
            first.setdefault(msg.partition(), (msg.offset(), msg.key()))
        return len(first) >= len(partitions)

    try:
        wait_for(f"a first record on each of partitions {list(partitions)}", one_more,
                 interval=0)
    finally:
        consumer.close()
    return first
