"""`rehearse sink-outage` on a real Kafka Connect worker: a FileStreamSink on a topic a producer
writes to at a steady rate is stopped for the outage, resumed, and measured while it catches
up; the plan changes nothing, retention that could expire records is refused, and Ctrl-C
puts the connector back as it was."""

import json
import signal
import subprocess
import sys

import pytest
from support.connectutil import FILE_SINK, client, connector, wait_for
from support.kafkautil import SteadyProducer, create_topic
from support.names import unique
from support.process import REPO

from ingestctl import checkpoints


@pytest.fixture(scope="module")
def worker(services):
    return services.connect()


@pytest.fixture
def sink(worker, tmp_path):
    """A running FileStreamSink on a 2-partition topic written at 20 records a second."""
    topic, name = unique("outage-orders"), unique("outage-sink")
    create_topic(worker.bootstrap, topic, partitions=2)
    steady = SteadyProducer(worker.bootstrap, topic, 2)
    try:
        with connector(worker, name, {"connector.class": FILE_SINK, "topics": topic,
                                      "file": str(tmp_path / "sink.txt")}):
            yield {"name": name, "topic": topic,
                   "base": ("-b", worker.bootstrap, "--connect-url", worker.url),
                   "dir": tmp_path / "checkpoints", "rest": client(worker)}
    finally:
        steady.stop()


def test_plan_changes_nothing(cli, sink):
    result = cli(*sink["base"], "rehearse", "sink-outage", "--connector", sink["name"],
                 "--outage", "30s", "--dir", sink["dir"], "-o", "json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert (doc["executed"], doc["state"], doc["group"], doc["topics"]) == (
        False, "RUNNING", f"connect-{sink['name']}", [sink["topic"]])
    assert len(doc["steps"]) == 4
    assert "nothing changed; add --execute" in result.stderr
    assert sink["rest"].status(sink["name"]).state == "RUNNING"
    assert not sink["dir"].exists()


def test_retention_that_could_expire_records_is_refused(cli, worker, tmp_path):
    topic, name = unique("short-retention"), unique("outage-sink")
    create_topic(worker.bootstrap, topic, config={"retention.ms": "60000"})
    base = ("-b", worker.bootstrap, "--connect-url", worker.url)
    with connector(worker, name, {"connector.class": FILE_SINK, "topics": topic,
                                  "file": str(tmp_path / "sink.txt")}) as rest:
        for extra in ((), ("--execute",)):
            result = cli(*base, "rehearse", "sink-outage", "--connector", name, "--outage",
                         "50s", "--catch-up-timeout", "30s", "--dir", tmp_path / "cp", *extra)
            assert result.code == 3, result.stderr
            assert f"topic {topic} keeps records for 60 s" in result.stderr
            assert rest.status(name).state == "RUNNING"
        assert not (tmp_path / "cp").exists()  # no checkpoint, no audit line
        allowed = cli(*base, "rehearse", "sink-outage", "--connector", name, "--outage", "10s",
                      "--catch-up-timeout", "20s")
        assert allowed.code == 0, allowed.stderr


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
