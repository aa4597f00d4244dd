"""The sandbox's broker: storage formatted once, started, awaited until it answers, stopped
with every component its start began."""

import os
import subprocess
import time
from pathlib import Path

from ..errors import ClusterError, SandboxError, UsageError
from . import security as sandbox_security
from .components import COMPONENTS, running_component, start_components
from .jars import (
    check_connect_version,
    check_kafka_version,
    find_java,
    kafka_classpath,
    kafka_major,
    uses_log4j2,
)
from .processes import (
    alive,
    free_port,
    launch,
    logging_flag,
    port_bindable,
    port_in_use,
    terminate,
)
from .state import Status, default_data_dir, read_state, write_state

DEFAULT_KAFKA_VERSION = "4.3.1"


DEFAULT_PORT = 9092


BROKER_MAIN = "kafka.Kafka"




def status(data_dir: Path | None = None) -> Status:
    data_dir = Path(data_dir or default_data_dir()).expanduser().resolve()
    state = read_state(data_dir)
    running = alive(state.get("pid"), str(data_dir))
    result = Status(
        running=running, data_dir=str(data_dir),
        bootstrap=f"127.0.0.1:{state['port']}" if state.get("port") else None,
        pid=state.get("pid") if running else None, port=state.get("port"),
        log=state.get("log"), kafka_version=state.get("kafka_version"),
        cluster_id=state.get("cluster_id"),
    )
    registry = running_component(state, "registry", data_dir)
    if registry:
        result.registry_url, result.registry_log = registry["url"], registry["log"]
    connect = running_component(state, "connect", data_dir)
    if connect:
        result.connect_url, result.connect_log = connect["url"], connect["log"]
    if state.get("security"):
        result.security = sandbox_security.describe(state["security"])
    from . import mirror

    result.mirror = mirror.describe(state.get("mirror"), data_dir)
    return result




def _server_properties(data_dir: Path, port: int, controller_port: int,
                       kafka_version: str = DEFAULT_KAFKA_VERSION) -> str:
    kafka4 = kafka_major(kafka_version) >= 4
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        # Kafka 4 formats a dynamic quorum (--standalone); Kafka 3 needs the static voters.
        f"controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}" if kafka4
        else f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data_dir / 'kafka-logs'}",
        "num.partitions=1",
        "auto.create.topics.enable=false",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=5",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=5",
        # Share groups (KIP-932) are Kafka 4's; Kafka 3 would only warn of unknown configs.
        *(["share.coordinator.state.topic.replication.factor=1",
           "share.coordinator.state.topic.min.isr=1"] if kafka4 else []),
        "group.initial.rebalance.delay.ms=0",
        "log.retention.check.interval.ms=10000",
        "",
    ])


def _formatted_cluster_id(data_dir: Path) -> str | None:
    try:
        text = (data_dir / "kafka-logs" / "meta.properties").read_text()
    except OSError:
        return None
    ids = [line.split("=", 1)[1].strip() for line in text.splitlines()
           if line.startswith("cluster.id=")]
    return ids[0] if ids else None


def _wait_ready(bootstrap: str, proc_pid: int, marker: str, log: Path, timeout: float,
                expected_cluster: str | None = None) -> str:
    """Wait until the broker answers metadata requests; return its cluster id. With
    expected_cluster, only that cluster's answer counts: another broker that took the port
    first (a sandbox started at the same moment) is not this one."""
    from .. import kafka
    from ..config import Settings

    deadline = time.monotonic() + timeout
    host, port = bootstrap.rsplit(":", 1)
    while time.monotonic() < deadline:
        if not alive(proc_pid, marker):
            raise SandboxError(f"the broker exited during start-up; see its log {log}.")
        if port_in_use(int(port)):
            break
        time.sleep(0.2)
    else:
        raise SandboxError(f"the broker did not open {bootstrap} within {timeout:g} s; see {log}.")
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SandboxError(f"the broker at {bootstrap} did not answer in time; see {log}.")
        try:
            cluster = kafka.cluster_info(Settings(bootstrap_servers=bootstrap,
                                                  timeout=min(5.0, remaining)))["cluster_id"]
        except ClusterError:
            if not alive(proc_pid, marker):
                raise SandboxError(
                    f"the broker exited during start-up; see its log {log}."
                ) from None
            time.sleep(0.3)
            continue
        if expected_cluster is None or cluster == expected_cluster:
            return cluster
        if not alive(proc_pid, marker):
            raise SandboxError(
                f"the broker exited during start-up, and another cluster ({cluster}) answers "
                f"at {bootstrap}; see its log {log}."
            )
        time.sleep(0.3)


def start(
    data_dir: Path | None = None,
    port: int | None = None,
    kafka_version: str | None = None,
    kafka_home: str | None = None,
    timeout: float = 90.0,
    progress=lambda msg: None,
    *,
    with_registry: bool = False,
    registry_port: int | None = None,
    with_connect: bool = False,
    connect_port: int | None = None,
    security: bool = False,
    mirror_from: str | None = None,
    mirror_alias: str = "source",
    mirror_topics: str = ".*",
    mirror_identity: bool = False,
) -> Status:
    """Start the sandbox's broker unless it runs, then each requested component that does not
    run yet; return once every one of them answers. kafka_version: one of
    SUPPORTED_KAFKA_VERSIONS; by default the one the data dir was formatted with, else
    DEFAULT_KAFKA_VERSION."""
    began = time.monotonic()
    data_dir = Path(data_dir or default_data_dir()).expanduser().resolve()
    if kafka_version is not None and not (kafka_home or os.environ.get("KAFKA_HOME")):
        check_kafka_version(kafka_version)
    current = status(data_dir)
    if current.running and port and current.port != port:
        raise UsageError(
            f"the sandbox in {data_dir} is already running on port {current.port}, not "
            f"{port}; stop it first or use another --data-dir."
        )
    if current.running and kafka_version and current.kafka_version not in (None, kafka_version):
        raise UsageError(
            f"the sandbox in {data_dir} is already running Apache Kafka "
            f"{current.kafka_version}, not {kafka_version}; stop it and use another "
            "--data-dir for another version."
        )
    state = read_state(data_dir)
    if with_connect and not (kafka_home or os.environ.get("KAFKA_HOME")):
        check_connect_version(current.kafka_version if current.running else _broker_version(
            data_dir, state, kafka_version, None))
    for name, wanted, asked_port in (("registry", with_registry, registry_port),
                                     ("connect", with_connect, connect_port)):
        running = running_component(state, name, data_dir)
        if wanted and running and asked_port and running["port"] != asked_port:
            raise UsageError(
                f"{COMPONENTS[name]} of the sandbox in {data_dir} is already running on port "
                f"{running['port']}, not {asked_port}; stop the sandbox first or use another "
                "--data-dir."
            )
    from . import mirror

    mirror.check_request(state, data_dir, mirror_from, mirror_alias, mirror_topics,
                         mirror_identity)
    if current.running:
        sandbox_security.refuse_change(data_dir, bool(state.get("security")), security)
    else:
        _start_broker(data_dir, port, kafka_version, kafka_home, timeout, progress, security)
    started = start_components(
        data_dir, timeout, progress,
        registry_port=registry_port if with_registry else None, with_registry=with_registry,
        connect_port=connect_port if with_connect else None, with_connect=with_connect,
    )
    mirror_took = mirror.start_mirror(data_dir, timeout, progress, mirror_from=mirror_from,
                                      alias=mirror_alias, topics=mirror_topics,
                                      identity=mirror_identity)
    if mirror_took is not None:
        started["mirror"] = mirror_took
    result = status(data_dir)
    result.already_running = current.running
    result.started = started
    result.started_in_seconds = time.monotonic() - began
    return result


def _broker_version(data_dir: Path, state: dict, asked: str | None,
                    kafka_home: str | None) -> str:
    """The version to run: the asked one, else the data dir's, else the default; a formatted
    data dir runs only the version that formatted it."""
    if kafka_home:
        jars = sorted((Path(kafka_home).expanduser() / "libs").glob("kafka_2.*-*.jar"))
        found = [j.stem.split("-", 1)[1] for j in jars if j.stem.count("-") == 1]
        return found[0] if found else (asked or DEFAULT_KAFKA_VERSION)
    formatted = state.get("kafka_version") if (
        data_dir / "kafka-logs" / "meta.properties").exists() else None
    if asked and formatted and asked != formatted:
        raise UsageError(
            f"the sandbox in {data_dir} holds the data of Apache Kafka {formatted}; restart it "
            f"with --kafka-version {formatted} (or without the option), or use another "
            "--data-dir."
        )
    return asked or formatted or DEFAULT_KAFKA_VERSION


def _start_broker(data_dir: Path, port: int | None, kafka_version: str | None,
                  kafka_home: str | None, timeout: float, progress,
                  security: bool = False) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    state = read_state(data_dir)
    java = find_java(17, "the Kafka broker")
    kafka_home = kafka_home or os.environ.get("KAFKA_HOME")
    kafka_version = _broker_version(data_dir, state, kafka_version, kafka_home)
    classpath = kafka_classpath(kafka_home, kafka_version, progress)

    port = port or state.get("port") or (DEFAULT_PORT if port_bindable(DEFAULT_PORT)
                                         else free_port())
    if not port_bindable(port):
        raise UsageError(f"port {port} on 127.0.0.1 is in use; pass another --port.")
    controller_port = state.get("controller_port") or free_port()
    if not port_bindable(controller_port):
        raise SandboxError(
            f"the sandbox's controller port {controller_port} (fixed when {data_dir} was "
            "formatted) is in use; free it, or use a new --data-dir."
        )
    props = data_dir / "server.properties"
    properties = _server_properties(data_dir, port, controller_port, kafka_version)
    if security or state.get("security"):  # once secured, restarts keep the listeners
        progress("preparing the SASL and TLS listeners…")
        state["security"] = sandbox_security.prepare(data_dir, state.get("security"), free_port)
        properties = sandbox_security.server_properties(properties, state["security"])
    props.write_text(properties)
    log_flag = logging_flag(data_dir, "", uses_log4j2(kafka_version))
    log = data_dir / "broker.log"

    if not (data_dir / "kafka-logs" / "meta.properties").exists():
        progress("formatting storage…")
        uuid_out = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "random-uuid"],
            capture_output=True, text=True,
        )
        cluster_uuid = uuid_out.stdout.strip().splitlines()[-1] if uuid_out.stdout.strip() else ""
        fmt = subprocess.run(
            [java, "-cp", classpath,
             log_flag, "kafka.tools.StorageTool", "format",
             *(["--standalone"] if kafka_major(kafka_version) >= 4 else []),
             "-t", cluster_uuid, "-c", str(props)],
            capture_output=True, text=True,
        )
        if uuid_out.returncode != 0 or fmt.returncode != 0:
            detail = (uuid_out.stderr + fmt.stderr + fmt.stdout).strip().splitlines()[-1:]
            raise SandboxError(f"formatting the broker's storage failed: {' '.join(detail)}")

    progress(f"starting Apache Kafka {kafka_version} on 127.0.0.1:{port}…")
    pid = launch(
        [java, "-Xms256m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
         "-Djava.awt.headless=true", log_flag, f"-Dingestctl.sandbox={data_dir}",
         "-cp", classpath, BROKER_MAIN, str(props)],
        data_dir, log,
    )
    state.update({"pid": pid, "port": port, "controller_port": controller_port,
                  "log": str(log), "kafka_version": kafka_version, "java": java,
                  "classpath": classpath})
    write_state(data_dir, state)
    bootstrap = f"127.0.0.1:{port}"
    try:
        cluster = _wait_ready(bootstrap, pid, str(data_dir), log, timeout,
                              _formatted_cluster_id(data_dir))
    except BaseException:
        terminate(pid, str(data_dir))
        raise
    state["cluster_id"] = cluster
    write_state(data_dir, state)
    if state.get("security"):
        sandbox_security.after_start(bootstrap, state["security"], timeout)


def stop(data_dir: Path | None = None) -> Status:
    """End every process this data dir's `start` began; the data stays for a restart."""
    data_dir = Path(data_dir or default_data_dir()).expanduser().resolve()
    state = read_state(data_dir)
    if not state:
        raise UsageError(f"no sandbox in {data_dir}; nothing to stop.")
    from . import mirror

    mirror.stop_mirror(data_dir, state)
    for component in ("registry", "connect"):
        info = state.get(component) or {}
        if info.get("pid"):
            terminate(info["pid"], str(data_dir))
            info["pid"] = None
    if state.get("pid"):
        terminate(state["pid"], str(data_dir))
        state["pid"] = None
    write_state(data_dir, state)
    return status(data_dir)

