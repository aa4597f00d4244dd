"""Applying a plan: a saved one only if nothing drifted; each group's offsets in one request,
read back, and every executed change written to the audit log."""

import signal
import threading
from pathlib import Path

from ..config import Settings
from ..errors import ClusterError, IncompleteError, RefusedError
from ..files import audit
from ..partitions import TP, name
from .drift import drift
from .plan import Plan, partition_bounds, refuse, refuse_active_groups, topic_facts


def check_drift(settings: Settings, plan: Plan) -> None:
    """Refuse (exit 3) a saved plan when the cluster moved on since it was made (see
    drift.py): another cluster, a group's state or committed offsets, partitions added or
    removed, a recreated topic, a target no longer retained. New records are not drift."""
    from .. import kafka
    from ..kafka import groups as kafka_groups
    from ..kafka import metadata

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
    live_facts = topic_facts(admin, live_topics, plan.topics) if plan.topics else {}
    committed = kafka_groups.committed_offsets(admin, names)
    problems = drift({g.group: g.state for g in plan.groups},
                     {g: i.state for g, i in infos.items()},
                     {g.group: g.current() for g in plan.groups},
                     {g: committed.get(g, {}) for g in names}, plan.bounds, live_bounds,
                     {g.group: g.targets() for g in plan.groups}, plan.topics, live_facts)
    refuse("the cluster changed since the plan was made, so it no longer says what would "
            "happen; make a new plan.", problems)
    refuse_active_groups(infos)


def verify_applied(admin, group: str, targets: dict[TP, int]) -> None:
    """Read the group's committed offsets back: ClusterError (exit 5) naming every partition
    that does not hold its target (tools have reported success while changing nothing)."""
    from ..kafka import groups as kafka_groups

    committed = kafka_groups.committed_offsets(admin, [group]).get(group, {})
    wrong = [f"{name(tp)}: expected {target}, the cluster holds {committed.get(tp)}"
             for tp, target in sorted(targets.items()) if committed.get(tp) != target]
    if wrong:
        raise ClusterError(
            f"the offsets of group {group} read back differ from what was applied on "
            f"{len(wrong)} partition(s); check the group with `ingestctl groups describe "
            f"{group}`.", details=wrong)


class _DeferredInterrupt:
    """While a plan is applied, Ctrl-C (SIGINT) takes effect between groups, never inside
    one: each group is either moved, read back and logged, or untouched, so what an
    interrupt leaves is exactly the groups in the audit log."""

    def __init__(self):
        self.received = False
        self._previous = None

    def __enter__(self) -> "_DeferredInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.received = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def execute(settings: Settings, plan: Plan, audit_dir: Path) -> list[str]:
    """Apply the plan: one AlterConsumerGroupOffsets request per group that changes, read
    back, and one audit line per group. Returns the groups changed.

    Interrupted (Ctrl-C) after some groups moved: IncompleteError (exit 6) naming the groups
    moved (read back, in the audit log) and those not changed. Interrupted before any moved:
    KeyboardInterrupt (nothing changed)."""
    from .. import kafka
    from ..kafka import groups as kafka_groups

    audit_path = audit.prepare(audit_dir)
    admin = kafka.Admin(settings)
    to_move = [g for g in plan.groups if any(m.changes for m in g.moves)]
    changed: list[str] = []
    with _DeferredInterrupt() as interrupt:
        for group in to_move:
            if interrupt.received:
                if not changed:
                    raise KeyboardInterrupt
                raise _interrupted(changed, [g.group for g in to_move], audit_path)
            targets = group.targets()
            kafka_groups.alter_offsets(admin, group.group, targets)
            verify_applied(admin, group.group, targets)
            audit.record(audit_dir, plan.command, plan.cluster_id, group=group.group,
                         source=plan.source, changes=[
                             {"topic": m.topic, "partition": m.partition, "before": m.current,
                              "after": m.target} for m in group.moves if m.changes])
            changed.append(group.group)
    return changed


def _interrupted(changed: list[str], to_move: list[str], audit_path: Path) -> IncompleteError:
    rest = [g for g in to_move if g not in changed]
    return IncompleteError(
        f"interrupted after moving {len(changed)} of {len(to_move)} groups (listed below): "
        f"each group moved was read back and logged to {audit_path}; the other "
        f"{len(rest)} were not changed. To move them, run the rollback again from the "
        "checkpoint (a saved plan no longer applies: groups moved since it was made); the "
        "groups already moved show as unchanged.",
        details=[f"group {g}: moved" for g in changed]
        + [f"group {g}: not changed" for g in rest])
