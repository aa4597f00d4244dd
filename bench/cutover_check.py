"""`cutover check` at scale: a wave of 1,000 partitions (10 topics x 100) and 20 consumer
groups, each with a committed offset on every partition, against a target that holds the
same records. Goal: under 5 s of client time.

The target is not filled by MirrorMaker 2 (MM2 on 1,000 partitions is slow to set up on 2
cores): the bench produces the very same records (key, value, headers, timestamp, partition)
to a second sandbox broker under the same topic names, which is what a caught-up identity
mirror holds. So that exact translation is not offset == offset, the two sides differ the
way a mirror's do: on a third of the partitions the source wrote its first records in a
transaction (its commit marker takes an offset on the source only: the target is 1 behind
after it), on another third the source's first records were deleted by retention before the
"mirror" started (the target holds the rest from offset 0: 5 behind), the last third are
offset for offset. Every partition also holds three identical records (same key, value,
headers and timestamp), which exact translation tells apart by counting. Groups sit at a mix
of places (most near the end, some caught up, some far behind); the bench checks that the
result is ready and that every translated offset is the one these shifts predict.

A benchmark, not a test: prints the median of a few checks through the library function the
CLI calls (wall time, and the CPU time of this process), the first apart from the later
ones, then one `ingestctl cutover check` process end to end (wall, and its CPU), with -o json
and with its tables. Uses INGESTCTL_BENCH_BOOTSTRAP (the source) and
INGESTCTL_BENCH_TARGET_BOOTSTRAP (the target) when set, else starts its own sandbox brokers.
--topics/--groups scale it down.

    .venv/bin/python bench/cutover_check.py [--topics 10] [--groups 20] [--runs 5]
"""

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from ingestctl import sandbox
from ingestctl.config import Settings
from ingestctl.moves import cutover
from ingestctl.moves.translate import TopicMapping

PARTITIONS, RECORDS, IN_TRANSACTION, DELETED = 100, 30, 5, 5
REPEATED = (10, 11, 12)  # three identical records


def record(i: int, base: int) -> dict:
    n = REPEATED[0] if i in REPEATED else i
    return {"key": f"k{n}".encode(), "value": f"v{n}-".encode() + b"x" * 90,
            "headers": [("trace", f"t{n}".encode())], "timestamp": base + n * 10}


def kind(p: int) -> str:
    return ("transaction", "deleted", "same")[p % 3]


def create(bootstrap: str, topics: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics(
            [NewTopic(t, num_partitions=PARTITIONS, replication_factor=1) for t in topics]
    ).values():
        future.result(60)
    for t in topics:  # a producer that knows too few partitions fails those records
        while len(admin.list_topics(t, timeout=10).topics[t].partitions) < PARTITIONS:
            time.sleep(0.2)


def produce(producer: Producer, topic: str, p: int, indexes, base: int) -> None:
    for i in indexes:
        producer.produce(topic, partition=p, **record(i, base))
    producer.poll(0)


def wait_for_markers(bootstrap: str, tps: list[TopicPartition]) -> None:
    """commit_transaction returns before the coordinator writes the markers: wait until
    each partition holds its marker, so that the records produced next come after it."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ends = admin.list_offsets({tp: OffsetSpec.latest() for tp in tps})
        if all(f.result(30).offset == IN_TRANSACTION + 1 for f in ends.values()):
            return
        time.sleep(0.1)
    sys.exit("the transaction's markers were not written within 60 s")


def prepare(source: str, target: str, n_topics: int, n_groups: int
            ) -> tuple[list[str], list[str], dict]:
    prefix = f"bench-cut-{uuid.uuid4().hex[:6]}"
    topics = [f"{prefix}-{i}" for i in range(n_topics)]
    create(source, topics)
    create(target, topics)
    base = int(time.time() * 1000) - 3_600_000
    tx = Producer({"bootstrap.servers": source, "transactional.id": f"{prefix}-tx"})
    tx.init_transactions(60)
    tx.begin_transaction()
    for t in topics:
        for p in range(0, PARTITIONS, 3):
            produce(tx, t, p, range(IN_TRANSACTION), base)
    tx.commit_transaction(60)
    marked = [TopicPartition(t, p) for t in topics for p in range(0, PARTITIONS, 3)]
    wait_for_markers(source, marked)
    conf = {"linger.ms": 20, "queue.buffering.max.messages": 1_000_000}
    plain = Producer({"bootstrap.servers": source, **conf})
    copy = Producer({"bootstrap.servers": target, **conf})
    for t in topics:
        for p in range(PARTITIONS):
            first = IN_TRANSACTION if kind(p) == "transaction" else 0
            produce(plain, t, p, range(first, RECORDS), base)
            produce(copy, t, p, range(DELETED if kind(p) == "deleted" else 0, RECORDS), base)
    for producer in (plain, copy):
        if producer.flush(60):
            sys.exit("producing the benchmark's records timed out")
    admin = AdminClient({"bootstrap.servers": source})
    for future in admin.delete_records(
            [TopicPartition(t, p, DELETED) for t in topics
             for p in range(PARTITIONS) if kind(p) == "deleted"]).values():
        future.result(60)

    # Source offsets: "transaction" partitions end at RECORDS + 1 (the marker at
    # IN_TRANSACTION), "deleted" ones start at DELETED. The translation each should get:
    ends = {"transaction": RECORDS + 1, "deleted": RECORDS, "same": RECORDS}
    lowest = {"transaction": 0, "deleted": DELETED + 1, "same": 0}  # (at DELETED: refused)
    rng = random.Random(7)
    groups = [f"{prefix}-group-{g}" for g in range(n_groups)]
    expected = {}
    for group in groups:
        offsets = {}
        for t in topics:
            for p in range(PARTITIONS):
                k = kind(p)
                # Most groups near the end (a healthy pipeline), some caught up, some far
                # behind.
                c = max(lowest[k], ends[k] - rng.choice(
                    [0, 0, 1, 2, 5, 20, rng.randrange(ends[k])]))
                offsets[(t, p)] = c
                expected[(group, t, p)] = (c - 1 if k == "transaction" and c > IN_TRANSACTION
                                           else c - DELETED if k == "deleted" else c)
        consumer = Consumer({"bootstrap.servers": source, "group.id": group,
                             "enable.auto.commit": False})
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                        asynchronous=False)
        consumer.close()
    return topics, groups, expected


def verify(result: cutover.Readiness, expected: dict) -> None:
    assert result.blockers == [], result.blockers[:5]
    rows = [(g["group"], p) for g in result.groups for p in g["partitions"]]
    assert len(rows) == len(expected), (len(rows), len(expected))
    for group, p in rows:
        assert p["same_record"] is True, (group, p)
        assert p["translated"] == expected[(group, p["topic"], p["partition"])], (group, p)
    assert all(x["records"] == 0 for t in result.topics for x in t["lag"])


def measure(source: str, target: str, args) -> None:
    began = time.perf_counter()
    topics, groups, expected = prepare(source, target, args.topics, args.groups)
    print(f"set-up: {time.perf_counter() - began:.1f} s", flush=True)
    settings = Settings(bootstrap_servers=source, timeout=30)
    to = Settings(bootstrap_servers=target, timeout=30)
    scope = cutover.Scope(topics, groups)
    walls, cpus = [], []
    for _ in range(args.runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = cutover.check(settings, to, scope, TopicMapping())
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        print(f"  run: {walls[-1]:.2f} s wall, {cpus[-1]:.2f} s CPU", flush=True)
    verify(result, expected)
    partitions = sum(t["partitions"] for t in result.topics)
    print(f"cutover check of {partitions} partitions and {len(groups)} groups "
          f"({len(expected)} committed offsets, all translated and the same record), "
          f"{args.runs} runs in process:")
    later_walls, later_cpus = walls[1:] or walls, cpus[1:] or cpus
    print(f"  first  {walls[0]:.2f} s wall, {cpus[0]:.2f} s CPU")
    print(f"  later  median {statistics.median(later_walls):.2f} s wall (min "
          f"{min(later_walls):.2f}, max {max(later_walls):.2f}), median "
          f"{statistics.median(later_cpus):.2f} s CPU  goal < 5 s of client time")
    if args.no_cli:
        return
    with tempfile.TemporaryDirectory() as directory:
        plan = Path(directory) / "waves.yaml"
        plan.write_text(json.dumps({"waves": {"bench": {"topics": topics, "groups": groups}}}))
        for output in ("json", "table"):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "ingestctl", "-b", source, "-o", output, "cutover",
                 "check", "--wave", "bench", "--plan", str(plan), "--to-bootstrap-servers",
                 target], capture_output=True, env={**os.environ, "COLUMNS": "160"})
            wall = time.perf_counter() - wall
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            assert done.returncode == 0, done.stderr.decode()[-2000:]
            if output == "json":
                assert json.loads(done.stdout)["ready"] is True
            print(f"  `ingestctl -o {output} cutover check` process: {wall:.2f} s wall, "
                  f"{cpu:.2f} s CPU (start-up and output of {len(done.stdout) / 1e6:.1f} MB "
                  "included; exit 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", type=int, default=10, help="topics of 100 partitions")
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI process run")
    args = parser.parse_args()
    with ExitStack() as stack:
        bootstraps = []
        for variable in ("INGESTCTL_BENCH_BOOTSTRAP", "INGESTCTL_BENCH_TARGET_BOOTSTRAP"):
            bootstrap = os.environ.get(variable)
            if not bootstrap:
                tmp = stack.enter_context(tempfile.TemporaryDirectory())
                bootstrap = sandbox.start(data_dir=tmp, port=sandbox.free_port()).bootstrap
                stack.callback(sandbox.stop, tmp)
            bootstraps.append(bootstrap)
        measure(*bootstraps, args)


if __name__ == "__main__":
    main()
