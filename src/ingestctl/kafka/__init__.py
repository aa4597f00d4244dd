"""The one package that talks to confluent_kafka (librdkafka): clients and errors here,
cluster primitives in its submodules (metadata, groups, records).

Everything else asks this module for clients and results; it builds client configurations
from Settings, routes librdkafka's logs through Python logging (shown with -v), and turns
KafkaException into the IngestError hierarchy so a cluster problem is one sentence, exit 5.
"""

import logging
import re
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
_COORDINATOR_MOVING = {
    KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
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
# A client certificate the broker refuses reaches librdkafka as a TLS alert on a failed
# receive (_TRANSPORT), after its own side of the handshake succeeded: as final as a failed
# handshake, so it ends the wait like one.
_TLS_ALERT = re.compile(r"SSL alert|tls alert", re.IGNORECASE)


def _is_authentication(err: KafkaError) -> bool:
    return err.code() in _AUTHENTICATION or (
        err.code() == KafkaError._TRANSPORT and bool(_TLS_ALERT.search(err.str())))


def _is_tls(err: KafkaError) -> bool:
    return err.code() == KafkaError._SSL or bool(_TLS_ALERT.search(err.str()))


def _detail(err: KafkaError) -> str:
    """librdkafka's text without the broker prefix and the state suffix."""
    text = re.sub(r"^\S+://\S+?: ", "", err.str())
    return re.sub(r" \(after \d+ms in state \w+\)$", "", text)


# The broker names only the resource type it refused. The operation is the one Kafka's ACL
# table requires of the request that was made, known from what was being done: the first
# entry whose type matches and whose words start `what` (or are empty) names it.
_ACL_OPERATIONS = (
    ("TransactionalId", "", "Write"),
    ("Group", "altering", "Read"),
    ("Group", "writing", "Read"),
    ("Group", "committing", "Read"),
    ("Group", "", "Describe"),
    ("Topic", "reading", "Read"),
    ("Topic", "altering", "Read"),
    ("Topic", "writing", "Write"),
    ("Topic", "creating", "Create"),
    ("Topic", "deleting", "Delete"),
    ("Topic", "describing the configs", "DescribeConfigs"),
    ("Topic", "", "Describe"),
    ("Cluster", "creating", "Create"),
    ("Cluster", "altering", "Alter"),
    ("Cluster", "", "Describe"),
)


def acl_operation(kind: str, what: str) -> str:
    for resource, words, operation in _ACL_OPERATIONS:
        if resource == kind and what.startswith(words):
            return operation
    return "access"


class ClientErrors:
    """Collects the errors librdkafka reports through error_cb (authentication, TLS, all
    brokers down) so a timed-out request can be explained by its real cause."""

    def __init__(self, fail_fast: Settings | None = None):
        self._lock = threading.Lock()
        self.errors: list[KafkaError] = []
        self._fail_fast = fail_fast

    def __call__(self, err: KafkaError) -> None:
        with self._lock:
            self.errors.append(err)
        if self._fail_fast is not None and _is_authentication(err):
            # Raised from the poll(), consume() or flush() that served this callback, so a
            # consumer or producer whose caller does not watch the errors still ends at once.
            raise from_kafka_error(err, self._fail_fast, "connecting to the Kafka cluster")

    def cause(self) -> KafkaError | None:
        with self._lock:
            for err in reversed(self.errors):
                if _is_authentication(err):
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

    def result_retrying(self, future, resubmit, what: str):
        """Like result(), for group requests: while a group coordinator is being elected or
        loaded (a fresh cluster creates __consumer_offsets on first use; a restarted broker
        reloads it), the broker answers NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS.
        As the Java admin client does, ask again (`resubmit()` returns a new future) until
        the timeout."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                future.result(timeout=self.timeout + 5)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if (isinstance(err, KafkaError) and err.code() in _COORDINATOR_MOVING
                        and time.monotonic() < deadline):
                    time.sleep(0.2)
                    future = resubmit()
                    continue
            except TimeoutError:
                pass
            return self.result(future, what)

    def metadata(self, what: str, topic: str | None = None):
        """list_topics() within the timeout, asked in short slices so that an authentication
        failure (learnt through error_cb) ends it at once rather than at the timeout."""
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                return self.client.list_topics(topic=topic, timeout=max(0.1, min(0.5, remaining)))
            except KafkaException as exc:
                self.client.poll(0)
                err = exc.args[0] if exc.args else None
                cause = self.errors.cause()
                if (isinstance(err, KafkaError) and err.code() == KafkaError._TIMED_OUT
                        and remaining > 0.5 and not (cause and _is_authentication(cause))):
                    continue
                raise describe(exc, self.settings, what, self.errors) from None


def new_consumer(settings: Settings, group_id: str | None = None,
                 errors: ClientErrors | None = None, **overrides):
    """A consumer that never creates topics, never commits on its own, and reads committed
    records only. Without a group id it gets a throwaway one it never commits to. Pass
    `errors` to collect what librdkafka reports through error_cb; without it, an
    authentication failure raises ClusterError from the consume() or poll() that learns of it."""
    conf = client_config(
        settings, errors if errors is not None else ClientErrors(fail_fast=settings),
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
    """A producer; without `errors`, an authentication failure raises ClusterError from the
    poll() or flush() that learns of it."""
    if errors is None:
        errors = ClientErrors(fail_fast=settings)
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
    if cause is not None and code in _UNREACHABLE and _is_authentication(cause):
        err, code = cause, cause.code()
    if _is_tls(err) and _TLS_ALERT.search(err.str()):
        return ClusterError(
            f"{what} failed: the brokers at {settings.bootstrap_servers} refused the client "
            f"certificate ({_detail(err)}); set ssl.certificate.location and ssl.key.location "
            "to a certificate signed by a CA the brokers trust."
        )
    if _is_tls(err):
        return ClusterError(
            f"{what} failed: the TLS handshake with {settings.bootstrap_servers} failed "
            f"({_detail(err)}); set ssl.ca.location to the CA that signed the brokers' "
            "certificates."
        )
    if _is_authentication(err):
        user = settings.kafka.get("sasl.username")
        return ClusterError(
            f"{what} failed: SASL authentication with {settings.bootstrap_servers}"
            + (f" as user '{user}'" if user else "") + f" failed ({_detail(err)}); check "
            "sasl.username, sasl.password, sasl.mechanism and security.protocol."
        )
    if code in _AUTHORIZATION:
        kind, _ = _AUTHORIZATION[code]
        return ClusterError(
            f"{what} failed: the principal is not authorized ({kind} "
            f"{acl_operation(kind, what)} denied); ask for that ACL or use another principal."
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
            if cause is not None and _is_authentication(cause):
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
