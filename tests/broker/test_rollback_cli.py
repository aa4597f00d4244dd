"""`rollback` against the real broker: plan, execute, proof by a real consumer, idempotence,
the audit log, saved plans and drift, every refusal, clamping, read-back verification, and a
rollback by timestamp onto a second cluster where the same records sit at other offsets."""

import json
import signal
import stat
import subprocess
import sys
import time

import pytest
import yaml
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions
from support.kafkautil import commit, committed, create_topic, produce
from support.names import unique
from support.process import run_process
from support.rollbackutil import first_records, member
from support.waiting import wait_for

from ingestctl import checkpoints
from ingestctl.config import Settings
from ingestctl.errors import ClusterError, ExitCode
from ingestctl.files.documents import checksum
from ingestctl.moves import apply

BASE = (int(time.time()) - 3600) * 1000  # inside retention, fixed for the whole run


def records(partition: int, keys: range, base: int = BASE, step: int = 1000):
    return [{"partition": partition, "key": f"k{partition}-{i}".encode(), "value": b"v",
             "timestamp": base + partition * 100_000 + i * step} for i in keys]


def delete_records(bootstrap: str, topic: str, partition: int, before: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_records([TopicPartition(topic, partition, before)]).values():
        future.result(30)


@pytest.fixture
def wave(cli, kafka_bootstrap, tmp_path):
    """A checkpoint with the group at {0: 4, 1: 7}; afterwards the group read on to {9, 10}."""
    topic, group = unique("rb-topic"), unique("rb-group")
    create_topic(kafka_bootstrap, topic, partitions=2)
    produce(kafka_bootstrap, topic, records(0, range(10)) + records(1, range(10)))
    commit(kafka_bootstrap, group, topic, {0: 4, 1: 7})
    directory = tmp_path / "cps"
    result = cli("-b", kafka_bootstrap, "checkpoint", "create", "w", "--group", group,
                 "--dir", directory)
    assert result.code == 0, result.stderr
    commit(kafka_bootstrap, group, topic, {0: 9, 1: 10})
    return topic, group, directory


def moves(data: dict) -> list[tuple]:
    return [(g["group"], m["partition"], m["current"], m["target"], m["delta"])
            for g in data["groups"] for m in g["partitions"]]


def audit_lines(directory) -> list[dict]:
    path = directory / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_plan_execute_consumer_proof_and_idempotent_rerun(cli, kafka_bootstrap, wave):
    topic, group, directory = wave
    base = ["-b", kafka_bootstrap, "rollback", "--to-checkpoint", "w", "--dir", directory]

    plan = cli(*base, "-o", "json")
    assert plan.code == 0, plan.stderr
    data = plan.json()
    assert data["executed"] is False
    assert moves(data) == [(group, 0, 9, 4, 5), (group, 1, 10, 7, 3)]
    assert "nothing changed; add --execute to apply" in plan.stderr
    assert committed(kafka_bootstrap, group, topic, [0, 1]) == {0: 9, 1: 10}
    assert audit_lines(directory) == []

    done = cli(*base, "--execute", "-o", "json")
    assert done.code == 0, done.stderr
    assert done.json()["executed"] is True and moves(done.json()) == moves(data)
    assert committed(kafka_bootstrap, group, topic, [0, 1]) == {0: 4, 1: 7}
    [entry] = audit_lines(directory)
    assert entry["action"] == "rollback" and entry["group"] == group
    assert entry["changes"] == [{"topic": topic, "partition": 0, "before": 9, "after": 4},
                                {"topic": topic, "partition": 1, "before": 10, "after": 7}]
    assert entry["cluster_id"] == data["cluster_id"] and "@" in entry["user"]
    assert stat.S_IMODE((directory / "audit.jsonl").stat().st_mode) == 0o600

    # The proof: a real consumer joining the group starts exactly at the planned offsets.
    assert first_records(kafka_bootstrap, group, topic, [0, 1]) == {
        0: (4, f"k0-{4}".encode()), 1: (7, f"k1-{7}".encode())}

    again = cli(*base, "--execute", "-o", "json")
    assert again.code == 0, again.stderr
    assert again.json()["executed"] is False
    assert [m[4] for m in moves(again.json())] == [0, 0]
    assert "already at target" in again.stderr
    assert len(audit_lines(directory)) == 1


def test_refusals_change_nothing(cli, kafka_bootstrap, second_bootstrap, wave, tmp_path):
    topic, group, directory = wave
    base = ["rollback", "--to-checkpoint", "w", "--dir", directory, "--execute"]

    def refused(*args, bootstrap=kafka_bootstrap):
        result = cli("-b", bootstrap, *args)
        assert result.code == ExitCode.REFUSED, (args, result.stderr)
        assert result.stdout == "" and "Traceback" not in result.stderr
        assert committed(kafka_bootstrap, group, topic, [0, 1]) == {0: 9, 1: 10}
        return result.stderr

    with member(kafka_bootstrap, group, topic, client_id="sink-worker-7"):
        message = refused(*base)
        assert f"group {group} is Stable with 1 member(s) (client ids: sink-worker-7)" in message
        assert len(message.strip().splitlines()) == 1

    message = refused(*base, bootstrap=second_bootstrap)
    assert "was taken on cluster" in message and "--by-timestamp" in message

    delete_records(kafka_bootstrap, topic, 0, 6)
    message = refused(*base)
    assert f"group {group} {topic}[0]: target 4 is below the log-start 6" in message
    assert "--allow-clamp" in message and f"{topic}[1]" not in message

    missing = cli("-b", kafka_bootstrap, *base, "--group", unique("not-in-it"))
    assert missing.code == ExitCode.NOT_FOUND

    clamped = cli("-b", kafka_bootstrap, *base[:-1], "--allow-clamp", "-o", "json")
    assert clamped.code == 0, clamped.stderr
    [p0, p1] = clamped.json()["groups"][0]["partitions"]
    assert (p0["target"], p0["delta"], p0["note"]) == (6, 3, "clamped from 4 up to the log-start")
    assert (p1["target"], p1["delta"]) == (7, 3)

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})  # must outlive its futures
    admin.create_partitions([NewPartitions(topic, 3)])[topic].result(30)
    message = refused(*base, "--allow-clamp")
    assert f"topic {topic} has 3 partitions, the checkpoint 2 (added 2)" in message

    path = checkpoints.resolve_ref("w", directory)
    path.write_text(path.read_text().replace("offset: 4,", "offset: 3,"))
    damaged = cli("-b", kafka_bootstrap, *base)
    assert damaged.code == ExitCode.INVALID_FILE and "checksum" in damaged.stderr
    assert audit_lines(directory) == []


def test_saved_plan_applies_exactly_or_is_refused_after_drift(cli, kafka_bootstrap, wave,
                                                             tmp_path):
    topic, group, directory = wave
    base = ["-b", kafka_bootstrap, "rollback"]
    plan_file = tmp_path / "plan.yaml"
    saved = cli(*base, "--to-checkpoint", "w", "--dir", directory, "--plan-out", plan_file)
    assert saved.code == 0 and "plan saved to" in saved.stderr
    assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    shown = cli(*base, "--from-plan", plan_file, "-o", "json")
    assert shown.code == 0 and moves(shown.json()) == [(group, 0, 9, 4, 5), (group, 1, 10, 7, 3)]
    assert committed(kafka_bootstrap, group, topic, [0, 1]) == {0: 9, 1: 10}
    applied = cli(*base, "--from-plan", plan_file, "--execute", "--dir", directory)
    assert applied.code == 0, applied.stderr
    assert committed(kafka_bootstrap, group, topic, [0, 1]) == {0: 4, 1: 7}

    # Not drift: new records arrive between plan and apply (producers keep writing during
    # an outage); the plan's targets are absolute offsets, still retained.
    commit(kafka_bootstrap, group, topic, {0: 9, 1: 10})
    assert cli(*base, "--to-checkpoint", "w", "--dir", directory, "--plan-out",
               plan_file).code == 0
    produce(kafka_bootstrap, topic, records(0, range(10, 11)))
    applied = cli(*base, "--from-plan", plan_file, "--execute", "--dir", directory)
    assert applied.code == 0, applied.stderr
    assert committed(kafka_bootstrap, group, topic, [0, 1]) == {0: 4, 1: 7}

    # Drift: a consumer joins between plan and apply.
    commit(kafka_bootstrap, group, topic, {0: 9, 1: 10})
    assert cli(*base, "--to-checkpoint", "w", "--dir", directory, "--plan-out",
               plan_file).code == 0
    with member(kafka_bootstrap, group, topic):
        drifted = cli(*base, "--from-plan", plan_file, "--execute")
    assert drifted.code == ExitCode.REFUSED
    assert f"group {group} was Empty, now Stable" in drifted.stderr
    assert committed(kafka_bootstrap, group, topic, [0, 1]) == {0: 9, 1: 10}

    # A hand-edited plan is not a plan.
    plan_file.write_text(plan_file.read_text().replace("target: 4", "target: 2"))
    edited = cli(*base, "--from-plan", plan_file, "--execute")
    assert edited.code == ExitCode.INVALID_FILE
    assert f"plan {plan_file} is not intact: field checksum" in edited.stderr

    usage = cli(*base, "--from-plan", plan_file, "--to-checkpoint", "w")
    assert usage.code == ExitCode.USAGE


def test_read_back_names_the_partitions_that_differ(kafka_bootstrap, wave):
    from ingestctl import kafka

    topic, group, _ = wave
    admin = kafka.Admin(Settings(bootstrap_servers=kafka_bootstrap))
    apply.verify_applied(admin, group, {(topic, 0): 9, (topic, 1): 10})
    with pytest.raises(ClusterError) as caught:
        apply.verify_applied(admin, group, {(topic, 0): 9, (topic, 1): 3})
    assert caught.value.exit_code == ExitCode.CLUSTER
    assert caught.value.details == [f"{topic}[1]: expected 3, the cluster holds 10"]


def test_by_timestamp_on_another_cluster_lands_on_the_same_records(
        cli, kafka_bootstrap, second_bootstrap, tmp_path):
    """The second cluster holds the same records with the same timestamps, after three
    others (so at offsets three higher), plus one newer record on p1."""
    topic, group = unique("rb-x"), unique("rb-x-group")
    for bootstrap in (kafka_bootstrap, second_bootstrap):
        create_topic(bootstrap, topic, partitions=2)
    same = records(0, range(10)) + records(1, range(6))
    produce(kafka_bootstrap, topic, same)
    earlier = [{**r, "key": b"only-on-b", "timestamp": r["timestamp"] - 50_000}
               for r in records(0, range(3)) + records(1, range(3))]
    newer = [{**records(1, range(20, 21))[0], "key": b"newer-on-b"}]
    produce(second_bootstrap, topic, earlier)
    produce(second_bootstrap, topic, same + newer)
    commit(kafka_bootstrap, group, topic, {0: 4, 1: 6})  # p1: caught up
    directory = tmp_path / "cps"
    assert cli("-b", kafka_bootstrap, "checkpoint", "create", "cut", "--group", group,
               "--dir", directory).code == 0

    base = ["-b", second_bootstrap, "rollback", "--to-checkpoint", "cut", "--dir", directory]
    assert cli(*base).code == ExitCode.REFUSED
    done = cli(*base, "--by-timestamp", "--execute", "-o", "json")
    assert done.code == 0, done.stderr
    assert moves(done.json()) == [(group, 0, None, 7, None), (group, 1, None, 9, None)]
    notes = [m["note"] for m in done.json()["groups"][0]["partitions"]]
    assert notes[0].startswith("first record at or after") and notes[1].startswith("caught up")
    assert committed(second_bootstrap, group, topic, [0, 1]) == {0: 7, 1: 9}
    assert first_records(second_bootstrap, group, topic, [0, 1]) == {
        0: (7, b"k0-4"), 1: (9, b"newer-on-b")}


def recreate(bootstrap: str, topic: str, partitions: int, per_partition: int) -> None:
    """Delete the topic and create it again under the same name (a new topic id)."""
    client = AdminClient({"bootstrap.servers": bootstrap})
    client.delete_topics([topic])[topic].result(30)
    wait_for(f"topic {topic} to be gone",
             lambda: topic not in client.list_topics(timeout=10).topics, interval=0.2)
    wait_for(f"topic {topic} to be created again", lambda: _try_create(bootstrap, topic,
                                                                        partitions),
             interval=0.5)
    produce(bootstrap, topic, [r for p in range(partitions)
                               for r in records(p, range(per_partition))])


def _try_create(bootstrap: str, topic: str, partitions: int) -> bool:
    try:
        create_topic(bootstrap, topic, partitions=partitions)
    except KafkaException as exc:  # still being deleted
        if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        raise
    return True


def test_saved_plan_drift_is_what_makes_it_unsafe_and_only_that(cli, kafka_bootstrap, wave,
                                                                 tmp_path):
    """Refused: partitions added, the topic recreated (more records, or fewer), a target now
    below the log-start. Applied: log-start moved but every target still retained, a plan
    file written before plans recorded topic ids."""
    topic, group, directory = wave
    base = ["-b", kafka_bootstrap, "rollback"]
    plan_file = tmp_path / "plan.yaml"

    def plan(*extra: str) -> None:
        commit(kafka_bootstrap, group, topic, {0: 9, 1: 10})
        saved = cli(*base, "--to-checkpoint", "w", "--dir", directory, "--plan-out", plan_file,
                    *extra)
        assert saved.code == 0, saved.stderr

    def refused(*expected: str) -> str:
        result = cli(*base, "--from-plan", plan_file, "--execute", "--dir", directory)
        assert result.code == ExitCode.REFUSED, result.stderr
        assert "changed since the plan was made" in result.stderr
        for sentence in expected:
            assert sentence in result.stderr, result.stderr
        assert committed(kafka_bootstrap, group, topic, [0, 1]) == {0: 9, 1: 10}
        return result.stderr

    def applies() -> None:
        result = cli(*base, "--from-plan", plan_file, "--execute", "--dir", directory)
        assert result.code == 0, result.stderr
        assert committed(kafka_bootstrap, group, topic, [0, 1]) == {0: 4, 1: 7}

    # The plan records each topic's id and partition count.
    plan()
    saved = yaml.safe_load(plan_file.read_text())
    assert saved["topics"][topic]["partitions"] == 2
    assert len(saved["topics"][topic]["topic_id"]) >= 16

    # Log-start moves (retention), but the targets 4 and 7 are still retained: not drift.
    delete_records(kafka_bootstrap, topic, 0, 3)
    applies()

    # A target no longer retained.
    plan()
    delete_records(kafka_bootstrap, topic, 0, 5)
    refused(f"group {group} {topic}[0]: target 4 is now below the log-start 5")

    # A plan file from before topic ids were recorded still loads, and still applies.
    delete_records(kafka_bootstrap, topic, 1, 2)
    commit(kafka_bootstrap, group, topic, {0: 9, 1: 10})
    saved = cli(*base, "--to-checkpoint", "w", "--dir", directory, "--plan-out", plan_file,
                "--allow-clamp")
    assert saved.code == 0, saved.stderr
    old = yaml.safe_load(plan_file.read_text())
    del old["topics"], old["checksum"]
    old["checksum"] = checksum(old)
    plan_file.write_text(yaml.safe_dump(old, sort_keys=False))
    result = cli(*base, "--from-plan", plan_file, "--execute", "--dir", directory)
    assert result.code == 0, result.stderr
    assert committed(kafka_bootstrap, group, topic, [0, 1]) == {0: 5, 1: 7}

    # Partitions added.
    plan("--allow-clamp")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})  # must outlive its futures
    admin.create_partitions([NewPartitions(topic, 3)])[topic].result(30)
    message = refused(f"topic {topic} had 2 partitions when planned, now 3 (added 1)")
    assert "recreated" not in message and "log-start" not in message


def test_saved_plan_on_a_recreated_topic_is_refused(cli, kafka_bootstrap, tmp_path):
    """The same name, a new topic: with more records than before (only its topic id tells),
    and with fewer (its end went down)."""
    topic, group = unique("rb-recreated"), unique("rb-recreated-group")
    create_topic(kafka_bootstrap, topic, partitions=2)
    produce(kafka_bootstrap, topic, records(0, range(10)) + records(1, range(10)))
    plan_file = tmp_path / "plan.yaml"
    base = ["-b", kafka_bootstrap, "rollback"]
    for per_partition, expected in ((20, "was recreated"), (6, "went down")):
        commit(kafka_bootstrap, group, topic, {0: 9, 1: 9})
        saved = cli("-b", kafka_bootstrap, "groups", "reset", group, "--topic", topic,
                    "--to-offset", "3", "--plan-out", plan_file)
        assert saved.code == 0, saved.stderr
        recreate(kafka_bootstrap, topic, 2, per_partition)
        commit(kafka_bootstrap, group, topic, {0: 9, 1: 9})  # the group's offsets, as planned
        result = cli(*base, "--from-plan", plan_file, "--execute", "--dir", tmp_path / "cps")
        assert result.code == ExitCode.REFUSED, result.stderr
        assert "changed since the plan was made" in result.stderr
        assert f"topic {topic}" in result.stderr and expected in result.stderr, result.stderr
        assert committed(kafka_bootstrap, group, topic, [0, 1]) == {0: 9, 1: 9}


def test_saved_to_latest_plan_applies_its_planned_end_while_records_arrive(
        cli, kafka_bootstrap, tmp_path):
    topic, group = unique("rb-latest"), unique("rb-latest-group")
    create_topic(kafka_bootstrap, topic, partitions=1)
    produce(kafka_bootstrap, topic, records(0, range(10)))
    commit(kafka_bootstrap, group, topic, {0: 2})
    plan_file = tmp_path / "plan.yaml"
    saved = cli("-b", kafka_bootstrap, "groups", "reset", group, "--topic", topic,
                "--to-latest", "--plan-out", plan_file)
    assert saved.code == 0, saved.stderr
    produce(kafka_bootstrap, topic, records(0, range(10, 15)))
    result = cli("-b", kafka_bootstrap, "rollback", "--from-plan", plan_file, "--execute",
                 "--dir", tmp_path / "cps")
    assert result.code == 0, result.stderr
    assert committed(kafka_bootstrap, group, topic, [0]) == {0: 10}


def test_ctrl_c_between_groups_says_which_groups_moved_and_which_did_not(
        kafka_bootstrap, tmp_path):
    """A real process rolling back many groups gets SIGINT once the first group's audit line
    is written: exit 6, and the groups it names as moved are exactly those in the audit log
    (and at their targets), the others named as not changed (and untouched)."""
    topic = unique("rb-many")
    groups = [unique(f"rb-many-{i:02d}") for i in range(30)]
    create_topic(kafka_bootstrap, topic, partitions=1)
    produce(kafka_bootstrap, topic, records(0, range(10)))
    for group in groups:
        commit(kafka_bootstrap, group, topic, {0: 4})
    directory = tmp_path / "cps"
    created = run_process("-b", kafka_bootstrap, "checkpoint", "create", "w", "--dir",
                          directory, *[a for g in groups for a in ("--group", g)])
    assert created.returncode == 0, created.stderr
    for group in groups:
        commit(kafka_bootstrap, group, topic, {0: 9})

    audit_file = directory / "audit.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "ingestctl", "-b", kafka_bootstrap, "--timeout", "30",
         "rollback", "--to-checkpoint", "w", "--dir", str(directory), "--execute"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for("the first group's audit line",
                 lambda: audit_file.exists() and audit_file.read_text().strip()
                 or process.poll() is not None, timeout=120, interval=0.002)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == ExitCode.INCOMPLETE, stderr
    logged = [entry["group"] for entry in audit_lines(directory)]
    assert 0 < len(logged) < len(groups), logged
    rest = [g for g in groups if g not in logged]
    assert f"interrupted after moving {len(logged)} of {len(groups)} groups" in stderr
    assert "nothing was left half-done" not in stderr and "Traceback" not in stderr
    listed = [line.strip() for line in stderr.splitlines() if line.startswith("  - ")]
    assert listed == [f"- group {g}: moved" for g in logged] + [
        f"- group {g}: not changed" for g in rest]
    for group in groups:
        assert committed(kafka_bootstrap, group, topic, [0]) == {0: 4 if group in logged else 9}
