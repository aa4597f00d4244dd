"""`rollback --connector`: put a sink connector's offsets back where a checkpoint recorded them,
through Kafka Connect's offset API (KIP-875).

Planned as a group rollback is (offsets.place_all, the same refusals: another cluster, changed
partition counts, a target no longer retained unless --allow-clamp). With --by-timestamp, on
another cluster (a migration's target), each partition goes to the first record at or after
the time the checkpoint recorded for the sink's group, as a group rollback by timestamp does.
Executed as Connect requires: stop the connector and wait until it is STOPPED and its group
has no members, plan again (its offsets no longer move), apply the targets with one PATCH,
read them back while it is still stopped, log the change to the audit log, and put it back
in the state it was in when planned: RUNNING (resume it and wait until it runs), PAUSED (pause
it and wait until its tasks are paused) or STOPPED (leave it). Anything that fails after the
stop leaves it STOPPED and says so: resuming a sink whose offsets are in doubt would deliver
from the wrong place.
"""

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from .. import checkpoints
from ..config import Settings
from ..errors import ClusterError, IncompleteError, IngestError, NotFoundError, RefusedError
from ..files import audit
from ..partitions import TP, name
from ..services.connect import Connect, is_sink, sink_group, sink_offsets, sink_offsets_body
from .plan import offsets_for_times, partition_bounds, refuse_other_cluster, refuse_plan_problems
from .planners import Bounds, Move, by_timestamp_wanted, place_all, timestamp_to_find

_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class ConnectorPlan:
    connector: str
    group: str  # the sink's consumer group
    state: str  # the connector's state when planned
    checkpoint: Path
    allow_clamp: bool
    cluster_id: str
    moves: list[Move]
    bounds: dict[TP, Bounds]
    by_timestamp: bool = False
    final_state: str | None = None  # after an executed rollback: RUNNING

    @property
    def at_target(self) -> bool:
        return not any(m.changes for m in self.moves)

    def targets(self) -> dict[TP, int]:
        return {(m.topic, m.partition): m.target for m in self.moves}

    def as_json(self, executed: bool) -> dict:
        """The rollback JSON contract, with the connector in a `connectors` list (`groups`
        stays, empty, so scripts reading rollback output find the same keys)."""
        return {
            "executed": executed,
            "cluster_id": self.cluster_id,
            "command": "rollback",
            "source": f"{self.checkpoint} (connector offsets"
                      + (", by timestamp)" if self.by_timestamp else ")"),
            "groups": [],
            "connectors": [{
                "connector": self.connector, "group": self.group, "state": self.state,
                "final_state": self.final_state,
                "partitions": [
                    {"topic": m.topic, "partition": m.partition, "current": m.current,
                     "target": m.target, "delta": m.delta, "note": m.note}
                    for m in self.moves],
            }],
        }


def plan(settings: Settings, checkpoint_path: Path, connector: str,
         allow_clamp: bool = False, by_timestamp: bool = False) -> ConnectorPlan:
    """Plan moving the connector's offsets back to the checkpoint's. NotFoundError (exit 4)
    when the checkpoint or Connect lacks the connector; RefusedError (exit 3, nothing changed)
    for a source connector, no recorded offsets, another cluster (unless by_timestamp),
    changed partitions, targets no longer retained, a partition with no record time to go by,
    or consumers in the sink's group that are not its tasks."""
    from .. import kafka
    from ..kafka import groups as kafka_groups
    from ..kafka import metadata

    cp = checkpoints.load(checkpoint_path)  # exit 7 unless intact
    if connector not in cp.connectors:
        raise NotFoundError(
            f"connector {connector} is not in checkpoint {checkpoint_path}; it holds: "
            f"{', '.join(sorted(cp.connectors)) or 'no connectors'}.")
    recorded = cp.connectors[connector]
    if recorded.type != "sink":
        raise RefusedError(
            f"connector {connector} is a {recorded.type or 'non-sink'} connector in checkpoint "
            f"{checkpoint_path}; rollback --connector moves a sink connector's offsets only.")
    wanted = recorded.sink_offsets()
    if not wanted:
        raise RefusedError(
            f"checkpoint {checkpoint_path} recorded no offsets for connector {connector} (it "
            "had committed none yet), so there is nothing to roll back to.")

    connect = Connect(settings)
    status = connect.status(connector)  # exit 4 when Connect lacks it
    config = connect.config(connector)
    if not is_sink(status, config):
        raise RefusedError(f"connector {connector} is no longer a sink connector on Kafka "
                           f"Connect at {connect.url}; nothing was changed.")
    group = sink_group(connector, config)
    admin = kafka.Admin(settings)
    cluster = kafka.cluster_id(admin)
    if not by_timestamp:
        refuse_other_cluster(checkpoint_path, cp.cluster_id, settings, cluster,
                             "place the connector")
    worker_cluster = connect.info().get("kafka_cluster_id")
    if worker_cluster and worker_cluster != cluster:
        raise RefusedError(
            f"Kafka Connect at {connect.url} works against Kafka cluster {worker_cluster}, but "
            f"{settings.bootstrap_servers} is cluster {cluster}; pass that cluster's brokers "
            "with -b.")

    topics = sorted({t for t, _ in wanted})
    problems = [f"topic {t} is not in the checkpoint's topics section (it did not exist when "
                "the checkpoint was taken)." for t in topics if t not in cp.topics]
    problems += checkpoints.partition_count_problems(
        cp, metadata.list_topics(admin), [t for t in topics if t in cp.topics])
    if problems:
        raise RefusedError(f"the partitions of checkpoint {checkpoint_path} no longer match "
                           "the cluster; nothing was changed.", details=problems)

    info = kafka_groups.describe_groups(admin, [group])[group]
    outsiders = sorted({m.client_id for m in info.members
                        if not _is_task_consumer(connector, config, m.client_id)})
    if outsiders:
        raise RefusedError(
            f"group {group} of connector {connector} has members that are not the connector's "
            f"tasks (client ids: {', '.join(outsiders)}); stop those consumers, then run this "
            "again.")

    bounds = partition_bounds(admin, sorted(wanted))
    current = sink_offsets(connect.offsets(connector))
    notes: dict[TP, str] = {}
    problems: list[str] = []
    if by_timestamp:
        wanted, notes, problems = _wanted_by_timestamp(admin, cp, checkpoint_path, connector,
                                                       recorded.group, sorted(wanted), bounds)
    moves, out_of_range = place_all(wanted, current, bounds, allow_clamp, notes)
    refuse_plan_problems([f"connector {connector} {p}" for p in problems + out_of_range],
                         allow_clamp)
    return ConnectorPlan(connector, group, status.state, Path(checkpoint_path), allow_clamp,
                         cluster, moves, bounds, by_timestamp)


def _wanted_by_timestamp(admin, cp, checkpoint_path: Path, connector: str,
                         recorded_group: str | None, tps: list[TP], bounds: dict[TP, Bounds]
                         ) -> tuple[dict[TP, int], dict[TP, str], list[str]]:
    """Targets on this cluster for the record times the checkpoint holds for the sink's
    group (its groups section records them with each committed offset)."""
    offsets = cp.groups[recorded_group].offsets if recorded_group in cp.groups else {}
    times = {(t, p): (o.next_timestamp, o.last_timestamp)
             for t, parts in offsets.items() for p, o in parts.items() if (t, p) in tps}
    unknown = [tp for tp in tps if tp not in times]
    if unknown:
        raise RefusedError(
            f"checkpoint {checkpoint_path} recorded no record times for connector {connector}'s "
            f"group ({recorded_group or 'unknown'}) on {', '.join(map(name, unknown))}, so "
            "there is no time to go by; nothing was changed.")
    lookups = {tp: ts for tp, t in times.items() if (ts := timestamp_to_find(*t)) is not None}
    found = offsets_for_times(admin, lookups) if lookups else {}
    return by_timestamp_wanted(times, {tp: found.get(tp, -1) for tp in times}, bounds)


def _is_task_consumer(connector: str, config: dict[str, str], client_id: str) -> bool:
    """Connect names a sink task's consumer `connector-consumer-NAME-TASK` unless the
    connector overrides client.id."""
    override = config.get("consumer.override.client.id")
    if override:
        return client_id == override
    return client_id.startswith(f"connector-consumer-{connector}-")


def readback_problems(targets: dict[TP, int], read: dict[TP, int]) -> list[str]:
    """Each partition whose offset Connect reports differs from the one applied."""
    return [f"{name(tp)}: expected {target}, Connect reports {read.get(tp)}"
            for tp, target in sorted(targets.items()) if read.get(tp) != target]


def execute(settings: Settings, first: ConnectorPlan, audit_dir: Path) -> ConnectorPlan:
    """Stop, wait, re-plan, apply, read back, audit, resume (see the module's docstring).
    Returns the plan that was applied, with the offsets as they were when the connector had
    stopped and its final state."""
    audit.prepare(audit_dir)
    connect = Connect(settings)
    connector = first.connector
    connect.stop(connector)
    try:
        connect.wait_for_state(connector, "STOPPED")
        _wait_until_group_empty(settings, first.group)
        applied = plan(settings, first.checkpoint, connector, first.allow_clamp,
                       first.by_timestamp)
        if not applied.at_target:
            targets = applied.targets()
            connect.alter_offsets(connector, sink_offsets_body(targets))
            wrong = readback_problems(targets, sink_offsets(connect.offsets(connector)))
            if wrong:
                raise ClusterError(
                    f"the offsets of connector {connector} read back differ from what was "
                    f"applied on {len(wrong)} partition(s).", details=wrong)
            audit.record(audit_dir, "rollback", applied.cluster_id, connector=connector,
                         group=applied.group, source=f"{applied.checkpoint} (connector offsets)",
                         changes=[{"topic": m.topic, "partition": m.partition,
                                   "before": m.current, "after": m.target}
                                  for m in applied.moves if m.changes])
    except IngestError as exc:
        # Keep the error as raised (its class, exit code and fields); add what became of the
        # connector to its details.
        exc.details = [*getattr(exc, "details", []), _left_stopped(connector, first.state)]
        raise
    except KeyboardInterrupt:
        raise IncompleteError(
            f"interrupted; {_left_stopped(connector, first.state)}") from None
    try:
        final = _restore(connect, connector, first.state)
    except ClusterError as exc:
        raise ClusterError(
            f"the offsets of connector {connector} were applied, read back and logged, but "
            f"putting it back to {_restored(first.state)}: {exc.message}",
            details=exc.details) from exc
    return dataclasses.replace(applied, state=first.state, final_state=final.state)


def _restored(prior: str) -> str:
    """The state a rollback leaves the connector in: the one it found, where Connect has
    such a target state (PAUSED, STOPPED); RUNNING otherwise (RUNNING, or a FAILED or
    UNASSIGNED connector, which resuming restarts)."""
    return prior if prior in ("PAUSED", "STOPPED") else "RUNNING"


def _restore(connect: Connect, connector: str, prior: str):
    """Put the connector back in the state it was in before the rollback stopped it."""
    target = _restored(prior)
    if target == "PAUSED":
        connect.pause(connector)
    elif target == "RUNNING":
        connect.resume(connector)
    return connect.wait_for_state(connector, target)


def _left_stopped(connector: str, prior: str) -> str:
    target = _restored(prior)
    if target == "STOPPED":
        return (f"connector {connector} is left STOPPED, as it was before this rollback. Fix "
                "the cause and run this rollback again.")
    verb = "pause" if target == "PAUSED" else "resume"
    return (f"connector {connector} is left STOPPED (it was {prior} before this rollback). Fix "
            f"the cause and run this rollback again, then {verb} the connector (Kafka Connect: "
            f"PUT /connectors/{connector}/{verb}); a rerun finds it STOPPED and leaves it so.")


def _wait_until_group_empty(settings: Settings, group: str) -> None:
    """Connect reports STOPPED once its tasks are gone; their consumers may still be leaving
    the group, and Connect alters a sink's offsets only when the group has no members."""
    from .. import kafka
    from ..kafka import groups as kafka_groups

    admin = kafka.Admin(settings)
    deadline = time.monotonic() + settings.timeout
    while True:
        info = kafka_groups.describe_groups(admin, [group])[group]
        if not info.members:
            return
        if time.monotonic() >= deadline:
            clients = ", ".join(sorted({m.client_id for m in info.members}))
            raise ClusterError(
                f"group {group} still has {len(info.members)} member(s) (client ids: "
                f"{clients}) {settings.timeout:g} s after its connector stopped; another "
                "consumer uses the sink's group: stop it.")
        time.sleep(_POLL_SECONDS)
