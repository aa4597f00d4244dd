"""`checkpoint create|list|show|diff|verify` against the real broker, with exact numbers."""

import stat
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions
from support.kafkautil import commit, create_topic, produce
from support.names import unique

from ingestctl import checkpoints
from ingestctl.errors import ExitCode
from ingestctl.parsing import format_time

# Fixed record timestamps make every number exact; an hour ago keeps them inside retention.
BASE = (int(time.time()) - 3600) * 1000
WIRE_42 = b"\x00\x00\x00\x00\x2a" + b"avro-bytes"


def ts(partition: int, i: int) -> int:
    return BASE + partition * 100_000 + i * 1000


def records(partition: int, start: int, count: int, value=b"v"):
    return [{"partition": partition, "key": f"k{partition}-{i}".encode(), "value": value,
             "timestamp": ts(partition, i)} for i in range(start, start + count)]


def delete_records(bootstrap: str, topic: str, partition: int, before: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.delete_records([TopicPartition(topic, partition, before)])
    for future in futures.values():
        future.result(30)


@pytest.fixture
def scenario(kafka_bootstrap, tmp_path):
    """A 2-partition topic: p0 holds 10 records (the last one in wire format, schema 42),
    p1 holds 6; the group is 4 records into p0 and caught up on p1."""
    topic, group = unique("cp-topic"), unique("cp-group")
    create_topic(kafka_bootstrap, topic, partitions=2)
    produce(kafka_bootstrap, topic, records(0, 0, 9) + records(0, 9, 1, WIRE_42)
            + records(1, 0, 6))
    commit(kafka_bootstrap, group, topic, {0: 4, 1: 6})
    return topic, group, tmp_path / "cps"


def test_create_list_show_with_exact_numbers(cli, kafka_bootstrap, scenario):
    topic, group, directory = scenario
    result = cli("-b", kafka_bootstrap, "checkpoint", "create", "wave-1", "--group", group,
                 "--note", "before cutover", "--dir", directory, "-o", "json")
    assert result.code == 0, result.stderr
    created = result.json()
    path = Path(created["path"])
    assert path.parent == directory / "wave-1" and "checkpoint written to" in result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert created["wave"] == "wave-1" and created["note"] == "before cutover"
    assert created["topics"] == {topic: {"partitions": [
        {"partition": 0, "log_start": 0, "end": 10, "first_timestamp": format_time(ts(0, 0)),
         "last_timestamp": format_time(ts(0, 9)), "schema_ids": [42]},
        {"partition": 1, "log_start": 0, "end": 6, "first_timestamp": format_time(ts(1, 0)),
         "last_timestamp": format_time(ts(1, 5)), "schema_ids": []},
    ]}}
    assert created["groups"] == {group: {"state": "Empty", "members": 0, "offsets": {topic: [
        {"partition": 0, "offset": 4, "next_timestamp": format_time(ts(0, 4)),
         "last_timestamp": format_time(ts(0, 3))},
        {"partition": 1, "offset": 6, "next_timestamp": None,
         "last_timestamp": format_time(ts(1, 5))},
    ]}}}
    assert created["schemas"] == {} and created["connectors"] == {}
    cluster_id = cli("-b", kafka_bootstrap, "cluster", "info", "-o", "json").json()["cluster_id"]
    assert created["cluster_id"] == cluster_id

    listed = cli("checkpoint", "list", "--dir", directory, "-o", "json")
    assert listed.code == 0
    assert [(e["ref"], e["path"], e["note"], e["groups"], e["topics"]) for e in listed.json()] \
        == [("wave-1@1", str(path), "before cutover", 1, 1)]
    for ref in ("wave-1", "wave-1@1", str(path)):
        shown = cli("checkpoint", "show", ref, "--dir", directory, "-o", "json")
        assert shown.code == 0 and shown.json() == created
    table = cli("checkpoint", "show", "wave-1", "--dir", directory)
    assert table.code == 0 and topic[:8] in table.stdout
    missing = cli("checkpoint", "show", "wave-1@2", "--dir", directory)
    assert missing.code == ExitCode.NOT_FOUND and "wave wave-1 has 1 checkpoint" in missing.stderr


def test_diff_between_checkpoints_and_live(cli, kafka_bootstrap, scenario):
    topic, group, directory = scenario
    base = ["-b", kafka_bootstrap]
    assert cli(*base, "checkpoint", "create", "w", "--group", group, "--dir", directory).code == 0
    produce(kafka_bootstrap, topic, records(0, 10, 5) + records(1, 6, 2))
    commit(kafka_bootstrap, group, topic, {0: 12, 1: 8})
    assert cli(*base, "checkpoint", "create", "w", "--group", group, "--dir", directory).code == 0

    result = cli(*base, "checkpoint", "diff", "w@1", "w@2", "--dir", directory, "-o", "json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert data["to"] == str(checkpoints.resolve_ref("w@2", directory))
    assert [(t["partition"], t["produced"], t["log_start_moved"]) for t in data["topics"]] == \
        [(0, 5, 0), (1, 2, 0)]
    assert [(g["group"], g["partition"], g["consumed"]) for g in data["groups"]] == \
        [(group, 0, 8), (group, 1, 2)]
    assert data["partitions_added"] == [] and data["partitions_removed"] == []
    assert data["schemas_changed"] == [{"topic": topic, "partition": 0, "from": [42], "to": []}]

    # After more records are produced and consumed, and a partition is added:
    produce(kafka_bootstrap, topic, records(0, 15, 3) + records(1, 8, 1))
    commit(kafka_bootstrap, group, topic, {0: 18, 1: 9})
    delete_records(kafka_bootstrap, topic, 1, 3)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_partitions([NewPartitions(topic, 3)])[topic].result(30)
    live = cli(*base, "checkpoint", "diff", "w", "--live", "--dir", directory, "-o", "json")
    assert live.code == 0, live.stderr
    data = live.json()
    assert data["to"] == "live" and data["same_cluster"] is True
    assert [(t["partition"], t["produced"], t["log_start_moved"]) for t in data["topics"]] == \
        [(0, 3, 0), (1, 1, 3)]
    assert [(g["partition"], g["consumed"]) for g in data["groups"]] == [(0, 6), (1, 1)]
    assert data["partitions_added"] == [{"topic": topic, "partition": 2}]
    table = cli(*base, "checkpoint", "diff", "w@1", "--live", "--dir", directory)
    assert table.code == 0 and "partitions added" in table.stdout

    usage = cli(*base, "checkpoint", "diff", "w@1", "w@2", "--live", "--dir", directory)
    assert usage.code == ExitCode.USAGE


def test_verify_reports_deleted_offsets_partitions_and_another_cluster(
        cli, kafka_bootstrap, second_bootstrap, scenario):
    topic, group, directory = scenario
    base = ["-b", kafka_bootstrap]
    assert cli(*base, "checkpoint", "create", "w", "--group", group, "--dir", directory).code == 0
    ok = cli(*base, "checkpoint", "verify", "w", "--dir", directory, "-o", "json")
    assert ok.code == 0, ok.stderr
    assert ok.json()["intact"] is True and ok.json()["applicable"] is True

    delete_records(kafka_bootstrap, topic, 0, 6)  # the group's recorded offset 4 is gone
    refused = cli(*base, "checkpoint", "verify", "w", "--dir", directory)
    assert refused.code == ExitCode.REFUSED and refused.stdout == ""
    assert "does not apply" in refused.stderr and "Traceback" not in refused.stderr
    assert f"group {group}: {topic}[0] offset 4 is below the log-start 6" in refused.stderr
    assert f"{topic}[1]" not in refused.stderr

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_partitions([NewPartitions(topic, 4)])[topic].result(30)
    refused = cli(*base, "checkpoint", "verify", "w", "--dir", directory)
    assert refused.code == ExitCode.REFUSED
    assert f"topic {topic} has 4 partitions, the checkpoint 2 (added 2, 3)" in refused.stderr

    other = cli("-b", second_bootstrap, "checkpoint", "verify", "w", "--dir", directory)
    assert other.code == ExitCode.REFUSED
    assert "the checkpoint is from cluster" in other.stderr
    assert f"topic {topic} no longer exists" in other.stderr


def test_transaction_markers_and_aborted_records_are_not_records(cli, kafka_bootstrap, tmp_path):
    """Offsets held by commit markers and aborted records hold no record a consumer sees:
    the timestamps around a committed offset are of the real neighbours."""
    topic, group = unique("cp-txn"), unique("cp-txn-group")
    create_topic(kafka_bootstrap, topic)
    producer = Producer({"bootstrap.servers": kafka_bootstrap,
                         "transactional.id": unique("cp-txn-id")})
    producer.init_transactions(30)

    def transaction(start: int, count: int, abort: bool = False):
        producer.begin_transaction()
        for r in records(0, start, count):
            producer.produce(topic, key=r["key"], value=r["value"], partition=0,
                             timestamp=r["timestamp"])
        if abort:
            producer.flush(30)  # abort would purge unsent records: make them reach the log
            producer.abort_transaction(30)
        else:
            producer.commit_transaction(30)

    # A run of aborted records longer than a batched lookup reads through: the record
    # before offset 65 is found by looking further back.
    transaction(0, 3)               # offsets 0-2, marker 3
    transaction(3, 60, abort=True)  # offsets 4-63 aborted, marker 64
    transaction(63, 2)              # offsets 65-66, marker 67
    commit(kafka_bootstrap, group, topic, {0: 65})
    result = cli("-b", kafka_bootstrap, "checkpoint", "create", "t", "--group", group,
                 "--dir", tmp_path, "-o", "json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert data["topics"][topic]["partitions"] == [
        {"partition": 0, "log_start": 0, "end": 68, "first_timestamp": format_time(ts(0, 0)),
         "last_timestamp": format_time(ts(0, 64)), "schema_ids": []}]
    assert data["groups"][group]["offsets"][topic] == [
        {"partition": 0, "offset": 65, "next_timestamp": format_time(ts(0, 63)),
         "last_timestamp": format_time(ts(0, 2))}]


def test_binary_keys_are_not_taken_for_schema_ids(cli, kafka_bootstrap, tmp_path):
    """A big-endian long key below 2^56 starts with a zero byte, like the wire format: without
    a registry saying the topic's keys are Avro (`<topic>-key`), only values count."""
    topic = unique("cp-long-keys")
    create_topic(kafka_bootstrap, topic, partitions=2)
    produce(kafka_bootstrap, topic, [
        {"partition": 0, "key": (1234567).to_bytes(8, "big"), "value": b'{"id": 1}'},
        {"partition": 1, "key": (7654321).to_bytes(8, "big"), "value": WIRE_42}])
    created = cli("-b", kafka_bootstrap, "checkpoint", "create", "w", "--topic", topic,
                  "--dir", tmp_path, "-o", "json")
    assert created.code == 0, created.stderr
    assert [p["schema_ids"] for p in created.json()["topics"][topic]["partitions"]] == [
        [], [42]]


def test_wave_plan_and_refusals(cli, kafka_bootstrap, scenario):
    topic, group, directory = scenario
    other = unique("cp-other")
    create_topic(kafka_bootstrap, other)
    plan = directory.parent / "waves.yaml"
    plan.write_text(f"waves:\n  wave-3:\n    topics: [{other}]\n    groups: [{group}]\n")
    base = ["-b", kafka_bootstrap, "checkpoint", "create"]
    result = cli(*base, "wave-3", "--plan", plan, "--dir", directory, "-o", "json")
    assert result.code == 0, result.stderr
    assert sorted(result.json()["topics"]) == sorted([topic, other])
    assert list(result.json()["groups"]) == [group]

    assert cli(*base, "wave-4", "--plan", plan, "--dir", directory).code == ExitCode.USAGE
    assert cli(*base, "w", "--dir", directory).code == ExitCode.USAGE
    assert cli(*base, "bad/wave", "--topic", topic, "--dir", directory).code == ExitCode.USAGE
    missing = cli(*base, "w", "--topic", unique("no-such-topic"), "--dir", directory)
    assert missing.code == ExitCode.NOT_FOUND and "does not exist" in missing.stderr
    missing = cli(*base, "w", "--group", unique("no-such-group"), "--dir", directory)
    assert missing.code == ExitCode.NOT_FOUND and "does not exist" in missing.stderr
    assert checkpoints.wave_files(directory, "w") == []


def test_a_checkpoint_never_holds_a_secret(cli, kafka_bootstrap, scenario):
    topic, _, directory = scenario
    secret = "Zebra-Secret-8812"
    result = cli("-b", kafka_bootstrap, "-X", "sasl.username=ops", "-X",
                 f"sasl.password={secret}", "checkpoint", "create", "s", "--topic", topic,
                 "--dir", directory, "-o", "json")
    assert result.code == 0, result.stderr
    text = Path(result.json()["path"]).read_text()
    assert secret not in text and "sasl" not in text and secret not in result.stdout
