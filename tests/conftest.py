"""Shared fixtures: one real Apache Kafka broker per test session (the project's own sandbox,
or INGESTCTL_TEST_BOOTSTRAP when set), unique names, and an in-process CLI runner."""

import json
import os
from dataclasses import dataclass

import pytest
import yaml
from support.configs import SECRET, write_config
from support.sessions import SESSION_SANDBOXES

from ingestctl import sandbox


def _start_sandbox(tmp_path_factory, name: str, env_var: str):
    existing = os.environ.get(env_var)
    if existing:
        yield existing
        return
    data_dir = tmp_path_factory.mktemp(name)
    SESSION_SANDBOXES[name] = data_dir
    status = sandbox.start(data_dir=data_dir, port=sandbox.free_port())
    try:
        yield status.bootstrap
    finally:
        sandbox.stop(data_dir)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory):
    """The session's broker: started once, shared by every test (unique names keep tests apart)."""
    yield from _start_sandbox(tmp_path_factory, "sandbox-a", "INGESTCTL_TEST_BOOTSTRAP")


@pytest.fixture(scope="session")
def second_bootstrap(tmp_path_factory):
    """A second, independent cluster (a migration target), started on first use."""
    yield from _start_sandbox(tmp_path_factory, "sandbox-b", "INGESTCTL_TEST_BOOTSTRAP2")


@pytest.fixture(scope="session")
def services(tmp_path_factory, kafka_bootstrap):
    """A schema registry and a Kafka Connect worker, each started on first use
    (services.registry_url(), services.connect() -> .url, .bootstrap); see tests/services.py."""
    from support.services import Services

    holder = Services(tmp_path_factory, kafka_bootstrap, SESSION_SANDBOXES.get("sandbox-a"))
    yield holder
    holder.close()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path):
    """No test sees the developer's config, profile or INGESTCTL_* variables."""
    for key in list(os.environ):
        if key.startswith("INGESTCTL_") and not key.startswith("INGESTCTL_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.chdir(tmp_path)
    yield
    # Secrets registered by a test's config loading must not scrub the next test's output.
    from ingestctl import secrets

    secrets.forget_all()



@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)

    def yaml(self):
        return yaml.safe_load(self.stdout)


@pytest.fixture
def cli(capsys):
    """Run ingestctl in-process: cli('topics', 'list', '-o', 'json') -> Result."""
    from ingestctl.cli.main import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(int(code), out, err)

    return run


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    """./ingestctl.yaml with profile prod (SASL, password from $KAFKA_PASSWORD = SECRET)."""
    monkeypatch.setenv("KAFKA_PASSWORD", SECRET)
    return write_config(tmp_path / "ingestctl.yaml", {
        "default_profile": "prod",
        "profiles": {
            "prod": {
                "bootstrap_servers": "broker-1:9093",
                "kafka": {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                          "sasl.username": "ops", "sasl.password": "${env:KAFKA_PASSWORD}"},
                "schema_registry": {"url": "https://registry:8081",
                                    "basic_auth": "user:${env:KAFKA_PASSWORD}"},
                "connect_url": "https://connect:8083",
                "checkpoint_dir": "/tmp/ckpts",
                "replay": {"rate": "5MiB/s"},
            },
            "dev": {"bootstrap_servers": "dev:9092"},
        },
    })


MIRROR_TOPICS = "mirror-.*"  # the mirrored sandboxes copy only topics named so


@pytest.fixture(scope="session")
def mirrors(tmp_path_factory, kafka_bootstrap):
    """Two sandboxes that MirrorMaker 2 mirrors the session's broker into (topics named
    mirror-*): {"default": Status (topics arrive as source.T), "identity": Status (as T)}.
    Started side by side on first use (MM2 takes ~25 s), stopped at the end."""
    from concurrent.futures import ThreadPoolExecutor, wait

    dirs = {policy: tmp_path_factory.mktemp(f"mirror-{policy}")
            for policy in ("default", "identity")}

    def start(policy):
        return sandbox.start(data_dir=dirs[policy], port=sandbox.free_port(), timeout=240,
                             mirror_from=kafka_bootstrap, mirror_topics=MIRROR_TOPICS,
                             mirror_identity=policy == "identity")

    with ThreadPoolExecutor(2) as pool:
        futures = {policy: pool.submit(start, policy) for policy in dirs}
        wait(futures.values())  # both done (or failed) before anything is stopped
    try:
        yield {policy: future.result() for policy, future in futures.items()}
    finally:
        for data_dir in dirs.values():
            try:
                sandbox.stop(data_dir)
            except Exception:  # noqa: BLE001 - a failed start left nothing to stop
                pass
