"""Inspection speed at scale: `topics describe`, `groups list` and `groups describe` on a topic
of 1,000 partitions consumed by 20 groups.

A benchmark, not a test: prints medians of the client time, both of the domain call (what the
command spends talking to Kafka) and of the whole `ingestctl` process (interpreter start-up
included). Goal: under 1 s each on the 2-core machine.

Runs against INGESTCTL_TEST_BOOTSTRAP when set (and removes what it created), else starts a
sandbox of its own in a temporary directory.
"""

import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager

from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ingestctl import sandbox
from ingestctl.config import Settings
from ingestctl.inspection import groups as group_views
from ingestctl.inspection import topics as topic_views

PARTITIONS = 1000
GROUPS = 20
RECORDS_PER_PARTITION = 10


@contextmanager
def broker():
    existing = os.environ.get("INGESTCTL_TEST_BOOTSTRAP")
    if existing:
        yield existing
        return
    with tempfile.TemporaryDirectory() as tmp:
        status = sandbox.start(data_dir=tmp, port=sandbox.free_port())
        try:
            yield status.bootstrap
        finally:
            sandbox.stop(tmp)


def admin_client(bootstrap: str) -> AdminClient:
    # librdkafka's informational lines (a queue purged at exit) are not the benchmark's output.
    return AdminClient({"bootstrap.servers": bootstrap, "logger": logging.getLogger("bench")})


def populate(bootstrap: str, topic: str, groups: list[str]) -> None:
    admin = admin_client(bootstrap)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=60)
    while len(admin.list_topics(topic, timeout=10).topics[topic].partitions) < PARTITIONS:
        time.sleep(0.2)  # a producer knowing too few partitions would fail those records
    failed = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "logger": logging.getLogger("bench"),
                         "on_delivery": lambda err, _msg: err and failed.append(err)})
    base = int(time.time() * 1000) - 3_600_000
    for p in range(PARTITIONS):
        for i in range(RECORDS_PER_PARTITION):
            producer.produce(topic, value=b"x" * 100, partition=p, timestamp=base + i * 60_000)
        producer.poll(0)
    producer.flush(60)
    if failed:
        sys.exit(f"producing the benchmark's records failed: {failed[0]}")
    # Each group lags by a different amount, so several groups sit at different offsets of
    # one partition (the worst case for reading next-record timestamps).
    for n, group in enumerate(groups):
        offset = n % RECORDS_PER_PARTITION
        request = ConsumerGroupTopicPartitions(
            group, [TopicPartition(topic, p, offset) for p in range(PARTITIONS)])
        admin.alter_consumer_group_offsets([request])[group].result(timeout=60)


def cleanup(bootstrap: str, topic: str, groups: list[str]) -> None:
    admin = admin_client(bootstrap)
    for future in admin.delete_consumer_groups(groups).values():
        future.result(timeout=60)
    admin.delete_topics([topic])[topic].result(timeout=60)


def median_call(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def median_process(args: list[str], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ingestctl", *args, "-o", "json"],
                       capture_output=True, check=True)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    topic = f"bench-inspect-{uuid.uuid4().hex[:8]}"
    groups = [f"{topic}-g{n:02d}" for n in range(GROUPS)]
    with broker() as bootstrap:
        populate(bootstrap, topic, groups)
        try:
            settings = Settings(bootstrap_servers=bootstrap)
            base = ["-b", bootstrap]
            cases = [
                ("topics describe (1,000 partitions)",
                 lambda: topic_views.describe_topics(settings, [topic]),
                 [*base, "topics", "describe", topic]),
                (f"groups list ({GROUPS} groups)",
                 lambda: group_views.list_groups(settings),
                 [*base, "groups", "list"]),
                ("groups describe (1 group, 1,000 lagging partitions)",
                 lambda: group_views.describe_groups(settings, groups[1:2]),
                 [*base, "groups", "describe", groups[1]]),
                (f"groups describe ({GROUPS} groups at 10 offsets per partition)",
                 lambda: group_views.describe_groups(settings, groups),
                 [*base, "groups", "describe", *groups]),
            ]
            print(f"{PARTITIONS} partitions x {RECORDS_PER_PARTITION} records, {GROUPS} groups; "
                  "medians (goal < 1 s each)")
            print(f"{'':60} {'in-process':>10} {'process':>8}")
            for name, call, args in cases:
                print(f"{name:60} {median_call(call):9.3f}s {median_process(args):7.3f}s")
        finally:
            cleanup(bootstrap, topic, groups)


if __name__ == "__main__":
    main()
