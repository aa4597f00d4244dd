"""Kafka Connect on an older version (3.9.1; KIP-875's offsets API is 3.6+): a sink
connector's checkpoint and its rollback through the worker's REST API, the records delivered
again after resume. One version only: a worker is heavy on 2 cores."""

import pytest
from support.connectutil import FILE_SINK, connector, lines, offsets_of, wait_for
from support.kafkautil import create_topic, produce
from support.names import unique
from support.services import ConnectService

from ingestctl import sandbox

VERSION = "3.9.1"


@pytest.fixture(scope="module")
def worker(compat_brokers):
    broker = compat_brokers[VERSION]
    if broker.data_dir is None:
        pytest.skip("a broker given by INGESTCTL_TEST_COMPAT: no sandbox to add Connect to")
    status = sandbox.start(data_dir=broker.data_dir, with_connect=True,
                           connect_port=sandbox.free_port(), timeout=180)
    yield ConnectService(status.connect_url, status.bootstrap)
    # Only the worker ends here; the broker serves the other compat tests.
    from ingestctl.sandbox.processes import terminate

    terminate(sandbox.read_state(broker.data_dir)["connect"]["pid"], str(broker.data_dir))


def test_sink_checkpoint_and_rollback_redelivers(cli, worker, tmp_path):
    topic, name = unique("compat-sink"), unique("compat-sink")
    sink_file, directory = tmp_path / "sink.txt", tmp_path / "cps"
    create_topic(worker.bootstrap, topic, partitions=2)
    produce(worker.bootstrap, topic, [{"partition": i % 2, "value": f"first-{i}".encode()}
                                      for i in range(6)])
    opts = ["--connect-url", worker.url, "-b", worker.bootstrap, "--timeout", "30"]
    with connector(worker, name, {"connector.class": FILE_SINK, "topics": topic,
                                  "file": str(sink_file)}) as connect:
        wait_for("offsets 3/3", lambda: offsets_of(worker, name) == {(topic, 0): 3,
                                                                     (topic, 1): 3})
        created = cli(*opts, "checkpoint", "create", "w", "--connector", name,
                      "--dir", directory, "-o", "json")
        assert created.code == 0, created.stderr
        recorded = created.json()["connectors"][name]
        assert (recorded["state"], recorded["group"]) == ("RUNNING", f"connect-{name}")
        assert sorted((o["partition"]["kafka_partition"], o["offset"]["kafka_offset"])
                      for o in recorded["offsets"]) == [(0, 3), (1, 3)]

        produce(worker.bootstrap, topic, [{"partition": i % 2, "value": f"second-{i}".encode()}
                                          for i in range(4)])
        wait_for("offsets 5/5", lambda: offsets_of(worker, name) == {(topic, 0): 5,
                                                                     (topic, 1): 5})
        rollback = [*opts, "rollback", "--connector", name, "--to-checkpoint", "w",
                    "--dir", directory, "-o", "json"]
        plan = cli(*rollback)
        assert plan.code == 0, plan.stderr
        assert [(m["partition"], m["current"], m["target"])
                for m in plan.json()["connectors"][0]["partitions"]] == [(0, 5, 3), (1, 5, 3)]
        done = cli(*rollback, "--execute")
        assert done.code == 0, done.stderr
        assert done.json()["connectors"][0]["final_state"] == "RUNNING"
        assert connect.status(name).state == "RUNNING"
        wait_for("the second records delivered again", lambda: len(lines(sink_file)) == 14)
        assert sorted(lines(sink_file)[10:]) == [f"second-{i}" for i in range(4)]
