"""Schemas wired into the commands, on a real broker and a real Apicurio Registry: Avro events
written by confluent-kafka's AvroSerializer with two schema versions, peeked decoded, captured
in checkpoints with ids, versions and fingerprints, diffed across a schema change, and
replayed with --validate avro under each --on-invalid policy past corrupt payloads, unknown
schema ids and values without the magic byte."""

import base64
import dataclasses
import json
import struct
from dataclasses import dataclass

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import OffsetSpec
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from support.kafkautil import admin, create_topic, produce, read_all
from support.names import unique

from ingestctl import checkpoints, sandbox
from ingestctl.serde import schema

PAYMENT_V1 = {
    "type": "record", "name": "Payment", "namespace": "acme.payments",
    "fields": [{"name": "id", "type": "long"}, {"name": "account", "type": "string"}],
}
PAYMENT_V2 = {
    "type": "record", "name": "Payment", "namespace": "acme.payments",
    "fields": [{"name": "id", "type": "long"}, {"name": "account", "type": "string"},
               {"name": "amount", "type": "int", "default": 0}],
}
PAYMENT_V3 = {
    "type": "record", "name": "Payment", "namespace": "acme.payments",
    "fields": [{"name": "id", "type": "long"}, {"name": "account", "type": "string"},
               {"name": "amount", "type": "int", "default": 0},
               {"name": "currency", "type": "string", "default": "EUR"}],
}
UNKNOWN_ID = 2**31 - 7


@pytest.fixture(scope="module")
def registry_url(services):
    return services.registry_url()


def serializer(registry_url: str, schema_dict) -> AvroSerializer:
    client = SchemaRegistryClient({"url": registry_url})
    # The plain topic strategy: the default first asks for topic associations, an API
    # Apicurio lacks (404), and the client once hung right after that answer.
    return AvroSerializer(client, json.dumps(schema_dict),
                          conf={"auto.register.schemas": True,
                                "subject.name.strategy": topic_subject_name_strategy})


@dataclass
class Events:
    """Partition 0: good v1/v2 records between a corrupt payload (offset 2), an unknown schema
    id (4) and a value without the magic byte (6). Partition 1: good records and a tombstone."""

    topic: str
    id1: int
    id2: int
    values: dict[tuple[int, int], bytes | None]  # (partition, offset) -> value as produced
    decoded: dict[tuple[int, int], dict]  # the good records' data
    bad: dict[tuple[int, int], str]  # (partition, offset) -> InvalidRecordError reason

    def window_size(self) -> int:
        return len(self.values)


@pytest.fixture(scope="module")
def events(kafka_bootstrap, registry_url) -> Events:
    topic = unique("schema-events")
    create_topic(kafka_bootstrap, topic, partitions=2)
    ctx = SerializationContext(topic, MessageField.VALUE)
    v1, v2 = serializer(registry_url, PAYMENT_V1), serializer(registry_url, PAYMENT_V2)

    def payment(n, amount=None):
        data = {"id": n, "account": f"acct-{n}"}
        return data if amount is None else {**data, "amount": amount}

    good_v1 = v1(payment(3), ctx)
    plan = {
        (0, 0): (v1, payment(0)), (0, 1): (v2, payment(1, 250)),
        (0, 2): good_v1[:-1],  # the string ends early
        (0, 3): (v1, payment(3)),
        (0, 4): b"\x00" + struct.pack(">I", UNKNOWN_ID) + good_v1[5:],
        (0, 5): (v2, payment(5, 500)),
        (0, 6): b'{"id": 6, "account": "acct-6"}',
        (0, 7): (v1, payment(7)),
        (1, 0): (v2, payment(10, 1000)), (1, 1): None, (1, 2): (v1, payment(12)),
    }
    values, decoded = {}, {}
    for at, spec in plan.items():
        if isinstance(spec, tuple):
            ser, data = spec
            values[at] = ser(data, ctx)
            decoded[at] = data
        else:
            values[at] = spec
    produce(kafka_bootstrap, topic, [
        {"partition": p, "key": f"k{p}-{o}".encode(), "value": value,
         "headers": [("tenant", b"acme")]}
        for (p, o), value in sorted(values.items())])
    client = SchemaRegistryClient({"url": registry_url})
    id1 = client.get_version(f"{topic}-value", 1).schema_id
    id2 = client.get_version(f"{topic}-value", 2).schema_id
    bad = {(0, 2): schema.CORRUPT_PAYLOAD, (0, 4): schema.UNKNOWN_SCHEMA_ID,
           (0, 6): schema.NO_MAGIC_BYTE}
    return Events(topic, id1, id2, values, decoded, bad)


def schema_id(value: bytes) -> int:
    return struct.unpack(">I", value[1:5])[0]


# --- topics peek --decode avro --------------------------------------------------------------

def test_peek_decodes_two_schema_versions_and_names_each_bad_record(
        cli, kafka_bootstrap, registry_url, events):
    result = cli("-b", kafka_bootstrap, "--schema-registry", registry_url, "topics", "peek",
                 events.topic, "--offset", "0", "--count", "10", "--decode", "avro", "-o", "json")
    assert result.code == 0, result.stderr
    records = {(r["partition"], r["offset"]): r for r in result.json()}
    assert set(records) == set(events.values)
    subject = f"{events.topic}-value"
    for at, data in events.decoded.items():
        r = records[at]
        sid = schema_id(events.values[at])
        version = 1 if sid == events.id1 else 2
        assert (r["value"], r["value_encoding"]) == (data, "avro"), at
        assert r["schema"] == {"id": sid, "subject": subject, "version": version}, at
        assert r["decode_error"] is None and r["key"] == f"k{at[0]}-{at[1]}"
        assert r["headers"] == {"tenant": "acme"}
    assert {at for at, r in records.items() if r["schema"] and r["schema"]["version"] == 2} == {
        (0, 1), (0, 5), (1, 0)}
    for at, reason in events.bad.items():
        r = records[at]
        assert r["decode_error_reason"] == reason, at
        assert r["decode_error"].endswith(".") and "\n" not in r["decode_error"]
        # the raw value is kept, byte for byte
        raw = (base64.b64decode(r["value"]) if r["value_encoding"] == "base64"
               else r["value"].encode())
        assert raw == events.values[at]
    assert records[(0, 2)]["schema"] == {"id": events.id1, "subject": subject, "version": 1}
    assert records[(0, 4)]["schema"] == {"id": UNKNOWN_ID, "subject": None, "version": None}
    assert "40403" in records[(0, 4)]["decode_error"]
    assert records[(0, 6)]["schema"] is None and "magic byte 0" in records[(0, 6)]["decode_error"]
    tombstone = records[(1, 1)]
    assert (tombstone["value"], tombstone["schema"], tombstone["decode_error"]) == (
        None, None, None)
    assert "3 record(s) did not decode" in result.stderr


def test_peek_table_names_bad_records_on_stderr(cli, kafka_bootstrap, registry_url, events,
                                                monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # no wrapping: the columns are checked whole
    result = cli("-b", kafka_bootstrap, "--schema-registry", registry_url, "topics", "peek",
                 events.topic, "--partition", "0", "--offset", "1", "--count", "3",
                 "--decode", "avro")
    assert result.code == 0, result.stderr
    assert (f"{events.topic}[0] offset 2: the value does not decode as Avro with schema id "
            f"{events.id1}") in result.stderr.replace("\n", " ")
    assert '{"id":1,"account":"acct-1","amount":250}' in result.stdout
    assert f"id {events.id2}: {events.topic}-value v2" in result.stdout
    assert "not decoded: corrupt-payload" in result.stdout


def test_peek_decode_needs_a_reachable_registry(cli, kafka_bootstrap, events):
    no_registry = cli("-b", kafka_bootstrap, "topics", "peek", events.topic, "--decode", "avro")
    assert no_registry.code == 2 and "--schema-registry" in no_registry.stderr
    wrong = cli("-b", kafka_bootstrap, "--schema-registry", "http://127.0.0.1:1", "topics",
                "peek", events.topic, "--decode", "protobuf")
    assert wrong.code == 2 and "--decode: 'protobuf' is not one of avro" in wrong.stderr
    down = f"http://127.0.0.1:{sandbox.free_port()}/apis/ccompat/v7"
    unreachable = cli("-b", kafka_bootstrap, "--schema-registry", down, "--timeout", "3",
                      "topics", "peek", events.topic, "--decode", "avro", "-o", "json")
    assert unreachable.code == 5, unreachable.stderr
    assert "cannot reach the schema registry" in unreachable.stderr
    assert unreachable.stdout == "" and "Traceback" not in unreachable.stderr


# --- checkpoints ----------------------------------------------------------------------------

def test_checkpoints_capture_and_diff_schema_versions(cli, kafka_bootstrap, registry_url,
                                                     tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    topic = unique("schema-cp")
    create_topic(kafka_bootstrap, topic, partitions=2)
    key_ctx = SerializationContext(topic, MessageField.KEY)
    ctx = SerializationContext(topic, MessageField.VALUE)
    key_ser = serializer(registry_url, "string")
    v1, v2, v3 = (serializer(registry_url, s) for s in (PAYMENT_V1, PAYMENT_V2, PAYMENT_V3))
    produce(kafka_bootstrap, topic, [
        {"partition": 0, "key": key_ser("a", key_ctx),
         "value": v1({"id": 1, "account": "a"}, ctx)},
        {"partition": 0, "key": b"plain-key",
         "value": v2({"id": 2, "account": "a", "amount": 5}, ctx)},
        {"partition": 1, "key": key_ser("b", key_ctx),
         "value": v1({"id": 3, "account": "b"}, ctx)},
    ])
    client = SchemaRegistryClient({"url": registry_url})
    key_id = client.get_version(f"{topic}-key", 1).schema_id
    id1, id2 = (client.get_version(f"{topic}-value", v).schema_id for v in (1, 2))
    directory = tmp_path / "cps"
    base = ["-b", kafka_bootstrap, "--schema-registry", registry_url]

    created = cli(*base, "checkpoint", "create", "w", "--topic", topic, "--dir", directory,
                  "-o", "json")
    assert created.code == 0, created.stderr
    first = created.json()
    assert first["schemas"] == {
        f"{topic}-key": {"id": key_id, "version": 1,
                         "fingerprint": schema.fingerprint('"string"')},
        f"{topic}-value": {"id": id2, "version": 2,
                           "fingerprint": schema.fingerprint(PAYMENT_V2)},
    }
    # the last record's ids: partition 0's key is plain bytes, partition 1's is Avro too
    assert [p["schema_ids"] for p in first["topics"][topic]["partitions"]] == [
        [id2], sorted([key_id, id1])]
    shown = cli("checkpoint", "show", "w", "--dir", directory, "-o", "json").json()
    assert shown["schemas"] == first["schemas"]

    # A third version arrives and partition 0's last record uses it.
    produce(kafka_bootstrap, topic, [
        {"partition": 0, "key": b"k", "value": v3({"id": 4, "account": "a", "amount": 1,
                                                   "currency": "NOK"}, ctx)}])
    id3 = client.get_version(f"{topic}-value", 3).schema_id
    expected = [
        {"topic": topic, "partition": 0, "from": [id2], "to": [id3]},
        {"subject": f"{topic}-value",
         "from": {"id": id2, "version": 2, "fingerprint": schema.fingerprint(PAYMENT_V2)},
         "to": {"id": id3, "version": 3, "fingerprint": schema.fingerprint(PAYMENT_V3)}},
    ]
    live = cli(*base, "checkpoint", "diff", "w", "--live", "--dir", directory, "-o", "json")
    assert live.code == 0, live.stderr
    assert live.json()["schemas_changed"] == expected
    assert cli(*base, "checkpoint", "create", "w", "--topic", topic, "--dir", directory).code == 0
    between = cli("checkpoint", "diff", "w@1", "w@2", "--dir", directory, "-o", "json").json()
    assert between["schemas_changed"] == expected and between["subjects_compared"] is True
    table = cli("checkpoint", "diff", "w@1", "w@2", "--dir", directory)
    assert (f"schema changed: {topic}-value: version 2 (id {id2}) -> version 3 (id {id3})"
            in table.stdout)

    # Without a registry the live side knows no subjects: they are not compared, and said so.
    blind = cli("-b", kafka_bootstrap, "checkpoint", "diff", "w@1", "--live", "--dir",
                directory, "-o", "json")
    assert blind.code == 0, blind.stderr
    assert blind.json()["schemas_changed"] == expected[:1]
    assert blind.json()["subjects_compared"] is False
    assert "schema subjects not compared" in blind.stderr


def test_checkpoint_without_subjects_or_registry(cli, kafka_bootstrap, registry_url, tmp_path):
    topic = unique("schema-none")
    create_topic(kafka_bootstrap, topic)
    produce(kafka_bootstrap, topic, [{"value": b"\x00\x00\x00\x00\x07payload"}])
    with_registry = cli("-b", kafka_bootstrap, "--schema-registry", registry_url, "checkpoint",
                        "create", "w", "--topic", topic, "--dir", tmp_path, "-o", "json")
    assert with_registry.code == 0, with_registry.stderr
    assert with_registry.json()["schemas"] == {}
    assert with_registry.json()["topics"][topic]["partitions"][0]["schema_ids"] == [7]
    down = f"http://127.0.0.1:{sandbox.free_port()}/apis/ccompat/v7"
    unreachable = cli("-b", kafka_bootstrap, "--schema-registry", down, "--timeout", "3",
                      "checkpoint", "create", "w", "--topic", topic, "--dir", tmp_path)
    assert unreachable.code == 5 and "cannot reach the schema registry" in unreachable.stderr
    assert len(list((tmp_path / "w").iterdir())) == 1  # nothing written by the failed one


def test_subjects_without_a_fingerprint_round_trip():
    """A Protobuf or JSON Schema subject has no Avro fingerprint: null in the file."""
    cp = checkpoints.Checkpoint(
        wave="w", created_at=1_764_120_000_000, cluster_id="c", note=None, topics={},
        groups={}, schemas={"t-value": checkpoints.SchemaVersion(3, 1, None),
                            "u-value": checkpoints.SchemaVersion(4, 2, "sha256:ab")})
    assert checkpoints.loads(checkpoints.dumps(cp)) == cp
    later = dataclasses.replace(cp, schemas={"u-value": checkpoints.SchemaVersion(5, 3, None)})
    changed = checkpoints.diff(cp, later, "a", "b")["schemas_changed"]
    assert changed == [
        {"subject": "t-value", "from": {"id": 3, "version": 1, "fingerprint": None},
         "to": None},
        {"subject": "u-value", "from": {"id": 4, "version": 2, "fingerprint": "sha256:ab"},
         "to": {"id": 5, "version": 3, "fingerprint": None}}]
    assert checkpoints.diff(cp, later, "a", "b", compare_subjects=False)["schemas_changed"] == []


# --- replay --validate avro -----------------------------------------------------------------

def copies(bootstrap: str, topic: str, partitions=(0, 1)) -> dict[tuple[int, int], object]:
    """A topic's committed records by (source partition, source offset); fails on a
    duplicate."""
    out = {}
    for msg in read_all(bootstrap, topic, list(partitions)):
        headers = dict(msg.headers())
        at = (int(headers["ingestctl-source-partition"]),
              int(headers["ingestctl-source-offset"]))
        assert at not in out, f"source record {at} was written twice"
        out[at] = msg
    return out


def run_replay(cli, bootstrap, registry_url, events, target, *args):
    result = cli("-b", bootstrap, "--schema-registry", registry_url, "replay", "--from-topic",
                 events.topic, "--to-topic", target, "--start-offset", "0", *args, "--execute",
                 "-o", "json")
    return result, (result.json() if result.stdout else None)


def counts(summary) -> dict[int, tuple[int, int, int]]:
    return {r["partition"]: (r["next"], r["records"], r["invalid"])
            for r in summary["partitions"]}


def test_replay_skip_counts_invalid_records_and_copies_the_rest(
        cli, kafka_bootstrap, registry_url, events):
    target = unique("schema-skip")
    create_topic(kafka_bootstrap, target, partitions=2)
    # two worker processes: the policy travels with the plan
    result, summary = run_replay(cli, kafka_bootstrap, registry_url, events, target,
                                 "--validate", "avro", "--on-invalid", "skip", "--workers", "2")
    assert result.code == 0, result.stderr
    assert summary["status"] == "completed"
    assert (summary["records"], summary["invalid"], summary["filtered"]) == (8, 3, 0)
    assert summary["records"] + summary["filtered"] + summary["invalid"] == events.window_size()
    assert counts(summary) == {0: (8, 5, 3), 1: (3, 3, 0)}
    assert summary["validation"] == {"format": "avro", "on_invalid": "skip",
                                     "dead_letter_topic": None}
    copied = copies(kafka_bootstrap, target)
    assert set(copied) == set(events.values) - set(events.bad)
    for at, msg in copied.items():
        assert msg.value() == events.values[at] and msg.partition() == at[0]
    assert copied[(1, 1)].value() is None  # a tombstone has no schema and passes


def test_replay_dead_letters_invalid_records_with_the_reason(
        cli, kafka_bootstrap, registry_url, events):
    target, dead = unique("schema-dlt-target"), unique("schema-dlt")
    create_topic(kafka_bootstrap, target, partitions=2)
    create_topic(kafka_bootstrap, dead)
    result, summary = run_replay(cli, kafka_bootstrap, registry_url, events, target,
                                 "--validate", "avro", "--on-invalid", "dead-letter", dead)
    assert result.code == 0, result.stderr
    assert (summary["records"], summary["invalid"]) == (8, 3)
    assert counts(summary) == {0: (8, 5, 3), 1: (3, 3, 0)}
    assert set(copies(kafka_bootstrap, target)) == set(events.values) - set(events.bad)
    letters = copies(kafka_bootstrap, dead, [0])
    assert set(letters) == set(events.bad)
    for at, msg in letters.items():
        headers = dict(msg.headers())
        assert msg.value() == events.values[at]  # as it was, byte for byte
        assert msg.key() == f"k{at[0]}-{at[1]}".encode()
        assert headers["tenant"] == b"acme"
        assert headers["ingestctl-replay-id"] == summary["replay_id"].encode()
        assert headers["ingestctl-source-topic"] == events.topic.encode()
        assert headers["ingestctl-invalid-reason"] == events.bad[at].encode()
        assert headers["ingestctl-invalid-detail"].endswith(b".")
    assert b"40403" in dict(letters[(0, 4)].headers())["ingestctl-invalid-detail"]
    # written transactionally, with the replay's records: a commit marker follows them
    client = admin(kafka_bootstrap)  # must outlive its future
    future = client.list_offsets({TopicPartition(dead, 0): OffsetSpec.latest()})
    high = next(iter(future.values())).result(timeout=30).offset
    assert high > max(msg.offset() for msg in letters.values()) + 1


def test_replay_fail_stops_before_the_first_invalid_record_and_resumes_there(
        cli, kafka_bootstrap, registry_url, events):
    target, dead = unique("schema-fail-target"), unique("schema-fail-dlt")
    create_topic(kafka_bootstrap, target, partitions=2)
    create_topic(kafka_bootstrap, dead)
    result, summary = run_replay(cli, kafka_bootstrap, registry_url, events, target,
                                 "--validate", "avro")  # fail is the default
    assert result.code == 6, result.stderr
    assert (f"stopped before {events.topic} partition 0 offset 2, an invalid record: the value "
            f"does not decode as Avro with schema id {events.id1}") in result.stderr
    assert summary["status"] == "incomplete" and summary["invalid"] == 0
    first = counts(summary)
    assert first[0] == (2, 2, 0)
    # Partition 1 went as far as the stop allowed (its records are all valid): whatever the
    # summary says was copied is exactly what the target holds.
    copied = copies(kafka_bootstrap, target)
    assert set(copied) == {(0, 0), (0, 1)} | {(1, o) for o in range(first[1][0])}
    replay_id = summary["replay_id"]

    again, summary = run_replay(cli, kafka_bootstrap, registry_url, events, target,
                                "--validate", "avro", "--on-invalid", "fail")
    assert again.code == 6 and "partition 0 offset 2" in again.stderr
    assert summary["replay_id"] == replay_id and counts(summary)[0] == (2, 2, 0)

    # The policy is not part of the replay's identity: dead-letter resumes the same replay.
    resumed, summary = run_replay(cli, kafka_bootstrap, registry_url, events, target,
                                  "--validate", "avro", "--on-invalid", "dead-letter", dead)
    assert resumed.code == 0, resumed.stderr
    assert summary["replay_id"] == replay_id
    assert {"partition": 0, "offset": 2} in summary["resumed_from"]
    assert (summary["records"], summary["invalid"]) == (8, 3)
    assert counts(summary) == {0: (8, 5, 3), 1: (3, 3, 0)}
    assert set(copies(kafka_bootstrap, target)) == set(events.values) - set(events.bad)
    assert set(copies(kafka_bootstrap, dead, [0])) == set(events.bad)


def test_replay_without_validate_copies_every_byte(cli, kafka_bootstrap, events):
    target = unique("schema-raw")
    create_topic(kafka_bootstrap, target, partitions=2)
    result = cli("-b", kafka_bootstrap, "replay", "--from-topic", events.topic, "--to-topic",
                 target, "--start-offset", "0", "--execute", "-o", "json")
    assert result.code == 0, result.stderr
    assert (result.json()["records"], result.json()["invalid"]) == (11, 0)
    assert result.json()["validation"] is None
    copied = copies(kafka_bootstrap, target)
    assert {at: msg.value() for at, msg in copied.items()} == events.values


def test_replay_validate_refusals_write_nothing(cli, kafka_bootstrap, registry_url, events):
    target = unique("schema-refused")
    create_topic(kafka_bootstrap, target, partitions=2)
    base = ["replay", "--from-topic", events.topic, "--to-topic", target, "--start-offset", "0"]
    down = f"http://127.0.0.1:{sandbox.free_port()}/apis/ccompat/v7"
    cases = [
        ([], ["--validate", "avro"], 2, "--schema-registry"),
        (["--schema-registry", down, "--timeout", "3"], ["--validate", "avro"], 5,
         "cannot reach the schema registry"),
        (["--schema-registry", registry_url], ["--validate", "avro", "--on-invalid",
                                               "dead-letter", unique("missing")], 4,
         "does not exist on the target cluster"),
        (["--schema-registry", registry_url], ["--validate", "avro", "--on-invalid",
                                               "dead-letter", target], 2, "target topic"),
        (["--schema-registry", registry_url], ["--validate", "avro", "--on-invalid",
                                               "dead-letter"], 2, "dead-letter TOPIC"),
        (["--schema-registry", registry_url], ["--on-invalid", "skip"], 2,
         "--on-invalid needs --validate avro"),
        (["--schema-registry", registry_url], ["--validate", "json"], 2,
         "--validate: 'json' is not one of avro"),
        (["--schema-registry", registry_url], ["--validate", "avro", "--on-invalid", "drop"],
         2, "--on-invalid: 'drop'"),
    ]
    for globals_, options, code, message in cases:
        result = cli("-b", kafka_bootstrap, *globals_, *base, *options, "--execute")
        assert result.code == code, (options, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, options
    assert read_all(kafka_bootstrap, target, [0, 1]) == []


def test_checker_judges_values_of_a_cached_schema_as_strictly_as_the_first(registry_url,
                                                                          events):
    """Once a schema id decoded, its values take a fast path: it must still catch them all."""
    from ingestctl.config import Settings
    from ingestctl.replay.validate import checker

    problem = checker(Settings(schema_registry_url=registry_url))
    good = events.values[(0, 0)]
    assert problem(good) is None and problem(good) is None  # the second is the cached path
    cases = {good + b"\x00": schema.CORRUPT_PAYLOAD, good[:-1]: schema.CORRUPT_PAYLOAD,
             good[:5]: schema.CORRUPT_PAYLOAD, good[:3]: schema.NO_MAGIC_BYTE,
             b"\x01" + good[1:]: schema.NO_MAGIC_BYTE,
             events.values[(0, 4)]: schema.UNKNOWN_SCHEMA_ID}
    for value, reason in cases.items():
        assert problem(value).reason == reason, value
    assert problem(None) is None
    assert problem(events.values[(0, 1)]) is None  # another version, another header


def test_on_invalid_dead_letter_reads_its_topic():
    from ingestctl.cli.replay import _dead_letter_topic
    from ingestctl.replay.validate import Validation

    assert _dead_letter_topic(["--on-invalid", "dead-letter", "dlq", "--execute"]) == [
        "--on-invalid", "dead-letter", "--dead-letter-topic", "dlq", "--execute"]
    assert _dead_letter_topic(["--on-invalid=dead-letter", "dlq"]) == [
        "--on-invalid=dead-letter", "--dead-letter-topic", "dlq"]
    for unchanged in (["--on-invalid", "skip", "x"], ["--on-invalid", "dead-letter"],
                      ["--on-invalid", "dead-letter", "--execute"],
                      ["--", "--on-invalid", "dead-letter", "x"]):
        assert _dead_letter_topic(unchanged) == unchanged
    assert Validation.parse(None, None, None) is None
    assert Validation.parse("avro", None, None) == Validation("avro", "fail", None)
    assert Validation.parse("avro", "dead-letter", "dlq").as_dict() == {
        "format": "avro", "on_invalid": "dead-letter", "dead_letter_topic": "dlq"}
