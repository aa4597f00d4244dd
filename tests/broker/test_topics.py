"""`topics list|describe|peek` on the real broker: exact watermarks, records, timestamps and
replay window after DeleteRecords, and binary-safe peeking from an offset, a time, the end."""

import base64
import math
import time

import pytest
from confluent_kafka import Producer, TopicPartition
from hypothesis import given
from hypothesis import strategies as st
from support import kafkautil
from support.names import unique

from ingestctl.errors import ExitCode
from ingestctl.inspection.peek import record_view
from ingestctl.inspection.topics import replay_window
from ingestctl.kafka.records import Record
from ingestctl.parsing import format_time


def delete_records(bootstrap: str, topic: str, before: dict[int, int]) -> None:
    admin = kafkautil.admin(bootstrap)
    futures = admin.delete_records([TopicPartition(topic, p, o) for p, o in before.items()])
    for future in futures.values():
        future.result(timeout=30)


def now_ms() -> int:
    return math.floor(time.time() * 1000)


def ages(timestamp: int, before: int, after: int) -> tuple[float, float]:
    """Bounds of an age in seconds measured between two instants (rounded to ms)."""
    return (before - timestamp) / 1000 - 0.001, (after - timestamp) / 1000 + 0.001


@pytest.fixture
def topic(kafka_bootstrap):
    """Three partitions: 5 records on 0, 3 on 1, none on 2, at known timestamps an hour ago."""
    name = unique("inspect-topic")
    kafkautil.create_topic(kafka_bootstrap, name, partitions=3,
                           config={"retention.ms": "86400000", "min.insync.replicas": "1"})
    base = now_ms() - 3_600_000
    stamps = {0: [base + i * 1000 for i in range(5)],
              1: [base - 60_000 + i * 500 for i in range(3)]}
    kafkautil.produce(kafka_bootstrap, name, [
        {"partition": p, "key": f"k{p}-{i}".encode(), "value": f"v{p}-{i}".encode(),
         "timestamp": ts}
        for p, series in stamps.items() for i, ts in enumerate(series)
    ])
    return name, stamps


def test_describe_exact_watermarks_timestamps_and_replay_window(cli, kafka_bootstrap, topic):
    name, stamps = topic
    before = now_ms()
    result = cli("-b", kafka_bootstrap, "topics", "describe", name, "-o", "json")
    after = now_ms()
    assert result.code == 0, result.stderr
    [described] = result.json()
    assert described["topic"] == name
    assert described["partitions"] == [
        {"partition": 0, "leader": 1, "replicas": [1], "isr": [1], "log_start": 0, "end": 5,
         "records": 5, "first_timestamp": format_time(stamps[0][0]),
         "last_timestamp": format_time(stamps[0][4])},
        {"partition": 1, "leader": 1, "replicas": [1], "isr": [1], "log_start": 0, "end": 3,
         "records": 3, "first_timestamp": format_time(stamps[1][0]),
         "last_timestamp": format_time(stamps[1][2])},
        {"partition": 2, "leader": 1, "replicas": [1], "isr": [1], "log_start": 0, "end": 0,
         "records": 0, "first_timestamp": None, "last_timestamp": None},
    ]
    assert described["configs"] == {"retention.ms": "86400000", "retention.bytes": "-1",
                                     "cleanup.policy": "delete", "min.insync.replicas": "1"}
    # Nothing lost yet: the window opens at the oldest record of any partition (partition 1).
    window = described["replay_window"]
    assert window["oldest_timestamp"] == format_time(stamps[1][0])
    low, high = ages(stamps[1][0], before, after)
    assert low <= window["age_seconds"] <= high

    delete_records(kafka_bootstrap, name, {0: 2})
    before = now_ms()
    [described] = cli("-b", kafka_bootstrap, "topics", "describe", name, "-o", "json").json()
    after = now_ms()
    p0 = described["partitions"][0]
    assert (p0["log_start"], p0["end"], p0["records"]) == (2, 5, 3)
    assert p0["first_timestamp"] == format_time(stamps[0][2])
    assert p0["last_timestamp"] == format_time(stamps[0][4])
    # Partition 0 lost everything before its offset 2: a replay from any earlier time would
    # miss records there, so the window now opens at that partition's first retained record.
    window = described["replay_window"]
    assert window["oldest_timestamp"] == format_time(stamps[0][2])
    low, high = ages(stamps[0][2], before, after)
    assert low <= window["age_seconds"] <= high

    listed = cli("-b", kafka_bootstrap, "topics", "list", "--pattern", f"^{name}$", "-o", "json")
    assert listed.json() == [{"topic": name, "partitions": 3, "replication_factor": 1,
                              "records": 6, "internal": False}]


def test_replay_window_rules():
    assert replay_window([], 10_000) == {"oldest_timestamp": None, "age_seconds": None}
    # Untruncated partitions: the oldest first record.
    assert replay_window([(0, 5000), (0, 3000)], 10_000)["oldest_timestamp"] == format_time(3000)
    # A truncated partition bounds the window, whichever is older elsewhere.
    window = replay_window([(0, 3000), (7, 6000), (2, 4000)], 10_000)
    assert window == {"oldest_timestamp": format_time(6000), "age_seconds": 4.0}


def _bytes_back(text, encoding):
    if text is None:
        return None
    return base64.b64decode(text, validate=True) if encoding == "base64" else text.encode()


@given(key=st.none() | st.binary(max_size=40), value=st.none() | st.binary(max_size=200),
       headers=st.lists(st.tuples(st.sampled_from(["a", "b"]),
                                  st.none() | st.binary(max_size=10)), max_size=4))
def test_record_view_keeps_every_byte(key, value, headers):
    view = record_view(Record("t", 0, 7, 1_764_120_000_000, key, value, headers))
    assert _bytes_back(view["key"], view["key_encoding"]) == key
    assert _bytes_back(view["value"], view["value_encoding"]) == value
    for name in {n for n, _ in headers}:
        sent = [raw for n, raw in headers if n == name]
        shown = view["headers"][name]
        shown = shown if isinstance(shown, list) else [shown]
        encoding = view["header_encodings"].get(name, "utf-8")
        assert [_bytes_back(text, encoding) for text in shown] == sent


def test_list_hides_internal_topics_unless_asked(cli, kafka_bootstrap, topic):
    names = [t["topic"] for t in cli("-b", kafka_bootstrap, "topics", "list", "-o", "json").json()]
    assert topic[0] in names and "__consumer_offsets" not in names
    internal = cli("-b", kafka_bootstrap, "topics", "list", "--internal", "--pattern",
                   "^__consumer_offsets$", "-o", "json").json()
    assert [t["topic"] for t in internal] == ["__consumer_offsets"]
    assert internal[0]["internal"] is True


def test_unknown_topic_exits_4_naming_it(cli, kafka_bootstrap, topic):
    missing = unique("no-such-topic")
    for args in (["topics", "describe", topic[0], missing], ["topics", "peek", missing]):
        result = cli("-b", kafka_bootstrap, *args, "-o", "json")
        assert result.code == ExitCode.NOT_FOUND
        assert missing in result.stderr and topic[0] not in result.stderr
        assert result.stdout == ""


@pytest.mark.parametrize("args,named", [
    (["--pattern", "("], "--pattern"),
    (["--at", "yesterday"], "--at"),
    (["--at", "2026-11-26T02:10:00"], "--at"),  # no offset: ambiguous
    (["--offset", "1", "--at", "1764123000000"], "--offset"),
    (["--partition", "x"], "--partition"),
])
def test_bad_arguments_exit_2_naming_them(cli, kafka_bootstrap, topic, args, named):
    command = "list" if args[0] == "--pattern" else "peek"
    target = [] if command == "list" else [topic[0]]
    result = cli("-b", kafka_bootstrap, "topics", command, *target, *args)
    assert result.code == ExitCode.USAGE
    assert named in result.stderr and result.stdout == ""


def test_peek_positions(cli, kafka_bootstrap, topic):
    name, stamps = topic

    def peek(*args):
        result = cli("-b", kafka_bootstrap, "topics", "peek", name, *args, "-o", "json")
        assert result.code == 0, result.stderr
        return [(r["partition"], r["offset"]) for r in result.json()]

    # Default: the newest 5 of each partition.
    assert peek() == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0), (1, 1), (1, 2)]
    assert peek("--count", "2") == [(0, 3), (0, 4), (1, 1), (1, 2)]
    assert peek("--last", "2", "--partition", "0") == [(0, 3), (0, 4)]
    assert peek("--offset", "1", "--count", "2") == [(0, 1), (0, 2), (1, 1), (1, 2)]
    # At a time: the first record at or after it (partition 1's records are all older).
    assert peek("--at", format_time(stamps[0][3] - 1)) == [(0, 3), (0, 4)]
    assert peek("--at", str(stamps[1][1]), "--count", "1") == [(0, 0), (1, 1)]

    record = cli("-b", kafka_bootstrap, "topics", "peek", name, "--partition", "0",
                 "--offset", "3", "--count", "1", "-o", "json").json()[0]
    assert record == {
        "topic": name, "partition": 0, "offset": 3, "timestamp": format_time(stamps[0][3]),
        "key": "k0-3", "key_encoding": "utf-8", "headers": {}, "header_encodings": {},
        "value": "v0-3", "value_encoding": "utf-8",
    }

    # An offset deleted by retention: start at log-start, and say so on stderr.
    delete_records(kafka_bootstrap, name, {0: 2})
    result = cli("-b", kafka_bootstrap, "topics", "peek", name, "--partition", "0",
                 "--offset", "0", "-o", "json")
    assert [r["offset"] for r in result.json()] == [2, 3, 4]
    assert "offset 0" in result.stderr and "log-start 2" in result.stderr

    result = cli("-b", kafka_bootstrap, "topics", "peek", name, "--partition", "7")
    assert result.code == ExitCode.NOT_FOUND and "partition 7" in result.stderr


def test_peek_is_binary_safe_and_tables_truncate(cli, kafka_bootstrap, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: truncation is ours, not wrapping
    name = unique("inspect-binary")
    kafkautil.create_topic(kafka_bootstrap, name)
    key, value, header = b"\xff\x00key", b"\x80\x81binary", b"\xfe\xff"
    long_value = "x" * 300 + "END"
    kafkautil.produce(kafka_bootstrap, name, [
        {"key": key, "value": value, "timestamp": 1_764_120_000_000,
         "headers": [("tenant", b"acme"), ("sig", header), ("hop", b"a"), ("hop", b"b")]},
        {"key": None, "value": long_value.encode(), "timestamp": 1_764_120_001_000},
    ])
    records = cli("-b", kafka_bootstrap, "topics", "peek", name, "-o", "json").json()
    assert records[0]["key"] == base64.b64encode(key).decode()
    assert records[0]["key_encoding"] == "base64"
    assert base64.b64decode(records[0]["value"]) == value
    assert records[0]["value_encoding"] == "base64"
    assert records[0]["headers"] == {"tenant": "acme", "sig": base64.b64encode(header).decode(),
                                     "hop": ["a", "b"]}
    assert records[0]["header_encodings"] == {"sig": "base64"}
    assert records[1]["key"] is None and records[1]["key_encoding"] is None
    assert records[1]["value"] == long_value  # JSON carries it whole

    yaml_records = cli("-b", kafka_bootstrap, "topics", "peek", name, "-o", "yaml").yaml()
    assert yaml_records == records

    table = cli("-b", kafka_bootstrap, "topics", "peek", name)
    assert table.code == 0
    assert "END" not in table.stdout and "…" in table.stdout
    assert "base64:" in table.stdout


def test_open_transaction_does_not_stall_describe_or_peek(cli, kafka_bootstrap):
    name = unique("inspect-txn")
    kafkautil.create_topic(kafka_bootstrap, name)
    kafkautil.produce(kafka_bootstrap, name,
                      [{"value": b"committed", "timestamp": 1_764_120_000_000}])
    producer = Producer({"bootstrap.servers": kafka_bootstrap,
                         "transactional.id": unique("inspect-txn-id")})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(name, value=b"open", partition=0, timestamp=1_764_120_005_000)
    producer.flush(30)
    try:
        [described] = cli("-b", kafka_bootstrap, "--timeout", "5", "topics", "describe", name,
                          "-o", "json").json()
        [p0] = described["partitions"]
        assert p0["end"] == 2  # the high watermark counts the open transaction's record
        assert p0["last_timestamp"] == format_time(1_764_120_000_000)  # the last committed
        peeked = cli("-b", kafka_bootstrap, "--timeout", "5", "topics", "peek", name,
                     "-o", "json").json()
        assert [r["value"] for r in peeked] == ["committed"]
    finally:
        producer.abort_transaction(30)
