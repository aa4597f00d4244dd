"""Client construction: configurations built from Settings, librdkafka's logs routed through
Python logging (shown with -v), errors collected through error_cb so that a timed-out request
is explained by its real cause, and the admin client's waits within the timeout."""

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
from ..errors import ClusterError, UsageError
from .errors import COORDINATOR_MOVING, describe, from_kafka_error, is_authentication

log = logging.getLogger("ingestctl.librdkafka")


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
        if self._fail_fast is not None and is_authentication(err):
            # Raised from the poll(), consume() or flush() that served this callback, so a
            # consumer or producer whose caller does not watch the errors still ends at once.
            raise from_kafka_error(err, self._fail_fast, "connecting to the Kafka cluster")

    def cause(self) -> KafkaError | None:
        with self._lock:
            for err in reversed(self.errors):
                if is_authentication(err):
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
        self._cluster = None  # the DescribeCluster answer, asked once

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
                if (isinstance(err, KafkaError) and err.code() in COORDINATOR_MOVING
                        and time.monotonic() < deadline):
                    time.sleep(0.2)
                    future = resubmit()
                    continue
            except TimeoutError:
                pass
            return self.result(future, what)

    def cluster(self):
        """The cluster's description (id, controller, brokers), asked once per client."""
        if self._cluster is None:
            self._cluster = self.result(
                self.client.describe_cluster(request_timeout=self.timeout),
                "describing the cluster")
        return self._cluster

    def learn_brokers(self) -> None:
        """Talk to the cluster once before the first request routed to partition leaders.
        On a fresh admin client, librdkafka's ListOffsets looks the leaders up while its
        bootstrap connection is still coming up, and about one time in six here it skips
        that lookup ("no usable brokers") and retries 1 to 3 s later (librdkafka#1641,
        #2869). One DescribeCluster request first (~3 ms) avoids it."""
        self.cluster()

    def metadata(self, what: str, topic: str | None = None):
        """list_topics() within the timeout, asked in short slices so that an authentication
        failure (learnt through error_cb) ends it at once rather than at the timeout."""
        # A fresh client's first list_topics() waits out a ~50 ms connection back-off that a
        # DescribeCluster first does not.
        self.learn_brokers()
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
                        and remaining > 0.5 and not (cause and is_authentication(cause))):
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
            if cause is not None and is_authentication(cause):
                raise from_kafka_error(cause, settings, what, errors) from None
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"cannot reach the Kafka cluster at {settings.bootstrap_servers} within "
                    f"{settings.timeout:g} s ({what}); check --bootstrap-servers and that the "
                    "brokers are up."
                ) from None

