"""CLI conventions every command shares: exit codes, one-line errors, stdout holds only data."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from support.process import run_process

from ingestctl.errors import ExitCode

PASSWORD = "Zebra-Pass-4417"


def test_version_and_help(cli):
    from ingestctl import __version__

    result = cli("--version")
    assert result.code == 0 and result.stdout.strip() == f"ingestctl {__version__}"
    result = cli("--help")
    assert result.code == 0 and "sandbox" in result.stdout


@pytest.mark.parametrize("command, sentence", [
    (["replay"], "With --execute it copies exactly once"),
    (["rollback"], "Refuses (exit 3, nothing changed) a group that is not Empty or Dead"),
])
def test_help_reads_well_in_80_columns(command, sentence):
    """Paragraphs flow to the terminal's width instead of keeping the docstring's breaks."""
    done = subprocess.run([sys.executable, "-m", "ingestctl", *command, "--help"],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    text = [line.rstrip() for line in lines[:next(i for i, line in enumerate(lines)
                                                  if line.startswith("╭"))]]
    paragraphs = "\n".join(text).split("\n\n")
    assert sentence in " ".join(" ".join(paragraphs).split())
    # Flowed prose fills each line but a paragraph's last; the docstring's own breaks would
    # leave short lines inside it. (Examples, indented, keep their lines.)
    for paragraph in paragraphs:
        prose = [line for line in paragraph.strip("\n").splitlines()
                 if not line.startswith("   ")]
        assert all(len(line) > 60 for line in prose[:-1]), paragraph


def test_help_does_not_import_the_kafka_client():
    code = ("import sys; from ingestctl.cli.main import main; main(['--help']); "
            "sys.exit(1 if {'confluent_kafka', 'fastavro'} & set(sys.modules) else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, "importing the CLI pulled in confluent_kafka or fastavro"


@pytest.mark.parametrize("args", [
    ["--bogus"], ["-o", "xml", "config", "show"], ["config", "nope"], ["--timeout", "x"],
    ["-X", "no-equals-sign", "config", "show"],
])
def test_usage_errors_exit_2(cli, args):
    result = cli(*args)
    assert result.code == ExitCode.USAGE
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, option", [
    (["-b", "", "topics", "list"], "--bootstrap-servers"),
    (["-p", " ", "topics", "list"], "--profile"),
    (["--schema-registry", "", "config", "show"], "--schema-registry"),
    (["-b", "127.0.0.1:1", "replay", "--from-topic", "a", "--to-topic", "b", "--start-offset",
      "0", "--to-bootstrap-servers", "", "--execute"], "--to-bootstrap-servers"),
])
def test_an_empty_value_is_refused_not_taken_for_unset(cli, args, option):
    """`-b "$TARGET"` with TARGET unset must not fall back to the profile's cluster."""
    result = cli(*args)
    assert result.code == ExitCode.USAGE, result.stderr
    assert f"{option} was given an empty value" in result.stderr
    assert result.stdout == ""


def test_unreachable_cluster_exits_5_within_the_timeout():
    # A hang (librdkafka's own defaults are minutes) fails as TimeoutExpired: the process
    # must end within its --timeout plus interpreter start-up.
    result = run_process("-b", "127.0.0.1:1", "--timeout", "3", "cluster", "info", timeout=3 + 10)
    assert result.returncode == ExitCode.CLUSTER
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one sentence, no librdkafka log lines
    assert "cannot reach the Kafka cluster at 127.0.0.1:1" in lines[0]


def test_invalid_librdkafka_property_is_a_usage_error(kafka_bootstrap):
    result = run_process("-b", kafka_bootstrap, "-X", "no.such.property=1", "cluster", "info")
    assert result.returncode == ExitCode.USAGE
    assert "no.such.property" in result.stderr
    assert "Traceback" not in result.stderr


def test_cluster_info_json(cli, kafka_bootstrap):
    result = cli("-b", kafka_bootstrap, "cluster", "info", "-o", "json")
    assert result.code == 0, result.stderr
    data = result.json()
    host, port = kafka_bootstrap.rsplit(":", 1)
    assert data["brokers"] == [{"id": 1, "host": host, "port": int(port), "rack": None}]
    assert data["controller"]["id"] == 1
    assert len(data["cluster_id"]) == 22
    yaml_out = cli("-b", kafka_bootstrap, "-o", "yaml", "cluster", "info").yaml()
    assert yaml_out == data


def test_internal_error_is_one_line_and_debug_shows_traceback(cli, monkeypatch, kafka_bootstrap):
    from ingestctl import kafka

    def broken(settings):
        raise RuntimeError(f"boom with {settings.kafka['sasl.password']}")

    monkeypatch.setattr(kafka, "cluster_info", broken)
    result = cli("-b", kafka_bootstrap, "-X", f"sasl.password={PASSWORD}", "cluster", "info")
    assert result.code == ExitCode.INTERNAL
    assert "rerun with --debug" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert PASSWORD not in result.stderr
    result = cli("--debug", "-b", kafka_bootstrap, "-X", f"sasl.password={PASSWORD}",
                 "cluster", "info")
    assert result.code == ExitCode.INTERNAL
    assert "Traceback" in result.stderr and "RuntimeError" in result.stderr
    assert PASSWORD not in result.stderr


def test_ctrl_c_exits_130_with_one_line():
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingestctl", "-b", "127.0.0.1:1", "--timeout", "60",
         "cluster", "info"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ},
    )
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert out == "" and "Traceback" not in err


def test_json_output_is_exactly_one_document(kafka_bootstrap):
    result = run_process("-b", kafka_bootstrap, "cluster", "info", "-o", "json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["brokers"]
