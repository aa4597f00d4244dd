"""The sandbox's broker: storage formatted once, started, awaited until it answers, stopped
with every component its start began."""

import os
import subprocess
import time
from pathlib import Path

from ..errors import ClusterError, SandboxError, UsageError
from .components import COMPONENTS, running_component, start_components
from .jars import find_java, kafka_classpath
from .processes import LOG4J2, alive, free_port, launch, port_bindable, port_in_use, terminate
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
        from . import security as sandbox_security

        result.security = sandbox_security.describe(state["security"])
    from . import mirror

    result.mirror = mirror.describe(state.get("mirror"), data_dir)
    return result




def _server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}",
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
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "log.retention.check.interval.ms=10000",
        "",
    ])


def _wait_ready(bootstrap: str, proc_pid: int, marker: str, log: Path, timeout: float) -> str:
    """Wait until the broker answers metadata requests; return its cluster id."""
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
            return kafka.cluster_info(Settings(bootstrap_servers=bootstrap,
                                               timeout=min(5.0, remaining)))["cluster_id"]
        except ClusterError:
            if not alive(proc_pid, marker):
                raise SandboxError(
                    f"the broker exited during start-up; see its log {log}."
                ) from None
            time.sleep(0.3)


def start(
    data_dir: Path | None = None,
    port: int | None = None,
    kafka_version: str = DEFAULT_KAFKA_VERSION,
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
    run yet; return once every one of them answers."""
    began = time.monotonic()
    data_dir = Path(data_dir or default_data_dir()).expanduser().resolve()
    current = status(data_dir)
    if current.running and port and current.port != port:
        raise UsageError(
            f"the sandbox in {data_dir} is already running on port {current.port}, not "
            f"{port}; stop it first or use another --data-dir."
        )
    state = read_state(data_dir)
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
        from . import security as sandbox_security

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


def _start_broker(data_dir: Path, port: int | None, kafka_version: str, kafka_home: str | None,
                  timeout: float, progress, security: bool = False) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    state = read_state(data_dir)
    java = find_java(17, "the Kafka broker")
    classpath = kafka_classpath(kafka_home or os.environ.get("KAFKA_HOME"), kafka_version, progress)

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
    properties = _server_properties(data_dir, port, controller_port)
    if security or state.get("security"):  # once secured, restarts keep the listeners
        from . import security as sandbox_security

        progress("preparing the SASL and TLS listeners…")
        state["security"] = sandbox_security.prepare(data_dir, state.get("security"), free_port)
        properties = sandbox_security.server_properties(properties, state["security"])
    props.write_text(properties)
    (data_dir / "log4j2.properties").write_text(LOG4J2)
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
             f"-Dlog4j2.configurationFile={data_dir / 'log4j2.properties'}",
             "kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_uuid,
             "-c", str(props)],
            capture_output=True, text=True,
        )
        if uuid_out.returncode != 0 or fmt.returncode != 0:
            detail = (uuid_out.stderr + fmt.stderr + fmt.stdout).strip().splitlines()[-1:]
            raise SandboxError(f"formatting the broker's storage failed: {' '.join(detail)}")

    progress(f"starting Apache Kafka {kafka_version} on 127.0.0.1:{port}…")
    pid = launch(
        [java, "-Xms256m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
         "-Djava.awt.headless=true",
         f"-Dlog4j2.configurationFile={data_dir / 'log4j2.properties'}",
         f"-Dingestctl.sandbox={data_dir}",
         "-cp", classpath, BROKER_MAIN, str(props)],
        data_dir, log,
    )
    state.update({"pid": pid, "port": port, "controller_port": controller_port,
                  "log": str(log), "kafka_version": kafka_version, "java": java,
                  "classpath": classpath})
    write_state(data_dir, state)
    bootstrap = f"127.0.0.1:{port}"
    try:
        cluster = _wait_ready(bootstrap, pid, str(data_dir), log, timeout)
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

