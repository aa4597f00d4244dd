"""What `replay --validate avro` costs, on a sandbox broker and Apicurio Registry.

1. In process: the validation check (replay.validate.checker) per record against fastavro's
   bare schemaless_reader on the same values (7-field records of ~140 B, two schema versions).
2. End to end: the same window (--records, default 300,000, in 6 partitions) replayed
   exactly-once without --validate, with --validate avro --on-invalid skip, and with
   --workers 2; best of --rounds interleaved rounds, records/s of the copy loop.

  .venv/bin/python bench/schema_validate.py [--records N] [--rounds R]
  (INGESTCTL_BENCH_BOOTSTRAP and INGESTCTL_BENCH_REGISTRY: use a running broker and registry)
"""

import argparse
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import fastavro
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

PARTITIONS = 6
EVENT_V1 = {"type": "record", "name": "Event", "namespace": "bench", "fields": [
    {"name": "id", "type": "long"}, {"name": "account", "type": "string"},
    {"name": "amount", "type": "int"}, {"name": "currency", "type": "string"},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "note", "type": ["null", "string"], "default": None},
    {"name": "tags", "type": {"type": "array", "items": "string"}}]}
EVENT_V2 = {**EVENT_V1, "fields": EVENT_V1["fields"] + [
    {"name": "channel", "type": "string", "default": "api"}]}


def values(registry: str, subject: str, count: int) -> list[bytes]:
    """Wire-format values, alternating two registered schema versions."""
    client = SchemaRegistryClient({"url": registry})
    out = []
    versions = []
    for schema in (EVENT_V1, EVENT_V2):
        schema_id = client.register_schema(subject, Schema(json.dumps(schema)))
        versions.append((b"\x00" + struct.pack(">I", schema_id), fastavro.parse_schema(schema)))
    for i in range(count):
        header, parsed = versions[i % 2]
        stream = io.BytesIO()
        stream.write(header)
        fastavro.schemaless_writer(stream, parsed, {
            "id": i, "account": f"acct-{i % 5000:06d}", "amount": i % 100_000,
            "currency": "EUR", "ts": 1_764_120_000_000 + i, "note": "ok" if i % 3 else None,
            "tags": ["api", "v2"], "channel": "web"})
        out.append(stream.getvalue())
    return out


def in_process(registry: str) -> None:
    from ingestctl.config import Settings
    from ingestctl.replay.validate import checker

    sample = values(registry, f"bench-check-{int(time.time())}-value", 100_000)
    parsed = {v[:5]: fastavro.parse_schema(s) for v, s in zip(sample[:2], (EVENT_V1, EVENT_V2),
                                                               strict=True)}
    problem = checker(Settings(schema_registry_url=registry))
    timings: dict[str, list[float]] = {"checker": [], "bare schemaless_reader": []}
    for _ in range(5):
        began = time.perf_counter()
        for value in sample:
            problem(value)
        timings["checker"].append(time.perf_counter() - began)
        began = time.perf_counter()
        for value in sample:
            stream = io.BytesIO(value)
            stream.seek(5)
            fastavro.schemaless_reader(stream, parsed[value[:5]], None)
        timings["bare schemaless_reader"].append(time.perf_counter() - began)
    print(f"in process, {len(sample):,} values of ~{len(sample[0])} B, best of 5:")
    for name, runs in timings.items():
        print(f"  {name:24} {min(runs) / len(sample) * 1e6:5.2f} µs/record")


def end_to_end(bootstrap: str, registry: str, records: int, rounds: int) -> None:
    source = f"bench-validate-{int(time.time())}"
    admin = AdminClient({"bootstrap.servers": bootstrap})

    def create(topic: str) -> None:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=30)

    create(source)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50,
                         "queue.buffering.max.messages": 500_000})
    for i, value in enumerate(values(registry, f"{source}-value", records)):
        while True:
            try:
                producer.produce(source, value, b"key-%08d" % i, i % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)
    runs = [("exactly-once, no --validate", []),
            ("--validate avro --on-invalid skip", ["--validate", "avro", "--on-invalid",
                                                   "skip"]),
            ("--validate avro, --workers 2", ["--validate", "avro", "--on-invalid", "skip",
                                              "--workers", "2"])]
    best: dict[str, float] = {}
    for round_number in range(rounds):
        for index, (name, options) in enumerate(runs):
            target = f"{source}-{round_number}-{index}"
            create(target)
            out = subprocess.run(
                [sys.executable, "-m", "ingestctl", "-b", bootstrap, "--schema-registry",
                 registry, "replay", "--from-topic", source, "--to-topic", target,
                 "--start-offset", "0", "--execute", "-o", "json", *options],
                check=True, capture_output=True, text=True).stdout
            summary = json.loads(out)
            assert (summary["records"], summary["invalid"]) == (records, 0), summary
            best[name] = min(best.get(name, float("inf")), summary["duration_seconds"])
    print(f"\nend to end, {records:,} records in {PARTITIONS} partitions, copy loop only, "
          f"best of {rounds}:")
    baseline = records / best[runs[0][0]]
    for name, _ in runs:
        rate = records / best[name]
        print(f"  {name:36} {rate:9,.0f} records/s  {rate / baseline:5.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    bootstrap = os.environ.get("INGESTCTL_BENCH_BOOTSTRAP")
    registry = os.environ.get("INGESTCTL_BENCH_REGISTRY")
    data_dir = None
    if not (bootstrap and registry):
        from ingestctl import sandbox

        data_dir = tempfile.mkdtemp(prefix="ingestctl-bench-")
        status = sandbox.start(data_dir=data_dir, port=sandbox.free_port(), with_registry=True,
                               registry_port=sandbox.free_port())
        bootstrap, registry = status.bootstrap, status.registry_url
    try:
        in_process(registry)
        end_to_end(bootstrap, registry, args.records, args.rounds)
    finally:
        if data_dir:
            from ingestctl import sandbox

            sandbox.stop(data_dir)
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
