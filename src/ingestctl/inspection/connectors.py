"""`connectors list|describe`: each connector's state and tasks, and a sink's consumer group
lag (one batched lag lookup for all sinks)."""

from ..config import Settings
from ..errors import ClusterError, NotFoundError
from ..services.connect import Connect, is_sink, sink_group, sink_topics
from .groups import group_lag


def list_connectors(settings: Settings) -> tuple[list[dict], list[str]]:
    """Every connector with state, tasks, and for sinks the group and its lag; plus notes
    (why lag is missing, when it is)."""
    rows, notes = _views(settings, None)
    keep = ("connector", "type", "state", "tasks", "group", "total_lag", "lag_seconds")
    return [{k: row[k] for k in keep} for row in rows], notes


def describe_connectors(settings: Settings, names: list[str]) -> tuple[list[dict], list[str]]:
    """Each named connector: class, state, worker, tasks (with the trace of failed ones),
    and for a sink its topics, group, group state and per partition lag in records and
    seconds. NotFoundError (exit 4) names any connector Connect does not have."""
    return _views(settings, list(dict.fromkeys(names)))


def _views(settings: Settings, names: list[str] | None) -> tuple[list[dict], list[str]]:
    connect = Connect(settings)
    overview = connect.overview()
    if names is not None:
        missing = [n for n in names if n not in overview]
        if missing:
            raise NotFoundError(
                f"connector {', '.join(missing)} does not exist on Kafka Connect at "
                f"{connect.url}; `ingestctl connectors list` shows the ones it has."
            )
        overview = {n: overview[n] for n in names}
    groups = sink_groups(overview)
    lags, notes = _sink_lags(settings, connect, sorted(set(groups.values())))
    return connector_rows(overview, lags), notes


def sink_groups(overview: dict) -> dict[str, str]:
    """connector -> its consumer group, for the sinks of a Connect.overview()."""
    return {name: sink_group(name, config) for name, (status, config) in overview.items()
            if is_sink(status, config)}


def connector_rows(overview: dict, lags: dict | None) -> list[dict]:
    """`connectors describe` rows from a Connect.overview() and the sink groups' GroupLag
    (None: lag not known)."""
    groups = sink_groups(overview)
    rows = []
    for name, (status, config) in overview.items():
        group = groups.get(name)
        lag = lags.get(group) if lags is not None and group else None
        ages = [p.lag_seconds for p in lag.partitions if p.lag_seconds is not None] if lag else []
        rows.append({
            "connector": name, "type": status.type, "class": config.get("connector.class"),
            "state": status.state, "worker_id": status.worker_id, "trace": status.trace,
            "tasks": [t.as_dict() for t in status.tasks],
            "topics": sink_topics(config) if group else [],
            "group": group, "group_state": lag.state if lag else None,
            "total_lag": lag.total_lag if lag else None,
            "lag_seconds": max(ages) if ages else (0.0 if lag else None),
            "partitions": [p.as_dict() for p in lag.partitions] if lag else [],
        })
    return rows


def other_cluster_note(connect: Connect, settings: Settings, ours: str) -> str | None:
    """Why sink lag cannot be shown: the worker works against another Kafka cluster than
    the settings' (None when it is the same one)."""
    worker_cluster = connect.info().get("kafka_cluster_id")
    if worker_cluster and worker_cluster != ours:
        return (f"Kafka Connect at {connect.url} works against Kafka cluster {worker_cluster}, "
                f"but {settings.bootstrap_servers} is cluster {ours}; sink lag is not shown "
                "(pass that cluster's brokers with -b).")
    return None


def _sink_lags(settings: Settings, connect: Connect, groups: list[str]):
    """The sink groups' lag on the settings' Kafka cluster, or None with a note saying why
    it cannot be shown (another cluster than the worker's, or unreachable)."""
    if not groups:
        return {}, []
    from ..kafka import Admin, cluster_id

    try:
        admin = Admin(settings)
        other = other_cluster_note(connect, settings, cluster_id(admin))
        if other:
            return None, [other]
        return group_lag(admin, groups), []
    except ClusterError as exc:
        return None, [f"sink lag is not shown: {exc.message}"]

