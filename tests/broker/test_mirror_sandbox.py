"""`sandbox start --mirror-from`: MirrorMaker 2 (dedicated mode, real jars) copies the
session's broker into a sandbox under both replication policies; status reports it, stop ends
it, and a restart resumes it."""

import json
from pathlib import Path

from support.kafkautil import create_topic, produce, read_all
from support.names import unique
from support.process import run_process
from support.waiting import wait_for

from ingestctl import sandbox


def _records(bootstrap, topic, partitions):
    try:
        msgs = read_all(bootstrap, topic, partitions)
    except Exception:  # noqa: BLE001 - the topic may not exist yet
        return None
    return sorted((m.partition(), m.offset(), m.key(), m.value(), m.timestamp()[1],
                   tuple(m.headers() or ())) for m in msgs)


def _topics(bootstrap):
    from confluent_kafka.admin import AdminClient

    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=20).topics)


def test_records_appear_mirrored_under_both_policies(kafka_bootstrap, mirrors):
    topic = unique("mirror-sb")
    create_topic(kafka_bootstrap, topic, partitions=2)
    produce(kafka_bootstrap, topic, [
        {"partition": i % 2, "key": f"k{i}".encode(), "value": f"v{i}".encode(),
         "timestamp": 1_700_000_000_000 + i, "headers": [("h", f"{i}".encode())]}
        for i in range(40)])
    source = _records(kafka_bootstrap, topic, [0, 1])
    assert len(source) == 40
    for policy, name in (("default", f"source.{topic}"), ("identity", topic)):
        bootstrap = mirrors[policy].bootstrap
        copied = wait_for(f"{name} mirrored into the {policy} sandbox",
                          lambda b=bootstrap, n=name: (
                              n in _topics(b) and (r := _records(b, n, [0, 1]))
                              and len(r) >= 40 and r), timeout=120, interval=1)
        # Same partitions, keys, values, timestamps and headers (offsets from 0 here too).
        assert copied == source

    status = run_process("sandbox", "status", "--data-dir", mirrors["default"].data_dir,
                         "-o", "json")
    mirror = json.loads(status.stdout)["mirror"]
    assert mirror["from"] == kafka_bootstrap and mirror["alias"] == "source"
    assert mirror["policy"] == "default" and mirror["pid"] and Path(mirror["log"]).is_file()
    identity = sandbox.status(mirrors["identity"].data_dir).mirror
    assert identity["policy"] == "identity"
    # The source is only read: MM2's state, checkpoints and syncs are on the target.
    assert "source.checkpoints.internal" in _topics(mirrors["default"].bootstrap)
    assert not {t for t in _topics(kafka_bootstrap)
                if t.startswith("mm2-") or t == "heartbeats"}


def test_stop_ends_the_mirror_and_a_restart_resumes_it(kafka_bootstrap, mirrors):
    target = mirrors["identity"]
    data_dir = Path(target.data_dir)
    topic = unique("mirror-restart")
    create_topic(kafka_bootstrap, topic)
    produce(kafka_bootstrap, topic, [{"value": b"before", "timestamp": 1_700_000_000_000}])
    wait_for("the first record mirrored",
             lambda: topic in _topics(target.bootstrap)
             and len(_records(target.bootstrap, topic, [0]) or []) == 1, timeout=120,
             interval=1)
    pid = sandbox.status(data_dir).mirror["pid"]

    stopped = run_process("sandbox", "stop", "--data-dir", data_dir, "-o", "json", timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["mirror"]["pid"] is None
    assert not Path(f"/proc/{pid}").exists() or str(data_dir) not in Path(
        f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")

    produce(kafka_bootstrap, topic, [{"value": b"while stopped", "timestamp": 1_700_000_000_001}])
    restarted = run_process("sandbox", "start", "--data-dir", data_dir, "-o", "json",
                            timeout=300)
    assert restarted.returncode == 0, restarted.stderr
    mirror = json.loads(restarted.stdout)["mirror"]
    assert mirror["pid"] and mirror["pid"] != pid and mirror["policy"] == "identity"
    def both_copied():
        values = [r[3] for r in _records(target.bootstrap, topic, [0]) or []]  # read once
        return values if len(values) >= 2 else None

    values = wait_for("the record written while stopped mirrored after the restart",
                      both_copied, timeout=120, interval=1)
    # Resumed, not restarted from the beginning: each record once.
    assert values == [b"before", b"while stopped"]
