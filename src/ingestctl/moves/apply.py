"""Applying a plan: a saved one only if nothing drifted; each group's offsets in one request,
read back, and every executed change written to the audit log."""

from pathlib import Path

from ..config import Settings
from ..errors import ClusterError, RefusedError
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


def execute(settings: Settings, plan: Plan, audit_dir: Path) -> list[str]:
    """Apply the plan: one AlterConsumerGroupOffsets request per group that changes, read
    back, and one audit line per group. Returns the groups changed."""
    from .. import kafka
    from ..kafka import groups as kafka_groups

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

