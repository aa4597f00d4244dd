"""`groups reset` against the real broker: every kind with exact targets, the same targets
as Kafka's own `kafka-consumer-groups --reset-offsets --dry-run` where that tool neither
clamps nor falls back, and the refusals where it would."""

import json
import re
import subprocess
import time
from dataclasses import dataclass

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from support.kafkautil import commit, committed, create_topic, produce
from support.names import unique
from support.rollbackutil import first_records, member

from ingestctl import sandbox
from ingestctl.errors import ExitCode
from ingestctl.parsing import format_time

MINUTE = 60_000


@dataclass
class Env:
    topic: str
    group: str
    now: int
    old: int
    run: object


@pytest.fixture
def env(cli, kafka_bootstrap, tmp_path):
    """p0: ten records an hour ago (a minute apart, offsets 0-9) and five in the last ten
    minutes (10, 9 and 8 minutes ago, then 2.5 and 1.5: offsets 10-14); p1: six records an
    hour ago. The group is at {0: 12, 1: 3}. The gap keeps `--by-duration 5m` on offset 13
    for minutes: Kafka's own tool is a JVM per call, slow on a busy machine."""
    topic, group = unique("reset-topic"), unique("reset-group")
    now = int(time.time()) * 1000
    old, recent = now - 60 * MINUTE, now - 10 * MINUTE
    create_topic(kafka_bootstrap, topic, partitions=2)
    rows = [{"partition": 0, "key": f"old-{i}".encode(), "timestamp": old + i * MINUTE}
            for i in range(10)]
    rows += [{"partition": 0, "key": f"new-{i}".encode(), "timestamp": recent + at}
             for i, at in enumerate((0, MINUTE, 2 * MINUTE, 15 * MINUTE // 2, 17 * MINUTE // 2))]
    rows += [{"partition": 1, "key": f"p1-{i}".encode(), "timestamp": old + i * MINUTE}
             for i in range(6)]
    produce(kafka_bootstrap, topic, [{**r, "value": b"v"} for r in rows])
    commit(kafka_bootstrap, group, topic, {0: 12, 1: 3})

    def run(*args, group_id=group):
        return cli("-b", kafka_bootstrap, "groups", "reset", group_id, "--topic", topic,
                   "--dir", tmp_path / "cps", *args)

    return Env(topic, group, now, old, run)


def targets(result) -> dict[int, int]:
    assert result.code == 0, result.stderr
    return {m["partition"]: m["target"] for m in result.json()["groups"][0]["partitions"]}


def kinds(e: Env) -> list[tuple[list[str], list[str], dict[int, int]]]:
    """(ingestctl's arguments, Kafka's tool's arguments, expected targets)."""
    between = format_time(e.old + 150_000)  # between old-2 and old-3
    return [
        (["--to-earliest"], ["--to-earliest"], {0: 0, 1: 0}),
        (["--to-latest"], ["--to-latest"], {0: 15, 1: 6}),
        (["--to-offset", "5"], ["--to-offset", "5"], {0: 5, 1: 5}),
        (["--shift-by", "-2"], ["--shift-by", "-2"], {0: 10, 1: 1}),
        (["--shift-by", "1"], ["--shift-by", "1"], {0: 13, 1: 4}),
        (["--to-datetime", between], ["--to-datetime", between], {0: 3, 1: 3}),
        (["--to-datetime", str(e.old + 150_000)], ["--to-datetime", between], {0: 3, 1: 3}),
        # p1 holds nothing this recent: these two are asked of p0 only.
        (["--by-duration", "30m", "--partitions", "0"], ["--by-duration", "PT30M"], {0: 10}),
        (["--by-duration", "5m", "--partitions", "0"], ["--by-duration", "PT5M"], {0: 13}),
    ]


def test_every_reset_kind_plans_exact_targets_and_changes_nothing(env, kafka_bootstrap):
    for ours, _, expected in kinds(env):
        result = env.run(*ours, "-o", "json")
        assert targets(result) == expected, ours
        assert "nothing changed; add --execute to apply" in result.stderr
    assert committed(kafka_bootstrap, env.group, env.topic, [0, 1]) == {0: 12, 1: 3}


def kafka_dry_run(bootstrap: str, group: str, topic: str, args: list[str]) -> dict[int, int]:
    """Kafka's own ConsumerGroupCommand --reset-offsets --dry-run: partition -> NEW-OFFSET."""
    java = sandbox.find_java(17, "comparing with kafka-consumer-groups")
    jars = sandbox.resolve_kafka_jars(sandbox.DEFAULT_KAFKA_VERSION)
    result = subprocess.run(
        [java, "-cp", f"{jars}/*", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
         "--bootstrap-server", bootstrap, "--group", group, "--reset-offsets", "--dry-run",
         *args], capture_output=True, text=True, timeout=120)
    rows = re.findall(rf"^{re.escape(group)}\s+{re.escape(topic)}\s+(\d+)\s+(\d+)\s*$",
                      result.stdout, re.MULTILINE)
    assert rows, result.stdout + result.stderr
    return {int(p): int(o) for p, o in rows}


def test_targets_equal_kafka_consumer_groups_dry_run(env, kafka_bootstrap):
    for ours, theirs, expected in kinds(env):
        partitions = ours[ours.index("--partitions") + 1] if "--partitions" in ours else None
        topic_arg = f"{env.topic}:{partitions}" if partitions else env.topic
        assert kafka_dry_run(kafka_bootstrap, env.group, env.topic,
                             ["--topic", topic_arg, *theirs]) == expected, theirs
        assert targets(env.run(*ours, "-o", "json")) == expected, ours


def test_where_kafka_clamps_or_falls_back_we_refuse(env, kafka_bootstrap):
    def refused(*args, group_id=env.group):
        result = env.run(*args, group_id=group_id)
        assert result.code == ExitCode.REFUSED, (args, result.stderr)
        assert result.stdout == "" and "Traceback" not in result.stderr
        assert committed(kafka_bootstrap, env.group, env.topic, [0, 1]) == {0: 12, 1: 3}
        return result.stderr

    # Above the end: Kafka sets the end and exits 0.
    assert kafka_dry_run(kafka_bootstrap, env.group, env.topic,
                         ["--topic", env.topic, "--to-offset", "100"]) == {0: 15, 1: 6}
    message = refused("--to-offset", "100", "--execute")
    assert f"{env.topic}[0]: target 100 is above the end 15" in message
    assert f"{env.topic}[1]: target 100 is above the end 6" in message
    clamped = env.run("--to-offset", "100", "--allow-clamp", "-o", "json")
    assert targets(clamped) == {0: 15, 1: 6}
    assert clamped.json()["groups"][0]["partitions"][0]["note"] == \
        "clamped from 100 down to the end"

    # Below the log-start: Kafka sets the log-start.
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.delete_records([TopicPartition(env.topic, 1, 2)]).values():
        future.result(30)
    assert kafka_dry_run(kafka_bootstrap, env.group, env.topic,
                         ["--topic", f"{env.topic}:1", "--shift-by", "-3"]) == {1: 2}
    message = refused("--shift-by", "-3", "--partitions", "1")
    assert f"{env.topic}[1]: target 0 is below the log-start 2" in message

    # A time after the newest record: Kafka falls back to the end.
    after_last = format_time(env.now - MINUTE)
    assert kafka_dry_run(kafka_bootstrap, env.group, env.topic,
                         ["--topic", env.topic, "--to-datetime", after_last]) == {0: 15, 1: 6}
    message = refused("--to-datetime", after_last)
    assert f"{env.topic}[0]: no record at or after {after_last}" in message
    assert f"{env.topic}[1]: no record at or after {after_last}" in message

    future = format_time(int(time.time() * 1000) + 3_600_000)
    assert f"the time {future} is in the future" in refused("--to-datetime", future)

    message = refused("--shift-by", "1", group_id=unique("fresh-group"))
    assert "has no committed offset to shift" in message

    with member(kafka_bootstrap, env.group, env.topic, client_id="loader-3"):
        message = refused("--to-earliest")
    assert f"group {env.group} is Stable with 1 member(s) (client ids: loader-3)" in message


def test_usage_errors(env, cli, kafka_bootstrap):
    assert env.run().code == ExitCode.USAGE
    assert env.run("--to-earliest", "--to-latest").code == ExitCode.USAGE
    assert env.run("--to-offset", "-1").code == ExitCode.USAGE
    assert env.run("--to-earliest", "--partitions", "x").code == ExitCode.USAGE
    assert env.run("--to-earliest", "--partitions", "7").code == ExitCode.USAGE
    assert env.run("--to-datetime", "yesterday").code == ExitCode.USAGE
    missing = cli("-b", kafka_bootstrap, "groups", "reset", env.group, "--topic",
                  unique("no-such-topic"), "--to-earliest")
    assert missing.code == ExitCode.NOT_FOUND


def test_execute_moves_a_real_consumer_and_is_audited(env, kafka_bootstrap, tmp_path):
    between = format_time(env.old + 150_000)
    done = env.run("--to-datetime", between, "--execute", "-o", "json")
    assert targets(done) == {0: 3, 1: 3} and done.json()["executed"] is True
    assert committed(kafka_bootstrap, env.group, env.topic, [0, 1]) == {0: 3, 1: 3}
    assert first_records(kafka_bootstrap, env.group, env.topic, [0, 1]) == {
        0: (3, b"old-3"), 1: (3, b"p1-3")}
    [entry] = [json.loads(line) for line in (tmp_path / "cps" / "audit.jsonl").read_text()
               .splitlines()]
    assert entry["action"] == "groups reset" and entry["group"] == env.group
    # p1 was already at 3: only the partition that moved is a change.
    assert entry["changes"] == [{"topic": env.topic, "partition": 0, "before": 12, "after": 3}]

    again = env.run("--to-datetime", between, "--execute")
    assert again.code == 0 and "already at target" in again.stderr


def test_a_saved_reset_plan_applies_through_rollback_from_plan(env, cli, kafka_bootstrap,
                                                               tmp_path):
    plan = tmp_path / "reset-plan.yaml"
    assert env.run("--to-earliest", "--plan-out", plan).code == 0
    assert committed(kafka_bootstrap, env.group, env.topic, [0, 1]) == {0: 12, 1: 3}
    applied = cli("-b", kafka_bootstrap, "rollback", "--from-plan", plan, "--execute",
                  "--dir", tmp_path / "cps")
    assert applied.code == 0, applied.stderr
    assert committed(kafka_bootstrap, env.group, env.topic, [0, 1]) == {0: 0, 1: 0}
