"""The components beside the broker: an Apicurio Registry and a one-worker Kafka Connect
cluster, launched side by side and awaited until each answers over HTTP."""

import time
from pathlib import Path

from ..errors import UsageError
from .jars import find_java, resolve_registry_app, uses_log4j2
from .processes import (
    alive,
    free_port,
    launch,
    log_size,
    logging_flag,
    port_bindable,
    terminate,
    wait_http,
)
from .state import read_state, write_state

CONNECT_MAIN = "org.apache.kafka.connect.cli.ConnectDistributed"


DEFAULT_CONNECT_PORT = 8083


DEFAULT_REGISTRY_VERSION = "3.3.3"


DEFAULT_REGISTRY_PORT = 8081


CCOMPAT_PATH = "/apis/ccompat/v7"


COMPONENTS = {"registry": "the Apicurio Registry", "connect": "the Kafka Connect worker"}


def running_component(state: dict, name: str, data_dir: Path) -> dict | None:
    info = state.get(name) or {}
    return info if alive(info.get("pid"), str(data_dir)) else None


_CONNECT_LOG_LEVELS = {"org.apache.kafka.connect": "INFO", "org.reflections": "ERROR",
                       "org.eclipse.jetty": "WARN"}


def _connect_properties(bootstrap: str, port: int) -> str:
    return "\n".join([
        f"bootstrap.servers={bootstrap}",
        "group.id=ingestctl-sandbox-connect",
        "key.converter=org.apache.kafka.connect.storage.StringConverter",
        "value.converter=org.apache.kafka.connect.storage.StringConverter",
        "config.storage.topic=connect-configs",
        "offset.storage.topic=connect-offsets",
        "status.storage.topic=connect-status",
        "config.storage.replication.factor=1",
        "offset.storage.replication.factor=1",
        "status.storage.replication.factor=1",
        "offset.storage.partitions=1",
        "status.storage.partitions=1",
        # Sink offsets reach the connector's group at this interval (default 60 s): a
        # checkpoint taken a moment after records were delivered must see them.
        "offset.flush.interval.ms=1000",
        f"listeners=http://127.0.0.1:{port}",
        "rest.advertised.host.name=127.0.0.1",
        f"rest.advertised.port={port}",
        # The file connectors are on the worker's classpath; no plugin.path to scan.
        "plugin.discovery=only_scan",
        # One worker: a restarted worker takes its connectors back at once, not after 5 min.
        "scheduled.rebalance.max.delay.ms=0",
        "",
    ])


def _component_port(asked: int | None, previous: int | None, default: int, option: str) -> int:
    """The asked port (which must be free), else the one used before, else the default, else
    any free one: a restarted sandbox keeps its URLs when it can."""
    if asked:
        if not port_bindable(asked):
            raise UsageError(f"port {asked} on 127.0.0.1 is in use; pass another {option}.")
        return asked
    for candidate in (previous, default):
        if candidate and port_bindable(candidate):
            return candidate
    return free_port()


def _launch_registry(data_dir: Path, state: dict, asked_port: int | None, progress) -> dict:
    java = find_java(21, "the Apicurio Registry")
    home = resolve_registry_app(DEFAULT_REGISTRY_VERSION, progress)
    previous = state.get("registry") or {}
    port = _component_port(asked_port, previous.get("port"), DEFAULT_REGISTRY_PORT,
                           "--registry-port")
    log = data_dir / "registry.log"
    url = f"http://127.0.0.1:{port}{CCOMPAT_PATH}"
    progress(f"starting Apicurio Registry {DEFAULT_REGISTRY_VERSION} on 127.0.0.1:{port}…")
    log_offset = log_size(log)
    pid = launch(
        [java, "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
         "-Djava.awt.headless=true", f"-Dingestctl.sandbox={data_dir}",
         # Quarkus binds both ports to every interface unless told otherwise. Nothing here
         # uses the management port (health, metrics): any free one will do.
         "-Dquarkus.http.host=127.0.0.1", f"-Dquarkus.http.port={port}",
         "-Dquarkus.management.host=127.0.0.1", "-Dquarkus.management.port=0",
         "-jar", str(home / "quarkus-run.jar")],
        data_dir, log,
    )
    return {"pid": pid, "port": port, "url": url, "log": str(log), "log_offset": log_offset,
            "version": DEFAULT_REGISTRY_VERSION, "probe": f"{url}/subjects"}


def _launch_connect(data_dir: Path, state: dict, asked_port: int | None, progress) -> dict:
    java = state.get("java") or find_java(17, "the Kafka Connect worker")
    previous = state.get("connect") or {}
    port = _component_port(asked_port, previous.get("port"), DEFAULT_CONNECT_PORT,
                           "--connect-port")
    props = data_dir / "connect.properties"
    props.write_text(_connect_properties(f"127.0.0.1:{state['port']}", port))
    version = state.get("kafka_version") or ""
    log_flag = logging_flag(data_dir, "connect-", uses_log4j2(version) if version else True,
                            _CONNECT_LOG_LEVELS)
    log = data_dir / "connect.log"
    url = f"http://127.0.0.1:{port}"
    progress(f"starting Kafka Connect {version} on 127.0.0.1:{port}…")
    log_offset = log_size(log)
    pid = launch(
        [java, "-Xms128m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
         "-Djava.awt.headless=true", log_flag, f"-Dingestctl.sandbox={data_dir}",
         "-cp", state["classpath"], CONNECT_MAIN, str(props)],
        data_dir, log,
    )
    return {"pid": pid, "port": port, "url": url, "log": str(log), "log_offset": log_offset,
            "probe": f"{url}/connectors"}


def start_components(data_dir: Path, timeout: float, progress, *, with_registry: bool,
                      registry_port: int | None, with_connect: bool,
                      connect_port: int | None) -> dict[str, float]:
    """Launch the requested components that do not run yet, side by side, and wait until each
    answers over HTTP. Returns how long each took."""
    state = read_state(data_dir)
    launched: dict[str, tuple[dict, float]] = {}
    try:
        for name, wanted, asked_port, launch in (
            ("registry", with_registry, registry_port, _launch_registry),
            ("connect", with_connect, connect_port, _launch_connect),
        ):
            if not wanted or running_component(state, name, data_dir):
                continue
            info = launch(data_dir, state, asked_port, progress)
            launched[name] = (info, time.monotonic())
            state[name] = info
            write_state(data_dir, state)
        took = {}
        for name, (info, began) in launched.items():
            wait_http(info, data_dir, COMPONENTS[name], began + timeout)
            took[name] = time.monotonic() - began
        return took
    except BaseException:
        for info, _ in launched.values():
            terminate(info["pid"], str(data_dir))
        raise

