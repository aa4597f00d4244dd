"""groups reset (every kind of target, every refusal), checkpoint create/diff/verify,
rollback on the same cluster, and a migration from each version onto 4.3.1 rolled back by
timestamp, on each version."""

import time

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from support.kafkautil import commit, committed, create_topic, produce
from support.names import unique
from support.rollbackutil import first_records, member

from ingestctl.errors import ExitCode
from ingestctl.parsing import format_time

MINUTE = 60_000


def delete_records(bootstrap: str, topic: str, partition: int, before: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive its futures
    for future in admin.delete_records([TopicPartition(topic, partition, before)]).values():
        future.result(30)


def targets(result) -> dict[int, int]:
    assert result.code == 0, result.stderr
    return {m["partition"]: m["target"] for m in result.json()["groups"][0]["partitions"]}


def test_groups_reset_every_kind_and_every_refusal(cli, broker, tmp_path):
    """p0: ten records an hour ago (a minute apart) and five in the last ten minutes (two
    minutes apart); p1: six records an hour ago. The group is at {0: 12, 1: 3}."""
    b = broker.bootstrap
    topic, group = unique("compat-reset"), unique("compat-reset-g")
    now = int(time.time()) * 1000
    old, recent = now - 60 * MINUTE, now - 10 * MINUTE
    create_topic(b, topic, partitions=2)
    rows = [{"partition": 0, "key": f"old-{i}".encode(), "timestamp": old + i * MINUTE}
            for i in range(10)]
    rows += [{"partition": 0, "key": f"new-{i}".encode(), "timestamp": recent + i * 2 * MINUTE}
             for i in range(5)]
    rows += [{"partition": 1, "key": f"p1-{i}".encode(), "timestamp": old + i * MINUTE}
             for i in range(6)]
    produce(b, topic, [{**r, "value": b"v"} for r in rows])
    commit(b, group, topic, {0: 12, 1: 3})

    def run(*args, group_id=group):
        return cli("-b", b, "groups", "reset", group_id, "--topic", topic,
                   "--dir", tmp_path / "cps", *args)

    between = format_time(old + 150_000)
    for args, expected in [
        (["--to-earliest"], {0: 0, 1: 0}),
        (["--to-latest"], {0: 15, 1: 6}),
        (["--to-offset", "5"], {0: 5, 1: 5}),
        (["--shift-by", "-2"], {0: 10, 1: 1}),
        (["--to-datetime", between], {0: 3, 1: 3}),
        (["--by-duration", "30m", "--partitions", "0"], {0: 10}),
    ]:
        assert targets(run(*args, "-o", "json")) == expected, args
    assert committed(b, group, topic, [0, 1]) == {0: 12, 1: 3}

    done = run("--to-datetime", between, "--execute", "-o", "json")
    assert targets(done) == {0: 3, 1: 3} and done.json()["executed"] is True
    assert first_records(b, group, topic, [0, 1]) == {0: (3, b"old-3"), 1: (3, b"p1-3")}
    commit(b, group, topic, {0: 12, 1: 3})

    def refused(*args, group_id=group):
        result = run(*args, group_id=group_id)
        assert result.code == ExitCode.REFUSED, (args, result.stderr)
        assert result.stdout == "" and "Traceback" not in result.stderr
        assert committed(b, group, topic, [0, 1]) == {0: 12, 1: 3}
        return result.stderr

    assert f"{topic}[0]: target 100 is above the end 15" in refused(
        "--to-offset", "100", "--execute")
    after_last = format_time(now - MINUTE)
    assert f"{topic}[1]: no record at or after {after_last}" in refused(
        "--to-datetime", after_last)
    future = format_time(int(time.time() * 1000) + 3_600_000)
    assert f"the time {future} is in the future" in refused("--to-datetime", future)
    assert "has no committed offset to shift" in refused(
        "--shift-by", "1", group_id=unique("fresh-group"))
    with member(b, group, topic, client_id="loader-3"):
        assert f"group {group} is Stable with 1 member(s) (client ids: loader-3)" in refused(
            "--to-earliest", "--execute")
    delete_records(b, topic, 1, 2)
    assert f"{topic}[1]: target 0 is below the log-start 2" in refused(
        "--shift-by", "-3", "--partitions", "1")


def test_checkpoint_create_diff_verify_and_rollback(cli, broker, tmp_path):
    b = broker.bootstrap
    topic, group = unique("compat-cp"), unique("compat-cp-g")
    directory = tmp_path / "cps"
    base_ts = (int(time.time()) - 3600) * 1000
    create_topic(b, topic, partitions=2)
    produce(b, topic, [{"partition": p, "key": f"k{p}-{i}".encode(), "value": b"v",
                        "timestamp": base_ts + i * 1000} for p in (0, 1) for i in range(10)])
    commit(b, group, topic, {0: 4, 1: 7})
    base = ["-b", b, "--timeout", "20"]

    created = cli(*base, "checkpoint", "create", "w", "--group", group, "--dir", directory,
                  "-o", "json")
    assert created.code == 0, created.stderr
    cp = created.json()
    assert cp["groups"][group]["state"] == "Empty"
    assert [(o["partition"], o["offset"]) for o in cp["groups"][group]["offsets"][topic]] == \
        [(0, 4), (1, 7)]
    assert [(p["log_start"], p["end"]) for p in cp["topics"][topic]["partitions"]] == \
        [(0, 10), (0, 10)]

    produce(b, topic, [{"partition": 0, "key": b"late", "value": b"v",
                        "timestamp": base_ts + 20_000}])
    commit(b, group, topic, {0: 9, 1: 10})
    diff = cli(*base, "checkpoint", "diff", "w", "--live", "--dir", directory, "-o", "json")
    assert diff.code == 0, diff.stderr
    d = diff.json()
    assert [(t["partition"], t["produced"]) for t in d["topics"]] == [(0, 1), (1, 0)]
    assert [(g["partition"], g["consumed"]) for g in d["groups"]] == [(0, 5), (1, 3)]
    verified = cli(*base, "checkpoint", "verify", "w", "--dir", directory, "-o", "json")
    assert verified.code == 0, verified.stderr
    assert verified.json()["intact"] is True and verified.json()["applicable"] is True

    rollback = ["rollback", "--to-checkpoint", "w", "--dir", directory]
    with member(b, group, topic, client_id="sink-worker-7"):
        live = cli(*base, *rollback, "--execute")
        assert live.code == ExitCode.REFUSED and "Traceback" not in live.stderr
        assert f"group {group} is Stable with 1 member(s) (client ids: sink-worker-7)" in \
            live.stderr
    plan = cli(*base, *rollback, "-o", "json")
    assert [(m["partition"], m["current"], m["target"], m["delta"])
            for m in plan.json()["groups"][0]["partitions"]] == [(0, 9, 4, 5), (1, 10, 7, 3)]
    assert committed(b, group, topic, [0, 1]) == {0: 9, 1: 10}
    done = cli(*base, *rollback, "--execute", "-o", "json")
    assert done.code == 0, done.stderr
    assert committed(b, group, topic, [0, 1]) == {0: 4, 1: 7}
    assert first_records(b, group, topic, [0, 1]) == {0: (4, b"k0-4"), 1: (7, b"k1-7")}

    delete_records(b, topic, 0, 6)
    stale = cli(*base, "checkpoint", "verify", "w", "--dir", directory)
    assert stale.code == ExitCode.REFUSED and "Traceback" not in stale.stderr
    assert f"group {group}: {topic}[0] offset 4 is below the log-start 6" in stale.stderr
    below = cli(*base, *rollback, "--execute")
    assert below.code == ExitCode.REFUSED
    assert f"group {group} {topic}[0]: target 4 is below the log-start 6" in below.stderr


def test_migration_onto_4_3_1_rolled_back_by_timestamp(cli, broker, kafka_bootstrap, tmp_path):
    """A wave migrates from this version onto the main suite's 4.3.1 broker: checkpoint on the
    source, replay into the target (which already held three older records per partition, so
    offsets differ), then roll the group back on the target by timestamp."""
    source, target = broker.bootstrap, kafka_bootstrap
    topic, group = unique("compat-mig"), unique("compat-mig-g")
    directory = tmp_path / "cps"
    base_ts = (int(time.time()) - 3600) * 1000
    create_topic(source, topic, partitions=2)
    produce(source, topic, [{"partition": p, "key": f"k{p}-{i}".encode(), "value": b"v",
                             "timestamp": base_ts + p * 100_000 + i * 1000}
                            for p, count in ((0, 10), (1, 6)) for i in range(count)])
    commit(source, group, topic, {0: 4, 1: 6})  # p1: caught up
    assert cli("-b", source, "checkpoint", "create", "cut", "--group", group,
               "--dir", directory).code == 0

    create_topic(target, topic, partitions=2)
    produce(target, topic, [{"partition": p, "key": b"only-on-target", "value": b"v",
                             "timestamp": base_ts - 50_000} for p in (0, 1) for _ in range(3)])
    copied = cli("-b", source, "replay", "--from-topic", topic, "--to-topic", topic,
                 "--to-bootstrap-servers", target, "--start-offset", "0", "--execute",
                 "-o", "json")
    assert copied.code == 0, copied.stderr
    assert copied.json()["records"] == 16
    produce(target, topic, [{"partition": 1, "key": b"newer-on-target", "value": b"v",
                             "timestamp": base_ts + 200_000}])

    rollback = ["-b", target, "rollback", "--to-checkpoint", "cut", "--dir", directory]
    other = cli(*rollback, "--execute")
    assert other.code == ExitCode.REFUSED and "Traceback" not in other.stderr
    assert "was taken on cluster" in other.stderr and "--by-timestamp" in other.stderr
    done = cli(*rollback, "--by-timestamp", "--execute", "-o", "json")
    assert done.code == 0, done.stderr
    notes = [m["note"] for m in done.json()["groups"][0]["partitions"]]
    assert notes[0].startswith("first record at or after") and notes[1].startswith("caught up")
    # The same records, at other offsets: three more, plus the replay's commit markers.
    first = first_records(target, group, topic, [0, 1])
    assert {p: key for p, (_, key) in first.items()} == {0: b"k0-4", 1: b"newer-on-target"}
    assert first[0][0] >= 7 and first[1][0] >= 9
