"""Capturing a checkpoint from the live cluster: watermarks, committed offsets and the records
around them, schema versions from the registry, and connector state, each in batched
requests."""

import logging
import time

from ..config import Settings
from ..errors import NotFoundError, UsageError
from ..partitions import TP
from ..services.connect import ConnectorStatus
from .connectors import read_connectors
from .model import Checkpoint, GroupOffset, GroupState, PartitionState, SchemaVersion, TopicState
from .store import check_wave

log = logging.getLogger("ingestctl.checkpoints")


def wire_schema_id(data: bytes | None) -> int | None:
    """The schema id of a Confluent wire-format payload: magic byte 0, 4-byte big-endian id."""
    if data is not None and len(data) >= 5 and data[0] == 0:
        return int.from_bytes(data[1:5], "big")
    return None


def capture(settings: Settings, wave: str, topics: list[str] = (), groups: list[str] = (),
            connectors: list[str] = (), note: str | None = None) -> Checkpoint:
    """Record the wave's topics, groups (a group's topics are included) and connectors (a
    sink's group and topics are included) as they stand, in batched requests. NotFoundError
    for a named topic, group or connector the cluster or Connect lacks."""
    check_wave(wave)
    if not topics and not groups and not connectors:
        raise UsageError("name at least one --topic, --group or --connector (or --plan).")
    return _capture(settings, wave, list(topics), list(groups), list(connectors), note,
                    strict=True)


def capture_like(settings: Settings, cp: Checkpoint) -> Checkpoint:
    """The live state of a checkpoint's topics, groups and (with a Connect URL) connectors,
    for `diff --live`: one that has gone is simply absent. Keys count as wire format where
    the checkpoint's registry said so, also when no registry is configured now."""
    connectors = list(cp.connectors) if settings.connect_url else []
    return _capture(settings, cp.wave, list(cp.topics), list(cp.groups), connectors,
                    None, strict=False, known_subjects=set(cp.schemas))


def snapshot(settings: Settings, wave: str, topics: list[str], groups: list[str],
             known_subjects: set[str] = frozenset()):
    """The live state of topics and groups as a capture reads it (one that does not exist is
    simply absent), with what the capture read to build it, for views that derive more
    (`wave status`: lag, its age, the replay window): (checkpoint, marks, around) where
    marks is (log-start, last stable offset) per partition and around holds, per (partition,
    offset) read, the records just below and at that offset (log-starts, ends and committed
    offsets within them)."""
    return _capture(settings, wave, list(topics), list(groups), [], None, strict=False,
                    known_subjects=known_subjects, detail=True)


def _capture(settings: Settings, wave: str, topic_names: list[str], group_ids: list[str],
             connector_names: list[str], note: str | None, strict: bool,
             known_subjects: set[str] = frozenset(), detail: bool = False):
    from .. import kafka
    from ..kafka import metadata
    from ..kafka.around import records_around

    admin = kafka.Admin(settings)
    cluster = kafka.cluster_id(admin)
    # Connectors before the groups and watermarks: a sink's offsets then lie within the ends.
    connectors = _connectors_section(settings, connector_names, cluster, strict)
    group_infos, committed = _read_groups(admin, group_ids, strict)
    sink_groups = sorted({c.group for c in connectors.values() if c.group} - set(group_ids))
    if sink_groups:
        infos, offsets = _read_groups(admin, sink_groups, strict=False)
        group_infos.update(infos)
        committed.update(offsets)

    known = metadata.list_topics(admin)
    missing = [t for t in topic_names if t not in known]
    if missing and strict:
        raise NotFoundError(
            f"topic {', '.join(missing)} does not exist on {settings.bootstrap_servers}; "
            "check the name with `ingestctl topics list`."
        )
    names = {t for t in topic_names if t in known}
    names |= {t for c in connectors.values() for t in c.topics if t in known}
    for group, offsets in committed.items():
        for topic in sorted({t for t, _ in offsets} - set(known)):
            log.warning("group %s has offsets for %s, which no longer exists; left out",
                        group, topic)
        names |= {t for t, _ in offsets if t in known}
    tps = [(t, p) for t in sorted(names) for p in sorted(known[t].partitions)]

    marks = metadata.watermarks(admin, tps)
    points: dict[TP, set[int]] = {}
    for tp, (log_start, end) in marks.items():
        if log_start < end:
            points.setdefault(tp, set()).update((log_start, end))
    for offsets in committed.values():
        for tp, offset in offsets.items():
            if tp in marks and marks[tp][0] <= offset <= marks[tp][1]:
                points.setdefault(tp, set()).add(offset)
    around = records_around(settings, points, marks) if points else {}

    registry, subjects = _registry_subjects(settings)
    topics_section = _topics_section(tps, marks, around,
                                     wire_keys={t for t in names
                                                if f"{t}-key" in subjects | known_subjects})
    cp = Checkpoint(
        wave=wave,
        created_at=time.time_ns() // 1_000_000,
        cluster_id=cluster,
        note=note,
        topics=topics_section,
        groups=_groups_section(group_infos, committed, marks, around),
        schemas=_schemas_section(registry, subjects, topics_section),
        connectors=connectors,
    )
    return (cp, marks, around) if detail else cp


def _read_groups(admin, group_ids: list[str], strict: bool):
    from ..kafka import groups as kafka_groups

    infos = kafka_groups.describe_groups(admin, group_ids)
    committed = kafka_groups.committed_offsets(admin, group_ids) if group_ids else {}
    unknown = [g for g in group_ids if infos[g].state == "Dead" and not committed.get(g)]
    if unknown and strict:
        raise NotFoundError(
            f"group {', '.join(unknown)} does not exist on {admin.settings.bootstrap_servers} "
            "(no members, no committed offsets); check the name with `ingestctl groups list`."
        )
    return infos, committed


def _topics_section(tps: list[TP], marks, around, wire_keys: set[str]) -> dict[str, TopicState]:
    """Per partition its offsets, first and last timestamps, and the schema ids of the last
    record's value, and of its key where the topic's keys are in the wire format (`wire_keys`:
    the registry holds `<topic>-key`; a plain binary key, such as a big-endian long below
    2^56, also starts with a zero byte)."""
    topics: dict[str, dict[int, PartitionState]] = {}
    for tp in tps:
        log_start, end = marks[tp]
        first = around.get((tp, log_start), (None, None))[1]
        last = around.get((tp, end), (None, None))[0]
        ids = []
        if last is not None:
            key_id = wire_schema_id(last.key) if tp[0] in wire_keys else None
            ids = sorted({i for i in (key_id, wire_schema_id(last.value)) if i is not None})
        topics.setdefault(tp[0], {})[tp[1]] = PartitionState(
            tp[1], log_start, end,
            first.timestamp if first and first.timestamp >= 0 else None,
            last.timestamp if last and last.timestamp >= 0 else None,
            tuple(ids),
        )
    return {t: TopicState(parts) for t, parts in topics.items()}


def _groups_section(infos, committed, marks, around) -> dict[str, GroupState]:
    out = {}
    for group, info in infos.items():
        offsets: dict[str, dict[int, GroupOffset]] = {}
        for tp, offset in sorted(committed.get(group, {}).items()):
            if tp not in marks:
                continue
            before, at = around.get((tp, offset), (None, None))
            offsets.setdefault(tp[0], {})[tp[1]] = GroupOffset(
                tp[1], offset,
                at.timestamp if at and at.timestamp >= 0 else None,
                before.timestamp if before and before.timestamp >= 0 else None,
            )
        if info.state == "Dead" and not offsets:
            continue  # gone (only in a live capture)
        out[group] = GroupState(info.state, len(info.members), offsets)
    return out


def _registry_subjects(settings: Settings):
    """The configured registry and its subjects: (None, set()) when there is none."""
    if not settings.schema_registry_url:
        return None, set()
    from ..serde.schema import Registry

    registry = Registry(settings)
    return registry, set(registry.subjects())


def _schemas_section(registry, subjects: set[str], topics: dict[str, TopicState]) -> dict:
    """The latest id, version and fingerprint of each topic's `<topic>-key` and
    `<topic>-value` subject that the registry holds; empty when no registry is configured.
    One listing of the subjects (taken before), then one request per subject that exists."""
    if registry is None:
        return {}
    wanted = [s for t in sorted(topics) for s in (f"{t}-key", f"{t}-value") if s in subjects]
    return {subject: SchemaVersion(v.id, v.version, v.fingerprint)
            for subject, v in registry.latest_versions(wanted).items()}


def _connectors_section(settings: Settings, names: list[str], cluster: str,
                        strict: bool) -> dict[str, ConnectorStatus]:
    """connector -> type, class, state, tasks, a sink's group and topics, and its offsets, from
    Kafka Connect (see checkpoints/connectors.py). A sink's group is recorded in the groups section
    too (with its next/last record times), so `rollback --connector NAME --by-timestamp` can
    place it on another cluster; `rollback --connector` uses the offsets recorded here."""
    return read_connectors(settings, names, cluster, strict)

