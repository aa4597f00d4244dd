"""Kafka Connect on a real one-worker cluster: a FileStreamSink connector listed and described
with its tasks and sink lag, stopped, its offsets read and altered (KIP-875), and resumed so
that the file receives the re-delivered records."""

import json
import os
import time
from pathlib import Path

import pytest
from support.connectutil import FILE_SINK, client, lines, wait_for
from support.kafkautil import create_topic, produce
from support.names import unique
from support.process import run_process

from ingestctl import sandbox
from ingestctl.config import Settings
from ingestctl.errors import ClusterError, NotFoundError, UsageError
from ingestctl.services import connect


@pytest.fixture(scope="module")
def worker(services):
    return services.connect()


def test_sandbox_reports_connect(services, worker):
    if os.environ.get("INGESTCTL_TEST_CONNECT_URL"):
        pytest.skip("Connect comes from the environment, not a sandbox")
    status = sandbox.status(services.sandbox_dir)
    assert status.connect_url == worker.url and worker.url.startswith("http://127.0.0.1:")
    assert status.bootstrap == worker.bootstrap
    assert Path(status.connect_log).is_file()
    assert client(worker).info()["kafka_cluster_id"] == status.cluster_id


def test_sink_connector_stop_offsets_resume(cli, worker, tmp_path):
    rest = client(worker)
    topic, name = unique("orders"), unique("file-sink")
    sink_file = tmp_path / "sink.txt"
    create_topic(worker.bootstrap, topic, partitions=2)
    produce(worker.bootstrap, topic, [
        {"partition": i % 2, "key": b"k", "value": f"first-{i}".encode()} for i in range(6)])
    rest.put_config(name, {"connector.class": FILE_SINK, "topics": topic,
                             "file": str(sink_file), "tasks.max": "1"})
    try:
        running = rest.wait_for_state(name, "RUNNING")
        assert [t.state for t in running.tasks] == ["RUNNING"]
        wait_for("the sink file", lambda: len(lines(sink_file)) == 6)
        # Sink offsets reach the group at the worker's flush interval (1 s in the sandbox).
        wait_for("committed offsets", lambda: connect.sink_offsets(rest.offsets(name)) == {
            (topic, 0): 3, (topic, 1): 3})

        base = ("--connect-url", worker.url, "-b", worker.bootstrap)
        listed = cli(*base, "connectors", "list", "-o", "json")
        assert listed.code == 0, listed.stderr
        row = next(r for r in listed.json() if r["connector"] == name)
        assert (row["type"], row["state"], row["group"]) == ("sink", "RUNNING", f"connect-{name}")
        assert [(t["id"], t["state"]) for t in row["tasks"]] == [(0, "RUNNING")]
        assert row["total_lag"] == 0

        rest.stop(name)
        stopped = rest.wait_for_state(name, "STOPPED")
        assert stopped.tasks == ()
        # While it is stopped, lag builds: 4 records 2 minutes old.
        old = int(time.time() * 1000) - 120_000
        produce(worker.bootstrap, topic, [
            {"partition": i % 2, "value": f"second-{i}".encode(), "timestamp": old + i}
            for i in range(4)])
        described = cli(*base, "connectors", "describe", name, "-o", "json")
        assert described.code == 0, described.stderr
        (view,) = described.json()
        assert (view["state"], view["tasks"], view["class"]) == ("STOPPED", [], FILE_SINK)
        assert view["group"] == f"connect-{name}" and view["topics"] == [topic]
        assert view["group_state"] == "Empty"
        assert [(p["partition"], p["committed"], p["end"], p["lag"])
                for p in view["partitions"]] == [(0, 3, 5, 2), (1, 3, 5, 2)]
        assert view["total_lag"] == 4
        assert 120 <= view["lag_seconds"] < 3600

        # KIP-875 while stopped: read, move partition 0 back to offset 1, read back.
        assert connect.sink_offsets(rest.offsets(name)) == {(topic, 0): 3, (topic, 1): 3}
        message = rest.alter_offsets(name, connect.sink_offsets_body({(topic, 0): 1}))
        assert "altered" in message
        assert connect.sink_offsets(rest.offsets(name)) == {(topic, 0): 1, (topic, 1): 3}
        again = cli(*base, "connectors", "describe", name, "-o", "json").json()[0]
        assert again["total_lag"] == 6

        rest.resume(name)
        rest.wait_for_state(name, "RUNNING")
        delivered = wait_for("the re-delivered records", lambda: len(lines(sink_file)) == 12
                             and lines(sink_file))
        # Partition 0 held first-0, first-2, first-4, second-0, second-2: offsets 1 and 2
        # (first-2, first-4) arrive a second time.
        assert sorted(delivered) == sorted(
            [f"first-{i}" for i in range(6)] + [f"second-{i}" for i in range(4)]
            + ["first-2", "first-4"])
        wait_for("the caught-up group", lambda: connect.sink_offsets(rest.offsets(name)) == {
            (topic, 0): 5, (topic, 1): 5})
    finally:
        rest.delete(name)


def test_altering_offsets_of_a_running_connector_is_refused_by_connect(worker, tmp_path):
    rest = client(worker)
    topic, name = unique("running"), unique("file-sink")
    create_topic(worker.bootstrap, topic)
    rest.put_config(name, {"connector.class": FILE_SINK, "topics": topic,
                             "file": str(tmp_path / "out.txt"), "tasks.max": "1"})
    try:
        rest.wait_for_state(name, "RUNNING")
        with pytest.raises(ClusterError, match="STOPPED"):
            rest.alter_offsets(name, connect.sink_offsets_body({(topic, 0): 0}))
    finally:
        rest.delete(name)


def test_a_failing_task_ends_the_wait_for_running(worker, tmp_path):
    rest = client(worker)
    topic, name = unique("failing"), unique("file-sink")
    create_topic(worker.bootstrap, topic)
    # The sink's task cannot open a file in a directory that does not exist.
    rest.put_config(name, {"connector.class": FILE_SINK, "topics": topic,
                             "file": str(tmp_path / "missing" / "out.txt"), "tasks.max": "1"})
    try:
        with pytest.raises(ClusterError, match=f"connector {name} failed"):
            rest.wait_for_state(name, "RUNNING")
    finally:
        rest.delete(name)


def test_unknown_connector_exits_4(cli, worker):
    name = unique("absent")
    result = cli("--connect-url", worker.url, "connectors", "describe", name)
    assert result.code == 4
    assert f"connector {name} does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    for call in (lambda c: c.status(name), lambda c: c.offsets(name), lambda c: c.stop(name),
                 lambda c: c.resume(name), lambda c: c.config(name)):
        with pytest.raises(NotFoundError):
            call(client(worker))


def test_unreachable_connect_exits_5_without_credentials():
    port = sandbox.free_port()
    result = run_process("--connect-url", f"http://ops:hunter2-secret@127.0.0.1:{port}",
                         "--timeout", "3", "connectors", "list")
    assert result.returncode == 5
    assert f"cannot reach Kafka Connect at http://127.0.0.1:{port}" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_connect_url_is_required(cli):
    result = cli("connectors", "list")
    assert result.code == 2 and "--connect-url" in result.stderr
    with pytest.raises(UsageError):
        connect.Connect(Settings(connect_url="127.0.0.1:8083"))


def test_sink_offsets_shapes():
    body = connect.sink_offsets_body({("t", 1): 7, ("t", 0): 3})
    assert body == [
        {"partition": {"kafka_topic": "t", "kafka_partition": 0}, "offset": {"kafka_offset": 3}},
        {"partition": {"kafka_topic": "t", "kafka_partition": 1}, "offset": {"kafka_offset": 7}},
    ]
    assert connect.sink_offsets(json.loads(json.dumps(body))) == {("t", 0): 3, ("t", 1): 7}
    assert connect.sink_group("s", {}) == "connect-s"
    assert connect.sink_group("s", {"consumer.override.group.id": "g"}) == "g"
    assert connect.sink_topics({"topics": "a, b"}) == ["a", "b"]
