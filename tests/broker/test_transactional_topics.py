"""Topics written in transactions (every replay target is one): commit markers occupy
offsets without being records. Peeking the newest records and measuring lag must see past
them."""

from confluent_kafka import Producer
from support import kafkautil
from support.names import unique


def _write_in_transactions(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": unique("tx")})
    producer.init_transactions(30)
    for value in values:  # one transaction each: record, marker, record, marker, ...
        producer.begin_transaction()
        producer.produce(topic, value=value, partition=0)
        producer.commit_transaction(30)


def test_peek_newest_skips_commit_markers(cli, kafka_bootstrap):
    topic = unique("txpeek")
    kafkautil.create_topic(kafka_bootstrap, topic)
    _write_in_transactions(kafka_bootstrap, topic, [b"a", b"b", b"c", b"d"])
    # Offsets: a=0, marker=1, b=2, marker=3, c=4, marker=5, d=6, marker=7.
    result = cli("-b", kafka_bootstrap, "topics", "peek", topic, "--count", "3", "-o", "json")
    assert result.code == 0, result.stderr
    assert [(r["offset"], r["value"]) for r in result.json()] == [(2, "b"), (4, "c"), (6, "d")]
    result = cli("-b", kafka_bootstrap, "topics", "peek", topic, "--last", "1", "-o", "json")
    assert [(r["offset"], r["value"]) for r in result.json()] == [(6, "d")]
    result = cli("-b", kafka_bootstrap, "topics", "peek", topic, "--last", "9", "-o", "json")
    assert [r["value"] for r in result.json()] == ["a", "b", "c", "d"]


def test_a_group_past_the_last_record_is_caught_up(cli, kafka_bootstrap):
    topic, group = unique("txlag"), unique("g")
    kafkautil.create_topic(kafka_bootstrap, topic)
    _write_in_transactions(kafka_bootstrap, topic, [b"a", b"b"])
    # Committed right after record b (offset 2): only b's commit marker (offset 3) remains.
    kafkautil.commit(kafka_bootstrap, group, topic, {0: 3})
    result = cli("-b", kafka_bootstrap, "groups", "describe", group, "-o", "json")
    assert result.code == 0, result.stderr
    [row] = result.json()[0]["partitions"]
    assert (row["committed"], row["end"], row["lag"], row["lag_seconds"]) == (3, 4, 0, 0.0)
    assert listed_lag(cli, kafka_bootstrap, group) == 0  # list and describe agree
    result = cli("-b", kafka_bootstrap, "groups", "wait", group, "--max-lag", "0",
                 "--timeout", "5s", "-o", "json")
    assert result.code == 0, result.stderr
    # One record behind is still lag 2 in offsets (record and its marker) and counts as such.
    kafkautil.commit(kafka_bootstrap, group, topic, {0: 1})
    [row] = cli("-b", kafka_bootstrap, "groups", "describe", group, "-o", "json").json()[0][
        "partitions"]
    assert (row["committed"], row["lag"]) == (1, 3)
    assert listed_lag(cli, kafka_bootstrap, group) == 3


def listed_lag(cli, bootstrap: str, group: str) -> int:
    result = cli("-b", bootstrap, "groups", "list", "-o", "json")
    assert result.code == 0, result.stderr
    [entry] = [g for g in result.json() if g["group"] == group]
    return entry["total_lag"]
