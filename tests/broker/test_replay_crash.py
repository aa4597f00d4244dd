"""The crash test: a replay killed with SIGKILL at seeded random points and resumed each
time leaves every record of the window in the target exactly once, in source order per
partition, and nothing from outside the window (nor from aborted transactions)."""

import random
import signal
import subprocess
import sys
import time

from confluent_kafka import Producer
from support.kafkautil import create_topic, produce, read_all
from support.names import unique
from support.replay import copies, end_offsets

SEED = 20261126
KILLS = 12


def test_replay_survives_kill_9_at_random_points(cli, kafka_bootstrap):
    src, dst = unique("rp-crash"), unique("rp-crash-dst")
    partitions = range(3)
    create_topic(kafka_bootstrap, src, 3)
    create_topic(kafka_bootstrap, dst, 3)
    ts = int(time.time() * 1000) - 60_000

    def records(first, count):
        return [{"partition": p, "key": f"k{p}-{i}".encode(), "value": b"%06d" % i * 16,
                 "timestamp": ts + i, "headers": [("n", str(i).encode())]}
                for p in partitions for i in range(first, first + count)]

    produce(kafka_bootstrap, src, records(0, 500))
    # An aborted transaction inside the window: its records must never be copied.
    txn = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": unique("crash")})
    txn.init_transactions(30)
    txn.begin_transaction()
    for r in records(10_000, 40):
        txn.produce(src, key=r["key"], value=b"aborted", partition=r["partition"])
    txn.flush(30)
    txn.abort_transaction(30)
    produce(kafka_bootstrap, src, records(500, 500))
    ends = end_offsets(kafka_bootstrap, src, partitions)  # 500 + 40 + marker + 500 = 1041
    start, end = 50, {p: e - 60 for p, e in ends.items()}  # records exist past both bounds
    args = [sys.executable, "-m", "ingestctl", "-b", kafka_bootstrap, "replay",
            "--from-topic", src, "--to-topic", dst, "--start-offset", str(start),
            "--end-offset", ",".join(f"{p}:{e}" for p, e in end.items()),
            "--rate", "30KB/s", "--execute", "-o", "json"]

    rng = random.Random(SEED)
    for kill in range(KILLS):
        run = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(1.0, 4.0))  # start-up takes ~1 s, commits come every 1 s
        run.send_signal(signal.SIGKILL)
        _, err = run.communicate(timeout=30)
        assert run.returncode == -signal.SIGKILL, (
            f"run {kill} ended by itself before its kill (seed {SEED}): {err.decode()}")
    final = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert "resuming replay" in final.stderr  # the kills left progress behind

    got = copies(kafka_bootstrap, dst, partitions)  # fails on any duplicate
    source = {(m.partition(), m.offset()): m for m in read_all(kafka_bootstrap, src, partitions)}
    window = {k for k in source if start <= k[1] < end[k[0]]}
    assert set(got) == window, (f"missing {sorted(window - set(got))[:5]}, "
                                f"outside the window {sorted(set(got) - window)[:5]}")
    assert all(m.value() != b"aborted" for m in got.values())
    for key, copy in got.items():
        assert copy.partition() == key[0] and copy.value() == source[key].value()
    for p in partitions:
        in_target_order = sorted((m.offset(), k[1]) for k, m in got.items() if k[0] == p)
        offsets = [source_offset for _, source_offset in in_target_order]
        assert offsets == sorted(offsets), f"partition {p} is out of source order"
