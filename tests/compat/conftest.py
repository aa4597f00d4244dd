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
from support.versions import COMPAT_VERSIONS

from ingestctl import sandbox

VERSIONS = COMPAT_VERSIONS
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Broker:
    version: str
    bootstrap: str
    data_dir: Path | None  # None: a broker this session did not start

    @property
    def kafka3(self) -> bool:
        return self.version.startswith("3.")


_LAST: list[str] = []  # node id of the last compat test to run
_RUNNING: dict[str, Path] = {}  # version -> data dir of the sandboxes this session runs


def _is_compat(item) -> bool:
    return HERE in Path(item.path).resolve().parents


@pytest.hookimpl(trylast=True)  # after deselection and the reordering by fixture parameters
def pytest_collection_modifyitems(config, items):
    compat = [item for item in items if _is_compat(item)]
    for item in compat:
        item.add_marker(pytest.mark.compat)
    _LAST[:] = [compat[-1].nodeid] if compat else []


def _stop_all() -> None:
    running = dict(_RUNNING)
    _RUNNING.clear()
    _in_parallel({v: (lambda d=d: sandbox.stop(d)) for v, d in running.items()
                  if sandbox.read_state(d)})


@pytest.fixture(autouse=True)
def _stop_after_the_last_compat_test(request):
    """The other versions' brokers end with the last compat test, not with the session: the
    rest of the suite keeps the machine's 2 cores and memory."""
    yield
    if _LAST and request.node.nodeid == _LAST[0]:
        _stop_all()


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


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        if (port := sandbox.free_port()) not in ports:
            ports.append(port)
    return ports


def _start(tmp_path_factory, version: str, port: int) -> Broker:
    data_dir = tmp_path_factory.mktemp(f"kafka-{version}")
    _RUNNING[version] = data_dir
    sandbox.start(data_dir=data_dir, port=port, kafka_version=version, timeout=180)
    return Broker(version, f"127.0.0.1:{port}", data_dir)


@pytest.fixture(scope="session")
def compat_brokers(tmp_path_factory) -> dict[str, Broker]:
    """Every version's broker, the missing ones started in parallel threads (one JVM each,
    about 10 s side by side on 2 cores once the jars are cached)."""
    brokers = {v: Broker(v, b, None) for v, b in _given().items() if v in VERSIONS}
    missing = [v for v in VERSIONS if v not in brokers]

    def start(version: str, port: int):
        def run():
            brokers[version] = _start(tmp_path_factory, version, port)
        return run

    try:
        errors = _in_parallel({v: start(v, port)
                               for v, port in zip(missing, _free_ports(len(missing)), strict=True)})
        if errors:
            pytest.fail("; ".join(f"Apache Kafka {v} did not start: {e}"
                                  for v, e in errors.items()), pytrace=False)
        yield brokers
    finally:
        _stop_all()


@pytest.fixture(scope="session", params=VERSIONS, ids=lambda v: f"kafka-{v}")
def broker(request, compat_brokers) -> Broker:
    return compat_brokers[request.param]
