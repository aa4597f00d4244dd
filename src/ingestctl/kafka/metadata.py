"""Topics, partitions, watermarks and configs: each fetched in one batched request."""

import time
from dataclasses import dataclass

from confluent_kafka import (
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import ConfigResource, OffsetSpec, ResourceType

from ..errors import NotFoundError
from ..partitions import TP
from .client import Admin

# Answers while a partition's leadership settles (a topic just created, a broker restarting);
# librdkafka does not mark all of them retriable in ListOffsets results.
_LEADERSHIP_MOVING = {
    KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.REPLICA_NOT_AVAILABLE, KafkaError.OFFSET_NOT_AVAILABLE,
    KafkaError.UNKNOWN_LEADER_EPOCH, KafkaError.FENCED_LEADER_EPOCH,
}


@dataclass(frozen=True)
class PartitionMeta:
    partition: int
    leader: int
    replicas: list[int]
    isr: list[int]


@dataclass(frozen=True)
class TopicMeta:
    name: str
    partitions: dict[int, PartitionMeta]
    internal: bool


def list_topics(admin: Admin) -> dict[str, TopicMeta]:
    """Every topic the principal may see, with partition leaders, replicas and ISR."""
    md = admin.metadata("listing topics")
    topics = {}
    for name, t in md.topics.items():
        if t.error is not None:
            continue
        topics[name] = TopicMeta(
            name=name,
            partitions={
                p.id: PartitionMeta(p.id, p.leader, list(p.replicas), list(p.isrs))
                for p in t.partitions.values()
            },
            internal=name.startswith("__"),
        )
    return topics


def topics(admin: Admin, names: list[str]) -> dict[str, TopicMeta]:
    """Metadata of the named topics; NotFoundError naming every missing one."""
    known = list_topics(admin)
    missing = [n for n in names if n not in known]
    if missing:
        # A topic the principal may not describe is left out of the full listing: ask for
        # each by name, so a missing ACL is reported as such rather than as a missing topic.
        futures = admin.client.describe_topics(TopicCollection(missing),
                                               request_timeout=admin.timeout)
        for name in missing:
            try:
                admin.result(futures[name], f"describing topic {name}")
            except NotFoundError:
                pass
        raise NotFoundError(
            f"topic {', '.join(missing)} does not exist on {admin.settings.bootstrap_servers}; "
            "check the name with `ingestctl topics list`."
        )
    return {n: known[n] for n in names}


_NO_TOPIC_ID = "AAAAAAAAAAAAAAAAAAAAAA"  # the zero Uuid: a broker that keeps no topic ids


def topic_ids(admin: Admin, names: list[str]) -> dict[str, str | None]:
    """The topic id of each named topic that exists (None where the broker keeps none), in
    one DescribeTopics request; a topic that does not exist is left out. A topic deleted and
    created again under the same name gets a new id."""
    if not names:
        return {}
    futures = admin.client.describe_topics(TopicCollection(list(names)),
                                           request_timeout=admin.timeout)
    ids: dict[str, str | None] = {}
    for name in names:
        try:
            description = admin.result(futures[name], f"describing topic {name}")
        except NotFoundError:
            continue
        topic_id = str(description.topic_id) if description.topic_id is not None else None
        ids[name] = None if topic_id in (None, "", _NO_TOPIC_ID) else topic_id
    return ids


@dataclass(frozen=True)
class OffsetInfo:
    offset: int
    timestamp: int  # -1 when the broker gives none


def list_offsets(admin: Admin, specs: dict[TP, object], read_committed: bool = True,
                 what: str = "listing offsets") -> dict[TP, OffsetInfo]:
    """One ListOffsets request for many partitions. A spec is 'earliest', 'latest',
    'max_timestamp' or an int timestamp (ms): the first offset whose timestamp is at or after
    it, or -1 when there is none (the result then holds offset -1)."""
    if not specs:
        return {}
    admin.learn_brokers()
    request = {}
    for (topic, partition), spec in specs.items():
        if spec == "earliest":
            offset_spec = OffsetSpec.earliest()
        elif spec == "latest":
            offset_spec = OffsetSpec.latest()
        elif spec == "max_timestamp":
            offset_spec = OffsetSpec.max_timestamp()
        else:
            offset_spec = OffsetSpec.for_timestamp(int(spec))
        request[TopicPartition(topic, partition)] = offset_spec
    isolation = IsolationLevel.READ_COMMITTED if read_committed else IsolationLevel.READ_UNCOMMITTED
    result = {}
    deadline = time.monotonic() + admin.timeout
    while request:
        futures = admin.client.list_offsets(request, isolation_level=isolation,
                                            request_timeout=admin.timeout)
        retry = {}
        for tp, future in futures.items():
            try:
                info = future.result(timeout=admin.timeout + 5)
            except KafkaException as exc:
                # Leadership moves (a topic just created, a broker restarting) are retriable:
                # ask again for those partitions until the timeout, as the Java client does.
                err = exc.args[0] if exc.args else None
                if (isinstance(err, KafkaError)
                        and (err.retriable() or err.code() in _LEADERSHIP_MOVING)
                        and time.monotonic() < deadline):
                    retry[tp] = request[tp]
                    continue
                info = admin.result(future, what)  # raises the translated error
            result[(tp.topic, tp.partition)] = OffsetInfo(info.offset, info.timestamp)
        request = retry
        if request:
            time.sleep(0.1)
    return result


def watermarks(admin: Admin, tps: list[TP], read_committed: bool = True
               ) -> dict[TP, tuple[int, int]]:
    """(log-start, end) per partition in two batched requests. With read_committed the end
    is the last stable offset; otherwise the high watermark."""
    earliest = list_offsets(admin, {tp: "earliest" for tp in tps}, read_committed)
    latest = list_offsets(admin, {tp: "latest" for tp in tps}, read_committed)
    return {tp: (earliest[tp].offset, latest[tp].offset) for tp in tps}


def topic_configs(admin: Admin, names: list[str]) -> dict[str, dict[str, str]]:
    """Every topic's effective configs, in one DescribeConfigs request."""
    if not names:
        return {}
    futures = admin.client.describe_configs(
        [ConfigResource(ResourceType.TOPIC, n) for n in names], request_timeout=admin.timeout
    )
    out = {}
    for resource, future in futures.items():
        entries = admin.result(future, f"describing the configs of {resource.name}")
        out[resource.name] = {k: e.value for k, e in entries.items()}
    return out
