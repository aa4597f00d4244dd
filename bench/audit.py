"""`topics audit` throughput and memory beside a plain consume loop, on one sandbox broker.

N records (default 1M) in 6 partitions, each with a key (an account), a 64-byte value in the
Confluent wire format and the headers an API event carries: tenant, producer, an
idempotency key (2 % of the events are sent twice: half on the same partition, half on
another) and schema-version, which 1 % of them lack. Each reader is its own process,
started by a small launcher that reports its peak RSS (wait4) and CPU time; wall time
includes start-up. Rounds are interleaved and the best of each is kept (the machine is
shared):

  plain loop        confluent-kafka consume(1000) reading every record's headers up to the
                    end offsets, with the client's defaults
  plain loop tuned  the same with the audit's fetch settings (fetch.queue.backoff.ms 50 ms,
                    8 MB prefetch): the fair baseline, same fetching, no counting
  audit             ingestctl topics audit --idempotency-header … --require-header …
  audit --by-header the same split by tenant
  audit + registry  the same with --schema-registry (with --with-registry: starts an
                    Apicurio Registry beside the broker, needs Java 21+)

Goals: audit ≥ 0.7× the plain loop; 10 million records under 400 MB peak RSS.

  .venv/bin/python bench/audit.py [--records N] [--rounds R] [--with-registry]
  (INGESTCTL_BENCH_BOOTSTRAP: use a running broker instead of starting a sandbox)
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

PARTITIONS = 6
VALUE_BYTES = 64
TENANTS = [b"acme", b"globex", b"initech", b"umbrella", b"hooli"]
KEY_HEADER = "idempotency-key"
REQUIRED = "schema-version"


def create(bootstrap: str, topic: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1, config={"retention.ms": "-1"})])[
        topic].result(timeout=30)


def fill(bootstrap: str, topic: str, records: int) -> None:
    """records events; every 50th repeats the idempotency key of the one before it (on the
    next partition every other time), every 100th lacks schema-version."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50,
                         "batch.size": 1_000_000, "queue.buffering.max.messages": 500_000})
    value = b"\x00\x00\x00\x00\x07" + b"v" * (VALUE_BYTES - 5)
    produce = producer.produce
    for i in range(records):
        retry = i % 50 == 49
        event = i - 1 if retry else i
        partition = (event + (i // 50) % 2) % PARTITIONS if retry else event % PARTITIONS
        headers = [("tenant", TENANTS[event % len(TENANTS)]),
                   ("producer", b"api-%d" % (event % 7)),
                   (KEY_HEADER, b"%032x" % event)]
        if i % 100 != 7:
            headers.append((REQUIRED, b"3"))
        while True:
            try:
                produce(topic, value, b"acct-%06d" % (event % 100_000), partition,
                        headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(300)


def plain_loop(bootstrap: str, topic: str, ends_json: str, tuned: bool) -> None:
    """The baseline: consume and read each record's headers, stop at the end offsets."""
    from confluent_kafka import Consumer, TopicPartition

    ends = {int(p): o for p, o in json.loads(ends_json).items()}
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-plain",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         **({"queued.max.messages.kbytes": 8_192, "fetch.wait.max.ms": 100,
                             "fetch.queue.backoff.ms": 50} if tuned else {})})
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    pending = {p for p, end in ends.items() if end > 0}
    records = 0
    began = time.perf_counter()
    while pending:
        for msg in consumer.consume(1000, 0.1):
            if msg.error():
                continue
            msg.headers()
            records += 1
            p = msg.partition()
            if msg.offset() + 1 >= ends[p]:
                pending.discard(p)
    loop = time.perf_counter() - began
    consumer.close()
    print(records, loop)


# Runs a command and reports its peak RSS and CPU time. A child's ru_maxrss starts at its
# parent's peak (the high-water mark survives fork and exec), so the measuring parent must
# stay small: this one-line launcher, not the benchmark, is the parent.
_LAUNCHER = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); "
             "_, status, usage = os.wait4(p.pid, 0); "
             "print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime, file=sys.stderr); "
             "sys.exit(os.waitstatus_to_exitcode(status))")


def timed(argv: list[str]) -> tuple[float, float, float, bytes]:
    """Run a process: (wall seconds, peak RSS MB, CPU seconds, stdout)."""
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _LAUNCHER, *argv], capture_output=True)
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed with {proc.returncode}: {proc.stderr[-800:]!r}")
    peak_kb, cpu = proc.stderr.decode().strip().splitlines()[-1].split()
    return wall, int(peak_kb) / 1024, float(cpu), proc.stdout


def ends(bootstrap: str, topic: str) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench",
                         "isolation.level": "read_committed"})
    out = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=20)[1]
           for p in range(PARTITIONS)}
    consumer.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--with-registry", action="store_true")
    parser.add_argument("--fill", nargs=3, metavar=("BOOTSTRAP", "TOPIC", "RECORDS"))
    parser.add_argument("--plain", nargs=3, metavar=("BOOTSTRAP", "TOPIC", "ENDS"))
    parser.add_argument("--tuned", action="store_true")
    args = parser.parse_args()
    if args.fill:
        fill(args.fill[0], args.fill[1], int(args.fill[2]))
        return
    if args.plain:
        plain_loop(*args.plain, tuned=args.tuned)
        return
    bootstrap = os.environ.get("INGESTCTL_BENCH_BOOTSTRAP")
    registry = os.environ.get("INGESTCTL_BENCH_REGISTRY")
    data_dir = None
    if not bootstrap or (args.with_registry and not registry):
        from ingestctl import sandbox

        data_dir = tempfile.mkdtemp(prefix="ingestctl-bench-audit-")
        extra = {"with_registry": True, "registry_port": sandbox.free_port()} \
            if args.with_registry else {}
        status = sandbox.start(data_dir=data_dir, port=sandbox.free_port(), **extra)
        bootstrap, registry = status.bootstrap, status.registry_url
    try:
        run(bootstrap, registry if args.with_registry else None, args.records, args.rounds)
    finally:
        if data_dir:
            from ingestctl import sandbox

            sandbox.stop(data_dir)
            shutil.rmtree(data_dir, ignore_errors=True)


def run(bootstrap: str, registry: str | None, records: int, rounds: int) -> None:
    topic = f"bench-audit-{int(time.time())}"
    create(bootstrap, topic)
    began = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--fill", bootstrap, topic, str(records)],
                   check=True)
    end = ends(bootstrap, topic)
    total = sum(end.values())
    print(f"{total:,} records ({VALUE_BYTES} B values, 4 headers) in {PARTITIONS} partitions "
          f"(filled in {time.perf_counter() - began:.0f} s) on {bootstrap}; best of {rounds} "
          "interleaved rounds\n")
    audit = [sys.executable, "-m", "ingestctl", "-b", bootstrap, "-o", "json", "topics",
             "audit", topic, "--idempotency-header", KEY_HEADER, "--require-header", REQUIRED]
    readers = [
        ("plain loop", [sys.executable, __file__, "--plain", bootstrap, topic,
                        json.dumps(end)]),
        ("plain loop tuned", [sys.executable, __file__, "--plain", bootstrap, topic,
                              json.dumps(end), "--tuned"]),
        ("audit", audit),
        ("audit --by-header tenant", [*audit, "--by-header", "tenant"]),
    ]
    if registry:
        readers.append(("audit + registry", [*audit[:5], "--schema-registry", registry,
                                             *audit[5:]]))
    best: dict[str, tuple[float, float, float]] = {}
    best_loop: dict[str, float] = {}
    peak: dict[str, float] = {}
    for _ in range(rounds):
        for name, argv in readers:
            wall, rss, cpu, out = timed(argv)
            if name.startswith("audit"):
                doc = json.loads(out)
                assert doc["records"] == total, (doc["records"], total)
                assert doc["duplicates"]["records"] == total // 50, doc["duplicates"]
                loop = doc["duration_seconds"]
            else:
                count, loop = out.split()
                assert int(count) == total, out
                loop = float(loop)
            if name not in best or wall < best[name][0]:
                best[name] = (wall, rss, cpu)
            best_loop[name] = min(best_loop.get(name, loop), loop)
            peak[name] = max(peak.get(name, 0.0), rss)
    plain = total / best["plain loop"][0]
    tuned = total / best["plain loop tuned"][0]
    tuned_loop = total / best_loop["plain loop tuned"]
    print("whole process (start-up included) | read loop only | CPU of the process\n")
    print(f"{'reader':26} {'records/s':>10} {'× plain':>8} {'× tuned':>8} | {'records/s':>10} "
          f"{'× tuned':>8} | {'CPU µs/rec':>10} {'peak RSS':>9}")
    for name, _ in readers:
        wall, _, cpu = best[name]
        rate = total / wall
        loop_rate = total / best_loop[name]
        print(f"{name:26} {rate:10,.0f} {rate / plain:8.2f} {rate / tuned:8.2f} | "
              f"{loop_rate:10,.0f} {loop_rate / tuned_loop:8.2f} | {cpu / total * 1e6:10.2f} "
              f"{peak[name]:6.0f} MB")


if __name__ == "__main__":
    main()
