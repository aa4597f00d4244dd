"""A local single-node Apache Kafka (KRaft, combined broker + controller) for trying the tool
and for its tests, run from the broker's jars resolved from Maven Central. No Docker.

Each sandbox is known by its data dir, which holds the broker's storage, its log, its
configuration and a state file (sandbox.json) naming the processes `start` began, so that
`stop` ends exactly those and a second `start` on the same dir restarts it with its data.

On request it also runs, beside the broker, an Apicurio Registry (Confluent-compatible schema
registry API, in-memory storage) and a one-worker Kafka Connect cluster in distributed mode
(its connectors and offsets live in the broker, so they survive a restart). Every process
carries -Dingestctl.sandbox=<data dir> on its command line: that, with the pid in the state
file, is how status and stop recognise it.
"""

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ClusterError, IngestError, UsageError

DEFAULT_KAFKA_VERSION = "4.3.1"
DEFAULT_PORT = 9092
STATE_FILE = "sandbox.json"
BROKER_MAIN = "kafka.Kafka"
CONNECT_MAIN = "org.apache.kafka.connect.cli.ConnectDistributed"
DEFAULT_CONNECT_PORT = 8083
DEFAULT_REGISTRY_VERSION = "3.3.3"
DEFAULT_REGISTRY_PORT = 8081
CCOMPAT_PATH = "/apis/ccompat/v7"
COMPONENTS = {"registry": "the Apicurio Registry", "connect": "the Kafka Connect worker"}


class SandboxError(IngestError):
    """The sandbox could not be set up or started (exit 5: no cluster to talk to)."""

    exit_code = ClusterError.exit_code


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ingestctl"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ingestctl" / "sandbox"


@dataclass
class Status:
    running: bool
    data_dir: str
    bootstrap: str | None = None
    pid: int | None = None
    port: int | None = None
    log: str | None = None
    kafka_version: str | None = None
    cluster_id: str | None = None
    connect_url: str | None = None
    connect_log: str | None = None
    registry_url: str | None = None
    registry_log: str | None = None
    started_in_seconds: float | None = None
    already_running: bool = False
    # component -> seconds from its launch until it answered, for those this start began
    started: dict[str, float] = field(default_factory=dict)
    # listeners and files of `start --security` (sandbox_security.describe); no secret
    security: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = {
            "running": self.running, "bootstrap": self.bootstrap, "pid": self.pid,
            "port": self.port, "data_dir": self.data_dir, "log": self.log,
            "kafka_version": self.kafka_version, "cluster_id": self.cluster_id,
        }
        if self.connect_url:
            out["connect_url"] = self.connect_url
            out["connect_log"] = self.connect_log
        if self.registry_url:
            out["registry_url"] = self.registry_url
            out["registry_log"] = self.registry_log
        if self.started_in_seconds is not None:
            out["started_in_seconds"] = round(self.started_in_seconds, 2)
        if self.started:
            out["components_started_in_seconds"] = {
                name: round(seconds, 2) for name, seconds in self.started.items()
            }
        out.update(self.security)
        if self.already_running:
            out["already_running"] = True
        return out


# --- processes -------------------------------------------------------------------------

def _alive(pid: int | None, marker: str) -> bool:
    """True when pid is a live (not zombie) process whose command line contains marker."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X") and marker in cmdline


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _terminate(pid: int, marker: str, grace: float = 30.0) -> None:
    if not _alive(pid, marker):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pid)
        if not _alive(pid, marker):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(50):
        _reap(pid)
        if not _alive(pid, marker):
            return
        time.sleep(0.1)


_LOWEST_PICKED_PORT = 20000


def _ephemeral_range_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port free on 127.0.0.1 now, below the kernel's ephemeral range when it can be: a
    JVM binds its port seconds after it was picked, and in between any outgoing connection
    may take an ephemeral port."""
    below = _ephemeral_range_start()
    picker = random.SystemRandom()
    for _ in range(100 if below > _LOWEST_PICKED_PORT else 0):
        port = picker.randrange(_LOWEST_PICKED_PORT, below)
        if _port_bindable(port):
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _port_bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# --- java and the jars -------------------------------------------------------------------

def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


def find_java(min_major: int, purpose: str) -> str:
    """A java executable of at least min_major: JAVA_HOME, PATH, then the system JVM dir."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    if shutil.which("java"):
        candidates.append(shutil.which("java"))
    candidates += sorted(str(p) for p in Path("/usr/lib/jvm").glob("*/bin/java"))
    for java in candidates:
        major = _java_major(java)
        if major and major >= min_major:
            return java
    raise SandboxError(
        f"{purpose} needs Java {min_major} or newer and none was found; install it "
        f"(e.g. apt-get install openjdk-{max(min_major, 17)}-jre-headless) or set JAVA_HOME."
    )


def _kafka_pom(version: str) -> str:
    deps = [("org.apache.kafka", "kafka_2.13", version),
            ("org.apache.kafka", "kafka-tools", version),
            ("org.apache.kafka", "connect-file", version),
            ("org.apache.logging.log4j", "log4j-slf4j-impl", "2.25.4")]
    body = "".join(
        f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>ingestctl.sandbox</groupId><artifactId>kafka-jars</artifactId>"
        f"<version>1</version><dependencies>{body}</dependencies></project>"
    )


def _find_mvn(purpose: str, alternative: str = "") -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise SandboxError(
            f"{purpose} needs Maven (mvn) and it is not installed; install it "
            f"(apt-get install maven){alternative}."
        )
    return mvn


def resolve_kafka_jars(version: str, progress=lambda msg: None) -> Path:
    """The broker's runtime jars (and Kafka Connect's), resolved once per version with mvn."""
    libs = cache_root() / f"kafka-{version}" / "libs"
    if (libs / ".complete").exists():
        return libs
    mvn = _find_mvn("resolving the Kafka jars",
                    " or pass --kafka-home pointing at an unpacked Apache Kafka")
    progress(f"resolving Apache Kafka {version} jars from Maven Central (once)…")
    libs.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=libs.parent) as tmp:
        Path(tmp, "pom.xml").write_text(_kafka_pom(version))
        out_dir = Path(tmp) / "libs"
        result = subprocess.run(
            [mvn, "-q", "-B", "dependency:copy-dependencies", "-DincludeScope=runtime",
             f"-DoutputDirectory={out_dir}"],
            cwd=tmp, capture_output=True, text=True,
        )
        if result.returncode != 0 or not any(out_dir.glob("kafka_2.13-*.jar")):
            tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
            raise SandboxError(
                f"mvn could not resolve Apache Kafka {version} ({' / '.join(tail)[:300]}); "
                "check the version and that Maven Central is reachable."
            )
        (out_dir / ".complete").write_text(version)
        if libs.exists():
            shutil.rmtree(libs)
        out_dir.rename(libs)
    return libs


def _classpath(kafka_home: str | None, version: str, progress) -> str:
    if kafka_home:
        libs = Path(kafka_home).expanduser() / "libs"
        if not any(libs.glob("kafka_*.jar")):
            raise UsageError(
                f"--kafka-home {kafka_home} is not an unpacked Apache Kafka distribution "
                "(no libs/kafka_*.jar); unpack one or omit --kafka-home."
            )
    else:
        libs = resolve_kafka_jars(version, progress)
    return str(libs / "*")


def registry_artifact(version: str) -> str:
    return f"io.apicurio:apicurio-registry-app:{version}:tar.gz:all"


def resolve_registry_app(version: str, progress=lambda msg: None) -> Path:
    """The unpacked Apicurio Registry app (quarkus-run.jar and its libs), fetched once with mvn.

    Maven Central serves the prebuilt app only as a tar.gz with classifier `all`."""
    import tarfile

    home = cache_root() / f"apicurio-registry-{version}"
    if (home / ".complete").exists():
        return home
    mvn = _find_mvn("fetching the Apicurio Registry")
    progress(f"fetching Apicurio Registry {version} (about 150 MB) from Maven Central (once)…")
    home.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home.parent) as tmp:
        result = subprocess.run(
            [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={registry_artifact(version)}",
             f"-DoutputDirectory={tmp}"],
            cwd=tmp, capture_output=True, text=True,
        )
        archives = list(Path(tmp).glob("*.tar.gz"))
        if result.returncode != 0 or not archives:
            tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
            raise SandboxError(
                f"mvn could not fetch {registry_artifact(version)} ({' / '.join(tail)[:300]}); "
                "check the version and that Maven Central is reachable."
            )
        app = Path(tmp) / "app"
        with tarfile.open(archives[0]) as archive:
            archive.extractall(app, filter="data")
        if not (app / "quarkus-run.jar").is_file():
            raise SandboxError(
                f"{archives[0].name} holds no quarkus-run.jar; it is not the Apicurio Registry "
                "app this sandbox knows how to run."
            )
        (app / ".complete").write_text(version)
        if home.exists():
            shutil.rmtree(home)
        app.rename(home)
    return home


# --- state ---------------------------------------------------------------------------------

def _state_path(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


def read_state(data_dir: Path) -> dict:
    try:
        return json.loads(_state_path(data_dir).read_text())
    except (OSError, ValueError):
        return {}


def _write_state(data_dir: Path, state: dict) -> None:
    tmp = _state_path(data_dir).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, _state_path(data_dir))


def status(data_dir: Path | None = None) -> Status:
    data_dir = Path(data_dir or default_data_dir()).expanduser().resolve()
    state = read_state(data_dir)
    running = _alive(state.get("pid"), str(data_dir))
    result = Status(
        running=running, data_dir=str(data_dir),
        bootstrap=f"127.0.0.1:{state['port']}" if state.get("port") else None,
        pid=state.get("pid") if running else None, port=state.get("port"),
        log=state.get("log"), kafka_version=state.get("kafka_version"),
        cluster_id=state.get("cluster_id"),
    )
    registry = _running_component(state, "registry", data_dir)
    if registry:
        result.registry_url, result.registry_log = registry["url"], registry["log"]
    connect = _running_component(state, "connect", data_dir)
    if connect:
        result.connect_url, result.connect_log = connect["url"], connect["log"]
    if state.get("security"):
        from . import sandbox_security

        result.security = sandbox_security.describe(state["security"])
    return result


def _running_component(state: dict, name: str, data_dir: Path) -> dict | None:
    info = state.get(name) or {}
    return info if _alive(info.get("pid"), str(data_dir)) else None


# --- start / stop --------------------------------------------------------------------------

_LOG4J2 = """\
status = error
appender.file.type = Console
appender.file.name = OUT
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""


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
    from . import kafka
    from .config import Settings

    deadline = time.monotonic() + timeout
    host, port = bootstrap.rsplit(":", 1)
    while time.monotonic() < deadline:
        if not _alive(proc_pid, marker):
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
            if not _alive(proc_pid, marker):
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
        running = _running_component(state, name, data_dir)
        if wanted and running and asked_port and running["port"] != asked_port:
            raise UsageError(
                f"{COMPONENTS[name]} of the sandbox in {data_dir} is already running on port "
                f"{running['port']}, not {asked_port}; stop the sandbox first or use another "
                "--data-dir."
            )
    if current.running:
        from . import sandbox_security

        sandbox_security.refuse_change(data_dir, bool(state.get("security")), security)
    else:
        _start_broker(data_dir, port, kafka_version, kafka_home, timeout, progress, security)
    started = _start_components(
        data_dir, timeout, progress,
        registry_port=registry_port if with_registry else None, with_registry=with_registry,
        connect_port=connect_port if with_connect else None, with_connect=with_connect,
    )
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
    classpath = _classpath(kafka_home or os.environ.get("KAFKA_HOME"), kafka_version, progress)

    port = port or state.get("port") or (DEFAULT_PORT if _port_bindable(DEFAULT_PORT)
                                         else free_port())
    if not _port_bindable(port):
        raise UsageError(f"port {port} on 127.0.0.1 is in use; pass another --port.")
    controller_port = state.get("controller_port") or free_port()
    if not _port_bindable(controller_port):
        raise SandboxError(
            f"the sandbox's controller port {controller_port} (fixed when {data_dir} was "
            "formatted) is in use; free it, or use a new --data-dir."
        )
    props = data_dir / "server.properties"
    properties = _server_properties(data_dir, port, controller_port)
    if security or state.get("security"):  # once secured, restarts keep the listeners
        from . import sandbox_security

        progress("preparing the SASL and TLS listeners…")
        state["security"] = sandbox_security.prepare(data_dir, state.get("security"), free_port)
        properties = sandbox_security.server_properties(properties, state["security"])
    props.write_text(properties)
    (data_dir / "log4j2.properties").write_text(_LOG4J2)
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
    pid = _launch(
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
    _write_state(data_dir, state)
    bootstrap = f"127.0.0.1:{port}"
    try:
        cluster = _wait_ready(bootstrap, pid, str(data_dir), log, timeout)
    except BaseException:
        _terminate(pid, str(data_dir))
        raise
    state["cluster_id"] = cluster
    _write_state(data_dir, state)
    if state.get("security"):
        sandbox_security.after_start(bootstrap, state["security"], timeout)


def _log_size(log: Path) -> int:
    try:
        return log.stat().st_size
    except OSError:
        return 0


def _startup_error(log: Path, offset: int) -> str | None:
    """The last error line a process logged since its launch (the log's length then)."""
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    errors = [line.split(" ERROR ", 1)[-1].strip() for line in text.splitlines()
              if " ERROR " in line or line.startswith("Error")]
    return errors[-1][:300] if errors else None


def _launch(argv: list[str], data_dir: Path, log: Path) -> int:
    """A process in its own session (so stop can end its whole group), output to its log."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=data_dir)
    return proc.pid


# --- registry and Connect ------------------------------------------------------------------

_CONNECT_LOG4J2 = _LOG4J2 + """\
logger.connect.name = org.apache.kafka.connect
logger.connect.level = INFO
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
logger.jetty.name = org.eclipse.jetty
logger.jetty.level = WARN
"""


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
        if not _port_bindable(asked):
            raise UsageError(f"port {asked} on 127.0.0.1 is in use; pass another {option}.")
        return asked
    for candidate in (previous, default):
        if candidate and _port_bindable(candidate):
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
    log_offset = _log_size(log)
    pid = _launch(
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
    (data_dir / "connect-log4j2.properties").write_text(_CONNECT_LOG4J2)
    log = data_dir / "connect.log"
    url = f"http://127.0.0.1:{port}"
    progress(f"starting Kafka Connect {state.get('kafka_version', '')} on 127.0.0.1:{port}…")
    log_offset = _log_size(log)
    pid = _launch(
        [java, "-Xms128m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
         "-Djava.awt.headless=true",
         f"-Dlog4j2.configurationFile={data_dir / 'connect-log4j2.properties'}",
         f"-Dingestctl.sandbox={data_dir}",
         "-cp", state["classpath"], CONNECT_MAIN, str(props)],
        data_dir, log,
    )
    return {"pid": pid, "port": port, "url": url, "log": str(log), "log_offset": log_offset,
            "probe": f"{url}/connectors"}


def _start_components(data_dir: Path, timeout: float, progress, *, with_registry: bool,
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
            if not wanted or _running_component(state, name, data_dir):
                continue
            info = launch(data_dir, state, asked_port, progress)
            launched[name] = (info, time.monotonic())
            state[name] = info
            _write_state(data_dir, state)
        took = {}
        for name, (info, began) in launched.items():
            _wait_http(info, data_dir, COMPONENTS[name], began + timeout)
            took[name] = time.monotonic() - began
        return took
    except BaseException:
        for info, _ in launched.values():
            _terminate(info["pid"], str(data_dir))
        raise


def _wait_http(info: dict, data_dir: Path, what: str, deadline: float) -> None:
    """Wait until the component's probe URL answers 200."""
    import urllib.error
    import urllib.request  # here, not at the top: `ingestctl --help` stays fast

    # Loopback only: never through a proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    log = Path(info["log"])
    while True:
        if not _alive(info["pid"], str(data_dir)):
            error = _startup_error(log, info["log_offset"])
            raise SandboxError(f"{what} exited during start-up"
                               + (f" ({error})" if error else "") + f"; see its log {log}.")
        try:
            with opener.open(info["probe"], timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() >= deadline:
            raise SandboxError(
                f"{what} did not answer at {info['probe']} in time; see its log {log}.")
        time.sleep(0.2)


def stop(data_dir: Path | None = None) -> Status:
    """End every process this data dir's `start` began; the data stays for a restart."""
    data_dir = Path(data_dir or default_data_dir()).expanduser().resolve()
    state = read_state(data_dir)
    if not state:
        raise UsageError(f"no sandbox in {data_dir}; nothing to stop.")
    for component in ("registry", "connect"):
        info = state.get(component) or {}
        if info.get("pid"):
            _terminate(info["pid"], str(data_dir))
            info["pid"] = None
    if state.get("pid"):
        _terminate(state["pid"], str(data_dir))
        state["pid"] = None
    _write_state(data_dir, state)
    return status(data_dir)
