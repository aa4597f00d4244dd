"""`rehearse sink-outage` on a real Kafka Connect worker: a FileStreamSink on a topic a producer
writes to at a steady rate is stopped for the outage, resumed, and measured while it catches
up; the plan shows the ingest rate and changes nothing; retention (time or size) that could
expire records, and a failed task, are refused; and Ctrl-C puts the connector back as it
was."""

import json
import signal
import subprocess
import sys
from contextlib import contextmanager

import pytest
from support.connectutil import FILE_SINK, client, connector, wait_for
from support.kafkautil import SteadyProducer, create_topic
from support.names import unique
from support.process import REPO

from ingestctl import checkpoints
from ingestctl.errors import NotFoundError
from ingestctl.inspection.ingest import RECORD_OVERHEAD_BYTES

RATE = 20  # records a second, SteadyProducer's default, round robin over 2 partitions


@pytest.fixture(scope="module")
def worker(services):
    return services.connect()


@contextmanager
def steady_sink(worker, tmp_path, config: dict | None = None):
    """A running FileStreamSink on a 2-partition topic written at RATE records a second."""
    topic, name = unique("outage-orders"), unique("outage-sink")
    create_topic(worker.bootstrap, topic, partitions=2, config=config)
    steady = SteadyProducer(worker.bootstrap, topic, 2, rate=RATE)
    try:
        with connector(worker, name, {"connector.class": FILE_SINK, "topics": topic,
                                      "file": str(tmp_path / "sink.txt")}):
            yield {"name": name, "topic": topic,
                   "base": ("-b", worker.bootstrap, "--connect-url", worker.url),
                   "dir": tmp_path / "checkpoints", "rest": client(worker)}
    finally:
        steady.stop()


@pytest.fixture
def sink(worker, tmp_path):
    with steady_sink(worker, tmp_path) as s:
        yield s


def test_plan_changes_nothing_and_shows_the_ingest_rate(cli, sink):
    result = cli(*sink["base"], "rehearse", "sink-outage", "--connector", sink["name"],
                 "--outage", "30s", "--dir", sink["dir"], "-o", "json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert (doc["executed"], doc["state"], doc["group"], doc["topics"]) == (
        False, "RUNNING", f"connect-{sink['name']}", [sink["topic"]])
    assert doc["tasks"] == [{"id": 0, "state": "RUNNING"}]
    assert len(doc["steps"]) == 4
    # Sampled over about a second: within half of the producer's rate either way, in all,
    # per topic and (round robin) per partition.
    assert 0.9 <= doc["ingest_sample_seconds"] <= 5
    assert RATE * 0.5 <= doc["ingest_rate_per_sec"] <= RATE * 1.5
    topic = doc["ingest_by_topic"][sink["topic"]]
    assert topic["ingest_rate_per_sec"] == pytest.approx(doc["ingest_rate_per_sec"], abs=0.2)
    assert [p["partition"] for p in topic["partitions"]] == [0, 1]
    for p in topic["partitions"]:
        assert RATE / 2 * 0.5 <= p["ingest_rate_per_sec"] <= RATE / 2 * 1.5
        # The values are b"steady-N" (N below 100,000 here), no key, no headers.
        assert len("steady-0") + RECORD_OVERHEAD_BYTES <= p["record_bytes"] <= \
            len("steady-99999") + RECORD_OVERHEAD_BYTES
        assert p["ingest_bytes_per_sec"] == pytest.approx(
            p["ingest_rate_per_sec"] * p["record_bytes"], rel=0.02)
        assert p["retention_bytes_lasts_seconds"] is None  # retention.bytes -1
    assert doc["ingest_bytes_per_sec"] == pytest.approx(topic["ingest_bytes_per_sec"])
    assert doc["retention_bytes"] == {sink["topic"]: None}
    assert doc["retention_needed_seconds"] >= 30 + 600 + 600
    assert "nothing changed; add --execute" in result.stderr
    assert sink["rest"].status(sink["name"]).state == "RUNNING"
    assert not sink["dir"].exists()
    # The table view shows the same figures, one row per partition.
    table = cli(*sink["base"], "rehearse", "sink-outage", "--connector", sink["name"],
                "--outage", "30s")
    assert table.code == 0, table.stderr
    assert "ingest rate per sec" in table.stdout and "records/s" in table.stdout


def _refused_and_unchanged(cli, base, name, rest, cp_dir, *args) -> list[str]:
    """Plan and --execute both refused (exit 3), the connector and its tasks still RUNNING,
    no checkpoint and no audit line; the refusal's stderr of each."""
    errors = []
    for extra in ((), ("--execute",)):
        result = cli(*base, "rehearse", "sink-outage", "--connector", name, *args,
                     "--dir", cp_dir, *extra)
        assert result.code == 3, result.stderr
        status = rest.status(name)
        assert (status.state, [t.state for t in status.tasks]) == ("RUNNING", ["RUNNING"])
        errors.append(result.stderr)
    assert not cp_dir.exists()  # no checkpoint, no audit line
    return errors


def test_retention_ms_just_below_the_span_is_refused_just_above_accepted(cli, worker,
                                                                          tmp_path):
    # Nothing is written to the topic: the sink is 0 s behind, the span is exactly
    # outage + catch-up + 10 minutes, against 700 s of retention.ms.
    topic, name = unique("short-retention"), unique("outage-sink")
    create_topic(worker.bootstrap, topic, config={"retention.ms": "700000"})
    base = ("-b", worker.bootstrap, "--connect-url", worker.url)
    with connector(worker, name, {"connector.class": FILE_SINK, "topics": topic,
                                  "file": str(tmp_path / "sink.txt")}) as rest:
        for stderr in _refused_and_unchanged(cli, base, name, rest, tmp_path / "cp",
                                             "--outage", "41s", "--catch-up-timeout", "60s"):
            assert f"topic {topic} keeps records for 700 s (retention.ms), less than the " \
                "701 s the rehearsal needs (the sink is 0 s behind" in stderr
            assert "shorten --outage or --catch-up-timeout, or raise the topic's " \
                "retention.ms to at least 701000" in stderr
        allowed = cli(*base, "rehearse", "sink-outage", "--connector", name, "--outage", "39s",
                      "--catch-up-timeout", "60s", "-o", "json")
        assert allowed.code == 0, allowed.stderr
        doc = allowed.json()
        assert (doc["retention_ms"], doc["retention_needed_seconds"]) == ({topic: 700000}, 699)
        assert doc["ingest_rate_per_sec"] == 0


def test_retention_bytes_that_the_ingest_rate_fills_is_refused(cli, worker, tmp_path):
    # About 10 records a second of about 80 bytes per partition: 100,000 bytes last about
    # two minutes, less than the 690 s (and more) the rehearsal needs.
    with steady_sink(worker, tmp_path, {"retention.bytes": "100000"}) as s:
        for stderr in _refused_and_unchanged(cli, s["base"], s["name"], s["rest"], s["dir"],
                                             "--outage", "30s", "--catch-up-timeout", "60s"):
            assert f"topic {s['topic']} keeps 100000 bytes per partition (retention.bytes); " \
                "at the current ingest, partition(s) " in stderr
            assert "or raise the topic's retention.bytes to at least" in stderr
            assert "retention.ms" not in stderr  # -1: kept forever by time


def test_a_connector_with_a_failed_task_is_refused(cli, worker, tmp_path):
    """A FileStreamSink whose file's directory is missing fails its task; the connector
    itself stays RUNNING."""
    rest, name, topic = client(worker), unique("failing-sink"), unique("failing-orders")
    create_topic(worker.bootstrap, topic)
    base = ("-b", worker.bootstrap, "--connect-url", worker.url)
    rest.put_config(name, {"connector.class": FILE_SINK, "topics": topic, "tasks.max": "1",
                           "file": str(tmp_path / "missing" / "sink.txt")})
    try:
        def states():
            try:
                status = rest.status(name)
            except NotFoundError:  # no status yet: the worker writes it shortly
                return None
            return status.state, [t.state for t in status.tasks]

        wait_for("the task to fail", lambda: states() == ("RUNNING", ["FAILED"]))
        for extra in ((), ("--execute",)):
            result = cli(*base, "rehearse", "sink-outage", "--connector", name, "--outage",
                         "5s", "--dir", tmp_path / "cp", *extra)
            assert result.code == 3, result.stderr
            assert f"connector {name} is RUNNING but its task(s) 0 FAILED are not" in \
                result.stderr
            assert f"`ingestctl connectors restart {name} --execute`" in result.stderr
            assert states() == ("RUNNING", ["FAILED"])  # not restarted, nothing changed
        assert not (tmp_path / "cp").exists()
    finally:
        rest.delete(name)


def test_outage_is_measured_and_the_connector_restored(cli, sink, tmp_path):
    report_file = tmp_path / "report.json"
    result = cli(*sink["base"], "rehearse", "sink-outage", "--connector", sink["name"],
                 "--outage", "3s", "--catch-up-timeout", "90s", "--report", report_file,
                 "--dir", sink["dir"], "--execute", "-o", "json")
    assert result.code == 0, result.stderr
    report = result.json()
    assert json.loads(report_file.read_text()) == report
    assert (report["state_before"], report["state_after"], report["ended"]) == (
        "RUNNING", "RUNNING", "caught-up")
    assert sink["rest"].status(sink["name"]).state == "RUNNING"
    assert report["outage_seconds"] >= 3
    # Up to 20 records a second for 3 s (fewer on a loaded machine): lag builds past where
    # it stood.
    assert report["peak_lag"] >= 10 and report["peak_lag"] > report["lag_before"]
    assert 2 <= report["ingest_rate_per_sec"] <= 40
    assert report["catch_up_seconds"] is not None and report["catch_up_rate_per_sec"] > 0
    assert report["no_progress_seconds"] >= report["outage_seconds"]
    assert len(report["samples"]) >= 4 and max(s["lag"] for s in report["samples"]) == \
        report["peak_lag"]
    cp = checkpoints.load(report["checkpoint"])
    assert cp.connectors[sink["name"]].state == "RUNNING"
    audit = [json.loads(line) for line in (sink["dir"] / "audit.jsonl").read_text().splitlines()]
    assert [(e["action"], e["step"]) for e in audit] == [
        ("rehearse sink-outage", "stop"), ("rehearse sink-outage", "end")]
    assert audit[1]["ended"] == "caught-up"


def test_a_report_it_could_not_write_is_refused_before_the_outage(cli, sink, tmp_path):
    # The report is written into a private directory only; one that others can read is
    # refused before the connector is stopped, not after the whole rehearsal has run.
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    result = cli(*sink["base"], "rehearse", "sink-outage", "--connector", sink["name"],
                 "--outage", "3s", "--report", shared / "report.json", "--dir", sink["dir"],
                 "--execute")
    assert result.code == 3, result.stderr
    assert f"{shared} is readable by other users" in result.stderr
    assert "stopped" not in result.stderr
    assert not sink["dir"].exists()  # no checkpoint, no audit line: nothing was done
    assert sink["rest"].status(sink["name"]).state == "RUNNING"


def test_ctrl_c_during_the_outage_restores_the_connector(sink, tmp_path):
    report_file = tmp_path / "report.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingestctl", *sink["base"], "rehearse", "sink-outage",
         "--connector", sink["name"], "--outage", "5m", "--report", str(report_file),
         "--dir", str(sink["dir"]), "--execute"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        wait_for("the connector to stop",
                 lambda: sink["rest"].status(sink["name"]).state == "STOPPED", timeout=90)
        wait_for("a lag sample", lambda: proc.poll() is None, timeout=5)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert sink["rest"].status(sink["name"]).state == "RUNNING"
    report = json.loads(report_file.read_text())
    assert (report["ended"], report["state_before"], report["state_after"]) == (
        "interrupted", "RUNNING", "RUNNING")
    assert report["catch_up_seconds"] is None
    assert f"{sink['name']} is RUNNING again" in err


def test_unknown_connector_exits_4(cli, worker):
    result = cli("-b", worker.bootstrap, "--connect-url", worker.url, "rehearse",
                 "sink-outage", "--connector", "no-such-sink", "--outage", "5s")
    assert result.code == 4 and "no-such-sink" in result.stderr
