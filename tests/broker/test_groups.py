"""`groups list|describe|wait` on the real broker: exact committed offsets, lag in records and
in seconds (from the timestamps produced), partitions never committed, members, the wait gate
succeeding and timing out, and unknown groups."""

import math
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from support import kafkautil
from support.names import unique
from support.waiting import wait_for

from ingestctl.errors import ExitCode
from ingestctl.parsing import format_time


def now_ms() -> int:
    return math.floor(time.time() * 1000)


def age_bounds(timestamp: int, before: int, after: int) -> tuple[float, float]:
    """An age in seconds measured between two instants, rounded to the millisecond."""
    return (before - timestamp) / 1000 - 0.001, (after - timestamp) / 1000 + 0.001


@pytest.fixture
def lagging(kafka_bootstrap):
    """A topic of 3 partitions (10, 4 and 3 records at known timestamps) and an Empty group
    committed at 4 on partition 0 (lag 6), at 4 on partition 1 (caught up), never on 2."""
    topic, group = unique("lag-topic"), unique("lag-group")
    kafkautil.create_topic(kafka_bootstrap, topic, partitions=3)
    base = now_ms() - 7_200_000
    stamps = {0: [base + i * 60_000 for i in range(10)],
              1: [base + i * 1000 for i in range(4)],
              2: [base + i for i in range(3)]}
    kafkautil.produce(kafka_bootstrap, topic, [
        {"partition": p, "value": f"{p}-{i}".encode(), "timestamp": ts}
        for p, series in stamps.items() for i, ts in enumerate(series)
    ])
    kafkautil.commit(kafka_bootstrap, group, topic, {0: 4, 1: 4})
    return topic, group, stamps


def describe(cli, bootstrap, *args):
    before = now_ms()
    result = cli("-b", bootstrap, "groups", "describe", *args, "-o", "json")
    after = now_ms()
    assert result.code == 0, result.stderr
    return result.json(), before, after


def test_describe_exact_lag_in_records_and_seconds(cli, kafka_bootstrap, lagging):
    topic, group, stamps = lagging
    [described], before, after = describe(cli, kafka_bootstrap, group)
    assert described["group"] == group
    assert described["state"] == "Empty" and described["members"] == []
    p0, p1, p2 = described["partitions"]
    low, high = age_bounds(stamps[0][4], before, after)
    assert low <= p0.pop("lag_seconds") <= high
    assert p0 == {"topic": topic, "partition": 0, "committed": 4, "log_start": 0, "end": 10,
                  "lag": 6, "next_timestamp": format_time(stamps[0][4])}
    assert p1 == {"topic": topic, "partition": 1, "committed": 4, "log_start": 0, "end": 4,
                  "lag": 0, "lag_seconds": 0.0, "next_timestamp": None}
    # Never committed: shown as such, not as zero.
    assert p2 == {"topic": topic, "partition": 2, "committed": None, "log_start": 0, "end": 3,
                  "lag": None, "lag_seconds": None, "next_timestamp": None}
    assert described["total_lag"] == 6

    # Retention deletes past the committed offset: the next record the group will get is the
    # first retained one, and its age is the lag in seconds.
    admin = kafkautil.admin(kafka_bootstrap)  # must outlive its future
    for future in admin.delete_records([TopicPartition(topic, 0, 7)]).values():
        future.result(timeout=30)
    [described], before, after = describe(cli, kafka_bootstrap, group, "--topic", topic)
    p0 = described["partitions"][0]
    assert (p0["committed"], p0["log_start"], p0["end"], p0["lag"]) == (4, 7, 10, 6)
    assert p0["next_timestamp"] == format_time(stamps[0][7])
    low, high = age_bounds(stamps[0][7], before, after)
    assert low <= p0["lag_seconds"] <= high

    listed = cli("-b", kafka_bootstrap, "groups", "list", "-o", "json").json()
    assert [g for g in listed if g["group"] == group] == [
        {"group": group, "state": "Empty", "members": 0, "topics": [topic], "total_lag": 6}]


def test_describe_a_live_member_and_a_topic_never_committed(cli, kafka_bootstrap, lagging):
    topic, group, _ = lagging
    other = unique("lag-other")
    kafkautil.create_topic(kafka_bootstrap, other, partitions=2)
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group,
                         "client.id": "sink-7", "enable.auto.commit": False,
                         "auto.offset.reset": "latest"})
    consumer.subscribe([topic, other])
    try:

        def assigned():
            consumer.poll(0.2)  # joining happens inside poll
            return len(consumer.assignment()) == 5

        wait_for("the consumer's assignment of 5 partitions", assigned, interval=0)
        [described], _, _ = describe(cli, kafka_bootstrap, group)
        assert described["state"] == "Stable"
        [member] = described["members"]
        assert member["client_id"] == "sink-7" and member["host"]
        assert member["assignment"] == sorted(
            [{"topic": topic, "partition": p} for p in range(3)]
            + [{"topic": other, "partition": p} for p in range(2)],
            key=lambda a: (a["topic"], a["partition"]))
        # The assigned topic the group never committed on is listed, partition by partition.
        others = [p for p in described["partitions"] if p["topic"] == other]
        assert [(p["partition"], p["committed"], p["lag"]) for p in others] == [
            (0, None, None), (1, None, None)]
        assert described["total_lag"] == 6

        [only_other], _, _ = describe(cli, kafka_bootstrap, group, "--topic", other)
        assert {p["topic"] for p in only_other["partitions"]} == {other}
    finally:
        consumer.close()


def test_lag_seconds_ignores_an_open_transaction(cli, kafka_bootstrap, lagging):
    """Records of an open transaction count as lag (they are in the log) but cannot be read:
    a group caught up to the last stable offset is 0 seconds behind, and describing it does
    not wait for the transaction."""
    topic, group, stamps = lagging
    producer = Producer({"bootstrap.servers": kafka_bootstrap,
                         "transactional.id": unique("lag-txn")})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"pending", partition=1, timestamp=stamps[1][0])
    producer.flush(30)
    try:
        result = cli("-b", kafka_bootstrap, "--timeout", "5", "groups", "describe", group,
                     "-o", "json")
        assert result.code == 0, result.stderr
        p1 = result.json()[0]["partitions"][1]
        assert (p1["committed"], p1["end"], p1["lag"], p1["lag_seconds"]) == (4, 5, 1, 0.0)
    finally:
        producer.abort_transaction(30)


def test_unknown_group_exits_4_naming_it(cli, kafka_bootstrap, lagging):
    missing = unique("no-such-group")
    for args in (["describe", lagging[1], missing],
                 ["wait", missing, "--max-lag", "0", "--timeout", "1s"]):
        result = cli("-b", kafka_bootstrap, "groups", *args, "-o", "json")
        assert result.code == ExitCode.NOT_FOUND, result.stderr
        assert missing in result.stderr and lagging[1] not in result.stderr
        assert result.stdout == ""


def test_unknown_topic_filter_exits_4(cli, kafka_bootstrap, lagging):
    missing = unique("no-such-topic")
    result = cli("-b", kafka_bootstrap, "groups", "describe", lagging[1], "--topic", missing)
    assert result.code == ExitCode.NOT_FOUND and missing in result.stderr


def test_wait_succeeds_at_once_when_lag_is_within_the_limit(cli, kafka_bootstrap, lagging):
    result = cli("-b", kafka_bootstrap, "groups", "wait", lagging[1], "--max-lag", "6",
                 "-o", "json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert (data["group"], data["total_lag"], data["max_lag"]) == (lagging[1], 6, 6)


def test_wait_times_out_with_exit_6_and_progress_on_stderr(cli, kafka_bootstrap, lagging):
    result = cli("-b", kafka_bootstrap, "groups", "wait", lagging[1], "--max-lag", "5",
                 "--timeout", "1s", "--interval", "200ms", "-o", "json")
    assert result.code == ExitCode.INCOMPLETE
    assert result.stdout == ""
    assert "total lag 6 > 5" in result.stderr
    assert "partitions without a committed offset: 1" in result.stderr
    assert f"group {lagging[1]} still lags 6 records" in result.stderr


def test_wait_succeeds_once_the_group_catches_up(cli, kafka_bootstrap, lagging):
    topic, group, _ = lagging

    def sink_catches_up():
        time.sleep(1)
        kafkautil.commit(kafka_bootstrap, group, topic, {0: 10, 2: 3})

    catching_up = threading.Thread(target=sink_catches_up)
    catching_up.start()
    try:
        result = cli("-b", kafka_bootstrap, "groups", "wait", group, "--max-lag", "0",
                     "--timeout", "60s", "--interval", "200ms", "-o", "json")
    finally:
        catching_up.join()
    assert result.code == 0, result.stderr
    assert result.json()["total_lag"] == 0


@pytest.mark.parametrize("option", ["--timeout", "--interval"])
def test_wait_rejects_bad_durations(cli, kafka_bootstrap, option):
    result = cli("-b", kafka_bootstrap, "groups", "wait", "g", "--max-lag", "0", option, "10x")
    assert result.code == ExitCode.USAGE
    assert option in result.stderr and result.stdout == ""


def test_unreachable_cluster_exits_5(cli):
    result = cli("-b", "127.0.0.1:1", "--timeout", "2", "groups", "list")
    assert result.code == ExitCode.CLUSTER
    assert "cannot reach the Kafka cluster" in result.stderr and result.stdout == ""
