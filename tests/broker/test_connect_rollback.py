"""`rollback --connector` on a real Kafka Connect worker: the seed's failure rehearsal (a sink
connector stopped, lag building, checkpoints, its offsets rolled back, the records re-delivered
to the file after resume), the plan changing nothing, exit 4 for a connector missing from the
checkpoint or from Connect, the refusals shared with group rollback, and a failure after the
stop leaving the connector STOPPED."""

import dataclasses
import json

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from support.connectutil import FILE_SINK, connector, lines, offsets_of, wait_for
from support.kafkautil import create_topic, produce
from support.names import unique
from support.rollbackutil import member

from ingestctl import checkpoints
from ingestctl.config import Settings
from ingestctl.errors import ClusterError, ExitCode
from ingestctl.moves import connectors as connector_rollback


@pytest.fixture(scope="module")
def worker(services):
    return services.connect()


def records(prefix: str, count: int) -> list[dict]:
    """`prefix-i` on partition i % 2: partition 0 gets the even ones, 1 the odd ones."""
    return [{"partition": i % 2, "value": f"{prefix}-{i}".encode()} for i in range(count)]


def base(worker) -> list[str]:
    return ["--connect-url", worker.url, "-b", worker.bootstrap, "--timeout", "30"]


def audit_lines(directory) -> list[dict]:
    path = directory / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def moves(data: dict) -> list[tuple]:
    return [(m["topic"], m["partition"], m["current"], m["target"], m["delta"])
            for c in data["connectors"] for m in c["partitions"]]


def test_failure_rehearsal_stop_lag_checkpoint_rollback_resume_redelivers(cli, worker,
                                                                          tmp_path):
    topic, name = unique("rehearsal"), unique("warehouse-sink")
    sink_file, directory = tmp_path / "sink.txt", tmp_path / "cps"
    create_topic(worker.bootstrap, topic, partitions=2)
    produce(worker.bootstrap, topic, records("first", 6))
    opts = base(worker)
    checkpoint = [*opts, "checkpoint", "create", "rehearsal", "--connector", name,
                  "--dir", directory, "-o", "json"]
    with connector(worker, name, {"connector.class": FILE_SINK, "topics": topic,
                                  "file": str(sink_file)}) as connect:
        wait_for("the first records in the file", lambda: len(lines(sink_file)) == 6)
        wait_for("offsets 3/3", lambda: offsets_of(worker, name) == {(topic, 0): 3,
                                                                     (topic, 1): 3})
        first = cli(*checkpoint)
        assert first.code == 0, first.stderr
        recorded = first.json()["connectors"][name]
        assert (recorded["type"], recorded["class"], recorded["state"]) == (
            "sink", FILE_SINK, "RUNNING")
        assert [(t["id"], t["state"]) for t in recorded["tasks"]] == [(0, "RUNNING")]
        assert (recorded["group"], recorded["topics"]) == (f"connect-{name}", [topic])
        assert sorted((o["partition"]["kafka_partition"], o["offset"]["kafka_offset"])
                      for o in recorded["offsets"]) == [(0, 3), (1, 3)]
        # The sink's group and topics are recorded too (for rollback --by-timestamp).
        group = first.json()["groups"][f"connect-{name}"]
        assert [(o["partition"], o["offset"]) for o in group["offsets"][topic]] == [
            (0, 3), (1, 3)]
        assert [p["end"] for p in first.json()["topics"][topic]["partitions"]] == [3, 3]

        produce(worker.bootstrap, topic, records("second", 4))
        wait_for("the second records in the file", lambda: len(lines(sink_file)) == 10)
        wait_for("offsets 5/5", lambda: offsets_of(worker, name) == {(topic, 0): 5,
                                                                     (topic, 1): 5})
        delivered = lines(sink_file)

        # The outage: the sink is stopped and lag builds.
        connect.stop(name)
        connect.wait_for_state(name, "STOPPED")
        produce(worker.bootstrap, topic, records("third", 4))
        described = cli(*opts, "connectors", "describe", name, "-o", "json")
        assert described.code == 0, described.stderr
        (view,) = described.json()
        assert (view["state"], view["total_lag"]) == ("STOPPED", 4)
        assert [(p["partition"], p["committed"], p["end"], p["lag"])
                for p in view["partitions"]] == [(0, 5, 7, 2), (1, 5, 7, 2)]

        second = cli(*checkpoint)
        assert second.code == 0, second.stderr
        stopped = second.json()["connectors"][name]
        assert (stopped["state"], stopped["tasks"]) == ("STOPPED", [])
        assert second.json()["groups"][f"connect-{name}"]["state"] == "Empty"

        diff = cli(*opts, "checkpoint", "diff", "rehearsal@1", "rehearsal@2", "--dir",
                   directory, "-o", "json")
        assert diff.code == 0, diff.stderr
        (change,) = diff.json()["connectors"]
        assert (change["connector"], change["from_state"], change["to_state"]) == (
            name, "RUNNING", "STOPPED")
        assert (change["from_tasks"], change["to_tasks"]) == ([{"id": 0, "state": "RUNNING"}],
                                                              [])
        assert [(p["partition"], p["from_offset"], p["to_offset"], p["consumed"])
                for p in change["partitions"]] == [(0, 3, 5, 2), (1, 3, 5, 2)]
        assert diff.json()["connectors_compared"] is True
        table = cli(*opts, "checkpoint", "diff", "rehearsal@1", "rehearsal@2", "--dir",
                    directory)
        assert f"connector {name}: RUNNING (tasks 0:RUNNING) -> STOPPED (tasks none)" in \
            " ".join(table.stdout.split())

        # Back to before the second records: plan first, which changes nothing.
        rollback = [*opts, "rollback", "--connector", name, "--to-checkpoint", "rehearsal@1",
                    "--dir", directory, "-o", "json"]
        plan = cli(*rollback)
        assert plan.code == 0, plan.stderr
        assert plan.json()["executed"] is False and plan.json()["groups"] == []
        assert plan.json()["connectors"][0]["state"] == "STOPPED"
        assert moves(plan.json()) == [(topic, 0, 5, 3, 2), (topic, 1, 5, 3, 2)]
        assert "nothing changed; add --execute" in plan.stderr
        assert connect.status(name).state == "STOPPED"
        assert offsets_of(worker, name) == {(topic, 0): 5, (topic, 1): 5}
        assert audit_lines(directory) == []

        done = cli(*rollback, "--execute")
        assert done.code == 0, done.stderr
        result = done.json()
        assert result["executed"] is True and moves(result) == moves(plan.json())
        # Stopped before the rollback, so left stopped; the outage ends when it is resumed.
        assert (result["connectors"][0]["state"], result["connectors"][0]["final_state"]) == (
            "STOPPED", "STOPPED")
        assert connect.status(name).state == "STOPPED"
        [entry] = audit_lines(directory)
        assert (entry["action"], entry["connector"], entry["group"]) == (
            "rollback", name, f"connect-{name}")
        assert entry["changes"] == [{"topic": topic, "partition": 0, "before": 5, "after": 3},
                                    {"topic": topic, "partition": 1, "before": 5, "after": 3}]

        # After resume the file holds the second records again, then the third ones.
        connect.resume(name)
        connect.wait_for_state(name, "RUNNING")
        wait_for("offsets 7/7", lambda: offsets_of(worker, name) == {(topic, 0): 7,
                                                                     (topic, 1): 7})
        now = lines(sink_file)
        assert now[:10] == delivered
        again = now[10:]
        assert [v for v in again if int(v.rsplit("-", 1)[1]) % 2 == 0] == [
            "second-0", "second-2", "third-0", "third-2"]
        assert [v for v in again if int(v.rsplit("-", 1)[1]) % 2 == 1] == [
            "second-1", "second-3", "third-1", "third-3"]

        # Already where a fresh checkpoint says: nothing to do, the connector keeps running.
        assert cli(*checkpoint).code == 0
        same = cli(*opts, "rollback", "--connector", name, "--to-checkpoint", "rehearsal",
                   "--dir", directory, "--execute", "-o", "json")
        assert same.code == 0, same.stderr
        assert same.json()["executed"] is False and [m[4] for m in moves(same.json())] == [0, 0]
        assert "already at target" in same.stderr
        assert len(audit_lines(directory)) == 1
        assert connect.status(name).state == "RUNNING"


@pytest.fixture
def sink(cli, worker, tmp_path):
    """A running file sink that has consumed {0: 4, 1: 4}, checkpointed as wave `w`, then
    consumed on to {0: 6, 1: 6}."""
    topic, name = unique("rb-sink-topic"), unique("rb-sink")
    directory = tmp_path / "cps"
    create_topic(worker.bootstrap, topic, partitions=2)
    produce(worker.bootstrap, topic, records("a", 8))
    with connector(worker, name, {"connector.class": FILE_SINK, "topics": topic,
                                  "file": str(tmp_path / "sink.txt")}) as connect:
        wait_for("offsets 4/4", lambda: offsets_of(worker, name) == {(topic, 0): 4,
                                                                     (topic, 1): 4})
        created = cli(*base(worker), "checkpoint", "create", "w", "--connector",
                      name, "--dir", directory)
        assert created.code == 0, created.stderr
        produce(worker.bootstrap, topic, records("b", 4))
        wait_for("offsets 6/6", lambda: offsets_of(worker, name) == {(topic, 0): 6,
                                                                     (topic, 1): 6})
        yield topic, name, directory, connect


def test_missing_connector_exits_4_and_usage_errors(cli, worker, sink):
    topic, name, directory, connect = sink
    opts = [*base(worker), "rollback", "--to-checkpoint", "w", "--dir", directory]

    absent = unique("not-in-checkpoint")
    result = cli(*opts, "--connector", absent, "--execute")
    assert result.code == ExitCode.NOT_FOUND
    assert f"connector {absent} is not in checkpoint" in result.stderr and name in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr

    wrong = cli(*opts, "--connector", name, "--group", f"connect-{name}")
    assert wrong.code == ExitCode.USAGE and "--connector takes --to-checkpoint" in wrong.stderr
    assert connect.status(name).state == "RUNNING"
    assert offsets_of(worker, name) == {(topic, 0): 6, (topic, 1): 6}

    verify = [*base(worker), "checkpoint", "verify", "w", "--dir", directory]
    assert cli(*verify).code == 0
    blind = cli("-b", worker.bootstrap, "checkpoint", "verify", "w", "--dir", directory)
    assert blind.code == 0 and "they were not checked" in blind.stderr

    # The checkpoint holds it, but Connect no longer does.
    connect.delete(name)
    gone = cli(*opts, "--connector", name, "--execute")
    assert gone.code == ExitCode.NOT_FOUND
    assert f"connector {name} does not exist on Kafka Connect" in gone.stderr
    assert gone.stdout == "" and "Traceback" not in gone.stderr
    stale = cli(*verify)
    assert stale.code == ExitCode.REFUSED
    assert f"connector {name} no longer exists on Kafka Connect." in stale.stderr


def test_refusals_change_nothing(cli, worker, sink):
    topic, name, directory, connect = sink
    rollback = [*base(worker), "rollback", "--connector", name, "--to-checkpoint",
                "w", "--dir", directory]

    def refused(*extra):
        result = cli(*rollback, *extra)
        assert result.code == ExitCode.REFUSED, result.stderr
        assert result.stdout == "" and "Traceback" not in result.stderr
        assert connect.status(name).state == "RUNNING"
        assert offsets_of(worker, name) == {(topic, 0): 6, (topic, 1): 6}
        return result.stderr

    # Records below the recorded offset 4 of partition 0 are deleted.
    admin = AdminClient({"bootstrap.servers": worker.bootstrap})
    for future in admin.delete_records([TopicPartition(topic, 0, 5)]).values():
        future.result(30)
    message = refused("--execute")
    assert f"connector {name} {topic}[0]: target 4 is below the log-start 5" in message
    assert "--allow-clamp" in message and f"{topic}[1]" not in message
    clamped = cli(*rollback, "--allow-clamp", "-o", "json")
    assert clamped.code == 0, clamped.stderr
    assert moves(clamped.json()) == [(topic, 0, 6, 5, 1), (topic, 1, 6, 4, 2)]
    assert "clamped from 4 up to the log-start" in \
        clamped.json()["connectors"][0]["partitions"][0]["note"]

    # Someone else's consumer in the sink's group: its offsets cannot be moved safely.
    connect.stop(name)
    connect.wait_for_state(name, "STOPPED")
    with member(worker.bootstrap, f"connect-{name}", topic, client_id="stray-consumer"):
        result = cli(*rollback, "--allow-clamp", "--execute")
        assert result.code == ExitCode.REFUSED, result.stderr
        assert f"group connect-{name} of connector {name} has members that are not the " \
               "connector's tasks (client ids: stray-consumer)" in result.stderr
        assert connect.status(name).state == "STOPPED"
        assert offsets_of(worker, name) == {(topic, 0): 6, (topic, 1): 6}


def as_if_from_another_cluster(path, directory, shift: int):
    """The checkpoint as the migration's source cluster would have recorded it: another
    cluster id, every offset `shift` higher (the source held older records too), the same
    record times. Written by the checkpoint module, so it is intact."""
    cp = checkpoints.load(path)
    topics = {t: dataclasses.replace(s, partitions={
        p: dataclasses.replace(ps, log_start=ps.log_start + shift, end=ps.end + shift)
        for p, ps in s.partitions.items()}) for t, s in cp.topics.items()}
    groups = {g: dataclasses.replace(s, offsets={
        t: {p: dataclasses.replace(o, offset=o.offset + shift) for p, o in parts.items()}
        for t, parts in s.offsets.items()}) for g, s in cp.groups.items()}
    connectors = {n: dataclasses.replace(c, offsets=tuple(
        {**e, "offset": {"kafka_offset": e["offset"]["kafka_offset"] + shift}}
        for e in c.offsets)) for n, c in cp.connectors.items()}
    source = dataclasses.replace(cp, wave="at-source", cluster_id="source-cluster-0123",
                                 topics=topics, groups=groups, connectors=connectors)
    return checkpoints.write(source, directory)


def test_by_timestamp_places_the_connector_on_a_migration_target(cli, worker, sink):
    """A checkpoint of the source cluster, where the same records sit 100 offsets higher:
    by offset it is refused; by timestamp the connector goes to the first record after the
    one its group had last consumed there (offset 4 here), and is resumed."""
    topic, name, directory, connect = sink
    path = sorted((directory / "w").glob("*.yaml"))[0]
    source = as_if_from_another_cluster(path, directory, shift=100)
    assert checkpoints.load(source).connectors[name].sink_offsets() == {
        (topic, 0): 104, (topic, 1): 104}
    rollback = [*base(worker), "rollback", "--connector", name, "--to-checkpoint",
                str(source), "--dir", directory, "-o", "json"]

    by_offset = cli(*rollback, "--execute")
    assert by_offset.code == ExitCode.REFUSED, by_offset.stderr
    assert "add --by-timestamp" in by_offset.stderr
    assert offsets_of(worker, name) == {(topic, 0): 6, (topic, 1): 6}

    planned = cli(*rollback, "--by-timestamp")
    assert planned.code == 0, planned.stderr
    assert moves(planned.json()) == [(topic, 0, 6, 4, 2), (topic, 1, 6, 4, 2)]
    notes = [m["note"] for m in planned.json()["connectors"][0]["partitions"]]
    assert all(n.startswith("caught up: first record after ") for n in notes), notes
    assert planned.json()["source"].endswith("(connector offsets, by timestamp)")
    assert connect.status(name).state == "RUNNING"

    done = cli(*rollback, "--by-timestamp", "--execute")
    assert done.code == 0, done.stderr
    assert moves(done.json()) == moves(planned.json())
    assert done.json()["connectors"][0]["final_state"] == "RUNNING"
    [entry] = audit_lines(directory)
    assert entry["changes"] == [{"topic": topic, "partition": p, "before": 6, "after": 4}
                                for p in (0, 1)]


def test_a_failure_after_the_stop_leaves_the_connector_stopped(worker, sink):
    """A consumer joins the sink's group between the plan and the execution: the connector is
    stopped, its group never empties, nothing is applied, and it is left STOPPED."""
    topic, name, directory, connect = sink
    settings = Settings(connect_url=worker.url, bootstrap_servers=worker.bootstrap, timeout=3)
    path = sorted((directory / "w").glob("*.yaml"))[0]
    plan = connector_rollback.plan(settings, path, name)
    assert [(m.partition, m.current, m.target) for m in plan.moves] == [(0, 6, 4), (1, 6, 4)]
    connect.stop(name)
    connect.wait_for_state(name, "STOPPED")
    with member(worker.bootstrap, f"connect-{name}", topic, client_id="late-consumer"):
        with pytest.raises(ClusterError) as caught:
            connector_rollback.execute(settings, plan, directory)
    message = caught.value.message
    assert f"group connect-{name} still has 1 member(s) (client ids: late-consumer)" in message
    assert caught.value.details == [
        f"connector {name} is left STOPPED (it was RUNNING before this rollback). Fix the cause "
        f"and run this rollback again, then resume the connector (Kafka Connect: PUT "
        f"/connectors/{name}/resume); a rerun finds it STOPPED and leaves it so."]
    assert connect.status(name).state == "STOPPED"
    assert offsets_of(worker, name) == {(topic, 0): 6, (topic, 1): 6}
    assert audit_lines(directory) == []


def test_readback_problems():
    targets = {("t", 0): 3, ("t", 1): 4}
    assert connector_rollback.readback_problems(targets, {("t", 0): 3, ("t", 1): 4}) == []
    assert connector_rollback.readback_problems(targets, {("t", 0): 3, ("t", 1): 9}) == [
        "t[1]: expected 4, Connect reports 9"]
    assert connector_rollback.readback_problems(targets, {("t", 0): 3}) == [
        "t[1]: expected 4, Connect reports None"]


@pytest.mark.parametrize("prior", ["PAUSED", "STOPPED"])
def test_rollback_restores_the_state_the_connector_was_in(cli, worker, sink, prior):
    """A PAUSED or STOPPED sink is rolled back and left as it was, not RUNNING."""
    topic, name, directory, connect = sink
    (connect.pause if prior == "PAUSED" else connect.stop)(name)
    connect.wait_for_state(name, prior)
    done = cli(*base(worker), "rollback", "--connector", name, "--to-checkpoint", "w",
               "--dir", directory, "--execute", "-o", "json")
    assert done.code == 0, done.stderr
    [result] = done.json()["connectors"]
    assert (result["state"], result["final_state"]) == (prior, prior)
    assert moves(done.json()) == [(topic, 0, 6, 4, 2), (topic, 1, 6, 4, 2)]
    assert connect.status(name).state == prior
    assert offsets_of(worker, name) == {(topic, 0): 4, (topic, 1): 4}
    assert f"({prior})" in done.stderr
    assert len(audit_lines(directory)) == 1


class OddError(ClusterError):
    """An error class whose constructor does not take (message, details=…)."""

    def __init__(self, code: int, text: str):
        super().__init__(f"{text} (code {code})")
        self.code = code


def test_a_failure_keeps_its_own_error_and_gains_the_connector_context(worker, sink,
                                                                       monkeypatch):
    """An error raised after the stop is the same error, with the connector's fate added to
    its details, whatever its class's constructor takes."""
    topic, name, directory, connect = sink
    settings = Settings(connect_url=worker.url, bootstrap_servers=worker.bootstrap, timeout=30)
    path = sorted((directory / "w").glob("*.yaml"))[0]
    plan = connector_rollback.plan(settings, path, name)
    failure = OddError(42, "the audit log refused the line")

    def refuse(*args, **kwargs):
        raise failure

    monkeypatch.setattr(connector_rollback.audit, "record", refuse)
    with pytest.raises(OddError) as caught:
        connector_rollback.execute(settings, plan, directory)
    assert caught.value is failure and caught.value.code == 42
    assert caught.value.message == "the audit log refused the line (code 42)"
    assert any(f"connector {name} is left STOPPED" in d for d in caught.value.details)
    assert connect.status(name).state == "STOPPED"
