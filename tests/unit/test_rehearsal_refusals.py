"""The sink-outage rehearsal's refusals as pure arithmetic: the span retention must cover
(the sink's delay + outage + catch-up + 10 minutes), retention.ms and retention.bytes (at a
partition's bytes/s) against it, and connectors or tasks that are not RUNNING."""

from ingestctl.inspection.ingest import RECORD_OVERHEAD_BYTES, Ingest, PartitionIngest, record_size
from ingestctl.kafka.records import Record
from ingestctl.operations.rehearsal import MARGIN_MS, Target, needed_ms, refusals

MINUTE = 60_000


def target(state="RUNNING", tasks=((0, "RUNNING"),), lag_seconds=None, retention_ms=None,
           retention_bytes=None, rates=((0, 10.0, 100.0),)) -> Target:
    """One topic `t`; rates: (partition, records/s, record bytes)."""
    return Target("sink", state, list(tasks), "connect-sink", ["t"], 0, lag_seconds,
                  {"t": retention_ms}, {"t": retention_bytes},
                  Ingest(1.0, [PartitionIngest("t", p, r, b) for p, r, b in rates]))


def test_the_span_is_the_delay_the_outage_the_catch_up_and_ten_minutes():
    assert MARGIN_MS == 10 * MINUTE
    assert needed_ms(target(), 30_000, 60_000) == 30_000 + 60_000 + 10 * MINUTE
    assert needed_ms(target(lag_seconds=2.5), 30_000, 60_000) == 2_500 + 90_000 + 10 * MINUTE


def test_retention_ms_just_below_the_span_is_refused_just_above_accepted():
    need = needed_ms(target(lag_seconds=1.0), 30_000, 60_000)  # 691 s
    (problem,) = refusals(target(lag_seconds=1.0, retention_ms=need - 1), 30_000, 60_000)
    assert problem.startswith("topic t keeps records for 690.999 s (retention.ms), less than "
                              "the 691 s the rehearsal needs (the sink is 1 s behind")
    assert "plus a 600 s margin" in problem
    assert "shorten --outage or --catch-up-timeout, or raise the topic's retention.ms to at " \
           f"least {need}" in problem
    assert refusals(target(lag_seconds=1.0, retention_ms=need), 30_000, 60_000) == []
    assert refusals(target(lag_seconds=1.0, retention_ms=need + 1), 30_000, 60_000) == []
    # No time-based deletion (retention.ms -1, or compact only): nothing to weigh.
    assert refusals(target(retention_ms=None), 30_000, 60_000) == []


def test_retention_bytes_is_weighed_at_each_partitions_bytes_per_second():
    # 10 records/s of 100 bytes: 1,000 bytes/s; partition 1 writes nothing.
    rates = ((0, 10.0, 100.0), (1, 0.0, 100.0), (2, 5.0, 100.0))
    (problem,) = refusals(target(retention_bytes=689_000, rates=rates), 30_000, 60_000)
    assert problem.startswith(
        "topic t keeps 689000 bytes per partition (retention.bytes); at the current ingest, "
        "partition(s) 0 fill that in less than the 690 s the rehearsal needs (")
    assert "partition 0 writes about 1000 bytes/s and fills it in 689 s" in problem
    assert "raise the topic's retention.bytes to at least 690001" in problem
    assert refusals(target(retention_bytes=691_000, rates=rates), 30_000, 60_000) == []
    # Every partition that fills too soon is named; the one that fills first is the example.
    (problem,) = refusals(target(retention_bytes=100_000, rates=rates), 30_000, 0)
    assert "partition(s) 0, 2 fill that in less than the 630 s" in problem
    assert "partition 0 writes about 1000 bytes/s and fills it in 100 s" in problem


def test_a_partition_without_ingest_or_a_record_to_size_cannot_expire_by_bytes():
    assert refusals(target(retention_bytes=0, rates=((0, 0.0, None),)), 30_000, 60_000) == []
    assert refusals(target(retention_bytes=0, rates=((0, 0.0, 80.0),)), 30_000, 60_000) == []
    assert refusals(target(retention_bytes=10, rates=((0, 5.0, None),)), 30_000, 60_000) == []


def test_time_and_size_refusals_are_one_line_each():
    problems = refusals(target(retention_ms=60_000, retention_bytes=1_000), 30_000, 60_000)
    assert [p.split(" (")[0] for p in problems] == [
        "topic t keeps records for 60 s", "topic t keeps 1000 bytes per partition"]


def test_a_connector_or_task_that_is_not_running_is_refused():
    (problem,) = refusals(target(tasks=((0, "RUNNING"), (1, "FAILED"), (2, "UNASSIGNED"))),
                          30_000, 60_000)
    assert problem.startswith("connector sink is RUNNING but its task(s) 1 FAILED, "
                              "2 UNASSIGNED are not")
    assert "`ingestctl connectors restart sink --execute`" in problem
    (problem,) = refusals(target(tasks=()), 30_000, 60_000)
    assert "has no tasks" in problem
    (problem,) = refusals(target(state="PAUSED", tasks=()), 30_000, 60_000)
    assert "is PAUSED" in problem and "`ingestctl connectors resume sink --execute`" in problem
    (problem,) = refusals(target(state="FAILED", tasks=((0, "FAILED"),)), 30_000, 60_000)
    assert "is FAILED" in problem and "`ingestctl connectors restart sink --execute`" in problem


def test_a_records_size_is_key_value_and_headers_plus_kafkas_framing():
    record = Record("t", 0, 5, 0, b"key", b"value", [("h", b"12"), ("none", None)])
    assert RECORD_OVERHEAD_BYTES == 7 + 61
    assert record_size(record) == 3 + 5 + (1 + 2) + 4 + RECORD_OVERHEAD_BYTES
    assert record_size(Record("t", 0, 5, 0, None, None, [])) == RECORD_OVERHEAD_BYTES
    assert PartitionIngest("t", 0, 4.0, 80.0).bytes_per_sec == 320.0
    assert PartitionIngest("t", 0, 0.0, None).bytes_per_sec == 0.0
    assert PartitionIngest("t", 0, 4.0, None).bytes_per_sec is None
