"""Cluster and topic administration: the cluster's id and brokers, topic overrides, topic
creation that waits for leaders."""

import time

from confluent_kafka import (
    KafkaError,
    KafkaException,
)
from confluent_kafka.admin import ConfigResource, ConfigSource, NewTopic, ResourceType

from ..config import Settings
from ..errors import ClusterError
from .client import Admin
from .errors import describe


def cluster_info(settings: Settings) -> dict:
    admin = Admin(settings)
    desc = admin.cluster()
    controller = desc.controller
    return {
        "cluster_id": desc.cluster_id,
        "controller": {"id": controller.id, "host": controller.host, "port": controller.port}
        if controller else None,
        "brokers": [
            {"id": n.id, "host": n.host, "port": n.port, "rack": n.rack}
            for n in sorted(desc.nodes, key=lambda n: n.id)
        ],
        "bootstrap_servers": settings.bootstrap_servers,
    }


def cluster_id(admin: Admin) -> str:
    return admin.cluster().cluster_id


def broker_count(admin: Admin) -> int:
    # DescribeCluster, not full metadata: a fresh client's first list_topics() waits ~50 ms.
    return len(admin.cluster().nodes)


def topic_overrides(admin: Admin, topic: str) -> dict[str, str]:
    """The configs set on the topic itself (not broker defaults)."""
    futures = admin.client.describe_configs([ConfigResource(ResourceType.TOPIC, topic)],
                                            request_timeout=admin.timeout)
    entries = admin.result(next(iter(futures.values())), f"describing the configs of {topic}")
    return {name: e.value for name, e in entries.items()
            if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and e.value is not None}


def create_topic(admin: Admin, topic: str, partitions: int, replication_factor: int,
                 config: dict[str, str]) -> bool:
    """Create a topic; False when it exists already (another run may have just created it)."""
    futures = admin.client.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=replication_factor,
                  config=config)], request_timeout=admin.timeout)
    try:
        futures[topic].result(timeout=admin.timeout + 1)
    except KafkaException as exc:
        err = exc.args[0] if exc.args else None
        if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        raise describe(exc, admin.settings, f"creating topic {topic}", admin.errors) from None
    except TimeoutError:
        raise ClusterError(f"creating topic {topic} did not finish within {admin.timeout:g} s; "
                           "check the cluster (or raise --timeout).") from None
    _await_leaders(admin, topic)
    return True


def _await_leaders(admin: Admin, topic: str) -> None:
    """A new topic is usable once every partition has a leader; creation returns sooner."""
    deadline = time.monotonic() + admin.timeout
    while True:
        try:
            md = admin.client.list_topics(topic=topic, timeout=admin.timeout)
        except KafkaException as exc:
            raise describe(exc, admin.settings, f"describing {topic}", admin.errors) from None
        meta = md.topics.get(topic)
        if meta is not None and meta.error is None and meta.partitions and all(
                p.leader >= 0 for p in meta.partitions.values()):
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"topic {topic} was created but has no leader after "
                               f"{admin.timeout:g} s; check the cluster.")
        time.sleep(0.1)

