"""Checkpoint capture at scale: 1,000 partitions (10 topics x 100) and 20 consumer groups,
each with a committed offset on every partition. Goal: under 1 s of client time.

A benchmark, not a test: prints the median of a few captures (wall time, and the CPU time of
this process). Uses INGESTCTL_BENCH_BOOTSTRAP when set, else starts its own sandbox broker.

    .venv/bin/python bench/checkpoint.py
"""

import os
import random
import statistics
import tempfile
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ingestctl import checkpoints, sandbox
from ingestctl.config import Settings

TOPICS, PARTITIONS, GROUPS, RECORDS_PER_PARTITION, RUNS = 10, 100, 20, 200, 5


def prepare(bootstrap: str) -> tuple[list[str], list[str]]:
    prefix = f"bench-cp-{uuid.uuid4().hex[:6]}"
    topics = [f"{prefix}-{i}" for i in range(TOPICS)]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics(
            [NewTopic(t, num_partitions=PARTITIONS, replication_factor=1) for t in topics]
    ).values():
        future.result(60)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "queue.buffering.max.messages": 1_000_000})
    now = int(time.time() * 1000) - 3_600_000
    for topic in topics:
        for p in range(PARTITIONS):
            for i in range(RECORDS_PER_PARTITION):
                producer.produce(topic, value=b"\x00\x00\x00\x00\x07" + b"x" * 95,
                                 key=f"k{i}".encode(), partition=p, timestamp=now + i * 10)
            producer.poll(0)
    producer.flush(60)
    rng = random.Random(7)
    groups = [f"{prefix}-group-{g}" for g in range(GROUPS)]
    for group in groups:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                             "enable.auto.commit": False})
        # Most groups near the end (a healthy pipeline), some far behind.
        consumer.commit(offsets=[
            TopicPartition(t, p, RECORDS_PER_PARTITION - rng.choice(
                [0, 0, 1, 2, 5, 20, rng.randrange(RECORDS_PER_PARTITION)]))
            for t in topics for p in range(PARTITIONS)], asynchronous=False)
        consumer.close()
    return topics, groups


def measure(bootstrap: str) -> None:
    topics, groups = prepare(bootstrap)
    settings = Settings(bootstrap_servers=bootstrap, timeout=30)
    walls, cpus = [], []
    for _ in range(RUNS):
        wall, cpu = time.perf_counter(), time.process_time()
        cp = checkpoints.capture(settings, "bench", topics, groups)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    partitions = sum(len(t.partitions) for t in cp.topics.values())
    offsets = sum(len(cp.group_offsets(g)) for g in cp.groups)
    text = checkpoints.dumps(cp)
    began = time.perf_counter()
    checkpoints.loads(text)
    load = time.perf_counter() - began
    print(f"capture of {partitions} partitions and {len(cp.groups)} groups "
          f"({offsets} committed offsets), {RUNS} runs:")
    print(f"  wall time  median {statistics.median(walls):.2f} s  (min {min(walls):.2f}, "
          f"max {max(walls):.2f})  goal < 1 s")
    print(f"  CPU time   median {statistics.median(cpus):.2f} s")
    print(f"  file: {len(text) / 1e6:.1f} MB, load + verify checksum {load:.2f} s")


def main() -> None:
    bootstrap = os.environ.get("INGESTCTL_BENCH_BOOTSTRAP")
    if bootstrap:
        measure(bootstrap)
        return
    with tempfile.TemporaryDirectory() as tmp:
        status = sandbox.start(data_dir=tmp, port=sandbox.free_port())
        try:
            measure(status.bootstrap)
        finally:
            sandbox.stop(tmp)


if __name__ == "__main__":
    main()
