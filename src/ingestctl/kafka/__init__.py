"""The one package that talks to confluent_kafka (librdkafka). Nothing outside it imports
confluent_kafka. This face names what the rest of ingestctl uses most; the jobs live in its
modules: client construction (client.py), KafkaError as IngestError (errors.py), cluster and
topic administration (admin.py), topic metadata and offsets (metadata.py), consumer groups
(groups.py), reading records (records.py, around.py), the compacted progress topic
(compacted.py) and the replay's copy loop (copier.py)."""

from .admin import cluster_id, cluster_info
from .client import Admin, ClientErrors, client_config, new_consumer, new_producer, wait
from .errors import acl_operation, describe, from_kafka_error

__all__ = [
    "Admin", "ClientErrors", "acl_operation", "client_config", "cluster_id", "cluster_info",
    "describe", "from_kafka_error", "new_consumer", "new_producer", "wait",
]
