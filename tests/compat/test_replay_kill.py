"""A replay exactly once on each version: killed with SIGKILL once mid-copy, re-run, every
record of the window in the target once, nothing of an aborted transaction."""

import signal
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from support.kafkautil import create_topic, produce, read_all
from support.names import unique
from support.waiting import wait_for

PARTITIONS = range(2)


def _copies(bootstrap: str, topic: str) -> dict[tuple[int, int], bytes]:
    """The target's committed records by (source partition, source offset); fails on a
    duplicate."""
    out = {}
    for msg in read_all(bootstrap, topic, PARTITIONS):
        headers = dict(msg.headers())
        key = (int(headers["ingestctl-source-partition"]),
               int(headers["ingestctl-source-offset"]))
        assert key not in out, f"source record {key} was written twice"
        out[key] = msg.value()
    return out


def test_replay_killed_once_resumes_exactly_once(broker):
    b = broker.bootstrap
    src, dst = unique("compat-rp"), unique("compat-rp-dst")
    create_topic(b, src, 2)
    create_topic(b, dst, 2)
    ts = int(time.time() * 1000) - 60_000

    def records(first, count, value=None):
        return [{"partition": p, "key": f"k{p}-{i}".encode(),
                 "value": value or b"%04d" % i * 10, "timestamp": ts + i}
                for p in PARTITIONS for i in range(first, first + count)]

    produce(b, src, records(0, 100))
    aborted = Producer({"bootstrap.servers": b, "transactional.id": unique("compat-abort")})
    aborted.init_transactions(30)
    aborted.begin_transaction()
    for r in records(1000, 10, b"aborted"):
        aborted.produce(src, key=r["key"], value=r["value"], partition=r["partition"])
    aborted.flush(30)
    aborted.abort_transaction(30)
    produce(b, src, records(100, 100))

    args = [sys.executable, "-m", "ingestctl", "-b", b, "replay", "--from-topic", src,
            "--to-topic", dst, "--start-offset", "0", "--rate", "12KB/s", "--execute",
            "-o", "json"]
    run = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Kill once a first transaction is committed (the replay commits about every second).
    reader = Consumer({"bootstrap.servers": b, "group.id": "compat-peek",
                       "isolation.level": "read_committed", "enable.auto.commit": False})
    reader.assign([TopicPartition(dst, p, 0) for p in PARTITIONS])
    try:
        wait_for("a first committed copy", lambda: run.poll() is not None or any(
            m.error() is None for m in reader.consume(10, timeout=0.2)), timeout=60, interval=0)
    finally:
        reader.close()
    run.send_signal(signal.SIGKILL)
    _, err = run.communicate(timeout=30)
    assert run.returncode == -signal.SIGKILL, f"the replay ended before its kill: {err.decode()}"

    final = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert "resuming replay" in final.stderr and "Traceback" not in final.stderr

    got = _copies(b, dst)
    source = {(m.partition(), m.offset()): m.value() for m in read_all(b, src, PARTITIONS)}
    assert got == source  # every committed source record once, none of the aborted ones
    assert len(got) == 400 and b"aborted" not in got.values()
