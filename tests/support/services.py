"""A schema registry and a Kafka Connect worker for the test session, started on first use.

Taken from the environment when set: INGESTCTL_TEST_REGISTRY_URL (a Confluent-compatible
API root) and INGESTCTL_TEST_CONNECT_URL (with INGESTCTL_TEST_CONNECT_BOOTSTRAP, the brokers
that worker uses; default: the session's broker). Otherwise the project's sandbox runs them:
beside the session's own sandbox broker when the session started one (CI), else in a sandbox
of their own under the session's tmp dir, stopped at the end. Either way one registry and one
worker serve the whole session.
"""

import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ingestctl import sandbox


@dataclass(frozen=True)
class ConnectService:
    url: str
    bootstrap: str  # the Kafka cluster the worker stores its state in and its sinks read


class Services:
    def __init__(self, tmp_path_factory, kafka_bootstrap: str, session_sandbox: Path | None):
        self._tmp = tmp_path_factory
        self._kafka_bootstrap = kafka_bootstrap
        self._session_sandbox = session_sandbox
        self._own_sandbox: Path | None = None
        self._registry: str | None = os.environ.get("INGESTCTL_TEST_REGISTRY_URL")
        self._connect: ConnectService | None = None
        if os.environ.get("INGESTCTL_TEST_CONNECT_URL"):
            self._connect = ConnectService(
                os.environ["INGESTCTL_TEST_CONNECT_URL"].rstrip("/"),
                os.environ.get("INGESTCTL_TEST_CONNECT_BOOTSTRAP") or kafka_bootstrap,
            )
            _check_connect_cluster(self._connect)

    @property
    def sandbox_dir(self) -> Path | None:
        """The sandbox that runs the services started so far (None: all from the environment)."""
        if self._own_sandbox is None and self._session_sandbox is None:
            return None
        return self._own_sandbox or self._session_sandbox

    def registry_url(self) -> str:
        if self._registry is None:
            self._registry = self._start(with_registry=True).registry_url
        return self._registry

    def connect(self) -> ConnectService:
        if self._connect is None:
            status = self._start(with_connect=True)
            self._connect = ConnectService(status.connect_url, status.bootstrap)
        return self._connect

    def _start(self, **components) -> sandbox.Status:
        data_dir = self._session_sandbox
        port = None
        if data_dir is None:
            if self._own_sandbox is None:
                self._own_sandbox = self._tmp.mktemp("sandbox-services")
                port = sandbox.free_port()
            data_dir = self._own_sandbox
        ports = {"registry_port" if name == "with_registry" else "connect_port":
                 sandbox.free_port() for name in components}
        return sandbox.start(data_dir=data_dir, port=port, **components, **ports)

    def close(self) -> None:
        if self._own_sandbox is not None:
            sandbox.stop(self._own_sandbox)


def _check_connect_cluster(service: ConnectService) -> None:
    """The worker must work against the brokers the tests write to, or nothing they produce
    reaches its sinks."""
    from ingestctl.config import Settings
    from ingestctl.kafka import cluster_info

    with urllib.request.urlopen(service.url + "/", timeout=10) as response:
        worker_cluster = json.loads(response.read())["kafka_cluster_id"]
    ours = cluster_info(Settings(bootstrap_servers=service.bootstrap))["cluster_id"]
    assert worker_cluster == ours, (
        f"INGESTCTL_TEST_CONNECT_URL works against cluster {worker_cluster}, but "
        f"{service.bootstrap} is {ours}; set INGESTCTL_TEST_CONNECT_BOOTSTRAP to its brokers"
    )
