"""`ingestctl replay` on real brokers: exact windows, fidelity, filters, partitioning,
another cluster, refusals, transaction markers, re-runs, fencing, interrupts, workers."""

import json
import os
import pty
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from support.kafkautil import commit, create_topic, produce, read_all
from support.names import unique
from support.replay import copies, end_offsets, source_of, wait_for_progress

from ingestctl.errors import ExitCode

PROGRESS = "ingestctl-replay-progress"
PROVENANCE = ("ingestctl-replay-id", "ingestctl-source-topic", "ingestctl-source-partition",
              "ingestctl-source-offset")


def now_ms() -> int:
    return int(time.time() * 1000)


def replay(cli, bootstrap, *args):
    return cli("-b", bootstrap, "replay", *args, "-o", "json")


def original_headers(msg) -> list:
    return [(k, v) for k, v in msg.headers() or [] if k not in PROVENANCE]


def fill(bootstrap, topic, partitions=3, per_partition=200, size=100, base_ts=None):
    base_ts = base_ts or now_ms() - 600_000
    produce(bootstrap, topic, [
        {"partition": p, "key": f"key-{p}-{i}".encode(), "value": bytes([65 + i % 26]) * size,
         "timestamp": base_ts + i * 1000, "headers": [("seq", str(i).encode())]}
        for p in range(partitions) for i in range(per_partition)])


@pytest.fixture
def topics(kafka_bootstrap):
    """A source with 3 partitions × 200 records (timestamps 1 s apart) and a 3-partition
    target."""
    src, dst = unique("rp-src"), unique("rp-dst")
    create_topic(kafka_bootstrap, src, 3)
    create_topic(kafka_bootstrap, dst, 3)
    base = now_ms() - 600_000
    fill(kafka_bootstrap, src, base_ts=base)
    return src, dst, base


# -- plans, windows ------------------------------------------------------------------------------

def test_plan_shows_the_window_and_writes_nothing(cli, kafka_bootstrap, topics):
    src, dst, _ = topics
    result = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                    "--start-offset", "0:10,2:150", "--end-offset", "0:60", "--rate", "10KB/s")
    assert result.code == 0, result.stderr
    plan = result.json()
    assert plan["status"] == "planned" and plan["mode"] == "exactly-once"
    assert plan["replay_id"].startswith("rp-")
    assert [(p["partition"], p["start"], p["end"], p["records"]) for p in plan["partitions"]] == [
        (0, 10, 60, 50), (2, 150, 200, 50)]
    assert plan["records"] == 100 and plan["bytes_estimated"] is True
    # 100 records of 100 B value, ~10 B key, header and provenance: ~25 KB
    assert 15_000 < plan["bytes"] < 40_000
    assert plan["estimated_duration_seconds"] == pytest.approx(plan["bytes"] / 10_000)
    assert "add --execute" in result.stderr
    # a small window is copied fastest by one process: no workers suggested
    assert plan["suggested_workers"] == 1 and "--workers" not in result.stderr
    assert end_offsets(kafka_bootstrap, dst, range(3)) == {0: 0, 1: 0, 2: 0}
    # the same command gives the same id; another window another
    again = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                   "--start-offset", "2:150,0:10", "--end-offset", "0:60").json()
    other = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                   "--start-offset", "0:10,2:150").json()
    assert again["replay_id"] == plan["replay_id"] != other["replay_id"]


def test_plan_suggests_workers_for_a_window_past_where_they_pay_off(cli, kafka_bootstrap,
                                                                     topics, monkeypatch):
    src, dst, _ = topics
    monkeypatch.setattr("ingestctl.replay.plan.WORKERS_PAY_OFF_RECORDS", 300)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    result = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                    "--start-offset", "0")
    assert result.code == 0, result.stderr
    plan = result.json()
    assert plan["records"] >= 300 and plan["suggested_workers"] == 2
    assert f"{plan['records']:,} offsets to copy: --workers 2" in result.stderr
    # already asked for: nothing more to say
    asked = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                   "--start-offset", "0", "--workers", "2")
    assert asked.code == 0 and "--workers 2 (one" not in asked.stderr


def test_exact_window_by_offsets(cli, kafka_bootstrap, topics, tmp_path):
    src, dst, _ = topics
    result = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                    "--start-offset", "0:10,1:0", "--end-offset", "0:60", "--execute")
    assert result.code == 0, result.stderr
    summary = result.json()
    assert summary["status"] == "completed" and summary["records"] == 250
    assert summary["records"] + summary["filtered"] + summary["invalid"] == 250
    got = copies(kafka_bootstrap, dst, range(3))
    assert sorted(got) == [(0, o) for o in range(10, 60)] + [(1, o) for o in range(200)]
    # one audit line in the checkpoint dir (./checkpoints by default)
    lines = (tmp_path / "checkpoints" / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["action"] == "replay" and entry["replay_id"] == summary["replay_id"]
    assert entry["status"] == "completed" and entry["records"] == 250


def test_exact_window_by_time(cli, kafka_bootstrap, topics):
    src, dst, base = topics
    # records i have timestamp base + i s: [base+50 s, base+80 s) is offsets 50..79; the end
    # bound is exactly a record's timestamp, which is excluded
    result = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                    "--start", str(base + 49_500), "--end", str(base + 80_000),
                    "--partitions", "0,2", "--execute")
    assert result.code == 0, result.stderr
    got = copies(kafka_bootstrap, dst, range(3))
    assert sorted(got) == [(p, o) for p in (0, 2) for o in range(50, 80)]
    assert all(base + 50_000 <= m.timestamp()[1] < base + 80_000 for m in got.values())


def test_windows_from_checkpoints(cli, kafka_bootstrap, second_bootstrap, tmp_path):
    src, dst, dst2 = unique("rp-cp"), unique("rp-cp-dst"), unique("rp-cp-dst2")
    for topic in (src, dst, dst2):
        create_topic(kafka_bootstrap, topic, 2)
    group, cps = unique("sink"), tmp_path / "cps"
    fill(kafka_bootstrap, src, partitions=2, per_partition=50)
    commit(kafka_bootstrap, group, src, {0: 20, 1: 30})
    for more in (25, 10):
        made = cli("-b", kafka_bootstrap, "checkpoint", "create", "wave-a", "--topic", src,
                   "--group", group, "--dir", cps)
        assert made.code == 0, made.stderr
        fill(kafka_bootstrap, src, partitions=2, per_partition=more)
    # between the two checkpoints: what was produced after the first, up to the second
    result = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                    "--from-checkpoint", "wave-a@1", "--to-checkpoint", "wave-a@2",
                    "--dir", cps, "--execute")
    assert result.code == 0, result.stderr
    assert sorted(copies(kafka_bootstrap, dst, range(2))) == [
        (p, o) for p in range(2) for o in range(50, 75)]
    assert len((cps / "audit.jsonl").read_text().splitlines()) == 1
    # from the group's committed offsets in the newest checkpoint to the current end
    result = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst2,
                    "--from-checkpoint", "wave-a", "--group", group, "--dir", cps, "--execute")
    assert result.code == 0, result.stderr
    assert sorted(copies(kafka_bootstrap, dst2, range(2))) == [
        *((0, o) for o in range(20, 85)), *((1, o) for o in range(30, 85))]
    # a checkpoint of another cluster is refused, nothing written
    create_topic(second_bootstrap, src, 2)
    elsewhere = cli("-b", second_bootstrap, "checkpoint", "create", "wave-b", "--topic", src,
                    "--dir", cps)
    assert elsewhere.code == 0, elsewhere.stderr
    refused = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                     "--from-checkpoint", "wave-b", "--dir", cps)
    assert refused.code == ExitCode.REFUSED and refused.stdout == ""
    assert "is cluster" in refused.stderr
    mixed = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                   "--from-checkpoint", "wave-a", "--start-offset", "0", "--dir", cps)
    assert mixed.code == ExitCode.USAGE


def test_a_time_ends_a_window_that_starts_at_offsets(cli, kafka_bootstrap, topics, tmp_path):
    """The sink's checkpointed offsets up to the moment the fix was deployed: --from-checkpoint
    (or --start-offset) with --end TIME."""
    src, dst, base = topics  # record i of every partition has timestamp base + i s
    group, cps = unique("sink"), tmp_path / "cps"
    commit(kafka_bootstrap, group, src, {0: 20, 1: 30, 2: 190})
    made = cli("-b", kafka_bootstrap, "checkpoint", "create", "outage", "--group", group,
               "--dir", cps)
    assert made.code == 0, made.stderr
    fixed_at = str(base + 120_000)
    # partition 2's sink had read past the fix: its window would end before it starts
    refused = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                     "--from-checkpoint", "outage", "--group", group, "--end", fixed_at,
                     "--dir", cps, "--execute")
    assert refused.code == ExitCode.REFUSED and refused.stdout == ""
    assert "partition 2: the start offset 190 lies after --end" in refused.stderr
    result = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                    "--from-checkpoint", "outage", "--group", group, "--end", fixed_at,
                    "--partitions", "0,1", "--dir", cps, "--execute")
    assert result.code == 0, result.stderr
    assert sorted(copies(kafka_bootstrap, dst, range(3))) == [
        *((0, o) for o in range(20, 120)), *((1, o) for o in range(30, 120))]
    other = unique("rp-dst")
    create_topic(kafka_bootstrap, other, 3)
    result = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", other,
                    "--start-offset", "2:150", "--end", str(base + 170_500), "--execute")
    assert result.code == 0, result.stderr
    assert sorted(copies(kafka_bootstrap, other, range(3))) == [(2, o) for o in range(150, 171)]
    both = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", other,
                  "--from-checkpoint", "outage", "--to-checkpoint", "outage", "--end", fixed_at,
                  "--dir", cps)
    assert both.code == ExitCode.USAGE and "not both" in both.stderr


# -- fidelity ------------------------------------------------------------------------------------

def test_full_fidelity(cli, kafka_bootstrap):
    src, dst = unique("rp-fid"), unique("rp-fid-dst")
    create_topic(kafka_bootstrap, src, 2)
    create_topic(kafka_bootstrap, dst, 2)
    ts = now_ms() - 100_000
    big = os.urandom(1_000_000)  # close to the broker's default max.message.bytes
    records = [
        {"partition": 0, "key": b"k1", "value": b"v1", "timestamp": ts,
         "headers": [("a", b"1"), ("a", b"2"), ("empty", b""), ("none", None)]},
        {"partition": 0, "key": None, "value": b"no key", "timestamp": ts + 5},
        {"partition": 1, "key": b"tombstone", "value": None, "timestamp": ts - 86_400_000},
        {"partition": 1, "key": None, "value": None, "timestamp": ts + 7},
        {"partition": 1, "key": bytes(range(256)), "value": big, "timestamp": ts + 9,
         "headers": [("bin", bytes(range(256)))]},
    ]
    produce(kafka_bootstrap, src, records, **{"message.max.bytes": 2_000_000})
    result = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                    "--start-offset", "0", "--execute")
    assert result.code == 0, result.stderr
    summary = result.json()
    got = copies(kafka_bootstrap, dst, range(2))
    assert len(got) == 5
    source = {(m.partition(), m.offset()): m for m in read_all(kafka_bootstrap, src, range(2))}
    expected_bytes = 0
    for (p, o), original in source.items():
        copy = got[(p, o)]
        assert copy.partition() == p
        assert copy.key() == original.key() and copy.value() == original.value()
        assert copy.timestamp()[1] == original.timestamp()[1]
        assert original_headers(copy) == list(original.headers() or [])
        provenance = dict(copy.headers()[-4:])
        assert provenance == {"ingestctl-replay-id": summary["replay_id"].encode(),
                              "ingestctl-source-topic": src.encode(),
                              "ingestctl-source-partition": str(p).encode(),
                              "ingestctl-source-offset": str(o).encode()}
        expected_bytes += sum(len(x or b"") for x in (copy.key(), copy.value())) + sum(
            len(k) + len(v or b"") for k, v in copy.headers())
    assert summary["bytes"] == expected_bytes


def test_filters_and_header_dropping(cli, kafka_bootstrap):
    src, dst = unique("rp-flt"), unique("rp-flt-dst")
    create_topic(kafka_bootstrap, src, 1)
    create_topic(kafka_bootstrap, dst, 1)
    tenants = [b"acme", b"globex", b"initech"]
    produce(kafka_bootstrap, src, [
        {"key": f"acct-{i}".encode() if i % 5 else None, "value": b"x", "timestamp": now_ms(),
         "headers": [("tenant", tenants[i % 3]), ("secret", b"s3cr3t"), ("keep", b"k")]}
        for i in range(60)])
    result = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                    "--start-offset", "0", "--filter-header", "tenant=acme",
                    "--filter-header", "tenant=globex", "--filter-key", r"^acct-\d*[02468]$",
                    "--drop-header", "secret", "--execute")
    assert result.code == 0, result.stderr
    expected = [i for i in range(60) if i % 3 in (0, 1) and i % 5 and i % 2 == 0]
    summary = result.json()
    assert summary["records"] == len(expected)
    assert summary["filtered"] == 60 - len(expected)
    assert summary["records"] + summary["filtered"] + summary["invalid"] == 60
    got = copies(kafka_bootstrap, dst, [0])
    assert sorted(o for _, o in got) == expected
    for msg in got.values():
        assert original_headers(msg) == [("tenant", tenants[source_of(msg)[1] % 3]),
                                         ("keep", b"k")]


def murmur2(data: bytes) -> int:
    """The Java client's Utils.murmur2, as a signed 32-bit int (a test oracle)."""
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    h = (0x9747B28C ^ len(data)) & mask
    full = len(data) // 4 * 4
    for i in range(0, full, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = data[full:]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def test_murmur2_oracle_matches_the_java_client():
    # Values from Apache Kafka's UtilsTest.
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536
    assert murmur2(b"a-little-bit-longer-string") == -1486304829
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert murmur2(b"abc") == 479470107


def test_key_partitioning_follows_the_java_client(cli, kafka_bootstrap):
    src, dst = unique("rp-key"), unique("rp-key-dst")
    create_topic(kafka_bootstrap, src, 2)
    create_topic(kafka_bootstrap, dst, 5)
    produce(kafka_bootstrap, src, [
        {"partition": i % 2, "key": f"customer-{i}".encode(), "value": b"v",
         "timestamp": now_ms()} for i in range(100)])
    result = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                    "--start-offset", "0", "--partitioning", "key", "--execute")
    assert result.code == 0, result.stderr
    got = copies(kafka_bootstrap, dst, range(5))
    assert len(got) == 100
    assert len({m.partition() for m in got.values()}) == 5
    for msg in got.values():
        assert msg.partition() == (murmur2(msg.key()) & 0x7FFFFFFF) % 5


# -- targets -------------------------------------------------------------------------------------

def test_replay_into_another_cluster_creating_the_target(cli, kafka_bootstrap,
                                                         second_bootstrap):
    src, dst = unique("rp-x"), unique("rp-x-dst")
    create_topic(kafka_bootstrap, src, 2, config={"retention.ms": "86400000",
                                                  "max.message.bytes": "2000000"})
    fill(kafka_bootstrap, src, partitions=2, per_partition=50)
    args = ("--from-topic", src, "--to-topic", dst, "--to-bootstrap-servers", second_bootstrap,
            "--start-offset", "10")
    missing = replay(cli, kafka_bootstrap, *args)
    assert missing.code == ExitCode.NOT_FOUND and "--create-target" in missing.stderr
    result = replay(cli, kafka_bootstrap, *args, "--create-target", "--execute")
    assert result.code == 0, result.stderr
    summary = result.json()
    assert summary["target"]["cluster_id"] != summary["source"]["cluster_id"]
    assert summary["records"] == 80
    got = copies(second_bootstrap, dst, range(2))
    assert sorted(got) == [(p, o) for p in range(2) for o in range(10, 50)]
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": second_bootstrap})
    assert len(admin.list_topics(dst, timeout=10).topics[dst].partitions) == 2
    resource = ConfigResource("topic", dst)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    assert configs["retention.ms"].value == "86400000"
    assert configs["max.message.bytes"].value == "2000000"
    # progress lives on the target cluster: status and list read it there
    status = cli("-b", second_bootstrap, "replay", "status", summary["replay_id"], "-o", "json")
    assert status.code == 0, status.stderr
    assert status.json()["status"] == "completed" and status.json()["records"] == 80
    listed = cli("-b", second_bootstrap, "replay", "list", "-o", "json").json()
    assert summary["replay_id"] in {r["replay_id"] for r in listed}
    elsewhere = cli("-b", kafka_bootstrap, "replay", "status", summary["replay_id"])
    assert elsewhere.code == ExitCode.NOT_FOUND
    # a profile names the target cluster just as well: the same replay, already done
    Path("ingestctl.yaml").write_text(
        f"profiles:\n  migration-target:\n    bootstrap_servers: {second_bootstrap}\n")
    again = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                   "--to-profile", "migration-target", "--start-offset", "10", "--execute")
    assert again.code == 0, again.stderr
    assert again.json()["replay_id"] == summary["replay_id"]
    assert again.json()["already_completed"] is True


def test_refusals_and_missing_topics_change_nothing(cli, kafka_bootstrap, topics):
    src, dst, _ = topics
    small = unique("rp-small")
    create_topic(kafka_bootstrap, small, 2)
    result = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", small,
                    "--start-offset", "0", "--execute")
    assert result.code == ExitCode.REFUSED and result.stdout == ""
    assert "has 2 partitions" in result.stderr and "--partitioning key" in result.stderr
    assert end_offsets(kafka_bootstrap, small, range(2)) == {0: 0, 1: 0}
    # narrowed to partitions the target has, preserving is fine
    narrowed = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", small,
                      "--start-offset", "0", "--partitions", "0-1")
    assert narrowed.code == 0, narrowed.stderr
    missing = replay(cli, kafka_bootstrap, "--from-topic", unique("nope"), "--to-topic", dst,
                     "--start-offset", "0", "--execute")
    assert missing.code == ExitCode.NOT_FOUND and "does not exist" in missing.stderr
    retention = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                       "--start-offset", "0:0", "--end-offset", "0:500", "--execute")
    assert retention.code == ExitCode.REFUSED and "last stable offset 200" in retention.stderr
    same = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", src,
                  "--start-offset", "0")
    assert same.code == ExitCode.USAGE
    assert end_offsets(kafka_bootstrap, dst, range(3)) == {0: 0, 1: 0, 2: 0}


# -- transactions, re-runs, fencing, interrupts -------------------------------------------------

def test_window_ending_on_a_commit_marker_completes(cli, kafka_bootstrap):
    src, dst = unique("rp-txn"), unique("rp-txn-dst")
    create_topic(kafka_bootstrap, src, 1)
    create_topic(kafka_bootstrap, dst, 1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap,
                         "transactional.id": unique("rp-src-txn")})
    producer.init_transactions(30)
    for batch, committed in ((range(0, 10), True), (range(10, 15), False),
                             (range(15, 20), True)):
        producer.begin_transaction()
        for i in batch:
            producer.produce(src, key=f"k{i}".encode(), value=b"v", partition=0)
        if committed:
            producer.commit_transaction(30)
        else:
            producer.flush(30)  # an abort purges what is still queued: write them first
            producer.abort_transaction(30)
    # offsets: 0-9 records, 10 marker, 11-15 aborted, 16 marker, 17-21 records, 22 marker
    assert end_offsets(kafka_bootstrap, src, [0]) == {0: 23}
    result = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                    "--start-offset", "0", "--execute")
    assert result.code == 0, result.stderr
    summary = result.json()
    assert summary["status"] == "completed"
    assert summary["partitions"][0]["end"] == 23 and summary["partitions"][0]["next"] == 23
    assert summary["records"] == 15
    got = copies(kafka_bootstrap, dst, [0])
    assert sorted(got) == [(0, o) for o in [*range(10), *range(17, 22)]]


def test_rerun_of_a_finished_replay_writes_nothing(cli, kafka_bootstrap, topics):
    src, dst, _ = topics
    args = ("--from-topic", src, "--to-topic", dst, "--start-offset", "150", "--execute")
    first = replay(cli, kafka_bootstrap, *args)
    assert first.code == 0, first.stderr
    target_ends = end_offsets(kafka_bootstrap, dst, range(3))
    progress_end = end_offsets(kafka_bootstrap, PROGRESS, [0])
    second = replay(cli, kafka_bootstrap, *args)
    assert second.code == 0, second.stderr
    summary = second.json()
    assert summary["already_completed"] is True and summary["this_run"]["records"] == 0
    assert summary["records"] == 150 and "already completed" in second.stderr
    assert end_offsets(kafka_bootstrap, dst, range(3)) == target_ends
    assert end_offsets(kafka_bootstrap, PROGRESS, [0]) == progress_end


def ingestctl(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ingestctl", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_concurrent_run_fences_the_first(cli, kafka_bootstrap, topics):
    src, dst, _ = topics
    args = ("--from-topic", src, "--to-topic", dst, "--start-offset", "0", "--id",
            unique("fence"))
    slow = ingestctl("-b", kafka_bootstrap, "replay", *args, "--rate", "20KB/s", "--execute",
                     "-o", "json")
    try:
        wait_for_progress(cli, kafka_bootstrap, args[-1])
        second = replay(cli, kafka_bootstrap, *args, "--execute")
        assert second.code == 0, second.stderr
        out, err = slow.communicate(timeout=60)
    finally:
        slow.kill()
    assert slow.returncode == ExitCode.INCOMPLETE, err
    assert "another run of the same replay started and fenced this one" in err
    assert json.loads(out)["status"] == "incomplete"
    got = copies(kafka_bootstrap, dst, range(3))
    assert sorted(got) == [(p, o) for p in range(3) for o in range(200)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_commits_what_was_copied_and_exits_6(cli, kafka_bootstrap, topics, signum):
    src, dst, _ = topics
    replay_id = unique("intr")
    args = ("--from-topic", src, "--to-topic", dst, "--start-offset", "0", "--id", replay_id)
    run = ingestctl("-b", kafka_bootstrap, "replay", *args, "--rate", "20KB/s", "--execute",
                    "-o", "json")
    try:
        wait_for_progress(cli, kafka_bootstrap, replay_id)
        run.send_signal(signum)
        out, err = run.communicate(timeout=30)
    finally:
        run.kill()
    assert run.returncode == ExitCode.INCOMPLETE, err
    assert "run the same command again" in err and "Traceback" not in err
    stopped = json.loads(out)
    assert stopped["status"] == "incomplete" and 0 < stopped["records"] < 600
    # what the summary counts is exactly what the target holds
    assert len(copies(kafka_bootstrap, dst, range(3))) == stopped["records"]
    resumed = replay(cli, kafka_bootstrap, *args, "--execute")
    assert resumed.code == 0, resumed.stderr
    summary = resumed.json()
    assert summary["resumed_from"] and summary["records"] == 600
    assert summary["this_run"]["records"] == 600 - stopped["records"]
    assert sorted(copies(kafka_bootstrap, dst, range(3))) == [
        (p, o) for p in range(3) for o in range(200)]


def test_progress_bar_only_on_a_terminal(kafka_bootstrap, topics):
    src, dst, _ = topics
    args = ["-b", kafka_bootstrap, "replay", "--from-topic", src, "--to-topic", dst,
            "--start-offset", "100", "--rate", "40KB/s", "--execute", "-o", "json"]
    leader, follower = pty.openpty()
    with tempfile.TemporaryFile() as out:
        run = subprocess.Popen([sys.executable, "-m", "ingestctl", *args, "--id", unique("tty")],
                               stdout=out, stderr=follower)
        os.close(follower)
        shown = b""
        while True:  # read while it runs: a full terminal buffer would block it
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # its end of the terminal is closed: all read
                break
            if not chunk:
                break
            shown += chunk
        os.close(leader)
        assert run.wait(timeout=60) == 0, shown
        out.seek(0)
        assert json.loads(out.read())["records"] == 300  # stdout holds only the summary
    assert b"/300 offsets" in shown and b"records" in shown
    piped = subprocess.run([sys.executable, "-m", "ingestctl", *args, "--id", unique("pipe")],
                           capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and "offsets" not in piped.stderr


def test_at_least_once_mode_says_what_it_means(cli, kafka_bootstrap, topics):
    src, dst, _ = topics
    result = replay(cli, kafka_bootstrap, "--from-topic", src, "--to-topic", dst,
                    "--start-offset", "190", "--mode", "at-least-once", "--execute")
    assert result.code == 0, result.stderr
    summary = result.json()
    assert summary["mode"] == "at-least-once" and "twice" in summary["guarantee"]
    assert sorted(copies(kafka_bootstrap, dst, range(3))) == [
        (p, o) for p in range(3) for o in range(190, 200)]


def test_workers_share_a_replay_and_a_resume_keeps_the_shard_count(cli, kafka_bootstrap):
    src, dst = unique("rp-wk"), unique("rp-wk-dst")
    create_topic(kafka_bootstrap, src, 4)
    create_topic(kafka_bootstrap, dst, 4)
    fill(kafka_bootstrap, src, partitions=4, per_partition=100)
    args = ("--from-topic", src, "--to-topic", dst, "--start-offset", "0")
    result = replay(cli, kafka_bootstrap, *args, "--workers", "2", "--execute")
    assert result.code == 0, result.stderr
    summary = result.json()
    assert summary["status"] == "completed" and summary["records"] == 400
    assert [p["partition"] for p in summary["partitions"]] == [0, 1, 2, 3]
    assert sorted(copies(kafka_bootstrap, dst, range(4))) == [
        (p, o) for p in range(4) for o in range(100)]
    single = replay(cli, kafka_bootstrap, *args, "--execute")
    assert single.code == ExitCode.REFUSED and "--workers 2" in single.stderr
    shard = replay(cli, kafka_bootstrap, *args, "--shard", "1/2", "--execute")
    assert shard.code == 0, shard.stderr
    assert shard.json()["already_completed"] is True
    assert [p["partition"] for p in shard.json()["partitions"]] == [1, 3]


def test_ctrl_c_stops_every_worker_at_a_committed_point(cli, kafka_bootstrap, topics):
    src, dst, _ = topics
    replay_id = unique("wk-intr")
    args = ("--from-topic", src, "--to-topic", dst, "--start-offset", "0", "--id", replay_id,
            "--workers", "2")
    run = subprocess.Popen([sys.executable, "-m", "ingestctl", "-b", kafka_bootstrap, "replay",
                            # ~4 KB/s per worker: each holds ~10 s or more of work, so
                            # neither can finish before the interrupt, however slow the machine
                            *args, "--rate", "8KB/s", "--execute", "-o", "json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        # both workers copying (worker 0 has partitions 0 and 2, worker 1 partition 1)
        wait_for_progress(cli, kafka_bootstrap, replay_id, partitions=(0, 1))
        os.killpg(run.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole group
        out, err = run.communicate(timeout=30)
    finally:
        run.kill()
    assert run.returncode == ExitCode.INCOMPLETE, err
    assert "run the same command again" in err and "worker 0:" in err and "worker 1:" in err
    stopped = json.loads(out)
    assert stopped["status"] == "incomplete"
    assert len(copies(kafka_bootstrap, dst, range(3))) == stopped["records"]
    resumed = replay(cli, kafka_bootstrap, *args, "--execute")
    assert resumed.code == 0, resumed.stderr
    assert sorted(copies(kafka_bootstrap, dst, range(3))) == [
        (p, o) for p in range(3) for o in range(200)]


def test_bad_options_are_usage_errors(cli, kafka_bootstrap):
    for args in (["--to-topic", "b", "--start-offset", "0"],
                 ["--from-topic", "a", "--to-topic", "b"],
                 ["--from-topic", "a", "--to-topic", "b", "--start", "yesterday"],
                 ["--from-topic", "a", "--to-topic", "b", "--start-offset", "0", "--shard", "2/2"],
                 ["--from-topic", "a", "--to-topic", "b", "--start-offset", "0", "--rate", "x"],
                 ["--from-topic", "a", "--to-topic", "b", "--start-offset", "0", "--id", "a b"],
                 ["--from-topic", "a", "--to-topic", "b", "--start-offset", "0", "--workers",
                  "2", "--shard", "0/2"]):
        result = replay(cli, kafka_bootstrap, *args)
        assert result.code == ExitCode.USAGE, (args, result.stderr)
        assert result.stdout == "" and "Traceback" not in result.stderr


def test_help_lists_the_replay_commands(cli):
    result = cli("replay", "--help")
    assert result.code == 0
    assert "status" in result.stdout and "list" in result.stdout and "--execute" in result.stdout

