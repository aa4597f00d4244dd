"""A local single-node Apache Kafka (KRaft, combined broker + controller) for trying the tool
and for its tests, run from the broker's jars resolved from Maven Central. No Docker.

Each sandbox is known by its data dir, which holds the broker's storage, its log, its
configuration and a state file (sandbox.json) naming the processes `start` began, so that
`stop` ends exactly those and a second `start` on the same dir restarts it with its data.

On request it also runs, beside the broker, an Apicurio Registry (Confluent-compatible schema
registry API, in-memory storage) and a one-worker Kafka Connect cluster in distributed mode
(its connectors and offsets live in the broker, so they survive a restart). Every process
carries -Dingestctl.sandbox=<data dir> on its command line: that, with the pid in the state
file, is how status and stop recognise it.
"""

from ..errors import SandboxError
from .broker import DEFAULT_KAFKA_VERSION, start, status, stop
from .components import COMPONENTS
from .jars import SUPPORTED_KAFKA_VERSIONS, find_java, resolve_kafka_jars
from .processes import free_port
from .state import STATE_FILE, Status, default_data_dir, read_state

__all__ = [
    "COMPONENTS", "DEFAULT_KAFKA_VERSION", "STATE_FILE", "SUPPORTED_KAFKA_VERSIONS",
    "SandboxError", "Status",
    "default_data_dir", "find_java", "free_port", "read_state", "resolve_kafka_jars", "start",
    "status", "stop",
]
