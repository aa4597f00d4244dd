"""Plans to move consumer groups: back to a checkpoint (`rollback`, by offset on the same
cluster or by timestamp on another) or ad hoc (`groups reset`), built with the planners and
refusing what is unsafe (exit 3, nothing changed)."""

import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import checkpoints
from ..config import Settings
from ..errors import NotFoundError, RefusedError, UsageError
from ..parsing import format_time
from ..partitions import TP
from .planners import (
    Bounds,
    Move,
    by_timestamp_wanted,
    place_all,
    reset_wanted,
    timestamp_to_find,
)

MOVABLE_STATES = ("Empty", "Dead")


@dataclass
class GroupPlan:
    group: str
    state: str  # when planned: Empty or Dead
    moves: list[Move]

    def targets(self) -> dict[TP, int]:
        return {(m.topic, m.partition): m.target for m in self.moves}

    def current(self) -> dict[TP, int | None]:
        return {(m.topic, m.partition): m.current for m in self.moves}


@dataclass(frozen=True)
class TopicFacts:
    """What identifies a topic a plan was made against: the same name may later be another
    topic (deleted and created again: a new topic id), or have other partitions."""

    topic_id: str | None  # None: the broker keeps no topic ids
    partitions: int


@dataclass
class Plan:
    command: str  # "rollback" or "groups reset"
    source: str  # the checkpoint, or the reset as asked
    cluster_id: str
    created_at: int
    groups: list[GroupPlan]
    bounds: dict[TP, Bounds] = field(default_factory=dict)
    # Per topic of the plan; empty in a plan file written before plans recorded them.
    topics: dict[str, TopicFacts] = field(default_factory=dict)

    @property
    def at_target(self) -> bool:
        return not any(m.changes for g in self.groups for m in g.moves)

    def as_json(self, executed: bool) -> dict:
        """The JSON the README documents (section "Checkpoints and rollback"): plan or result."""
        return {
            "executed": executed,
            "cluster_id": self.cluster_id,
            "command": self.command,
            "source": self.source,
            "groups": [
                {"group": g.group, "state": g.state, "partitions": [
                    {"topic": m.topic, "partition": m.partition, "current": m.current,
                     "target": m.target, "delta": m.delta, "note": m.note}
                    for m in g.moves]}
                for g in self.groups
            ],
        }


def refuse_active_groups(infos) -> None:
    """Offsets of a group with live members cannot be moved safely: its consumers would
    overwrite them (and Kafka rejects the commit while it has members)."""
    active = []
    for group, info in sorted(infos.items()):
        if info.state not in MOVABLE_STATES:
            clients = ", ".join(sorted({m.client_id for m in info.members})) or "none listed"
            active.append(f"group {group} is {info.state} with {len(info.members)} member(s) "
                          f"(client ids: {clients})")
    if len(active) == 1:
        raise RefusedError(f"{active[0]}; stop its consumers so the group is Empty, then run "
                           "this again.")
    if active:
        raise RefusedError(f"{len(active)} groups have active members; stop their consumers "
                           "so they are Empty, then run this again.", details=active)


def partition_bounds(admin, tps: list[TP]) -> dict[TP, Bounds]:
    from ..kafka import metadata

    # The end is the high watermark: the highest offset a group can commit, as Kafka's own
    # reset tool uses it.
    marks = metadata.watermarks(admin, tps, read_committed=False)
    return {tp: Bounds(*marks[tp]) for tp in tps}


def topic_facts(admin, known: dict, names) -> dict[str, TopicFacts]:
    """The topic id and partition count of each named topic (`known`: list_topics())."""
    from ..kafka import metadata

    names = sorted(set(names))
    ids = metadata.topic_ids(admin, names)
    return {t: TopicFacts(ids.get(t), len(known[t].partitions)) for t in names if t in known}


def refuse(message: str, problems: list[str]) -> None:
    if problems:
        raise RefusedError(message, details=problems)


def checkpoint_groups(checkpoint_path: Path, groups: list[str] | None):
    """The checkpoint (exit 7 unless intact) and the groups to move: those asked for (each
    must be in it, else exit 4), or all it holds (none: exit 3)."""
    cp = checkpoints.load(checkpoint_path)
    chosen = list(groups) if groups else sorted(cp.groups)
    unknown = [g for g in chosen if g not in cp.groups]
    if unknown:
        raise NotFoundError(f"group {', '.join(unknown)} is not in checkpoint {checkpoint_path}; "
                            f"it holds: {', '.join(sorted(cp.groups)) or 'no groups'}.")
    if not chosen:
        raise RefusedError(f"checkpoint {checkpoint_path} holds no consumer group to roll back.")
    return cp, chosen


def plan_rollback(settings: Settings, checkpoint_path: Path, groups: list[str] | None = None,
                  topics: list[str] | None = None, by_timestamp: bool = False,
                  allow_clamp: bool = False) -> Plan:
    """Plan moving the checkpoint's groups (or some of them, on some topics) back to it."""
    from .. import kafka
    from ..kafka import groups as kafka_groups
    from ..kafka import metadata

    cp, chosen = checkpoint_groups(checkpoint_path, groups)
    recorded = {g: {(t, p): o for t, parts in cp.groups[g].offsets.items()
                    for p, o in parts.items() if not topics or t in topics} for g in chosen}
    if topics:
        missing = [t for t in topics if t not in cp.topics]
        if missing:
            raise NotFoundError(f"topic {', '.join(missing)} is not in checkpoint "
                                f"{checkpoint_path}.")

    admin = kafka.Admin(settings)
    cluster = kafka.cluster_id(admin)
    if not by_timestamp:
        refuse_other_cluster(checkpoint_path, cp.cluster_id, settings, cluster,
                             "move the groups")
    used_topics = sorted({t for offsets in recorded.values() for t, _ in offsets})
    known = metadata.list_topics(admin)
    refuse(f"the partitions of checkpoint {checkpoint_path} no longer match the cluster; "
            "nothing was changed.",
            checkpoints.partition_count_problems(cp, known, used_topics))
    facts = topic_facts(admin, known, used_topics)

    infos = kafka_groups.describe_groups(admin, chosen)
    refuse_active_groups(infos)
    tps = sorted({tp for offsets in recorded.values() for tp in offsets})
    bounds = partition_bounds(admin, tps)
    current = kafka_groups.committed_offsets(admin, chosen)

    plans, problems = [], []
    for group in chosen:
        offsets = recorded[group]
        notes: dict[TP, str] = {}
        if by_timestamp:
            times = {tp: (o.next_timestamp, o.last_timestamp) for tp, o in offsets.items()}
            lookups = {tp: timestamp_to_find(*t) for tp, t in times.items()}
            found = offsets_for_times(admin, {tp: ts for tp, ts in lookups.items()
                                              if ts is not None})
            wanted, notes, missing = by_timestamp_wanted(
                times, {tp: found.get(tp, -1) for tp in times}, bounds)
            problems += [f"group {group} {p}" for p in missing]
        else:
            wanted = {tp: o.offset for tp, o in offsets.items()}
        moves, out_of_range = place_all(wanted, current.get(group, {}), bounds, allow_clamp,
                                        notes)
        problems += [f"group {group} {p}" for p in out_of_range]
        plans.append(GroupPlan(group, infos[group].state, moves))
    refuse_plan_problems(problems, allow_clamp)
    how = "by timestamp" if by_timestamp else "by offset"
    return Plan("rollback", f"{checkpoint_path} ({how})", cluster,
                time.time_ns() // 1_000_000, plans, bounds, facts)


def refuse_other_cluster(checkpoint_path: Path, recorded: str, settings: Settings,
                         cluster: str, placing: str) -> None:
    """Offsets recorded on another cluster mean nothing here (--by-timestamp goes by time)."""
    if cluster != recorded:
        raise RefusedError(
            f"checkpoint {checkpoint_path} was taken on cluster {recorded}, but "
            f"{settings.bootstrap_servers} is cluster {cluster}: its offsets mean nothing here; "
            f"add --by-timestamp to {placing} by record time instead.")


def offsets_for_times(admin, lookups: dict[TP, int]) -> dict[TP, int]:
    """The first offset whose timestamp is at or after each partition's time (-1: none)."""
    from ..kafka import metadata

    found = metadata.list_offsets(admin, lookups, read_committed=False,
                                  what="finding offsets for timestamps")
    return {tp: info.offset for tp, info in found.items()}


def refuse_plan_problems(problems: list[str], allow_clamp: bool) -> None:
    if not problems:
        return
    clampable = any("below the log-start" in p or "above the end" in p for p in problems)
    hint = " (--allow-clamp moves them to the nearest retained offset)" \
        if clampable and not allow_clamp else ""
    raise RefusedError(
        f"{len(problems)} partition(s) cannot be placed as asked{hint}; nothing was changed.",
        details=problems,
    )


@dataclass(frozen=True)
class ResetSpec:
    kind: str  # one of offsets.RESET_KINDS
    value: int | None = None  # offset, shift, time (ms) or duration (ms)

    def describe(self) -> str:
        if self.kind == "to-datetime":
            return f"--to-datetime {format_time(self.value)}"
        if self.kind == "by-duration":
            return f"--by-duration {self.value} ms"
        if self.value is None:
            return f"--{self.kind}"
        return f"--{self.kind} {self.value}"


def plan_reset(settings: Settings, group: str, topics: list[str], spec: ResetSpec,
               partitions: list[int] | None = None, allow_clamp: bool = False,
               now_ms: int | None = None) -> Plan:
    """Plan an ad-hoc reset of one group on the given topics (all their partitions, or the
    listed ones)."""
    from .. import kafka
    from ..kafka import groups as kafka_groups
    from ..kafka import metadata

    admin = kafka.Admin(settings)
    cluster = kafka.cluster_id(admin)
    metas = metadata.topics(admin, topics)  # NotFoundError naming a missing topic
    tps: list[TP] = []
    for topic in topics:
        existing = sorted(metas[topic].partitions)
        chosen = existing if partitions is None else partitions
        absent = [p for p in chosen if p not in metas[topic].partitions]
        if absent:
            raise UsageError(f"--partitions: {topic} has no partition "
                             f"{', '.join(map(str, absent))} (it has 0-{len(existing) - 1}).")
        tps += [(topic, p) for p in chosen]
    infos = kafka_groups.describe_groups(admin, [group])
    refuse_active_groups(infos)
    bounds = partition_bounds(admin, tps)
    current = kafka_groups.committed_offsets(admin, [group]).get(group, {})
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    value, time_offsets = spec.value, None
    if spec.kind == "by-duration":
        value = now - spec.value
    if spec.kind in ("to-datetime", "by-duration") and value <= now:
        time_offsets = offsets_for_times(admin, dict.fromkeys(tps, value))
    wanted, problems = reset_wanted(spec.kind, value, tps, current, bounds, time_offsets, now)
    if problems:
        refuse_plan_problems([f"group {group} {p}" for p in problems], allow_clamp)
    moves, out_of_range = place_all(wanted, current, bounds, allow_clamp)
    refuse_plan_problems([f"group {group} {p}" for p in out_of_range], allow_clamp)
    return Plan("groups reset", spec.describe(), cluster, now,
                [GroupPlan(group, infos[group].state, moves)], bounds,
                topic_facts(admin, metas, topics))

