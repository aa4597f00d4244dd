"""Replay throughput and quota accuracy, side by side on one sandbox broker.

~1M records × 200 B in 6 partitions (key, one header, timestamps). Each pipeline copies the
whole topic into a fresh 6-partition topic (deleted once measured), as its own process: wall
time includes start-up; peak RSS and the CPU time of its processes from wait4, and the
broker's CPU over the same time from /proc (when the bench started the broker, or
INGESTCTL_BENCH_BROKER_PID names it):

  raw loop    plain confluent-kafka consume(1000) -> produce with the client's defaults, same
              partition, headers and timestamps kept, at-least-once, stopping on the end
              offsets; the same loop adding the replay's four provenance headers (the bytes a
              replay writes); and the tuned loop every replay figure is compared with (issue
              19's settings: TUNED_CONSUMER, TUNED_PRODUCER, consume(1000, 1.0))
  kcat pipe   kcat -C … -e | kcat -P … (keys and values only), when kcat is installed
  ingestctl   replay --execute exactly-once, --mode at-least-once, --workers 2 and 4; and
              exactly-once with --dedupe-header seq (every record a distinct key: no record
              is dropped, every one is looked up and remembered, the worst case for memory),
              without and with --dedupe-horizon

Then --workers 1, 2 and 4 on windows of 1 %, 10 % and all of the records; a quota run
(`--rate 2MiB/s` over a window sized for ~30 s, its target's high watermark sampled every
0.5 s: achieved rate per 5 s and the worst deviation over any 10 s); and a dedupe resume (a
--dedupe-header replay interrupted at ~80 % of the window and run again, which first reads
back every key the replay wrote: its read-back rate, the resume's wall time and peak RSS).
Goals: exactly-once ≥ 0.9× the tuned loop; --workers 2 ≥ 0.9× the kcat pipe (or CPU per
record showing the cores are the limit); quota within ±2 %; RSS < 150 MB.

  .venv/bin/python bench/replay.py [--records N] [--rounds R] [--only eos,tuned,…] [--no-extras]
  (INGESTCTL_BENCH_BOOTSTRAP: use a running broker)
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 6
VALUE_BYTES = 200
# The tuned loop every replay figure is compared with (issue 19): the same everywhere it is
# quoted.
TUNED_CONSUMER = {"queued.max.messages.kbytes": 8_192, "fetch.wait.max.ms": 100,
                  "fetch.queue.backoff.ms": 50}
TUNED_PRODUCER = {"linger.ms": 50, "batch.size": 1_000_000,
                  "queue.buffering.max.messages": 1_000_000, "enable.idempotence": True}


def create(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=30)


def delete(bootstrap: str, topic: str) -> None:
    """Copies are deleted once measured: a run writes ~40 copies of the source, and a disk
    and page cache filling up with them slows the later pipelines."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.delete_topics([topic])[topic].result(timeout=30)


def fill(bootstrap: str, topic: str, records: int) -> dict[int, int]:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50,
                         "queue.buffering.max.messages": 500_000})
    now = int(time.time() * 1000)
    value = b"x" * VALUE_BYTES
    for i in range(records):
        while True:
            try:
                producer.produce(topic, value, b"key-%08d" % i, i % PARTITIONS,
                                 timestamp=now - records + i, headers=[("seq", b"%d" % i)])
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)
    return ends(bootstrap, topic)


def ends(bootstrap: str, topic: str, isolation: str = "read_committed",
         consumer: Consumer | None = None) -> dict[int, int]:
    own = consumer is None
    if own:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench",
                             "isolation.level": isolation})
    out = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=20)[1]
           for p in range(PARTITIONS)}
    if own:
        consumer.close()
    return out


def raw_loop(bootstrap: str, source: str, target: str, end_json: str,
             provenance: bool = False, tuned: bool = False) -> None:
    """The baseline: what a hand-written confluent-kafka copy loop does with the client's
    defaults (with provenance: plus the four headers a replay adds, to show what writing
    them costs; tuned: with the consumer settings the replay uses, to show what the replay
    costs beyond them)."""
    end = {int(p): o for p, o in json.loads(end_json).items()}
    extra = [[("ingestctl-replay-id", b"rp-0123456789abcdef"),
              ("ingestctl-source-topic", source.encode()),
              ("ingestctl-source-partition", str(p).encode())] for p in range(PARTITIONS)]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-raw",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         **(TUNED_CONSUMER if tuned else {})})
    defaults = {"linger.ms": 10, "queue.buffering.max.messages": 200_000}
    producer = Producer({"bootstrap.servers": bootstrap,
                         **(TUNED_PRODUCER if tuned else defaults)})
    consumer.assign([TopicPartition(source, p, 0) for p in end])
    pending = {p for p, o in end.items() if o > 0}
    wait = 1.0 if tuned else 0.1
    while pending:
        for msg in consumer.consume(1000, wait):
            if msg.error():
                continue
            p = msg.partition()
            headers = msg.headers()
            if provenance:
                headers = [*(headers or []), *extra[p],
                           ("ingestctl-source-offset", b"%d" % msg.offset())]
            while True:
                try:
                    producer.produce(target, msg.value(), msg.key(), p,
                                     timestamp=msg.timestamp()[1], headers=headers)
                    break
                except BufferError:
                    producer.poll(0.05)
            if msg.offset() + 1 >= end[p]:
                pending.discard(p)
        producer.poll(0)
    producer.flush(120)
    consumer.close()


# Runs a command and reports its peak RSS. A child's ru_maxrss starts at its parent's peak
# (the high-water mark survives fork and exec), so the measuring parent must stay small: this
# one-line launcher, not the benchmark, is the parent.
# It also reports the CPU time of the command and of every process it waited for (a shell's
# pipe, a replay's workers).
_LAUNCHER = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[2:], shell=sys.argv[1] "
             "== 'shell'); _, status, usage = os.wait4(p.pid, 0); "
             "print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime, file=sys.stderr); "
             "sys.exit(os.waitstatus_to_exitcode(status))")


@dataclass
class Run:
    wall: float  # seconds, start-up included
    rss: float  # peak RSS of the largest process, MB
    cpu: float  # CPU seconds of the command's processes
    broker_cpu: float | None  # CPU seconds the broker spent meanwhile, when it is known
    stdout: bytes
    stderr: str


class Broker:
    """The sandbox broker's process, to charge each pipeline the broker CPU it caused."""

    def __init__(self, pid: int | None):
        self.pid = pid

    def cpu(self) -> float | None:
        if self.pid is None:
            return None
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


BROKER = Broker(None)


def timed(argv: list[str] | str, shell: bool = False) -> Run:
    """Run a process to its end, measured."""
    began, broker_began = time.perf_counter(), BROKER.cpu()
    command = [argv] if shell else argv
    proc = subprocess.run([sys.executable, "-c", _LAUNCHER, "shell" if shell else "exec",
                           *command], capture_output=True)
    wall = time.perf_counter() - began
    broker_ended = BROKER.cpu()
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed with {proc.returncode}: {proc.stderr[-500:]!r}")
    *lines, usage = proc.stderr.decode().strip().splitlines()
    peak_kb, cpu = usage.split()
    return Run(wall, int(peak_kb) / 1024, float(cpu),
               None if broker_began is None else broker_ended - broker_began,
               proc.stdout, "\n".join(lines))


def ingestctl(bootstrap: str, *args) -> list[str]:
    return [sys.executable, "-m", "ingestctl", "-b", bootstrap, "replay", *args, "-o", "json"]


def quota_run(bootstrap: str, source: str, rate: float, seconds: float) -> None:
    target = f"{source}-quota"
    create(bootstrap, target)
    per_record = VALUE_BYTES + 12 + 12 + 95  # value, key, header, provenance headers (~)
    per_partition = int(rate * seconds / per_record / PARTITIONS)
    window = ",".join(f"{p}:{per_partition}" for p in range(PARTITIONS))
    proc = subprocess.Popen(ingestctl(bootstrap, "--from-topic", source, "--to-topic", target,
                                      "--start-offset", "0", "--end-offset", window,
                                      "--rate", "2MiB/s", "--execute"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    samples = []
    watcher = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench",
                        "isolation.level": "read_uncommitted"})
    while proc.poll() is None:
        try:
            samples.append((time.monotonic(),
                            sum(ends(bootstrap, target, consumer=watcher).values())))
        except KafkaException:  # the new topic's leader is not known yet
            pass
        time.sleep(0.5)
    watcher.close()
    summary = json.loads(proc.stdout.read())
    mean = summary["bytes"] / summary["records"]
    # Markers (one per partition per commit, ~6/s) count as records here: ~0.1 %.
    moving = [(t, n) for t, n in samples if n > 0]
    t0 = moving[0][0]
    print(f"\nquota run: --rate 2MiB/s ({rate:,.0f} B/s), {summary['records']:,} records of "
          f"{mean:.0f} B, {summary['duration_seconds']:.1f} s")
    print("  achieved per 5 s:")
    last_t, last_n = moving[0]
    for t, n in moving[1:]:
        if t - last_t >= 5:
            achieved = (n - last_n) * mean / (t - last_t)
            print(f"    {last_t - t0:5.1f}–{t - t0:5.1f} s  {achieved / 2**20:6.3f} MiB/s "
                  f"({(achieved - rate) / rate:+.2%})")
            last_t, last_n = t, n
    worst = 0.0
    for i, (t, n) in enumerate(moving):
        later = [(u, m) for u, m in moving[i:] if u - t >= 10]
        if not later or later[0][1] >= summary["records"] * 0.999:
            break
        u, m = later[0]
        worst = max(worst, abs((m - n) * mean / (u - t) - rate) / rate)
    print(f"  worst deviation over any 10 s: {worst:.2%}  (goal ≤ 2 %)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="comma-separated pipeline keys (default: all)")
    parser.add_argument("--no-extras", action="store_true",
                        help="skip the workers curve, the quota run and the dedupe resume")
    parser.add_argument("--raw-loop", nargs=4, metavar=("BOOTSTRAP", "SRC", "DST", "ENDS"))
    parser.add_argument("--provenance", action="store_true")
    parser.add_argument("--tuned", action="store_true")
    parser.add_argument("--fill", nargs=3, metavar=("BOOTSTRAP", "TOPIC", "RECORDS"))
    args = parser.parse_args()
    if args.raw_loop:
        raw_loop(*args.raw_loop, provenance=args.provenance, tuned=args.tuned)
        return
    if args.fill:
        fill(args.fill[0], args.fill[1], int(args.fill[2]))
        return
    only = args.only.split(",") if args.only else list(PIPELINES)
    bootstrap = os.environ.get("INGESTCTL_BENCH_BOOTSTRAP")
    data_dir = None
    if bootstrap:
        pid = os.environ.get("INGESTCTL_BENCH_BROKER_PID")
        BROKER.pid = int(pid) if pid else None
    else:
        from ingestctl import sandbox

        data_dir = tempfile.mkdtemp(prefix="ingestctl-bench-")
        started = sandbox.start(data_dir=data_dir, port=sandbox.free_port())
        bootstrap, BROKER.pid = started.bootstrap, started.pid
    try:
        run(bootstrap, args.records, args.rounds, only, extras=not args.no_extras)
    finally:
        if data_dir:
            from ingestctl import sandbox

            sandbox.stop(data_dir)
            shutil.rmtree(data_dir, ignore_errors=True)


# key: (name, how, note); how is "raw"/"raw+"/"raw+tuned"/"kcat" or the replay's extra args
PIPELINES = {
    "raw": ("raw confluent-kafka loop", "raw", "client defaults"),
    "prov": ("raw loop + provenance headers", "raw+", "the replay's bytes"),
    "tuned": ("raw loop + provenance, tuned", "raw+tuned", "the loop to compare with"),
    "kcat": ("kcat -C | kcat -P", "kcat", "keys and values only"),
    "eos": ("ingestctl replay exactly-once", [], ""),
    "alo": ("ingestctl replay at-least-once", ["--mode", "at-least-once"], ""),
    "w2": ("ingestctl replay --workers 2", ["--workers", "2"], ""),
    "w4": ("ingestctl replay --workers 4", ["--workers", "4"], ""),
    "dedupe": ("ingestctl replay --dedupe-header", ["--dedupe-header", "seq"], ""),
    "horizon": ("  … --dedupe-horizon 1h", ["--dedupe-header", "seq",
                                            "--dedupe-horizon", "1h"], ""),
}
REFERENCE = "tuned"


def run_pipeline(bootstrap: str, source: str, target: str, end: dict[int, int], how
                 ) -> tuple[Run, str]:
    """One pipeline copying `end` (every partition from offset 0) into target (deleted
    after)."""
    create(bootstrap, target)
    try:
        return _run_pipeline(bootstrap, source, target, end, how)
    finally:
        delete(bootstrap, target)


def _run_pipeline(bootstrap: str, source: str, target: str, end: dict[int, int], how
                  ) -> tuple[Run, str]:
    if how in ("raw", "raw+", "raw+tuned"):
        return timed([sys.executable, __file__, "--raw-loop", bootstrap, source, target,
                      json.dumps(end), *(["--provenance"] if how != "raw" else []),
                      *(["--tuned"] if how == "raw+tuned" else [])]), ""
    if how == "kcat":
        return timed(f"kcat -C -b {bootstrap} -t {source} -o beginning -e -q "
                     f"-f '%k\\t%s\\n' | kcat -P -b {bootstrap} -t {target} -K '\\t'",
                     shell=True), ""
    window = ",".join(f"{p}:{o}" for p, o in sorted(end.items()))
    measured = timed(ingestctl(bootstrap, "--from-topic", source, "--to-topic", target,
                               "--start-offset", "0", "--end-offset", window, "--execute", *how))
    summary = json.loads(measured.stdout)
    assert summary["records"] == sum(end.values()), summary
    return measured, f"copy loop {summary['duration_seconds']:.1f} s of {measured.wall:.1f} s"


def run(bootstrap: str, records: int, rounds: int, only: list[str], extras: bool) -> None:
    source = f"bench-replay-{int(time.time())}"
    create(bootstrap, source)
    began = time.perf_counter()
    # Filled by a child process: a child's peak RSS starts from its parent's (wait4 reports
    # the high-water mark across exec), so this process stays small.
    subprocess.run([sys.executable, __file__, "--fill", bootstrap, source, str(records)],
                   check=True)
    end = ends(bootstrap, source)
    total = sum(end.values())
    print(f"{total:,} records × {VALUE_BYTES} B in {PARTITIONS} partitions "
          f"(filled in {time.perf_counter() - began:.1f} s) on {bootstrap}; best of {rounds} "
          "interleaved rounds\n")
    if "kcat" in only and not shutil.which("kcat"):
        print("kcat is not installed: its pipe is skipped (apt-get install -y kcat)")
        only.remove("kcat")
    best: dict[str, tuple[Run, str]] = {}
    for round_number in range(rounds):
        for key in only:
            measured, note = run_pipeline(bootstrap, source, f"{source}-{round_number}-{key}",
                                          end, PIPELINES[key][1])
            if key not in best or measured.wall < best[key][0].wall:
                best[key] = (measured, note or PIPELINES[key][2])
    reference = best.get(REFERENCE, best[only[0]])[0].wall
    kcat = best["kcat"][0].wall if "kcat" in best else None
    print(f"{'pipeline':32} {'records/s':>10} {'× tuned':>7} {'× kcat':>6}   CPU µs/record: "
          f"{'client':>6} {'broker':>6}  {'peak RSS':>8}  note")
    for key in only:
        measured, note = best[key]
        broker = (f"{measured.broker_cpu / total * 1e6:6.2f}"
                  if measured.broker_cpu is not None else f"{'?':>6}")
        versus_kcat = f"{kcat / measured.wall:6.2f}" if kcat else f"{'':6}"
        print(f"{PIPELINES[key][0]:32} {total / measured.wall:10,.0f} "
              f"{reference / measured.wall:7.2f} {versus_kcat}                 "
              f"{measured.cpu / total * 1e6:6.2f} {broker}  {measured.rss:5.0f} MB  {note}")
    if extras:
        workers_curve(bootstrap, source, end, rounds)
        quota_run(bootstrap, source, 2 * 2**20, 30.0)
        dedupe_resume(bootstrap, source, total)


def workers_curve(bootstrap: str, source: str, end: dict[int, int], rounds: int) -> None:
    """--workers 1, 2 and 4 on windows of 1 %, 10 % and all of the records: where a
    worker's start-up (a fresh interpreter, its own clients and transaction) stops
    dominating."""
    print("\n--workers on windows of several sizes (records/s, best of "
          f"{rounds}; wall time includes start-up):")
    counts = (1, 2, 4)
    print(f"  {'window':>10} " + " ".join(f"{f'{n} worker' + ('s' if n > 1 else ''):>12}"
                                          for n in counts))
    for share in (0.01, 0.1, 1.0):
        window = {p: max(1, int(o * share)) for p, o in end.items()}
        size = sum(window.values())
        walls = {}
        for round_number in range(rounds):
            for n in counts:
                target = f"{source}-curve-{share}-{n}-{round_number}"
                measured, _ = run_pipeline(bootstrap, source, target, window,
                                           ["--workers", str(n)] if n > 1 else [])
                walls[n] = min(walls.get(n, measured.wall), measured.wall)
        print(f"  {size:>10,} " + " ".join(f"{size / walls[n]:12,.0f}" for n in counts))


def dedupe_resume(bootstrap: str, source: str, total: int) -> None:
    target = f"{source}-dedupe-resume"
    create(bootstrap, target)
    argv = ingestctl(bootstrap, "--from-topic", source, "--to-topic", target, "--start-offset",
                     "0", "--dedupe-header", "seq", "--execute")
    first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watcher = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench",
                        "isolation.level": "read_uncommitted"})
    while first.poll() is None:
        try:
            if sum(ends(bootstrap, target, consumer=watcher).values()) >= total * 0.8:
                first.send_signal(2)
                break
        except KafkaException:
            pass
        time.sleep(0.1)
    watcher.close()
    first.wait()
    measured = timed(argv)
    wall, rss, err = measured.wall, measured.rss, measured.stderr
    summary = json.loads(measured.stdout)
    assert summary["records"] == total, summary
    read_back = re.search(r"read back ([\d,]+) keys .*?\(([\d,]+) records of \S+ in "
                          r"([\d.]+) s\)", err)
    keys, records, seconds = (float(x.replace(",", "")) for x in read_back.groups())
    print(f"\ndedupe resume at {records / total:.0%} of {total:,} records: read back "
          f"{keys:,.0f} keys from {records:,.0f} records in {seconds:.1f} s "
          f"({records / seconds:,.0f} records/s); the resume took {wall:.1f} s in all, "
          f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
