"""`topics audit` on a real broker and a real Apicurio Registry.

A seeded generator writes API events (tenant, producer, idempotency key and schema-version
headers; Avro values through the registry in the Confluent wire format). 2 % of the events
are sent again (on the same partition or another, some with a later timestamp, a few more
than once), 1 % of the records lack a required header, and a handful carry no idempotency
key, a JSON value, an unknown schema id or no value at all. The audit must report exactly
what the generator's bookkeeping says, overall, per tenant, per partition and for windows.
"""

import json
import random
import struct
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from support.kafkautil import create_topic
from support.names import unique

from ingestctl.errors import ExitCode
from ingestctl.parsing import format_time

PARTITIONS = 6
TENANTS = ["acme", "globex", "initech", "umbrella"]
KEY = "idempotency-key"
REQUIRED = ("producer", "schema-version")
UNKNOWN_ID = 2**31 - 11
API_EVENT = {
    "type": "record", "name": "ApiEvent", "namespace": "acme.api",
    "fields": [{"name": "id", "type": "string"}, {"name": "tenant", "type": "string"},
               {"name": "path", "type": "string"}, {"name": "status", "type": "int"}],
}


@dataclass
class Sent:
    """One record as the generator wrote it."""

    event: int
    partition: int
    timestamp: int
    tenant: str
    key: str | None  # the idempotency key header, None when left out
    missing: tuple[str, ...]  # required headers left out
    value: bytes | None
    value_kind: str  # avro, json, unknown-id, tombstone
    offset: int = -1

    def headers(self) -> list[tuple[str, bytes]]:
        out = [("tenant", self.tenant.encode())]
        if "producer" not in self.missing:
            out.append(("producer", b"api-%d" % (self.event % 5)))
        if self.key is not None:
            out.append((KEY, self.key.encode()))
        if "schema-version" not in self.missing:
            out.append(("schema-version", b"1"))
        return out


@dataclass
class Events:
    topic: str
    schema_id: int
    records: list[Sent]
    retries: dict[int, list[Sent]] = field(default_factory=dict)  # event -> its resends
    originals: dict[int, Sent] = field(default_factory=dict)


def generate(bootstrap: str, registry_url: str, events: int, seed: int,
             dirty: bool = True) -> Events:
    rng = random.Random(seed)
    topic = unique("audit-api")
    create_topic(bootstrap, topic, partitions=PARTITIONS)
    client = SchemaRegistryClient({"url": registry_url})
    serialize = AvroSerializer(client, json.dumps(API_EVENT),
                               conf={"auto.register.schemas": True,
                                     "subject.name.strategy": topic_subject_name_strategy})
    ctx = SerializationContext(topic, MessageField.VALUE)
    base = 1_764_120_000_000
    keyless = set(rng.sample(range(events), 20)) if dirty else set()
    special = rng.sample(sorted(set(range(events)) - keyless), 45) if dirty else []
    json_values, unknown_ids, tombstones = set(special[:30]), set(special[30:40]), \
        set(special[40:])
    originals: dict[int, Sent] = {}
    for i in range(events):
        tenant = rng.choice(TENANTS)
        body = {"id": f"evt-{i}", "tenant": tenant, "path": rng.choice(["/pay", "/refund"]),
                "status": rng.choice([200, 201, 409])}
        avro = serialize(body, ctx)
        kind, value = "avro", avro
        if i in json_values:
            kind, value = "json", json.dumps(body).encode()
        elif i in unknown_ids:
            kind, value = "unknown-id", b"\x00" + struct.pack(">I", UNKNOWN_ID) + avro[5:]
        elif i in tombstones:
            kind, value = "tombstone", None
        originals[i] = Sent(i, rng.randrange(PARTITIONS), base + 10 * i, tenant,
                            None if i in keyless else f"{rng.getrandbits(128):032x}", (),
                            value, kind)
    schema_id = struct.unpack(">I", serialize({"id": "x", "tenant": "x", "path": "x",
                                               "status": 0}, ctx)[1:5])[0]
    # 2 % of the events (never one without a key) are sent again, later in the stream.
    retried = rng.sample(sorted(set(range(events)) - keyless), events // 50) if dirty else []
    sends: list[tuple[float, Sent]] = [(float(i), s) for i, s in originals.items()]
    retries: dict[int, list[Sent]] = {}
    for n, i in enumerate(retried):
        first = originals[i]
        copies = 3 if n == 0 else 2 if n % 10 == 0 else 1
        retries[i] = []
        for c in range(copies):
            other = rng.random() < 0.4
            partition = (first.partition + 1 + rng.randrange(PARTITIONS - 1)) % PARTITIONS \
                if other else first.partition
            later = rng.random() < 0.5
            timestamp = first.timestamp + rng.randrange(1_000, 60_000) if later \
                else first.timestamp
            again = Sent(i, partition, timestamp, first.tenant, first.key, (), first.value,
                         first.value_kind)
            retries[i].append(again)
            sends.append((i + rng.randrange(1, 300) + (c + 1) / 10, again))
    sends.sort(key=lambda item: item[0])
    records = [s for _, s in sends]
    # 1 % of the records lose one required header.
    for index in (rng.sample(range(len(records)), len(records) // 100) if dirty else []):
        records[index].missing = (rng.choice(REQUIRED),)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                         "enable.idempotence": True})
    next_offset = Counter()
    for r in records:
        r.offset = next_offset[r.partition]
        next_offset[r.partition] += 1
        producer.produce(topic, value=r.value, key=b"acct-%d" % (r.event % 997),
                         partition=r.partition, timestamp=r.timestamp, headers=r.headers())
    assert producer.flush(30) == 0
    return Events(topic, schema_id, records, retries, originals)


def expected(records: list[Sent], window: dict[int, tuple[int, int]] | None = None,
             examples: int = 5) -> dict:
    """The audit's definitions applied to the generator's own records: a key's first record
    is its earliest in (partition, offset) order, every other one a duplicate."""
    inside = sorted((r for r in records
                     if window is None or (r.partition in window
                                           and window[r.partition][0] <= r.offset
                                           < window[r.partition][1])),
                    key=lambda r: (r.partition, r.offset))
    by_key: dict[str, list[Sent]] = defaultdict(list)
    out = {"records": len(inside), "missing": Counter(), "partitions": Counter(),
           "dups_by_partition": Counter(), "tenants": defaultdict(Counter), "without_key": 0}
    for r in inside:
        out["partitions"][r.partition] += 1
        tenant = out["tenants"][r.tenant]
        tenant["records"] += 1
        for header in r.missing:
            out["missing"][header] += 1
            tenant[f"missing {header}"] += 1
        if r.key is None:
            out["without_key"] += 1
            tenant["without_key"] += 1
            continue
        if by_key[r.key]:
            out["dups_by_partition"][r.partition] += 1
            tenant["duplicates"] += 1
        by_key[r.key].append(r)
    repeated = {k: rs for k, rs in by_key.items() if len(rs) > 1}
    out["duplicates"] = sum(len(rs) - 1 for rs in repeated.values())
    out["keys"] = len(repeated)
    out["cross"] = sum(1 for rs in repeated.values() if len({r.partition for r in rs}) > 1)
    out["max_repeats"] = max((len(rs) - 1 for rs in repeated.values()), default=0)
    for rs in repeated.values():
        tenant = out["tenants"][rs[0].tenant]
        tenant["keys"] += 1
        tenant["cross"] += len({r.partition for r in rs}) > 1
        tenant["max_repeats"] = max(tenant["max_repeats"], len(rs) - 1)
    ranked = sorted(repeated.items(),
                    key=lambda kv: (-len(kv[1]), kv[1][0].partition, kv[1][0].offset))
    out["examples"] = [{"key": k, "records": len(rs),
                        "partitions": sorted({r.partition for r in rs}),
                        "occurrences": [{"partition": r.partition, "offset": r.offset}
                                        for r in rs[:10]]}
                       for k, rs in ranked[:examples]]
    out["schemas"] = Counter(r.value_kind for r in inside)
    return out


@pytest.fixture(scope="module")
def registry_url(services):
    return services.registry_url()


@pytest.fixture(scope="module")
def events(kafka_bootstrap, registry_url) -> Events:
    return generate(kafka_bootstrap, registry_url, 12_000, seed=1611)


@pytest.fixture(scope="module")
def clean(kafka_bootstrap, registry_url) -> Events:
    return generate(kafka_bootstrap, registry_url, 300, seed=7, dirty=False)


def audit_args(bootstrap: str, topic: str, *extra: str, registry: str | None = None):
    head = ["-b", bootstrap, *(["--schema-registry", registry] if registry else [])]
    return [*head, "topics", "audit", topic, "--idempotency-header", KEY,
            "--require-header", REQUIRED[0], "--require-header", REQUIRED[1], *extra]


def test_counts_equal_the_generators_bookkeeping(cli, kafka_bootstrap, registry_url, events):
    result = cli(*audit_args(kafka_bootstrap, events.topic, "--by-header", "tenant",
                             registry=registry_url), "-o", "json")
    assert result.code == 0, result.stderr
    doc = result.json()
    records = events.records
    # What the generator did, counted from its own plan.
    resends = [s for sends in events.retries.values() for s in sends]
    assert doc["records"] == len(records) == 12_000 + len(resends)
    dups = doc["duplicates"]
    assert dups["header"] == KEY
    assert dups["records"] == len(resends)
    assert dups["keys"] == len(events.retries) == 240
    assert dups["cross_partition_keys"] == sum(
        1 for i, sends in events.retries.items()
        if any(s.partition != events.originals[i].partition for s in sends))
    assert 0 < dups["cross_partition_keys"] < dups["keys"]
    assert dups["max_repeats"] == max(len(sends) for sends in events.retries.values()) == 3
    assert dups["without_key"] == sum(1 for r in records if r.key is None) == 20
    assert doc["missing_headers"] == {
        h: sum(1 for r in records if h in r.missing) for h in REQUIRED}
    assert sum(doc["missing_headers"].values()) == len(records) // 100
    # Per tenant: a resend keeps its event's tenant.
    assert doc["by_header"] == "tenant" and doc["by_absent"] is None
    assert sorted(doc["by"]) == sorted(TENANTS)
    for tenant, entry in doc["by"].items():
        mine = {i: sends for i, sends in events.retries.items()
                if events.originals[i].tenant == tenant}
        assert entry["records"] == sum(1 for r in records if r.tenant == tenant)
        assert entry["duplicates"] == {
            "records": sum(len(s) for s in mine.values()), "keys": len(mine),
            "cross_partition_keys": sum(1 for i, sends in mine.items() if any(
                s.partition != events.originals[i].partition for s in sends)),
            "max_repeats": max((len(s) for s in mine.values()), default=0),
            "without_key": sum(1 for r in records if r.tenant == tenant and r.key is None)}
        assert entry["missing_headers"] == {
            h: sum(1 for r in records if r.tenant == tenant and h in r.missing)
            for h in REQUIRED}
    # Per partition, and the examples, by the window's order.
    want = expected(records)
    assert [(p["partition"], p["start"], p["end"], p["records"], p["duplicates"])
            for p in doc["partitions"]] == [
        (p, 0, want["partitions"][p], want["partitions"][p], want["dups_by_partition"][p])
        for p in range(PARTITIONS)]
    assert sum(p["records"] for p in doc["partitions"]) == doc["records"]
    assert abs(sum(p["share"] for p in doc["partitions"]) - 1) < 0.001
    assert all(p["bytes"] > p["records"] * 40 for p in doc["partitions"])
    assert dups["examples"] == want["examples"]
    assert dups["examples"][0]["records"] == 4
    # Schemas: ids seen, values not in the wire format, the id the registry lacks.
    kinds = Counter(r.value_kind for r in records)
    schemas = doc["schemas"]
    assert schemas["ids"] == sorted([
        {"id": events.schema_id, "records": kinds["avro"], "known": True},
        {"id": UNKNOWN_ID, "records": kinds["unknown-id"], "known": False}],
        key=lambda s: s["id"])
    assert schemas["unknown_ids"] == [UNKNOWN_ID]
    assert schemas["unknown_id_records"] == kinds["unknown-id"] >= 10
    assert schemas["not_wire_format"] == kinds["json"] >= 30
    assert schemas["tombstones"] == kinds["tombstone"] >= 5
    window = doc["window"]
    assert window["partitions"] == list(range(PARTITIONS))
    assert window["offsets"] == len(records)
    assert (window["start"], window["end"], window["from_checkpoint"]) == (None, None, None)


def test_without_a_registry_schemas_are_not_checked(cli, kafka_bootstrap, events):
    doc = cli(*audit_args(kafka_bootstrap, events.topic), "-o", "json").json()
    assert doc["schemas"] is None and doc["by"] is None
    assert doc["duplicates"]["records"] == expected(events.records)["duplicates"]


@pytest.mark.parametrize("fail_on", ["duplicates", "missing", "any"])
def test_fail_on_exits_3_when_found_and_0_on_a_clean_topic(cli, kafka_bootstrap, events,
                                                           clean, fail_on):
    result = cli(*audit_args(kafka_bootstrap, events.topic, "--fail-on", fail_on),
                 "-o", "json")
    assert result.code == ExitCode.REFUSED, result.stderr
    assert result.json()["topic"] == events.topic  # the report is printed all the same
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"(--fail-on {fail_on})" in lines[0] and events.topic in lines[0]
    if fail_on in ("duplicates", "any"):
        assert f"{expected(events.records)['duplicates']} duplicate record(s)" in lines[0]
    if fail_on in ("missing", "any"):
        assert "without header producer" in lines[0]
    if fail_on == "duplicates":
        assert "without header" not in lines[0]
    result = cli(*audit_args(kafka_bootstrap, clean.topic, "--fail-on", fail_on), "-o", "json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["records"] == 300 and doc["duplicates"]["records"] == 0
    assert doc["missing_headers"] == {h: 0 for h in REQUIRED}


def test_window_options_restrict_the_audit(cli, kafka_bootstrap, events):
    records = events.records
    ends = Counter(r.partition for r in records)

    def run(*window):
        result = cli(*audit_args(kafka_bootstrap, events.topic, *window), "-o", "json")
        assert result.code == 0, result.stderr
        return result.json()

    def check(doc, window):
        want = expected(records, window)
        assert doc["records"] == want["records"]
        dups = doc["duplicates"]
        assert (dups["records"], dups["keys"], dups["cross_partition_keys"],
                dups["max_repeats"], dups["without_key"]) == (
            want["duplicates"], want["keys"], want["cross"], want["max_repeats"],
            want["without_key"])
        assert doc["missing_headers"] == {h: want["missing"][h] for h in REQUIRED}
        assert {p["partition"]: (p["start"], p["end"], p["records"], p["duplicates"])
                for p in doc["partitions"]} == {
            p: (s, e, want["partitions"][p], want["dups_by_partition"][p])
            for p, (s, e) in window.items()}
        assert dups["examples"] == want["examples"]

    # Offsets: a start for every partition, per-partition ends.
    window = {p: (500, min(ends[p], 1500 + 100 * p)) for p in range(PARTITIONS)}
    doc = run("--start-offset", "500", "--end-offset",
              ",".join(f"{p}:{e}" for p, (_, e) in window.items()))
    check(doc, window)
    assert doc["window"]["start_offset"] == 500
    assert doc["window"]["end_offset"] == {str(p): e for p, (_, e) in window.items()}
    # --partitions narrows everything retained.
    doc = run("--partitions", "1,4")
    check(doc, {p: (0, ends[p]) for p in (1, 4)})
    # Times: each partition's first record at or after --start, up to the first at or after
    # --end (resends with older timestamps sit among newer records).
    stamps = {r.timestamp for r in records}

    def between(t):  # a time no record has: ListOffsets' answer is then unambiguous
        while t in stamps:
            t += 1
        return t

    start, end = between(records[2000].timestamp + 3), between(records[9000].timestamp + 3)

    def first_at(p, t):
        return next((r.offset for r in records if r.partition == p and r.timestamp >= t),
                    ends[p])
    doc = run("--start", format_time(start), "--end", str(end))
    check(doc, {p: (first_at(p, start), first_at(p, end)) for p in range(PARTITIONS)})
    assert (doc["window"]["start"], doc["window"]["end"]) == (format_time(start),
                                                              format_time(end))
    # An end alone: from log-start.
    doc = run("--end-offset", "100")
    check(doc, {p: (0, 100) for p in range(PARTITIONS)})


def test_from_checkpoint_audits_what_came_after(cli, kafka_bootstrap, registry_url, tmp_path):
    events = generate(kafka_bootstrap, registry_url, 200, seed=3, dirty=False)
    made = cli("-b", kafka_bootstrap, "checkpoint", "create", "wave-a", "--topic",
               events.topic, "--dir", tmp_path)
    assert made.code == 0, made.stderr
    # Later: three events resent (duplicates of keys from before the checkpoint, so not
    # duplicates inside the window) and one of them twice.
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in (5, 6, 7, 7):
        original = events.originals[i]
        producer.produce(events.topic, value=original.value, partition=original.partition,
                         headers=original.headers())
    assert producer.flush(30) == 0
    result = cli(*audit_args(kafka_bootstrap, events.topic, "--from-checkpoint", "wave-a",
                             "--dir", tmp_path), "-o", "json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["records"] == 4
    assert (doc["duplicates"]["records"], doc["duplicates"]["keys"]) == (1, 1)
    assert doc["window"]["from_checkpoint"] == "wave-a"


def test_table_fits_80_columns(cli, kafka_bootstrap, registry_url, events, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = cli(*audit_args(kafka_bootstrap, events.topic, "--by-header", "tenant",
                             registry=registry_url))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    doc = cli(*audit_args(kafka_bootstrap, events.topic, "--by-header", "tenant",
                          registry=registry_url), "-o", "yaml").yaml()
    # Every number whole on its line: the records per partition and per tenant.
    for p in doc["partitions"]:
        assert any(line.split()[:4] == [str(p["partition"]), str(p["start"]), str(p["end"]),
                                        str(p["records"])] for line in lines), p
    for tenant, entry in doc["by"].items():
        assert any(line.split()[:2] == [tenant, str(entry["records"])] for line in lines)
    for example in doc["duplicates"]["examples"]:
        assert any(line.split()[:2] == [example["key"], str(example["records"])]
                   for line in lines)


def test_unknown_topic_exits_4(cli, kafka_bootstrap):
    result = cli("-b", kafka_bootstrap, "topics", "audit", unique("no-such-topic"),
                 "--idempotency-header", KEY)
    assert result.code == ExitCode.NOT_FOUND
    assert "does not exist" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("extra, sentence", [
    (["--fail-on", "often"], "--fail-on: 'often' is not one of duplicates, missing, any."),
    (["--examples", "-1"], "--examples must be between 0 and 1000"),
    (["--start-offset", "x"], "--start-offset: 'x' is not an offset"),
    (["--start", "yesterday"], "--start: 'yesterday' is not a time"),
    (["--start", "2026-11-26T03:00:00Z", "--end", "2026-11-26T02:00:00Z"],
     "--end must be after --start"),
    (["--group", "g"], "--group and --to-checkpoint need --from-checkpoint"),
    (["--from-checkpoint", "w", "--start-offset", "0"], "--from-checkpoint gives the window"),
    (["--partitions", "1-"], "--partitions: '1-' is not a partition list"),
    (["--by-header", ""], "--by-header was given an empty header name"),
])
def test_bad_option_values_exit_2_with_a_sentence(cli, kafka_bootstrap, events, extra,
                                                  sentence):
    result = cli(*audit_args(kafka_bootstrap, events.topic, *extra))
    assert result.code == ExitCode.USAGE, result.stderr
    assert sentence in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_fail_on_duplicates_needs_an_idempotency_header(cli, kafka_bootstrap, events):
    result = cli("-b", kafka_bootstrap, "topics", "audit", events.topic,
                 "--fail-on", "duplicates")
    assert result.code == ExitCode.USAGE
    assert "--fail-on duplicates needs an idempotency header" in result.stderr


def test_an_unreachable_registry_exits_5_before_reading(cli, kafka_bootstrap, events):
    result = cli("--timeout", "3", *audit_args(kafka_bootstrap, events.topic,
                                               registry="http://127.0.0.1:1/apis/ccompat/v7"))
    assert result.code == ExitCode.CLUSTER, result.stderr
    assert "cannot reach the schema registry at http://127.0.0.1:1" in result.stderr
    assert result.stdout == ""


def test_examples_zero_and_a_clean_report(cli, kafka_bootstrap, clean):
    doc = cli(*audit_args(kafka_bootstrap, clean.topic, "--examples", "0"), "-o", "json").json()
    assert doc["duplicates"]["examples"] == []
    assert doc["duplicates"]["max_repeats"] == 0
    assert [p["duplicates"] for p in doc["partitions"]] == [0] * PARTITIONS
