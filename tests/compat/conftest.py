"""One sandbox per older or newer Apache Kafka version, started side by side once per session
(4.3.1, the default, is the main suite's `kafka_bootstrap`). Every test that takes `broker`
runs once per version.

INGESTCTL_TEST_COMPAT="3.7.2=HOST:PORT,3.9.1=HOST:PORT,4.4.0=HOST:PORT" uses running brokers
instead (each version not named there is started)."""

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingestctl import sandbox

VERSIONS = ("3.7.2", "3.9.1", "4.4.0")
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Broker:
    version: str
    bootstrap: str
    data_dir: Path | None  # None: a broker this session did not start

    @property
    def kafka3(self) -> bool:
        return self.version.startswith("3.")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.compat)


def _given() -> dict[str, str]:
    given = {}
    for pair in filter(None, os.environ.get("INGESTCTL_TEST_COMPAT", "").split(",")):
        version, _, bootstrap = pair.partition("=")
        given[version.strip()] = bootstrap.strip()
    return given


def _in_parallel(work: dict[str, callable]) -> dict[str, BaseException]:
    errors: dict[str, BaseException] = {}

    def run(name, fn):
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported below, per version
            errors[name] = exc

    threads = [threading.Thread(target=run, args=item) for item in work.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.fixture(scope="session")
def compat_brokers(tmp_path_factory) -> dict[str, Broker]:
    """Every version's broker, the missing ones started in parallel threads (one JVM each,
    about 10 s side by side on 2 cores once the jars are cached)."""
    given = _given()
    brokers = {v: Broker(v, b, None) for v, b in given.items() if v in VERSIONS}
    ports: set[int] = set()
    for version in VERSIONS:
        if version not in brokers:
            while (port := sandbox.free_port()) in ports:
                pass
            ports.add(port)
            data_dir = tmp_path_factory.mktemp(f"kafka-{version}")
            brokers[version] = Broker(version, f"127.0.0.1:{port}", data_dir)
    started = [b for b in brokers.values() if b.data_dir]

    def start(b: Broker):
        return lambda: sandbox.start(data_dir=b.data_dir, port=int(b.bootstrap.rsplit(":")[1]),
                                     kafka_version=b.version, timeout=180)

    try:
        errors = _in_parallel({b.version: start(b) for b in started})
        if errors:
            pytest.fail("; ".join(f"Apache Kafka {v} did not start: {e}"
                                  for v, e in errors.items()), pytrace=False)
        yield brokers
    finally:
        _in_parallel({b.version: (lambda b=b: sandbox.stop(b.data_dir)) for b in started
                      if sandbox.read_state(b.data_dir)})


@pytest.fixture(scope="session", params=VERSIONS, ids=lambda v: f"kafka-{v}")
def broker(request, compat_brokers) -> Broker:
    return compat_brokers[request.param]
