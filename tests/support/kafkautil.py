"""Direct confluent-kafka helpers for setting up test data on the real broker."""

import threading

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from .waiting import wait_for


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None):
    """A test topic that keeps its records: many tests write fixed timestamps from the past,
    and the broker's retention check (every 10 s in the sandbox) would delete those under
    the default retention.ms, moving log-start mid-test. Tests of retention use DeleteRecords
    or set retention.ms themselves."""
    client = admin(bootstrap)  # must outlive its futures
    config = {"retention.ms": "-1", **(config or {})}
    futures = client.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config)]
    )
    futures[name].result(timeout=30)


def produce(bootstrap: str, topic: str, records, **conf):
    """records: iterable of dicts with partition, key, value, timestamp (ms), headers."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})
    for r in records:
        producer.produce(
            topic, key=r.get("key"), value=r.get("value"), partition=r.get("partition", 0),
            timestamp=r.get("timestamp", 0), headers=r.get("headers"),
        )
    assert producer.flush(30) == 0


def commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()],
                    asynchronous=False)
    consumer.close()


def committed(bootstrap: str, group: str, topic: str, partitions) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    result = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=20)
    consumer.close()
    return {tp.partition: tp.offset for tp in result}


def read_all(bootstrap: str, topic: str, partitions, isolation: str = "read_committed"):
    """Every record of the given partitions up to their current end, in order."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-reader",
                         "enable.auto.commit": False, "isolation.level": isolation})
    ends = {}
    for p in partitions:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=20)
        ends[p] = high
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    out, done = [], {p for p, e in ends.items() if e == 0}
    position = {p: 0 for p in partitions}

    def read_more() -> bool:
        for msg in consumer.consume(1000, timeout=1):
            if msg.error():
                continue
            out.append(msg)
            position[msg.partition()] = msg.offset() + 1
        for p, end in ends.items():
            if p not in done:
                pos = consumer.position([TopicPartition(topic, p)])[0].offset
                if position[p] >= end or pos >= end:
                    done.add(p)
        return len(done) == len(ends)

    if len(done) < len(ends):
        wait_for(f"reading {topic} to {ends}", read_more, timeout=120, interval=0)
    consumer.close()
    return out

class SteadyProducer:
    """Writes `rate` records a second, round robin over the topic's partitions, until
    stopped."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, rate: float = 20):
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self.topic, self.partitions, self.rate = topic, partitions, rate
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        n = 0
        while not self.stopped.wait(1 / self.rate):
            self.producer.produce(self.topic, value=f"steady-{n}".encode(),
                                  partition=n % self.partitions)
            self.producer.poll(0)
            n += 1
        self.producer.flush(10)

    def stop(self):
        self.stopped.set()
        self.thread.join(15)
