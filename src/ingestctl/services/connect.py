"""Kafka Connect through its REST API (the standard library's urllib; no extra dependency).

The URL and basic auth come from --connect-url or the profile (connect_url, connect_basic_auth;
user info in the URL works too). Credentials never appear in messages: the client names the
worker by its URL without them.

Beyond reading connectors, status and config, it drives KIP-875 offset management: a
connector is stopped (PUT …/stop, STOPPED with no tasks), its offsets read and altered
(GET/PATCH …/offsets, only allowed while STOPPED), then resumed. A sink connector's offsets
are its consumer group's (`connect-<name>` unless consumer.override.group.id says otherwise),
in the shape {"partition": {"kafka_topic": T, "kafka_partition": P},
"offset": {"kafka_offset": N}}."""

import base64
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from ..config import Settings
from ..errors import ClusterError, NotFoundError, UsageError
from ..partitions import TP
from ..secrets import split_credentials

_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class TaskStatus:
    id: int
    state: str  # RUNNING, PAUSED, FAILED, UNASSIGNED, RESTARTING
    worker_id: str | None = None
    trace: str | None = None  # the Java stack trace of a FAILED task (live status only)

    def as_dict(self) -> dict:
        return {"id": self.id, "state": self.state, "worker_id": self.worker_id,
                "trace": self.trace}


@dataclass(frozen=True)
class ConnectorStatus:
    """A connector's state, the one type for it: as Kafka Connect reports it now
    (from_rest: state, worker, trace, tasks), or as a checkpoint recorded it (also its class,
    a sink's group and topics, and its KIP-875 offsets; no worker or trace)."""

    name: str
    type: str | None  # sink, source
    state: str  # RUNNING, PAUSED, STOPPED, FAILED, UNASSIGNED, RESTARTING
    tasks: tuple[TaskStatus, ...] = ()
    worker_id: str | None = None
    trace: str | None = None
    connector_class: str | None = None
    group: str | None = None  # a sink's consumer group (connect-NAME unless overridden)
    topics: tuple[str, ...] = ()  # a sink's `topics` setting (empty when it uses topics.regex)
    offsets: tuple[dict, ...] = ()  # KIP-875 entries, as Connect reported them

    @classmethod
    def from_rest(cls, body: dict) -> "ConnectorStatus":
        connector = body.get("connector") or {}
        return cls(
            name=body["name"], type=body.get("type"), state=connector.get("state", "UNKNOWN"),
            worker_id=connector.get("worker_id"), trace=connector.get("trace"),
            tasks=tuple(
                TaskStatus(int(t["id"]), t.get("state", "UNKNOWN"), t.get("worker_id"),
                           t.get("trace"))
                for t in sorted(body.get("tasks") or [], key=lambda t: int(t["id"]))
            ),
        )

    def as_dict(self) -> dict:
        """The checkpoint's and `connectors describe`'s view of the state."""
        return {"state": self.state, "type": self.type, "worker_id": self.worker_id,
                "trace": self.trace, "tasks": [t.as_dict() for t in self.tasks]}

    def sink_offsets(self) -> dict[TP, int]:
        return sink_offsets(list(self.offsets))


def sink_group(name: str, config: dict[str, str]) -> str:
    """The consumer group a sink connector's tasks commit to."""
    return config.get("consumer.override.group.id") or f"connect-{name}"


def sink_topics(config: dict[str, str]) -> list[str]:
    """The topics a sink names in `topics` (empty when it subscribes by topics.regex)."""
    return [t.strip() for t in (config.get("topics") or "").split(",") if t.strip()]


def sink_offsets(offsets: list[dict]) -> dict[TP, int]:
    """KIP-875 sink offsets as {(topic, partition): offset}."""
    out = {}
    for entry in offsets:
        partition, offset = entry.get("partition") or {}, entry.get("offset") or {}
        if "kafka_topic" in partition and offset.get("kafka_offset") is not None:
            out[(partition["kafka_topic"], int(partition["kafka_partition"]))] = int(
                offset["kafka_offset"])
    return out


def sink_offsets_body(offsets: dict[TP, int]) -> list[dict]:
    """{(topic, partition): offset} as KIP-875 entries, for alter_offsets."""
    return [{"partition": {"kafka_topic": t, "kafka_partition": p},
             "offset": {"kafka_offset": o}}
            for (t, p), o in sorted(offsets.items())]


class Connect:
    """One Kafka Connect cluster's REST API. Each call waits at most the settings' timeout;
    a 409 (the worker is rebalancing) is retried within that time."""

    def __init__(self, settings: Settings):
        if not settings.connect_url:
            raise UsageError(
                "no Kafka Connect URL is configured; pass --connect-url URL or set connect_url "
                "in the profile."
            )
        url = settings.connect_url
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise UsageError(f"the Kafka Connect URL {url!r} is not an http:// or https:// URL.")
        self.url, auth = split_credentials(url, settings.connect_basic_auth)
        self.timeout = settings.timeout
        self._authorization = None
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            self._authorization = f"Basic {token}"

    # --- HTTP ------------------------------------------------------------------------------

    def _request(self, method: str, path: str, what: str, body=None,
                 connector: str | None = None):
        """The decoded JSON answer (None for an empty one). `connector` names the connector
        the path is about, so that Connect's 404 means it does not exist (exit 4)."""
        data = json.dumps(body).encode() if body is not None else None
        deadline = time.monotonic() + self.timeout
        while True:
            request = urllib.request.Request(self.url + path, data=data, method=method)
            request.add_header("Accept", "application/json")
            if data is not None:
                request.add_header("Content-Type", "application/json")
            if self._authorization:
                request.add_header("Authorization", self._authorization)
            remaining = max(0.5, deadline - time.monotonic())
            try:
                with urllib.request.urlopen(request, timeout=remaining) as response:
                    raw = response.read()
                break
            except urllib.error.HTTPError as exc:
                status, message = exc.code, _message(exc)
                if status == 409 and time.monotonic() < deadline:
                    time.sleep(_POLL_SECONDS)  # rebalancing; Connect asks to try again
                    continue
                raise self._error(status, message, what, connector) from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise ClusterError(
                    f"cannot reach Kafka Connect at {self.url} within {self.timeout:g} s "
                    f"({what}: {reason}); check --connect-url and that the worker is up."
                ) from None
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ClusterError(
                f"{self.url} did not answer {what} as Kafka Connect does (not JSON); check "
                "--connect-url."
            ) from None

    def _error(self, status: int, message: str, what: str, connector: str | None):
        if status == 404 and connector is not None and message:
            return NotFoundError(
                f"connector {connector} does not exist on Kafka Connect at {self.url}; "
                "`ingestctl connectors list` shows the ones it has."
            )
        if status in (401, 403):
            return ClusterError(
                f"Kafka Connect at {self.url} refused {what} (HTTP {status}); check "
                "connect_basic_auth in the profile."
            )
        if status == 404:
            return ClusterError(
                f"Kafka Connect at {self.url} answered HTTP 404 to {what}; check that "
                "--connect-url is the worker's REST root."
            )
        return ClusterError(
            f"Kafka Connect at {self.url} failed {what}: HTTP {status}"
            + (f": {message}" if message else ".")
        )

    # --- reading ---------------------------------------------------------------------------

    def info(self) -> dict:
        """The worker's version, commit and kafka_cluster_id."""
        return self._request("GET", "/", "reading the worker's version")

    def connectors(self) -> list[str]:
        return sorted(self._request("GET", "/connectors", "listing connectors"))

    def overview(self) -> dict[str, tuple[ConnectorStatus, dict[str, str]]]:
        """Every connector's status and config, in one request."""
        body = self._request("GET", "/connectors?expand=status&expand=info",
                             "listing connectors")
        return {
            name: (ConnectorStatus.from_rest(item["status"]), item["info"]["config"])
            for name, item in sorted(body.items())
        }

    def status(self, name: str) -> ConnectorStatus:
        return ConnectorStatus.from_rest(self._request(
            "GET", f"/connectors/{_quote(name)}/status", f"reading the status of {name}",
            connector=name))

    def config(self, name: str) -> dict[str, str]:
        return self._request("GET", f"/connectors/{_quote(name)}/config",
                             f"reading the config of {name}", connector=name)

    def offsets(self, name: str) -> list[dict]:
        """The connector's offsets (KIP-875): for a sink, its group's committed offsets."""
        body = self._request("GET", f"/connectors/{_quote(name)}/offsets",
                             f"reading the offsets of {name}", connector=name)
        return list(body.get("offsets") or [])

    # --- changing --------------------------------------------------------------------------

    def put_config(self, name: str, config: dict[str, str]) -> None:
        """Create the connector, or update its config."""
        self._request("PUT", f"/connectors/{_quote(name)}/config", f"configuring {name}",
                      body=config)

    def delete(self, name: str) -> None:
        self._request("DELETE", f"/connectors/{_quote(name)}", f"deleting {name}",
                      connector=name)

    def stop(self, name: str) -> None:
        """Ask the connector to stop (its tasks shut down; wait_for_state says when)."""
        self._request("PUT", f"/connectors/{_quote(name)}/stop", f"stopping {name}",
                      connector=name)

    def pause(self, name: str) -> None:
        self._request("PUT", f"/connectors/{_quote(name)}/pause", f"pausing {name}",
                      connector=name)

    def resume(self, name: str) -> None:
        self._request("PUT", f"/connectors/{_quote(name)}/resume", f"resuming {name}",
                      connector=name)

    def restart(self, name: str, only_failed: bool = True) -> None:
        """Restart the connector and its tasks (KIP-745): only the failed ones, or all."""
        query = f"includeTasks=true&onlyFailed={'true' if only_failed else 'false'}"
        self._request("POST", f"/connectors/{_quote(name)}/restart?{query}",
                      f"restarting {name}", connector=name)

    def alter_offsets(self, name: str, offsets: list[dict]) -> str:
        """Set the connector's offsets (KIP-875 entries; see sink_offsets_body). Connect allows
        it only while the connector is STOPPED. Returns Connect's message."""
        if not offsets:
            raise UsageError(f"no offsets to apply to connector {name}.")
        body = self._request("PATCH", f"/connectors/{_quote(name)}/offsets",
                             f"altering the offsets of {name}", body={"offsets": offsets},
                             connector=name)
        return (body or {}).get("message", "")

    def wait_for_state(self, name: str, state: str, timeout: float | None = None,
                       restarted: ConnectorStatus | None = None) -> ConnectorStatus:
        """Poll until the connector is in `state`: STOPPED also needs its tasks gone (its sink
        group then has no members), RUNNING needs at least one task and every task RUNNING,
        PAUSED every task PAUSED. A FAILED task while waiting for RUNNING ends the wait,
        except, after a restart, one still showing the failure it had before (`restarted`:
        the status then): Connect reports the restart a moment after accepting it."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        stale = set()
        if restarted is not None:
            stale = {t.id for t in restarted.tasks if t.state == "FAILED"}
            if restarted.state == "FAILED":
                stale.add("connector")
        while True:
            try:
                current = self.status(name)
            except NotFoundError:
                # A connector just created has no status until its worker writes one.
                if name not in self.connectors() or time.monotonic() >= deadline:
                    raise
                time.sleep(_POLL_SECONDS)
                continue
            if _reached(current, state):
                return current
            stale -= {t.id for t in current.tasks if t.state != "FAILED"}
            if current.state != "FAILED":
                stale.discard("connector")
            failed = [t for t in current.tasks if t.state == "FAILED" and t.id not in stale]
            connector_failed = current.state == "FAILED" and "connector" not in stale
            if state == "RUNNING" and (failed or connector_failed):
                trace = (failed[0].trace if failed else current.trace) or ""
                first_line = trace.strip().splitlines()[0] if trace.strip() else "no trace"
                raise ClusterError(
                    f"connector {name} failed instead of reaching RUNNING ({first_line}); see "
                    f"`ingestctl connectors describe {name}` and the worker's log."
                )
            if time.monotonic() >= deadline:
                tasks = ", ".join(f"{t.id}:{t.state}" for t in current.tasks) or "none"
                raise ClusterError(
                    f"connector {name} did not reach {state} within {timeout:g} s (it is "
                    f"{current.state}, tasks {tasks}); check the worker's log, or raise "
                    "--timeout."
                )
            time.sleep(_POLL_SECONDS)


def _reached(status: ConnectorStatus, state: str) -> bool:
    if status.state != state:
        return False
    if state == "STOPPED":
        return not status.tasks
    if state == "RUNNING":
        return bool(status.tasks) and all(t.state == "RUNNING" for t in status.tasks)
    return all(t.state == state for t in status.tasks)


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _message(exc: urllib.error.HTTPError) -> str:
    """Connect's error message ({"error_code": …, "message": …}); empty when the answer is
    not Connect's JSON (a proxy's or a wrong server's page)."""
    try:
        body = json.loads(exc.read() or b"null")
    except (ValueError, OSError):
        return ""
    return str(body.get("message") or "")[:300] if isinstance(body, dict) else ""


def is_sink(status: ConnectorStatus, config: dict[str, str]) -> bool:
    """Connect's type when it says, else a sink by its `topics`/`topics.regex` setting."""
    if status.type in ("sink", "source"):
        return status.type == "sink"
    return "topics" in config or "topics.regex" in config

