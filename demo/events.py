"""Realistic API-ingestion events for the demo: payment authorizations arriving through an
ingestion API over the last three hours, and a warehouse sink that stopped at an outage.

Setup code of the demo, not of the tool: it talks to Kafka directly, as the producing service
and the sink would.
"""

import json
import logging
import random
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

# librdkafka's log lines of the demo's own clients: on stderr only with demo.py -v, as
# ingestctl's are with its -v.
CLIENT_LOG = logging.getLogger("demo.librdkafka")


def client_config(bootstrap: str, **conf) -> dict:
    return {"bootstrap.servers": bootstrap, "logger": CLIENT_LOG, **conf}


TENANTS = ["acme", "globex", "initech", "umbrella", "hooli"]
CURRENCIES = ["EUR", "USD", "GBP"]

# The value schema the ingestion API registers for payments.authorized.
PAYMENT_SCHEMA = {
    "type": "record",
    "name": "PaymentAuthorized",
    "namespace": "com.example.payments",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "account_id", "type": "string"},
        {"name": "amount_minor", "type": "long"},
        {"name": "currency",
         "type": {"type": "enum", "name": "Currency", "symbols": CURRENCIES}},
        {"name": "status", "type": "string"},
        {"name": "received_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}


def avro_encoder(registry_url: str, topic: str):
    """Register PAYMENT_SCHEMA as `<topic>-value` and return (encode, schema version): encode
    turns an event into Confluent wire-format bytes (magic byte, schema id, Avro binary).

    The bytes are written with fastavro directly: confluent-kafka's AvroSerializer first asks
    the registry for topic associations, an API Apicurio lacks, and once hung there in CI."""
    import io
    import struct

    import fastavro
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

    client = SchemaRegistryClient({"url": registry_url, "timeout": 10})
    subject = f"{topic}-value"
    schema_id = client.register_schema(subject, Schema(json.dumps(PAYMENT_SCHEMA), "AVRO"))
    version = client.get_latest_version(subject).version
    parsed = fastavro.parse_schema(PAYMENT_SCHEMA)
    header = b"\x00" + struct.pack(">I", schema_id)

    def encode(event: dict) -> bytes:
        out = io.BytesIO(header)
        out.seek(len(header))
        fastavro.schemaless_writer(out, parsed, event)
        return out.getvalue()

    return encode, version


def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    admin = AdminClient(client_config(bootstrap))
    existing = set(admin.list_topics(timeout=10).topics)
    new = [NewTopic(name, num_partitions=parts, replication_factor=1)
           for name, parts in topics.items() if name not in existing]
    for future in admin.create_topics(new).values() if new else []:
        future.result(timeout=30)


def produce_events(bootstrap: str, topic: str, count: int, hours: float = 3.0,
                   seed: int = 7, encode=None, schema_version: int = 3) -> tuple[int, int]:
    """`count` events spread evenly over the last `hours`; returns (first, last) timestamps.
    `encode(event)` turns an event into the value's bytes (JSON unless given);
    `schema_version` goes into the schema-version header."""
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - int(hours * 3_600_000)
    step = (now_ms - start_ms) / count
    producer = Producer(client_config(bootstrap, **{"linger.ms": 20,
                                                    "partitioner": "murmur2_random"}))
    for i in range(count):
        account = f"acct-{rng.randint(1, 400):04d}"
        ts = start_ms + int(i * step)
        event = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "account_id": account,
            "amount_minor": rng.randint(100, 250_000),
            "currency": rng.choice(CURRENCIES),
            "status": "AUTHORIZED",
            "received_at": ts,
        }
        value = encode(event) if encode else json.dumps(event).encode()
        producer.produce(topic, key=account.encode(), value=value, timestamp=ts, headers=[
            ("tenant", rng.choice(TENANTS).encode()),
            ("idempotency-key", event["event_id"].encode()),
            ("producer", b"ingest-api/2.14.1"),
            ("schema-version", str(schema_version).encode()),
        ])
        if i % 1000 == 0:
            producer.poll(0)
    undelivered = producer.flush(120)
    if undelivered:
        raise SystemExit(f"the demo could not deliver {undelivered} events to {bootstrap}; "
                         "see the sandbox's broker.log.")
    return start_ms, start_ms + int((count - 1) * step)


def run_sink_until(bootstrap: str, topic: str, group: str, stop_at_ms: int) -> int:
    """Consume as the warehouse sink does, committing as it goes, and stop at the first
    record at or after `stop_at_ms` (the outage). Returns how many records it consumed."""
    consumer = Consumer(client_config(bootstrap, **{"group.id": group, "enable.auto.commit": False,
                                                    "auto.offset.reset": "earliest"}))
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    partitions = sorted(metadata.partitions)
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions}
    stopped, consumed, positions = set(), 0, {p: 0 for p in partitions}
    deadline = time.monotonic() + 120
    while len(stopped) < len(partitions):
        if time.monotonic() > deadline:
            raise SystemExit(f"the demo's sink could not read {topic} partitions "
                             f"{sorted(set(partitions) - stopped)} within 120 s.")
        for msg in consumer.consume(500, timeout=1):
            p = msg.partition()
            if msg.error() or p in stopped:
                continue
            if msg.timestamp()[1] >= stop_at_ms:
                stopped.add(p)
                consumer.pause([TopicPartition(topic, p)])
                continue
            consumed += 1
            positions[p] = msg.offset() + 1
        for p in partitions:
            if positions[p] >= ends[p]:
                stopped.add(p)
    consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in positions.items()],
                    asynchronous=False)
    consumer.close()
    return consumed
