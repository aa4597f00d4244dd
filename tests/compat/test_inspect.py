"""topics list/describe/peek, groups list/describe/wait and a transactional topic's lag, on
each version: the same numbers as on 4.3.1."""

import time

from confluent_kafka import Producer
from support import kafkautil
from support.names import unique
from support.rollbackutil import member

from ingestctl.errors import ExitCode
from ingestctl.parsing import format_time

HOUR = 3_600_000


def _topic_with_records(bootstrap: str) -> tuple[str, int]:
    """p0: 6 records a minute apart (an hour ago); p1: 3."""
    topic = unique("compat-topic")
    kafkautil.create_topic(bootstrap, topic, partitions=2)
    base = int(time.time()) * 1000 - HOUR
    kafkautil.produce(bootstrap, topic, [
        {"partition": p, "key": f"k{p}-{i}".encode(), "value": f"v{i}".encode(),
         "timestamp": base + i * 60_000, "headers": [("tenant", b"acme")]}
        for p, count in ((0, 6), (1, 3)) for i in range(count)])
    return topic, base


def test_topics_list_describe_peek(cli, broker):
    b = broker.bootstrap
    topic, base = _topic_with_records(b)

    listed = cli("-b", b, "topics", "list", "--pattern", f"^{topic}$", "-o", "json")
    assert listed.code == 0, listed.stderr
    [row] = listed.json()
    assert (row["topic"], row["partitions"], row["replication_factor"], row["records"]) == \
        (topic, 2, 1, 9)

    described = cli("-b", b, "topics", "describe", topic, "-o", "json")
    assert described.code == 0, described.stderr
    [d] = described.json()
    assert [(p["partition"], p["leader"], p["isr"], p["log_start"], p["end"], p["records"],
             p["first_timestamp"], p["last_timestamp"]) for p in d["partitions"]] == [
        (0, 1, [1], 0, 6, 6, format_time(base), format_time(base + 5 * 60_000)),
        (1, 1, [1], 0, 3, 3, format_time(base), format_time(base + 2 * 60_000))]
    assert d["configs"]["retention.ms"] == "-1" and d["configs"]["cleanup.policy"] == "delete"
    assert d["replay_window"]["oldest_timestamp"] == format_time(base)

    peek = cli("-b", b, "topics", "peek", topic, "--partition", "0", "--last", "2", "-o", "json")
    assert peek.code == 0, peek.stderr
    assert [(r["offset"], r["key"], r["value"], r["headers"]) for r in peek.json()] == [
        (4, "k0-4", "v4", {"tenant": "acme"}), (5, "k0-5", "v5", {"tenant": "acme"})]
    at = cli("-b", b, "topics", "peek", topic, "--at", format_time(base + 60_000),
             "--count", "1", "-o", "json")
    assert [(r["partition"], r["offset"]) for r in at.json()] == [(0, 1), (1, 1)]
    missing = cli("-b", b, "topics", "describe", unique("no-such-topic"))
    assert missing.code == ExitCode.NOT_FOUND and "Traceback" not in missing.stderr


def test_groups_list_describe_wait(cli, broker):
    b = broker.bootstrap
    topic, base = _topic_with_records(b)
    group = unique("compat-group")
    kafkautil.commit(b, group, topic, {0: 2, 1: 3})

    described = cli("-b", b, "groups", "describe", group, "-o", "json")
    assert described.code == 0, described.stderr
    [d] = described.json()
    assert d["state"] == "Empty" and d["members"] == [] and d["total_lag"] == 4
    assert [(p["partition"], p["committed"], p["end"], p["lag"], p["next_timestamp"])
            for p in d["partitions"]] == [(0, 2, 6, 4, format_time(base + 2 * 60_000)),
                                          (1, 3, 3, 0, None)]
    assert d["partitions"][0]["lag_seconds"] >= HOUR / 1000 - 2 * 60 - 5

    listed = cli("-b", b, "groups", "list", "-o", "json")
    assert listed.code == 0, listed.stderr
    [row] = [g for g in listed.json() if g["group"] == group]
    assert row["state"] == "Empty" and row["total_lag"] == 4

    ok = cli("-b", b, "groups", "wait", group, "--max-lag", "4", "--timeout", "10s")
    assert ok.code == 0, ok.stderr
    late = cli("-b", b, "groups", "wait", group, "--max-lag", "0", "--timeout", "1s",
               "--interval", "200ms")
    assert late.code == ExitCode.INCOMPLETE and "Traceback" not in late.stderr

    with member(b, group, topic, client_id="compat-sink-1"):
        [live] = cli("-b", b, "groups", "describe", group, "-o", "json").json()
        assert live["state"] == "Stable"
        assert [m["client_id"] for m in live["members"]] == ["compat-sink-1"]

    unknown = cli("-b", b, "groups", "describe", unique("no-such-group"))
    assert unknown.code == ExitCode.NOT_FOUND and "Traceback" not in unknown.stderr


def test_transactional_topic_lag_and_peek(cli, broker):
    b = broker.bootstrap
    topic, group = unique("compat-tx"), unique("compat-txg")
    kafkautil.create_topic(b, topic)
    producer = Producer({"bootstrap.servers": b, "transactional.id": unique("tx")})
    producer.init_transactions(30)
    for value in (b"a", b"b", b"c"):  # record, marker, record, marker, record, marker
        producer.begin_transaction()
        producer.produce(topic, value=value, partition=0)
        producer.commit_transaction(30)
    kafkautil.commit(b, group, topic, {0: 5})  # after c, before its marker

    def row():
        [d] = cli("-b", b, "groups", "describe", group, "-o", "json").json()
        [p] = d["partitions"]
        return p

    kafkautil.read_all(b, topic, [0])  # the last marker is written
    p = row()
    assert (p["committed"], p["end"], p["lag"], p["lag_seconds"]) == (5, 6, 0, 0.0)
    assert cli("-b", b, "groups", "wait", group, "--max-lag", "0", "--timeout", "5s").code == 0
    kafkautil.commit(b, group, topic, {0: 1})
    assert (row()["committed"], row()["lag"]) == (1, 5)
    peek = cli("-b", b, "topics", "peek", topic, "--count", "2", "-o", "json")
    assert [(r["offset"], r["value"]) for r in peek.json()] == [(2, "b"), (4, "c")]
    consumer_view = kafkautil.read_all(b, topic, [0])
    assert [m.value() for m in consumer_view] == [b"a", b"b", b"c"]
