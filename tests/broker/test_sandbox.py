"""The sandbox lifecycle on a real broker: start, use, restart with data, stop, stale state."""

import json
import os
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from support.kafkautil import create_topic, produce
from support.names import unique
from support.process import run_process

from ingestctl import sandbox


def _broker_processes(data_dir: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
            except OSError:
                continue
            if str(data_dir) in cmdline and "kafka.Kafka" in cmdline and state != "Z":
                pids.append(int(proc.name))
    return pids


def test_lifecycle(tmp_path):
    data_dir = tmp_path / "sb"
    port = sandbox.free_port()
    started = run_process("sandbox", "start", "--data-dir", data_dir, "--port", port,
                          "-o", "json", timeout=180)
    assert started.returncode == 0, started.stderr
    status = json.loads(started.stdout)
    try:
        assert status["running"] is True
        assert status["bootstrap"] == f"127.0.0.1:{port}"
        assert status["port"] == port and status["data_dir"] == str(data_dir)
        assert Path(status["log"]).is_file() and str(data_dir) in status["log"]
        assert _broker_processes(data_dir) == [status["pid"]]
        assert "sandbox ready at" in started.stderr

        # A plain confluent-kafka client can create, produce and consume.
        topic = unique("sandbox")
        create_topic(status["bootstrap"], topic, partitions=2)
        produce(status["bootstrap"], topic,
                [{"partition": 1, "key": b"k", "value": b"hello", "timestamp": 1700000000000}])
        consumer = Consumer({"bootstrap.servers": status["bootstrap"], "group.id": "t"})
        consumer.assign([TopicPartition(topic, 1, 0)])
        msg = consumer.consume(1, timeout=20)[0]
        consumer.close()
        assert (msg.key(), msg.value(), msg.timestamp()[1]) == (b"k", b"hello", 1700000000000)

        again = run_process("sandbox", "start", "--data-dir", data_dir, "-o", "json")
        assert again.returncode == 0 and "already running" in again.stderr
        assert json.loads(again.stdout)["pid"] == status["pid"]

        stopped = run_process("sandbox", "stop", "--data-dir", data_dir, "-o", "json")
        assert stopped.returncode == 0 and json.loads(stopped.stdout)["running"] is False
        assert _broker_processes(data_dir) == []

        # Restart on the same data dir keeps the port and the data.
        restarted = run_process("sandbox", "start", "--data-dir", data_dir, "-o", "json",
                                timeout=120)
        assert restarted.returncode == 0, restarted.stderr
        again_status = json.loads(restarted.stdout)
        assert again_status["port"] == port
        assert again_status["cluster_id"] == status["cluster_id"]
        consumer = Consumer({"bootstrap.servers": status["bootstrap"], "group.id": "t"})
        consumer.assign([TopicPartition(topic, 1, 0)])
        assert consumer.consume(1, timeout=20)[0].value() == b"hello"
        consumer.close()
    finally:
        sandbox.stop(data_dir)
    assert _broker_processes(data_dir) == []
    st = run_process("sandbox", "status", "--data-dir", data_dir, "-o", "json")
    assert json.loads(st.stdout)["running"] is False


def test_stale_pid_is_not_running(tmp_path):
    data_dir = tmp_path / "stale"
    data_dir.mkdir()
    # A pid that exists (ours) but is not this sandbox's broker.
    (data_dir / "sandbox.json").write_text(json.dumps({"pid": os.getpid(), "port": 1}))
    result = run_process("sandbox", "status", "--data-dir", data_dir, "-o", "json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["running"] is False


def test_stop_without_sandbox_is_a_usage_error(tmp_path):
    result = run_process("sandbox", "stop", "--data-dir", tmp_path / "none")
    assert result.returncode == 2 and "nothing to stop" in result.stderr


def test_port_in_use_is_refused(tmp_path, kafka_bootstrap):
    port = kafka_bootstrap.rsplit(":", 1)[1]
    result = run_process("sandbox", "start", "--data-dir", tmp_path / "x", "--port", port)
    assert result.returncode == 2 and f"port {port}" in result.stderr


def test_missing_java_is_explained():
    # No JVM of version 99 exists anywhere, so the finder must explain what to install.
    with pytest.raises(sandbox.SandboxError, match="needs Java 99 or newer.*install"):
        sandbox.find_java(99, "the Kafka broker")
