"""MirrorMaker 2 beside the sandbox's broker: `sandbox start --mirror-from BOOTSTRAP` mirrors
another cluster's topics (and its groups' offsets) into this sandbox, in dedicated mode
(org.apache.kafka.connect.mirror.MirrorMaker, from connect-mirror's jars resolved once from
Maven Central like the broker's).

The source cluster is called by its alias (default `source`), this sandbox `sandbox`. Topics
arrive as `ALIAS.topic` (DefaultReplicationPolicy) or under their own names
(`--mirror-identity`, IdentityReplicationPolicy). MM2 keeps its own state in this sandbox
(`mm2-offsets|configs|status.ALIAS.internal`, `ALIAS.checkpoints.internal`, and its offset
syncs, placed on the target so that the source cluster is only read), so a restarted mirror
resumes where it stopped. Checkpoints and offset syncs are emitted every second and the
groups' translated offsets are written into this sandbox's groups (MM2 only moves them
forward, and only while a group has no members here)."""

import time
from pathlib import Path

from ..errors import ClusterError, SandboxError, UsageError
from .jars import resolve_runtime_jars
from .processes import LOG4J2, alive, launch, log_size, startup_error, terminate
from .state import read_state, write_state

MIRROR_VERSION = "4.3.1"
MIRROR_MAIN = "org.apache.kafka.connect.mirror.MirrorMaker"
TARGET_ALIAS = "sandbox"
DEFAULT_ALIAS = "source"
IDENTITY_POLICY = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"
DEFAULT_POLICY = "org.apache.kafka.connect.mirror.DefaultReplicationPolicy"
DEFAULT_TOPICS = ".*"  # MM2's own topics.exclude keeps internal topics (__*, *.internal) out

_MIRROR_LOG4J2 = LOG4J2 + """\
logger.mirror.name = org.apache.kafka.connect.mirror
logger.mirror.level = INFO
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
"""


def resolve_mirror_jars(version: str = MIRROR_VERSION, progress=lambda msg: None) -> Path:
    """MirrorMaker 2's runtime jars (connect-mirror, connect-runtime and their dependencies),
    resolved once per version with mvn and cached."""
    return resolve_runtime_jars(
        f"connect-mirror-{version}",
        [("org.apache.kafka", "connect-mirror", version),
         ("org.apache.kafka", "connect-runtime", version),
         ("org.apache.logging.log4j", "log4j-slf4j-impl", "2.25.4")],
        "connect-mirror-*.jar", f"MirrorMaker 2 ({version})", progress)


def checkpoints_topic(alias: str) -> str:
    """Where MM2 writes its checkpoints on the target (the same under both policies)."""
    return f"{alias}.checkpoints.internal"


def offset_syncs_topic(alias: str) -> str:
    """On the target (offset-syncs.topic.location = target), named after the source."""
    return f"mm2-offset-syncs.{alias}.internal"


def target_topic(alias: str, policy: str, topic: str) -> str:
    return topic if policy == "identity" else f"{alias}.{topic}"


def mm2_properties(source: str, target: str, alias: str, topics: str, identity: bool) -> str:
    flow = f"{alias}->{TARGET_ALIAS}"
    lines = [
        f"clusters = {alias}, {TARGET_ALIAS}",
        f"{alias}.bootstrap.servers = {source}",
        f"{TARGET_ALIAS}.bootstrap.servers = {target}",
        f"{flow}.enabled = true",
        f"{TARGET_ALIAS}->{alias}.enabled = false",
        # Else dedicated mode still runs the reverse flow's heartbeats, writing `heartbeats`
        # and its own internal topics into the source cluster.
        f"{TARGET_ALIAS}->{alias}.emit.heartbeats.enabled = false",
        f"{flow}.topics = {topics}",
        f"{flow}.groups = .*",
        # The source is only read: MM2's offset syncs live on the target too.
        "offset-syncs.topic.location = target",
        "replication.factor = 1",
        "checkpoints.topic.replication.factor = 1",
        "heartbeats.topic.replication.factor = 1",
        "offset-syncs.topic.replication.factor = 1",
        "offset.storage.replication.factor = 1",
        "status.storage.replication.factor = 1",
        "config.storage.replication.factor = 1",
        "emit.checkpoints.interval.seconds = 1",
        "emit.heartbeats.interval.seconds = 1",
        "sync.group.offsets.enabled = true",
        "sync.group.offsets.interval.seconds = 1",
        "refresh.topics.interval.seconds = 2",
        "refresh.groups.interval.seconds = 2",
        "sync.topic.configs.interval.seconds = 5",
        # A sync for every record: offsets translate as finely as MM2 can.
        "offset.lag.max = 0",
        "tasks.max = 1",
        # The worker's own commits of mirrored positions (a restart resumes from them).
        "offset.flush.interval.ms = 1000",
    ]
    if identity:
        lines.append(f"replication.policy.class = {IDENTITY_POLICY}")
    return "\n".join(lines) + "\n"


def describe(info: dict | None, data_dir: Path) -> dict | None:
    """The status JSON's `mirror` object, or None when no mirror was asked for."""
    if not info:
        return None
    running = alive(info.get("pid"), str(data_dir))
    return {"from": info["from"], "alias": info["alias"], "policy": info["policy"],
            "topics": info.get("topics", DEFAULT_TOPICS),
            "pid": info.get("pid") if running else None, "log": info.get("log"),
            "running": running}


def check_request(state: dict, data_dir: Path, mirror_from: str | None, alias: str,
                  topics: str, identity: bool) -> None:
    """A running mirror is not silently re-pointed: another source, alias, policy or topic
    pattern needs a stop first."""
    info = state.get("mirror") or {}
    if not mirror_from or not alive(info.get("pid"), str(data_dir)):
        return
    asked = {"from": mirror_from, "alias": alias, "topics": topics,
             "policy": "identity" if identity else "default"}
    differs = [k for k, v in asked.items() if info.get(k) != v]
    if differs:
        raise UsageError(
            f"the sandbox in {data_dir} already mirrors {info.get('from')} (alias "
            f"{info.get('alias')}, policy {info.get('policy')}, topics {info.get('topics')}); "
            f"stop it first to change {', '.join(differs)}.")


def start_mirror(data_dir: Path, timeout: float, progress, *, mirror_from: str | None,
                 alias: str = DEFAULT_ALIAS, topics: str = DEFAULT_TOPICS,
                 identity: bool = False) -> float | None:
    """Launch MM2 unless it runs (or, on a restart, relaunch the mirror the sandbox had), and
    wait until it has created its internal topics on this sandbox. Returns the seconds it
    took, or None when nothing was launched."""
    state = read_state(data_dir)
    info = state.get("mirror") or {}
    if not mirror_from:
        if not info.get("from"):
            return None
        # A restart resumes the mirror this sandbox had.
        mirror_from, alias = info["from"], info["alias"]
        topics, identity = info.get("topics", DEFAULT_TOPICS), info["policy"] == "identity"
    if alive(info.get("pid"), str(data_dir)):
        return None
    if alias == TARGET_ALIAS or not alias.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"--mirror-alias {alias!r}: use letters, digits, - or _, and not "
                         f"{TARGET_ALIAS!r} (the sandbox's own alias).")
    _check_source(mirror_from, timeout)
    java = state.get("java")
    libs = resolve_mirror_jars(MIRROR_VERSION, progress)
    props = data_dir / "mm2.properties"
    props.write_text(mm2_properties(mirror_from, f"127.0.0.1:{state['port']}", alias, topics,
                                    identity))
    (data_dir / "mirror-log4j2.properties").write_text(_MIRROR_LOG4J2)
    log = data_dir / "mirror.log"
    log_offset = log_size(log)
    progress(f"starting MirrorMaker 2 {MIRROR_VERSION}: {mirror_from} ({alias}) -> this "
             "sandbox…")
    began = time.monotonic()
    pid = launch(
        [java, "-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
         "-Djava.awt.headless=true",
         f"-Dlog4j2.configurationFile={data_dir / 'mirror-log4j2.properties'}",
         f"-Dingestctl.sandbox={data_dir}",
         "-cp", str(libs / "*"), MIRROR_MAIN, str(props)],
        data_dir, log,
    )
    state["mirror"] = {"from": mirror_from, "alias": alias, "topics": topics,
                       "policy": "identity" if identity else "default", "pid": pid,
                       "log": str(log), "version": MIRROR_VERSION}
    write_state(data_dir, state)
    try:
        _wait_internal_topics(f"127.0.0.1:{state['port']}", alias, pid, data_dir, log,
                              log_offset, began + timeout)
    except BaseException:
        terminate(pid, str(data_dir))
        raise
    return time.monotonic() - began


def _check_source(bootstrap: str, timeout: float) -> None:
    from .. import kafka
    from ..config import Settings

    try:
        kafka.cluster_info(Settings(bootstrap_servers=bootstrap, timeout=min(timeout, 15.0)))
    except ClusterError as exc:
        raise SandboxError(f"--mirror-from {bootstrap} does not answer ({exc}); start that "
                           "cluster first.") from None


def _wait_internal_topics(bootstrap: str, alias: str, pid: int, data_dir: Path, log: Path,
                          log_offset: int, deadline: float) -> None:
    from .. import kafka
    from ..config import Settings
    from ..kafka import metadata

    wanted = {checkpoints_topic(alias), offset_syncs_topic(alias), f"mm2-offsets.{alias}.internal"}
    settings = Settings(bootstrap_servers=bootstrap, timeout=5.0)
    while True:
        if not alive(pid, str(data_dir)):
            error = startup_error(log, log_offset)
            raise SandboxError("MirrorMaker 2 exited during start-up"
                               + (f" ({error})" if error else "") + f"; see its log {log}.")
        try:
            present = set(metadata.list_topics(kafka.Admin(settings)))
        except ClusterError:
            present = set()
        if wanted <= present:
            return
        if time.monotonic() >= deadline:
            raise SandboxError(
                "MirrorMaker 2 did not create its topics ("
                + ", ".join(sorted(wanted - present)) + f") in time; see its log {log}.")
        time.sleep(0.5)


def stop_mirror(data_dir: Path, state: dict) -> None:
    info = state.get("mirror") or {}
    if info.get("pid"):
        terminate(info["pid"], str(data_dir))
        info["pid"] = None
