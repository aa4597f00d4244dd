"""Reading what a replay wrote: settled end offsets, the target's copies by source
position (failing on a duplicate), and waiting for a run's first committed progress."""

import os
import signal
import time

from confluent_kafka import Consumer, TopicPartition

from .kafkautil import read_all
from .waiting import wait_for


def end_offsets(bootstrap: str, topic: str, partitions) -> dict[int, int]:
    """High watermarks once every transaction below them is decided. Transaction markers
    are written just after a commit returns, so the ends settle a moment later."""
    consumers = [Consumer({"bootstrap.servers": bootstrap, "group.id": "test-ends",
                           "isolation.level": level})
                 for level in ("read_uncommitted", "read_committed")]
    deadline = time.monotonic() + 30
    while True:
        high, stable = ({p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=20)[1]
                         for p in partitions} for c in consumers)
        if high == stable or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for c in consumers:
        c.close()
    assert high == stable, f"transactions in {topic} stay open: {high} vs {stable}"
    return high


def source_of(msg) -> tuple[int, int]:
    headers = dict(msg.headers())
    return (int(headers["ingestctl-source-partition"]), int(headers["ingestctl-source-offset"]))


def copies(bootstrap: str, topic: str, partitions) -> dict[tuple[int, int], object]:
    """The target's committed records by (source partition, source offset); fails on a
    duplicate."""
    out = {}
    end_offsets(bootstrap, topic, partitions)  # read_all reads up to the last stable offsets
    for msg in read_all(bootstrap, topic, partitions):
        key = source_of(msg)
        assert key not in out, f"source record {key} was written twice"
        out[key] = msg
    return out


def wait_for_progress(cli, bootstrap, replay_id, partitions=None, timeout=30):
    """Until the replay has committed records (in each of `partitions`, when given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = cli("-b", bootstrap, "replay", "status", replay_id, "-o", "json")
        if status.code == 0:
            copied = {p["partition"]: p["records"] for p in status.json()["partitions"]}
            if all(copied.get(p, 0) > 0 for p in partitions or ()) and sum(copied.values()):
                return status.json()
        time.sleep(0.2)
    raise AssertionError(f"replay {replay_id} made no progress in {timeout} s")


def open_transactions(bootstrap: str, topic: str, partitions) -> set[int]:
    """The partitions of `topic` where a transaction is open now: the high watermark is past
    the last stable offset."""
    consumers = [Consumer({"bootstrap.servers": bootstrap, "group.id": "test-open-txn",
                           "isolation.level": level})
                 for level in ("read_uncommitted", "read_committed")]
    try:
        high, stable = ({p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=20)[1]
                         for p in partitions} for c in consumers)
    finally:
        for c in consumers:
            c.close()
    return {p for p in partitions if high[p] > stable[p]}


def freeze_inside_a_transaction(bootstrap: str, topic: str, pids: list[int],
                                writers: list[set[int]], timeout: float = 30) -> None:
    """SIGSTOP the processes at a moment when each writer (a producer, known by the target
    partitions it writes) has a transaction open, so that a freeze longer than
    transaction.timeout.ms surely outlives one. Caught between two transactions (a commit,
    then the next record), the processes are thawed for a moment and frozen anew:
    positioning, not a retry of what is being tested."""
    everything = set().union(*writers)

    def frozen_inside() -> bool:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        open_now = open_transactions(bootstrap, topic, everything)
        if all(open_now & partitions for partitions in writers):
            return True
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        return False

    wait_for(f"a transaction open in {topic} while frozen", frozen_inside, timeout=timeout,
             interval=0.05)
