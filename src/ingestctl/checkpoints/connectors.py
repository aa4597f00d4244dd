"""The `connectors` section of a checkpoint: each Kafka Connect connector's type, class, state,
its tasks' states, a sink's consumer group and topics, and its offsets exactly as Connect
reported them (GET /connectors/NAME/offsets, KIP-875). Read from the REST API, validated when
a file is loaded, compared by `checkpoint diff`.

Offsets keep Connect's own shape so that a source connector's (whose partitions and offsets
are the connector's own JSON) fit as well as a sink's, whose entries are
{"partition": {"kafka_topic": T, "kafka_partition": P}, "offset": {"kafka_offset": N}} and are
checked field by field. A connector's config is not recorded (it may hold credentials), nor
are task traces (long Java stack traces that may quote config values).
"""

import json
from dataclasses import dataclass

from ..config import Settings
from ..errors import NotFoundError, RefusedError
from ..partitions import TP
from ..services.connect import Connect, is_sink, sink_group, sink_offsets, sink_topics

TYPES = ("sink", "source")


@dataclass(frozen=True)
class TaskState:
    id: int
    state: str  # RUNNING, PAUSED, FAILED, UNASSIGNED, RESTARTING
    worker_id: str | None = None


@dataclass(frozen=True)
class ConnectorState:
    type: str | None  # sink or source; None where the worker did not say
    connector_class: str | None
    state: str  # RUNNING, PAUSED, STOPPED, FAILED, ...
    tasks: tuple[TaskState, ...]
    group: str | None  # a sink's consumer group (connect-NAME unless overridden)
    topics: tuple[str, ...]  # a sink's `topics` setting (empty when it uses topics.regex)
    offsets: tuple[dict, ...]  # KIP-875 entries, as Connect reported them

    def sink_offsets(self) -> dict[TP, int]:
        return sink_offsets(list(self.offsets))

    def as_document(self) -> dict:
        return {
            "type": self.type,
            "class": self.connector_class,
            "state": self.state,
            "tasks": [{"id": t.id, "state": t.state, "worker_id": t.worker_id}
                      for t in self.tasks],
            "group": self.group,
            "topics": list(self.topics),
            "offsets": [dict(entry) for entry in self.offsets],
        }


# --- validation ----------------------------------------------------------------------------

def parse_connector(f, name, body) -> ConnectorState:
    """One entry of a loaded document's connectors section; `f` is the file's FieldReader,
    which names the file and the field on any problem (exit 7)."""
    where = f"connectors.{name}."
    if not isinstance(name, str) or not isinstance(body, dict):
        f.fail(f"connectors.{name}", "must be a connector name mapped to its state")
    kind = f.get(body, "type", where)
    if kind is not None and kind not in TYPES:
        f.fail(f"{where}type", f"({kind!r}) must be sink, source or null")
    tasks: dict[int, TaskState] = {}
    for i, entry in enumerate(f.items(body, "tasks", where)):
        at = f"{where}tasks[{i}]."
        if not isinstance(entry, dict):
            f.fail(f"{where}tasks[{i}]", "must be a mapping")
        task = f.count(entry, "id", at)
        if task in tasks:
            f.fail(f"{at}id", f"repeats task {task}")
        tasks[task] = TaskState(task, f.text(entry, "state", at),
                                f.text(entry, "worker_id", at, optional=True))
    group = f.text(body, "group", where, optional=True)
    if kind == "sink" and group is None:
        f.fail(f"{where}group", "must name the sink's consumer group")
    topics = f.items(body, "topics", where)
    if not all(isinstance(t, str) and t for t in topics):
        f.fail(f"{where}topics", "must hold topic names")
    seen: set = set()
    offsets = tuple(_offset_entry(f, f"{where}offsets[{i}]", entry, kind == "sink", seen)
                    for i, entry in enumerate(f.items(body, "offsets", where)))
    return ConnectorState(kind, f.text(body, "class", where, optional=True),
                          f.text(body, "state", where), tuple(tasks.values()), group,
                          tuple(topics), offsets)


def _offset_entry(f, at: str, entry, sink: bool, seen: set) -> dict:
    if not isinstance(entry, dict):
        f.fail(at, "must be a mapping")
    partition = f.mapping(entry, "partition", f"{at}.")
    offset = f.get(entry, "offset", f"{at}.")
    if sink:
        topic = f.text(partition, "kafka_topic", f"{at}.partition.")
        number = f.count(partition, "kafka_partition", f"{at}.partition.")
        if not isinstance(offset, dict):
            f.fail(f"{at}.offset", "must be a mapping")
        f.count(offset, "kafka_offset", f"{at}.offset.")
        key = f"{topic}[{number}]"
    else:
        if offset is not None and not isinstance(offset, dict):
            f.fail(f"{at}.offset", "must be a mapping or null")
        key = json.dumps(partition, sort_keys=True)
    if key in seen:
        f.fail(f"{at}.partition", f"repeats {key}")
    seen.add(key)
    return entry


# --- capture -------------------------------------------------------------------------------

def read_connectors(settings: Settings, names: list[str], cluster_id: str, strict: bool
                    ) -> dict[str, ConnectorState]:
    """Each named connector as Connect reports it now (one listing, then one offsets request
    per connector). Refused (exit 3) when the worker works against another Kafka cluster than
    `cluster_id`: its offsets would not be this checkpoint's. A connector Connect lacks is
    NotFoundError (exit 4) when strict, else left out."""
    if not names:
        return {}
    connect = Connect(settings)
    worker_cluster = connect.info().get("kafka_cluster_id")
    if worker_cluster and worker_cluster != cluster_id:
        raise RefusedError(
            f"Kafka Connect at {connect.url} works against Kafka cluster {worker_cluster}, but "
            f"{settings.bootstrap_servers} is cluster {cluster_id}; pass that cluster's brokers "
            "with -b so that the connectors' offsets and the checkpoint's agree."
        )
    overview = connect.overview()
    missing = [n for n in names if n not in overview]
    if missing and strict:
        raise NotFoundError(
            f"connector {', '.join(missing)} does not exist on Kafka Connect at {connect.url}; "
            "`ingestctl connectors list` shows the ones it has."
        )
    out = {}
    for name in names:
        if name not in overview:
            continue
        status, config = overview[name]
        sink = is_sink(status, config)
        try:
            offsets = connect.offsets(name)
        except NotFoundError:
            if strict:
                raise
            continue  # deleted since the listing (only in a live capture)
        out[name] = ConnectorState(
            type=status.type if status.type in TYPES else ("sink" if sink else "source"),
            connector_class=config.get("connector.class"),
            state=status.state,
            tasks=tuple(TaskState(t.id, t.state, t.worker_id) for t in status.tasks),
            group=sink_group(name, config) if sink else None,
            topics=tuple(sink_topics(config)) if sink else (),
            offsets=tuple(offsets),
        )
    return out


# --- diff ----------------------------------------------------------------------------------

def diff_connectors(a: dict[str, ConnectorState], b: dict[str, ConnectorState]) -> list[dict]:
    """Per connector on either side: state and tasks before and after (null where absent),
    per sink partition the offsets and records consumed between them, and a source's offsets
    that changed."""
    out = []
    for name in sorted(a.keys() | b.keys()):
        x, y = a.get(name), b.get(name)
        before, after = (x.sink_offsets() if x else {}), (y.sink_offsets() if y else {})
        partitions = [
            {"topic": tp[0], "partition": tp[1], "from_offset": before.get(tp),
             "to_offset": after.get(tp),
             "consumed": after[tp] - before[tp] if tp in before and tp in after else None}
            for tp in sorted(before.keys() | after.keys())]
        x_source, y_source = _source_offsets(x), _source_offsets(y)
        source_changes = [
            {"partition": json.loads(key), "from": x_source.get(key), "to": y_source.get(key)}
            for key in sorted(x_source.keys() | y_source.keys())
            if x_source.get(key) != y_source.get(key)]
        out.append({
            "connector": name,
            "from_state": x.state if x else None,
            "to_state": y.state if y else None,
            "from_tasks": _tasks(x),
            "to_tasks": _tasks(y),
            "partitions": partitions,
            "source_offsets_changed": source_changes,
        })
    return out


def _tasks(c: ConnectorState | None) -> list[dict] | None:
    return [{"id": t.id, "state": t.state} for t in c.tasks] if c else None


def _source_offsets(c: ConnectorState | None) -> dict[str, dict | None]:
    """A connector's offsets that are not Kafka partitions, keyed by their partition's JSON."""
    if c is None:
        return {}
    return {json.dumps(e["partition"], sort_keys=True): e.get("offset") for e in c.offsets
            if "kafka_topic" not in e["partition"]}
