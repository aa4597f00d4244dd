"""librdkafka's errors as IngestErrors: one sentence that names the cause (unreachable,
authentication, TLS, a missing ACL, an unknown topic or group) and what to do, exit 5 or 4."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from confluent_kafka import (
    KafkaError,
    KafkaException,
)

from ..config import Settings
from ..errors import ClusterError, IngestError, NotFoundError

if TYPE_CHECKING:  # the client collects errors; this module only reads them
    from .client import ClientErrors

_UNREACHABLE = {
    KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN,
    KafkaError._RESOLVE, KafkaError.REQUEST_TIMED_OUT, KafkaError._WAIT_COORD,
    KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR,
}


COORDINATOR_MOVING = {
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


def is_authentication(err: KafkaError) -> bool:
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
    if cause is not None and code in _UNREACHABLE and is_authentication(cause):
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
    if is_authentication(err):
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

