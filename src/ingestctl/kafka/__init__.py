"""The one package that talks to confluent_kafka (librdkafka): clients and errors here,
cluster primitives in its submodules (metadata, groups, records).

Everything else asks this module for clients and results; it builds client configurations
from Settings, routes librdkafka's logs through Python logging (shown with -v), and turns
KafkaException into the IngestError hierarchy so a cluster problem is one sentence, exit 5.
"""

import logging
import threading
import time
import uuid

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
)
from confluent_kafka.admin import AdminClient

from ..config import Settings
from ..errors import ClusterError, IngestError, NotFoundError, UsageError

log = logging.getLogger("ingestctl.librdkafka")

_UNREACHABLE = {
    KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN,
    KafkaError._RESOLVE, KafkaError.REQUEST_TIMED_OUT, KafkaError._WAIT_COORD,
    KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR,
}
_AUTHENTICATION = {
    KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL,
    KafkaError.ILLEGAL_SASL_STATE, KafkaError.UNSUPPORTED_SASL_MECHANISM,
}
_AUTHORIZATION = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED: ("Topic", "the topic"),
    KafkaError.GROUP_AUTHORIZATION_FAILED: ("Group", "the group"),
    KafkaError.CLUSTER_AUTHORIZATION_FAILED: ("Cluster", "the cluster"),
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: ("TransactionalId", "the transactional id"),
}


class ClientErrors:
    """Collects the errors librdkafka reports through error_cb (authentication, TLS, all
    brokers down) so a timed-out request can be explained by its real cause."""

    def __init__(self):
        self._lock = threading.Lock()
        self.errors: list[KafkaError] = []

    def __call__(self, err: KafkaError) -> None:
        with self._lock:
            self.errors.append(err)

    def cause(self) -> KafkaError | None:
        with self._lock:
            for err in reversed(self.errors):
                if err.code() in _AUTHENTICATION:
                    return err
            return self.errors[-1] if self.errors else None


def client_config(settings: Settings, errors: ClientErrors | None = None, **overrides) -> dict:
    conf = {
        "bootstrap.servers": settings.bootstrap_servers,
        "socket.connection.setup.timeout.ms": int(max(1000, settings.timeout * 1000)),
        "logger": log,
    }
    if settings.verbose >= 2:
        conf["debug"] = "generic,broker,security"
    conf.update(settings.kafka)
    if errors is not None:
        conf["error_cb"] = errors
    conf.update(overrides)
    return conf


def _create(cls, conf: dict, what: str):
    try:
        return cls(conf)
    except KafkaException as exc:
        err = exc.args[0] if exc.args else None
        text = err.str() if isinstance(err, KafkaError) else str(exc)
        raise UsageError(f"invalid client configuration for {what}: {text}") from None
    except (TypeError, ValueError) as exc:
        raise UsageError(f"invalid client configuration for {what}: {exc}") from None


class Admin:
    """An AdminClient with the settings' timeout and error translation."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.errors = ClientErrors()
        self.client = _create(AdminClient, client_config(settings, self.errors), "the admin client")

    def result(self, future, what: str):
        try:
            return wait(future, self.settings, what, self.errors, self.client)
        finally:
            self.client.poll(0)  # forwards librdkafka's queued log lines (shown with -v)

    @property
    def timeout(self) -> float:
        return self.settings.timeout


def new_consumer(settings: Settings, group_id: str | None = None,
                 errors: ClientErrors | None = None, **overrides):
    """A consumer that never creates topics, never commits on its own, and reads committed
    records only. Without a group id it gets a throwaway one it never commits to. Pass
    `errors` to collect what librdkafka reports through error_cb."""
    conf = client_config(
        settings, errors,
        **{
            "group.id": group_id or f"ingestctl-reader-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "allow.auto.create.topics": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "error",
            "enable.partition.eof": False,
        },
    )
    conf.update(overrides)
    return _create(Consumer, conf, "the consumer")


def new_producer(settings: Settings, errors: ClientErrors | None = None, **overrides):
    conf = client_config(settings, errors, **overrides)
    return _create(Producer, conf, "the producer")


def describe(exc: BaseException, settings: Settings, what: str,
             errors: ClientErrors | None = None) -> IngestError:
    """A KafkaException (or KafkaError) as an IngestError with one clear sentence."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else exc
    if not isinstance(err, KafkaError):
        return ClusterError(f"{what} failed: {exc}")
    return from_kafka_error(err, settings, what, errors)


def from_kafka_error(err: KafkaError, settings: Settings, what: str,
                     errors: ClientErrors | None = None) -> IngestError:
    code = err.code()
    cause = errors.cause() if errors else None
    if cause is not None and code in _UNREACHABLE and cause.code() in _AUTHENTICATION:
        err, code = cause, cause.code()
    if code in _AUTHENTICATION:
        return ClusterError(
            f"{what} failed: authentication with {settings.bootstrap_servers} failed "
            f"({err.str()}); check the credentials, TLS certificates and security.protocol."
        )
    if code in _AUTHORIZATION:
        kind, _ = _AUTHORIZATION[code]
        return ClusterError(
            f"{what} failed: not authorized ({kind} access denied: {err.str()}); "
            "ask for the ACL or use another principal."
        )
    if code in _UNREACHABLE:
        return ClusterError(
            f"cannot reach the Kafka cluster at {settings.bootstrap_servers} within "
            f"{settings.timeout:g} s ({what}); check --bootstrap-servers and that the brokers "
            "are up."
        )
    if code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.UNKNOWN_TOPIC_ID):
        return NotFoundError(f"{what} failed: the topic does not exist ({err.str()}).")
    if code == KafkaError.GROUP_ID_NOT_FOUND:
        return NotFoundError(f"{what} failed: the group does not exist.")
    return ClusterError(f"{what} failed: {err.str()}.")


def wait(future, settings: Settings, what: str, errors: ClientErrors | None = None,
         client=None):
    """The result of an admin future, within the settings' timeout. Authentication and TLS
    failures end the wait at once: they will not heal by waiting."""
    deadline = time.monotonic() + max(0.5, settings.timeout - 0.5)
    while True:
        try:
            return future.result(timeout=0.1)
        except KafkaException as exc:
            if client is not None:
                client.poll(0)
            raise describe(exc, settings, what, errors) from None
        except TimeoutError:
            if client is not None:
                client.poll(0)
            cause = errors.cause() if errors else None
            if cause is not None and cause.code() in _AUTHENTICATION:
                raise from_kafka_error(cause, settings, what, errors) from None
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"cannot reach the Kafka cluster at {settings.bootstrap_servers} within "
                    f"{settings.timeout:g} s ({what}); check --bootstrap-servers and that the "
                    "brokers are up."
                ) from None


def cluster_info(settings: Settings) -> dict:
    admin = Admin(settings)
    desc = admin.result(
        admin.client.describe_cluster(request_timeout=settings.timeout), "describing the cluster"
    )
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
    desc = admin.result(
        admin.client.describe_cluster(request_timeout=admin.timeout), "describing the cluster"
    )
    return desc.cluster_id
