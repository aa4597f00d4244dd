"""`wave status` and `connectors pause|resume|stop|restart` on a real broker and a real Kafka
Connect worker: a FileStreamSink reads a topic a producer writes to at a steady rate, a
consumer group lags behind it, a replay copied part of it. The wave view must agree with what
`groups describe`, `connectors describe`, `replay status` and `checkpoint diff --live` say;
each gate condition must fail (exit 6, named) and pass; `--watch` must print one JSON document
per line and end with exit 0 on SIGINT; connector changes must be planned, made and audited."""

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest
from support.connectutil import FILE_SINK, client, connector, wait_for
from support.kafkautil import SteadyProducer, commit, create_topic, produce
from support.names import unique
from support.process import REPO

from ingestctl.errors import NotFoundError
from ingestctl.replay import progress as prog


@pytest.fixture(scope="module")
def worker(services):
    return services.connect()




@pytest.fixture(scope="module")
def wave(worker, tmp_path_factory):
    """A wave: a topic written at a steady rate, a lagging group, a FileStreamSink on the
    topic, a completed replay out of it, a checkpoint taken between two commits of the group."""
    from ingestctl.cli.main import main

    base_dir = tmp_path_factory.mktemp("wave")
    bootstrap = worker.bootstrap
    name, topic, repair = unique("wave"), unique("wave-orders"), unique("wave-repair")
    group, sink = unique("wave-group"), unique("wave-sink")
    create_topic(bootstrap, topic, partitions=3)
    produce(bootstrap, topic, [{"partition": i % 3, "value": f"seed-{i}".encode()}
                               for i in range(30)])
    commit(bootstrap, group, topic, {0: 2, 1: 2, 2: 2})
    plan = base_dir / "waves.yaml"
    plan.write_text(f"waves:\n  {name}:\n    topics: [{topic}]\n    groups: [{group}]\n"
                    f"    connectors: [{sink}]\n")
    directory = base_dir / "checkpoints"
    base = ("-b", bootstrap, "--connect-url", worker.url)
    with connector(worker, sink, {"connector.class": FILE_SINK, "topics": topic,
                                  "file": str(base_dir / "sink.txt")}):
        steady = SteadyProducer(bootstrap, topic, 3)
        try:
            assert main([*base, "-o", "json", "replay", "--from-topic", topic, "--to-topic",
                         repair, "--create-target", "--start-offset", "0", "--end-offset", "5",
                         "--execute", "--dir", str(directory)]) == 0
            assert main([*base, "checkpoint", "create", name, "--plan", str(plan), "--dir",
                         str(directory)]) == 0
            commit(bootstrap, group, topic, {0: 4, 1: 4, 2: 4})  # 6 consumed since
            yield {"name": name, "topic": topic, "repair": repair, "group": group,
                   "sink": sink, "plan": plan, "dir": directory, "base": base,
                   "bootstrap": bootstrap, "worker": worker}
        finally:
            steady.stop()


def status(cli, wave, *args):
    return cli(*wave["base"], "wave", "status", wave["name"], "--dir", wave["dir"], *args,
               "-o", "json")


def test_wave_status_agrees_with_the_inspect_commands(cli, wave):
    base, d = wave["base"], ("--dir", wave["dir"])
    diff_before = cli(*base, "checkpoint", "diff", wave["name"], "--live", *d, "-o", "json")
    assert diff_before.code == 0, diff_before.stderr
    group_before = cli(*base, "groups", "describe", wave["group"], "-o", "json").json()[0]
    result = status(cli, wave)
    assert result.code == 0, result.stderr
    doc = result.json()
    diff_after = cli(*base, "checkpoint", "diff", wave["name"], "--live", *d, "-o", "json")
    group_after = cli(*base, "groups", "describe", wave["group"], "-o", "json").json()[0]
    before, after = diff_before.json(), diff_after.json()

    assert doc["wave"] == wave["name"]
    assert doc["since_checkpoint"] == f"{wave['name']}@1"
    assert doc["checkpoint_path"] == before["from"]
    assert doc["schemas_changed"] == before["schemas_changed"] == []

    # Topics: produced since the checkpoint lies between the diffs taken before and after.
    (t,) = doc["topics"]
    assert (t["topic"], t["partitions"]) == (wave["topic"], 3)

    def produced(d):
        return sum(r["produced"] for r in d["topics"] if r["topic"] == wave["topic"])

    assert 0 < produced(before) <= t["produced_since_checkpoint"] <= produced(after)
    assert t["rate_per_sec"] > 0
    assert t["replay_window"]["oldest_timestamp"] is not None

    # The lagging group: its committed offsets do not move, so consumed is exact; its lag
    # grows with the producer.
    g = next(x for x in doc["groups"] if x["group"] == wave["group"])
    consumed = sum(r["consumed"] for r in before["groups"] if r["group"] == wave["group"])
    assert g["consumed_since_checkpoint"] == consumed == 6
    assert g["state"] == group_before["state"] == "Empty"
    assert g["members"] == len(group_before["members"]) == 0
    assert group_before["total_lag"] <= g["lag"] <= group_after["total_lag"]
    assert g["lag_seconds"] > 0
    assert [s["lag"] for s in g["lag_trend"]][-1] == g["lag"] and len(g["lag_trend"]) == 2

    # The sink connector, and its group among the wave's groups.
    described = cli(*base, "connectors", "describe", wave["sink"], "-o", "json").json()[0]
    (c,) = doc["connectors"]
    for key in ("connector", "type", "state", "group"):
        assert c[key] == described[key]
    assert [(x["id"], x["state"]) for x in c["tasks"]] == [
        (x["id"], x["state"]) for x in described["tasks"]] == [(0, "RUNNING")]
    assert c["failed_tasks"] == 0 and c["total_lag"] is not None
    assert c["group"] in {x["group"] for x in doc["groups"]}

    # The replay out of the wave's topic, as `replay status` tells it.
    (r,) = doc["replays"]
    replay = cli(*base, "replay", "status", r["replay_id"], "-o", "json").json()
    assert r["status"] == replay["status"] == "completed"
    assert r["total"] == replay["window_records"] == 15
    assert r["done"] == replay["window_records"] - replay["remaining_offsets"] == 15
    assert r["eta_seconds"] == 0
    assert doc["gate"] is None


def test_each_gate_condition_fails_and_passes(cli, wave):
    passing = status(cli, wave, "--gate", "max-lag=1000000000,max-lag-seconds=1d,"
                     "connectors=running,replays=done,schemas=unchanged")
    assert passing.code == 0, passing.stderr
    assert passing.json()["gate"]["passed"] is True

    lag = status(cli, wave, "--gate", "max-lag=0")
    assert lag.code == 6
    assert "max-lag=0" in lag.stderr and wave["group"] in lag.stderr
    (cond,) = lag.json()["gate"]["conditions"]
    assert cond["condition"] == "max-lag=0" and not cond["passed"]

    seconds = status(cli, wave, "--gate", "max-lag-seconds=0")
    assert seconds.code == 6 and "max-lag-seconds=0" in seconds.stderr
    assert wave["group"] in seconds.stderr

    paused = cli(*wave["base"], "connectors", "pause", wave["sink"], "--dir", wave["dir"],
                 "--execute")
    assert paused.code == 0, paused.stderr
    try:
        down = status(cli, wave, "--gate", "connectors=running,max-lag=1000000000")
        assert down.code == 6
        assert f"connector {wave['sink']} is PAUSED" in down.stderr
        assert "max-lag" not in down.stderr.splitlines()[0]  # only the failing one is named
    finally:
        resumed = cli(*wave["base"], "connectors", "resume", wave["sink"], "--dir",
                      wave["dir"], "--execute")
        assert resumed.code == 0, resumed.stderr


def test_gate_replays_done_fails_for_an_unfinished_replay(cli, wave, tmp_path):
    """An unfinished replay (its progress records as a killed run leaves them) writing into
    another wave's topic."""
    from confluent_kafka import Producer

    from ingestctl.config import Settings
    from ingestctl.kafka import Admin, cluster_id

    bootstrap = wave["bootstrap"]
    topic, replay_id = unique("wave-stuck"), unique("rp-stuck")
    create_topic(bootstrap, topic)
    cluster = cluster_id(Admin(Settings(bootstrap_servers=bootstrap)))
    plan_doc = {"replay_id": replay_id, "mode": "exactly-once",
                "source": {"topic": unique("elsewhere"), "cluster_id": "another-cluster"},
                "target": {"topic": topic, "cluster_id": cluster},
                "created_at": "2026-11-30T00:00:00.000Z",
                "partitions": [{"partition": 0, "start": 0, "end": 10}]}
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(prog.PROGRESS_TOPIC, key=prog.plan_key(replay_id),
                     value=prog.encode_plan(plan_doc))
    producer.produce(prog.PROGRESS_TOPIC, key=prog.partition_key(replay_id, 0),
                     value=prog.encode_partition(
                         replay_id, prog.PartitionState(0, 0, 10, 4, records=4), "0/1",
                         int(time.time() * 1000)))
    assert producer.flush(30) == 0
    plan = tmp_path / "stuck.yaml"
    plan.write_text(f"waves:\n  stuck:\n    topics: [{topic}]\n")
    args = (*wave["base"], "wave", "status", "stuck", "--plan", plan, "--dir", tmp_path / "cp",
            "-o", "json")
    result = cli(*args, "--gate", "replays=done")
    assert result.code == 6
    assert f"replay {replay_id} is incomplete (4 of 10 offsets)" in result.stderr
    (r,) = result.json()["replays"]
    assert (r["replay_id"], r["status"], r["done"], r["total"]) == (
        replay_id, "incomplete", 4, 10)
    # No checkpoint of this wave: the since fields are null, said on stderr, exit 0; the
    # schemas gate fails saying why.
    plain = cli(*args)
    assert plain.code == 0, plain.stderr
    doc = plain.json()
    assert doc["since_checkpoint"] is None and doc["schemas_changed"] is None
    assert doc["topics"][0]["produced_since_checkpoint"] is None
    assert "has no checkpoint yet" in plain.stderr
    schemas = cli(*args, "--gate", "schemas=unchanged")
    assert schemas.code == 6 and "no checkpoint to compare schemas with" in schemas.stderr


def test_gate_schemas_unchanged_fails_when_a_schema_id_changes(cli, wave, tmp_path):
    bootstrap = wave["bootstrap"]
    topic = unique("wave-schema")
    create_topic(bootstrap, topic)
    produce(bootstrap, topic, [{"value": b"\x00\x00\x00\x00\x07payload"}])
    plan = tmp_path / "schema.yaml"
    plan.write_text(f"waves:\n  schema:\n    topics: [{topic}]\n")
    d = ("--dir", tmp_path / "cp")
    assert cli("-b", bootstrap, "checkpoint", "create", "schema", "--plan", plan, *d).code == 0
    args = ("-b", bootstrap, "wave", "status", "schema", *d, "-o", "json")
    unchanged = cli(*args, "--gate", "schemas=unchanged")
    assert unchanged.code == 0, unchanged.stderr
    produce(bootstrap, topic, [{"value": b"\x00\x00\x00\x00\x08payload"}])
    changed = cli(*args, "--gate", "schemas=unchanged")
    assert changed.code == 6
    assert f"{topic}[0] changed from [7] to [8]" in changed.stderr
    live = cli("-b", bootstrap, "checkpoint", "diff", "schema", "--live", *d, "-o", "json")
    assert changed.json()["schemas_changed"] == live.json()["schemas_changed"] == [
        {"topic": topic, "partition": 0, "from": [7], "to": [8]}]


@pytest.mark.parametrize("gate, sentence", [
    ("max-lag", "is not KEY=VALUE"),
    ("max-lag=lots", "max-lag=lots: give a number"),
    ("connectors=paused", "the only value is connectors=running"),
    ("lag=3", "unknown condition 'lag'"),
    ("max-lag=1,max-lag=2", "'max-lag' is given twice"),
])
def test_bad_gate_syntax_exits_2(cli, wave, gate, sentence):
    result = status(cli, wave, "--gate", gate)
    assert result.code == 2 and sentence in result.stderr and result.stdout == ""


def test_watch_prints_json_lines_until_sigint(wave):
    command = [sys.executable, "-m", "ingestctl", *wave["base"], "wave", "status",
               wave["name"], "--dir", str(wave["dir"]), "--watch", "1s", "-o", "json"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)
    lines = []
    try:
        wait_for("three JSON lines", lambda: lines.append(proc.stdout.readline()) or
                 len(lines) >= 3, timeout=90, interval=0)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines += out.splitlines()
    docs = [json.loads(line) for line in lines if line.strip()]
    assert len(docs) >= 3 and all(d["wave"] == wave["name"] for d in docs)
    assert len({d["at"] for d in docs}) == len(docs)
    g = [next(x for x in d["groups"] if x["group"] == wave["group"]) for d in docs]
    # The trend keeps the checkpoint's lag, then one sample per interval.
    assert [len(x["lag_trend"]) for x in g[:3]] == [2, 3, 4]
    assert all(x["rate_per_sec"] is not None for d in docs for x in d["topics"])


def test_watch_with_a_gate_waits_then_exits_6_or_0(cli, wave):
    timed_out = status(cli, wave, "--watch", "500ms", "--gate", "max-lag=0", "--timeout", "2s")
    assert timed_out.code == 6 and "after 2s" in timed_out.stderr
    docs = [json.loads(line) for line in timed_out.stdout.splitlines()]
    assert len(docs) >= 2 and not docs[-1]["gate"]["passed"]
    passed = status(cli, wave, "--watch", "500ms", "--gate", "replays=done", "--timeout", "30s")
    assert passed.code == 0, passed.stderr
    assert len(passed.stdout.splitlines()) == 1  # held at once: one document, done
    no_watch = status(cli, wave, "--timeout", "2s")
    assert no_watch.code == 2 and "--watch" in no_watch.stderr


def test_connector_changes_are_planned_made_and_audited(cli, wave):
    rest, name, d = client(wave["worker"]), wave["sink"], ("--dir", wave["dir"])
    audit = wave["dir"] / "audit.jsonl"
    lines_before = len(audit.read_text().splitlines()) if audit.exists() else 0

    planned = cli(*wave["base"], "connectors", "stop", name, *d, "-o", "json")
    assert planned.code == 0, planned.stderr
    assert "nothing changed; add --execute" in planned.stderr
    (row,) = planned.json()["connectors"]
    assert (row["state_before"], row["change"]) == ("RUNNING", True)
    assert planned.json()["executed"] is False
    assert rest.status(name).state == "RUNNING"

    try:
        for action, state in (("stop", "STOPPED"), ("resume", "RUNNING"),
                              ("pause", "PAUSED"), ("resume", "RUNNING")):
            done = cli(*wave["base"], "connectors", action, name, *d, "--execute", "-o",
                       "json")
            assert done.code == 0, done.stderr
            (row,) = done.json()["connectors"]
            assert row["state_after"] == state == rest.status(name).state
    finally:
        if rest.status(name).state != "RUNNING":
            rest.resume(name)
            rest.wait_for_state(name, "RUNNING")

    entries = [json.loads(line) for line in audit.read_text().splitlines()[lines_before:]]
    assert [(e["action"], e["connector"], e["state_before"], e["state_after"])
            for e in entries] == [
        ("connectors stop", name, "RUNNING", "STOPPED"),
        ("connectors resume", name, "STOPPED", "RUNNING"),
        ("connectors pause", name, "RUNNING", "PAUSED"),
        ("connectors resume", name, "PAUSED", "RUNNING")]

    again = cli(*wave["base"], "connectors", "resume", name, *d, "--execute")
    assert again.code == 0 and "nothing to change" in again.stderr
    restart = cli(*wave["base"], "connectors", "restart", name, *d, "-o", "json")
    assert restart.code == 0 and restart.json()["connectors"][0]["change"] is False
    assert len(audit.read_text().splitlines()) == lines_before + 4


def test_unknown_connector_exits_4_and_changes_nothing(cli, wave):
    rest = client(wave["worker"])
    result = cli(*wave["base"], "connectors", "pause", wave["sink"], "no-such-connector",
                 "--dir", wave["dir"], "--execute")
    assert result.code == 4 and "no-such-connector" in result.stderr
    assert rest.status(wave["sink"]).state == "RUNNING"


def test_unreachable_worker_exits_5(cli, wave):
    result = cli("-b", wave["bootstrap"], "--connect-url", "http://127.0.0.1:9",
                 "--timeout", "2", "connectors", "resume", "x")
    assert result.code == 5 and "cannot reach Kafka Connect" in result.stderr


def test_watch_on_a_terminal_redraws_a_live_view(wave):
    """On a terminal (a pseudo-terminal here) --watch draws rich Live frames: the groups with
    a sparkline and a trend arrow, connector states; SIGINT ends it with exit 0."""
    leader, follower = pty.openpty()
    command = [sys.executable, "-m", "ingestctl", *wave["base"], "wave", "status",
               wave["name"], "--dir", str(wave["dir"]), "--watch", "1s"]
    proc = subprocess.Popen(command, stdout=follower, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env={**os.environ, "COLUMNS": "120", "TERM": "xterm"})
    os.close(follower)
    screen = b""

    def read_more() -> bool:
        nonlocal screen
        if select.select([leader], [], [], 0.5)[0]:
            try:
                screen += os.read(leader, 65536)
            except OSError:
                return True
        # Three frames: the first, then two redraws with the trend's arrow.
        return screen.count(b"connectors") >= 3

    try:
        wait_for("three frames of the live view", read_more, timeout=90, interval=0)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        os.close(leader)
    assert proc.returncode == 0, err
    text = screen.decode("utf-8", "replace")
    assert wave["group"] in text and wave["sink"] in text
    assert any(ch in text for ch in "▁▂▃▄▅▆▇█") and any(ch in text for ch in "↑↓→")
    assert "\x1b[32mRUNNING" in text  # the connector's state, in green
    assert "{" not in text  # a view, not JSON


def test_restart_restarts_a_failed_task_and_is_audited(cli, worker, tmp_path):
    """A FileStreamSink whose file's directory is missing fails its task; once the directory
    exists, `connectors restart` brings the failed task back."""
    rest, name = client(worker), unique("failing-sink")
    topic = unique("failing-orders")
    create_topic(worker.bootstrap, topic)
    missing = tmp_path / "not-yet"
    base = ("-b", worker.bootstrap, "--connect-url", worker.url)
    d = ("--dir", tmp_path / "cp")
    rest.put_config(name, {"connector.class": FILE_SINK, "topics": topic, "tasks.max": "1",
                           "file": str(missing / "sink.txt")})
    try:
        def task_states():
            try:
                return [t.state for t in rest.status(name).tasks]
            except NotFoundError:  # no status yet: the worker writes it shortly
                return None

        wait_for("the task to fail", lambda: task_states() == ["FAILED"])
        view = cli(*base, "wave", "status", "w", "--plan", _plan(tmp_path, topic, name), *d,
                   "--gate", "connectors=running", "-o", "json")
        assert view.code == 6 and f"connector {name} is RUNNING (tasks 0:FAILED)" in view.stderr
        assert view.json()["connectors"][0]["failed_tasks"] == 1

        planned = cli(*base, "connectors", "restart", name, *d, "-o", "json")
        assert planned.code == 0 and "nothing changed; add --execute" in planned.stderr
        assert planned.json()["connectors"][0]["plan"].startswith("restart the failed")
        missing.mkdir()
        done = cli(*base, "connectors", "restart", name, *d, "--execute", "-o", "json")
        assert done.code == 0, done.stderr
        assert done.json()["connectors"][0]["tasks_after"] == [{"id": 0, "state": "RUNNING"}]
        (entry,) = [json.loads(line) for line in (tmp_path / "cp" / "audit.jsonl")
                    .read_text().splitlines()]
        assert (entry["action"], entry["tasks_before"], entry["tasks_after"]) == (
            "connectors restart", [{"id": 0, "state": "FAILED"}], [{"id": 0, "state": "RUNNING"}])
    finally:
        rest.delete(name)


def _plan(tmp_path, topic, connector_name):
    plan = tmp_path / "waves.yaml"
    plan.write_text(f"waves:\n  w:\n    topics: [{topic}]\n    connectors: [{connector_name}]\n")
    return plan


def test_a_wave_without_plan_or_checkpoint_exits_4(cli, wave, tmp_path):
    result = cli(*wave["base"], "wave", "status", "nowhere", "--dir", tmp_path, "-o", "json")
    assert result.code == 4 and "no checkpoint of wave nowhere" in result.stderr
    assert "--plan" in result.stderr and result.stdout == ""
    yaml_view = cli(*wave["base"], "wave", "status", wave["name"], "--dir", wave["dir"],
                    "-o", "yaml")
    assert yaml_view.code == 0 and yaml_view.yaml()["wave"] == wave["name"]
