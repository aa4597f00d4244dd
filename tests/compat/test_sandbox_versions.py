"""`sandbox start --kafka-version`: each supported version runs and says which it is; an
unknown version, another version on a running sandbox, and Connect where the version has
no usable file connectors are refused in one sentence, exit 2, before anything starts."""

import pytest
from support.versions import COMPAT_VERSIONS as VERSIONS

from ingestctl import sandbox
from ingestctl.errors import ExitCode


def test_status_reports_the_version(cli, broker):
    if broker.data_dir is None:
        pytest.skip("a broker given by INGESTCTL_TEST_COMPAT: no sandbox to ask")
    status = cli("sandbox", "status", "--data-dir", broker.data_dir, "-o", "json")
    assert status.code == 0, status.stderr
    assert status.json()["kafka_version"] == broker.version
    assert status.json()["bootstrap"] == broker.bootstrap and status.json()["running"] is True
    other = "4.3.1"
    again = cli("sandbox", "start", "--data-dir", broker.data_dir, "--kafka-version", other)
    assert again.code == ExitCode.USAGE and "Traceback" not in again.stderr
    assert (f"is already running Apache Kafka {broker.version}, not {other}; stop it and use "
            "another --data-dir for another version.") in again.stderr


def test_supported_versions():
    assert set(VERSIONS) | {sandbox.DEFAULT_KAFKA_VERSION} == set(sandbox.SUPPORTED_KAFKA_VERSIONS)


def test_an_unknown_version_is_refused_listing_the_supported_ones(cli, tmp_path):
    result = cli("sandbox", "start", "--data-dir", tmp_path / "sb", "--kafka-version", "3.8.0")
    assert result.code == ExitCode.USAGE and result.stdout == ""
    assert result.stderr.strip() == (
        "ingestctl: error: the sandbox does not run Apache Kafka 3.8.0; choose one of 3.7.2, "
        "3.9.1, 4.3.1, 4.4.0.")
    assert not (tmp_path / "sb").exists()


def test_connect_4_4_0_is_refused_before_anything_starts(cli, tmp_path):
    result = cli("sandbox", "start", "--data-dir", tmp_path / "sb", "--kafka-version", "4.4.0",
                 "--with-connect")
    assert result.code == ExitCode.USAGE and "Traceback" not in result.stderr
    assert ("the sandbox cannot run Kafka Connect 4.4.0: Maven Central does not serve its file "
            "connectors (connect-file 4.4.0) and those of 4.3.1 fail to load in a 4.4 worker"
            ) in result.stderr
    assert not (tmp_path / "sb").exists()
