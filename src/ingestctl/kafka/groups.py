"""Consumer groups: listing, describing, committed offsets (one OffsetFetch per group) and
altering them (one OffsetCommit per group)."""

from dataclasses import dataclass, field

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

from ..errors import ClusterError
from ..partitions import TP
from .client import Admin
from .errors import from_kafka_error


@dataclass(frozen=True)
class Member:
    member_id: str
    client_id: str
    host: str
    assignment: list[TP] = field(default_factory=list)


@dataclass(frozen=True)
class GroupInfo:
    group: str
    state: str  # Stable, Empty, Dead, PreparingRebalance, ... (Dead: unknown to the broker)
    members: list[Member]
    protocol_type: str | None = None


def _state_name(state) -> str:
    name = getattr(state, "name", str(state))
    return {"STABLE": "Stable", "EMPTY": "Empty", "DEAD": "Dead",
            "PREPARING_REBALANCE": "PreparingRebalance",
            "COMPLETING_REBALANCE": "CompletingRebalance", "ASSIGNING": "Assigning",
            "RECONCILING": "Reconciling", "UNKNOWN": "Unknown"}.get(name, name.title())


def list_groups(admin: Admin) -> list[tuple[str, str]]:
    """(group id, state) of every group, one ListGroups request."""
    result = admin.result(admin.client.list_consumer_groups(request_timeout=admin.timeout),
                          "listing consumer groups")
    return sorted((g.group_id, _state_name(g.state)) for g in result.valid)


def describe_groups(admin: Admin, group_ids: list[str]) -> dict[str, GroupInfo]:
    if not group_ids:
        return {}
    futures = admin.client.describe_consumer_groups(group_ids, request_timeout=admin.timeout)
    out = {}
    for group_id, future in futures.items():
        desc = admin.result_retrying(
            future,
            lambda g=group_id: admin.client.describe_consumer_groups(
                [g], request_timeout=admin.timeout)[g],
            f"describing group {group_id}")
        members = [
            Member(
                member_id=m.member_id, client_id=m.client_id, host=m.host,
                assignment=sorted(
                    (tp.topic, tp.partition)
                    for tp in (m.assignment.topic_partitions if m.assignment else [])
                ),
            )
            for m in desc.members
        ]
        out[group_id] = GroupInfo(group_id, _state_name(desc.state), members,
                                  getattr(desc, "protocol_type", None))
    return out


def committed_offsets(admin: Admin, group_ids: list[str]) -> dict[str, dict[TP, int]]:
    """Every committed offset of each group (one OffsetFetch per group, sent together).
    Partitions without a committed offset are absent."""
    futures = {}
    for group_id in group_ids:
        futures.update(admin.client.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group_id)], request_timeout=admin.timeout))
    out = {}
    for group_id, future in futures.items():
        result = admin.result_retrying(
            future,
            lambda g=group_id: admin.client.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(g)], request_timeout=admin.timeout)[g],
            f"fetching the committed offsets of group {group_id}")
        out[group_id] = {
            (tp.topic, tp.partition): tp.offset
            for tp in result.topic_partitions or []
            if tp.offset >= 0 and tp.error is None
        }
    return out


def alter_offsets(admin: Admin, group_id: str, offsets: dict[TP, int]) -> None:
    """Commit the offsets for the group in one request; fails if any partition fails."""
    request = ConsumerGroupTopicPartitions(
        group_id, [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
    )
    futures = admin.client.alter_consumer_group_offsets([request], request_timeout=admin.timeout)
    result = admin.result_retrying(
        futures[group_id],
        lambda: admin.client.alter_consumer_group_offsets(
            [request], request_timeout=admin.timeout)[group_id],
        f"altering the offsets of group {group_id}")
    errors = [tp.error for tp in result.topic_partitions if tp.error is not None]
    if errors and len({e.code() for e in errors}) == 1:
        # One cause for every partition (a missing ACL, above all): one sentence naming it.
        raise from_kafka_error(errors[0], admin.settings,
                               f"altering the offsets of group {group_id}", admin.errors)
    failed = [f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in result.topic_partitions
              if tp.error is not None]
    if failed:
        raise ClusterError(f"the broker refused offsets of group {group_id}: "
                           + "; ".join(failed) + ".")
