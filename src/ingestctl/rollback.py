"""Moving consumer groups: back to a checkpoint (`rollback`, by offset on the same cluster or
by timestamp on another) or ad hoc (`groups reset`). Both build a Plan with the planners of
offsets.py, refuse what is unsafe (exit 3, nothing changed), can save the plan to a file and
apply it later only if nothing drifted, apply each group's offsets in one request, read them
back, and log every executed change to the audit log.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import audit, checkpoints
from .config import Settings
from .errors import ClusterError, InvalidFileError, NotFoundError, RefusedError, UsageError
from .fsutil import atomic_write
from .offsets import (
    Bounds,
    Move,
    by_timestamp_wanted,
    drift,
    name,
    place_all,
    reset_wanted,
    timestamp_to_find,
)
from .parsing import format_time

TP = tuple[str, int]
PLAN_FORMAT = "ingestctl.plan/v1"
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


@dataclass
class Plan:
    command: str  # "rollback" or "groups reset"
    source: str  # the checkpoint, or the reset as asked
    cluster_id: str
    created_at: int
    groups: list[GroupPlan]
    bounds: dict[TP, Bounds] = field(default_factory=dict)

    @property
    def at_target(self) -> bool:
        return not any(m.changes for g in self.groups for m in g.moves)

    def as_json(self, executed: bool) -> dict:
        """The JSON contract of DESIGN.md (plan or result)."""
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


# --- the live facts ------------------------------------------------------------------------

def _refuse_active_groups(infos) -> None:
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
    from .kafka import metadata

    # The end is the high watermark: the highest offset a group can commit, as Kafka's own
    # reset tool uses it.
    marks = metadata.watermarks(admin, tps, read_committed=False)
    return {tp: Bounds(*marks[tp]) for tp in tps}


def _refuse(message: str, problems: list[str]) -> None:
    if problems:
        raise RefusedError(message, details=problems)


# --- planning ------------------------------------------------------------------------------

def plan_rollback(settings: Settings, checkpoint_path: Path, groups: list[str] | None = None,
                  topics: list[str] | None = None, by_timestamp: bool = False,
                  allow_clamp: bool = False) -> Plan:
    """Plan moving the checkpoint's groups (or some of them, on some topics) back to it."""
    from . import kafka
    from .kafka import groups as kafka_groups
    from .kafka import metadata

    cp = checkpoints.load(checkpoint_path)  # exit 7 unless intact
    chosen = list(groups) if groups else sorted(cp.groups)
    unknown = [g for g in chosen if g not in cp.groups]
    if unknown:
        raise NotFoundError(f"group {', '.join(unknown)} is not in checkpoint {checkpoint_path}; "
                            f"it holds: {', '.join(sorted(cp.groups)) or 'no groups'}.")
    if not chosen:
        raise RefusedError(f"checkpoint {checkpoint_path} holds no consumer group to roll back.")
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
    _refuse(f"the partitions of checkpoint {checkpoint_path} no longer match the cluster; "
            "nothing was changed.",
            checkpoints.partition_count_problems(cp, metadata.list_topics(admin), used_topics))

    infos = kafka_groups.describe_groups(admin, chosen)
    _refuse_active_groups(infos)
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
                time.time_ns() // 1_000_000, plans, bounds)


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
    from .kafka import metadata

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
    from . import kafka
    from .kafka import groups as kafka_groups
    from .kafka import metadata

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
    _refuse_active_groups(infos)
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
                [GroupPlan(group, infos[group].state, moves)], bounds)


# --- plan files ----------------------------------------------------------------------------

def plan_document(plan: Plan) -> dict:
    document = {
        "format": PLAN_FORMAT,
        "command": plan.command,
        "source": plan.source,
        "created_at": format_time(plan.created_at),
        "cluster_id": plan.cluster_id,
        "groups": {
            g.group: {"state": g.state, "partitions": [
                {"topic": m.topic, "partition": m.partition, "current": m.current,
                 "target": m.target, "note": m.note} for m in g.moves]}
            for g in plan.groups
        },
        "bounds": [{"topic": t, "partition": p, "log_start": b.log_start, "end": b.end}
                   for (t, p), b in sorted(plan.bounds.items())],
    }
    document["checksum"] = checkpoints.checksum(document)
    return document


def save_plan(plan: Plan, path: Path) -> Path:
    """Write the plan (with a checksum) for a later `rollback --from-plan FILE --execute`."""
    text = yaml.safe_dump(plan_document(plan), sort_keys=False, allow_unicode=True, width=4096)
    # The plan goes where the user said, often the current directory: never chmod that.
    return atomic_write(Path(path).expanduser(), text, tighten_dir=False)


def load_plan(path: Path) -> Plan:
    """Read a saved plan; exit 7 naming the file and field unless it is intact."""
    path = Path(path).expanduser()
    try:
        document = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"plan file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidFileError(f"plan file {path} is not readable YAML "
                               f"({exc.__class__.__name__}); save the plan again.") from None
    f = checkpoints.FieldReader(str(path), "plan")
    if not isinstance(document, dict):
        raise InvalidFileError(f"plan {path} is not intact: it is not a YAML mapping.")
    version = f.get(document, "format", "")
    if version != PLAN_FORMAT:
        f.fail("format", f"is {version!r}, not {PLAN_FORMAT!r}")
    if "checksum" not in document:
        f.fail("checksum", "is missing (the file is truncated or was not written by ingestctl)")
    command = f.text(document, "command", "")
    if command not in ("rollback", "groups reset"):
        f.fail("command", f"({command!r}) is not rollback or groups reset")
    bounds: dict[TP, Bounds] = {}
    for i, entry in enumerate(f.items(document, "bounds", "")):
        at = f"bounds[{i}]."
        if not isinstance(entry, dict):
            f.fail(f"bounds[{i}]", "must be a mapping")
        tp = (f.text(entry, "topic", at), f.count(entry, "partition", at))
        bounds[tp] = Bounds(f.count(entry, "log_start", at), f.count(entry, "end", at))
    groups = []
    for group, body in f.mapping(document, "groups", "").items():
        where = f"groups.{group}."
        if not isinstance(body, dict):
            f.fail(f"groups.{group}", "must be a mapping")
        moves = []
        for i, entry in enumerate(f.items(body, "partitions", where)):
            at = f"{where}partitions[{i}]."
            if not isinstance(entry, dict):
                f.fail(f"{where}partitions[{i}]", "must be a mapping")
            tp = (f.text(entry, "topic", at), f.count(entry, "partition", at))
            if tp not in bounds:
                f.fail(f"{at}partition", f"({name(tp)}) has no entry in bounds")
            current = f.get(entry, "current", at)
            if current is not None:
                current = f.count(entry, "current", at)
            note = f.get(entry, "note", at)
            if not isinstance(note, str):
                f.fail(f"{at}note", "must be a string")
            moves.append(Move(tp[0], tp[1], current, f.count(entry, "target", at), note))
        groups.append(GroupPlan(group, f.text(body, "state", where), moves))
    plan = Plan(command, f.text(document, "source", ""), f.text(document, "cluster_id", ""),
                f.time(document, "created_at", "", optional=False), groups, bounds)
    if checkpoints.checksum(document) != document["checksum"]:
        f.fail("checksum", "does not match the content (the file was edited or damaged)")
    return plan


def check_drift(settings: Settings, plan: Plan) -> None:
    """Refuse (exit 3) a saved plan when the cluster moved on since it was made: another
    cluster, a group's state or committed offsets, a partition's log-start or end."""
    from . import kafka
    from .kafka import groups as kafka_groups
    from .kafka import metadata

    admin = kafka.Admin(settings)
    cluster = kafka.cluster_id(admin)
    if cluster != plan.cluster_id:
        raise RefusedError(f"the plan was made on cluster {plan.cluster_id}, but "
                           f"{settings.bootstrap_servers} is cluster {cluster}.")
    names = [g.group for g in plan.groups]
    infos = kafka_groups.describe_groups(admin, names)
    live_topics = metadata.list_topics(admin)
    tps = [tp for tp in plan.bounds
           if tp[0] in live_topics and tp[1] in live_topics[tp[0]].partitions]
    live_bounds = partition_bounds(admin, tps)
    committed = kafka_groups.committed_offsets(admin, names)
    problems = drift({g.group: g.state for g in plan.groups},
                     {g: i.state for g, i in infos.items()},
                     {g.group: g.current() for g in plan.groups},
                     {g: committed.get(g, {}) for g in names}, plan.bounds, live_bounds)
    _refuse("the cluster changed since the plan was made, so it no longer says what would "
            "happen; make a new plan.", problems)
    _refuse_active_groups(infos)


# --- applying ------------------------------------------------------------------------------

def verify_applied(admin, group: str, targets: dict[TP, int]) -> None:
    """Read the group's committed offsets back: ClusterError (exit 5) naming every partition
    that does not hold its target (tools have reported success while changing nothing)."""
    from .kafka import groups as kafka_groups

    committed = kafka_groups.committed_offsets(admin, [group]).get(group, {})
    wrong = [f"{name(tp)}: expected {target}, the cluster holds {committed.get(tp)}"
             for tp, target in sorted(targets.items()) if committed.get(tp) != target]
    if wrong:
        raise ClusterError(
            f"the offsets of group {group} read back differ from what was applied on "
            f"{len(wrong)} partition(s); check the group with `ingestctl groups describe "
            f"{group}`.", details=wrong)


def execute(settings: Settings, plan: Plan, audit_dir: Path) -> list[str]:
    """Apply the plan: one AlterConsumerGroupOffsets request per group that changes, read
    back, and one audit line per group. Returns the groups changed."""
    from . import kafka
    from .kafka import groups as kafka_groups

    audit.prepare(audit_dir)
    admin = kafka.Admin(settings)
    changed = []
    for group in plan.groups:
        if not any(m.changes for m in group.moves):
            continue
        targets = group.targets()
        kafka_groups.alter_offsets(admin, group.group, targets)
        verify_applied(admin, group.group, targets)
        audit.record(audit_dir, plan.command, plan.cluster_id, group=group.group,
                     source=plan.source, changes=[
                         {"topic": m.topic, "partition": m.partition, "before": m.current,
                          "after": m.target} for m in group.moves if m.changes])
        changed.append(group.group)
    return changed
