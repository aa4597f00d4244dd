"""`connectors pause|resume|stop|restart`: a connector's state changed through the Kafka
Connect REST API, planned first (what would change, from which state) and, executed, waited
for and appended to the audit log one line per connector."""

from collections.abc import Callable
from pathlib import Path

from ..config import Settings
from ..errors import IngestError, NotFoundError
from ..files import audit
from ..services.connect import Connect, ConnectorStatus

# action -> the state the connector ends in (restart: running again)
TARGET = {"pause": "PAUSED", "resume": "RUNNING", "stop": "STOPPED", "restart": "RUNNING"}


def _tasks(status: ConnectorStatus) -> list[dict]:
    return [{"id": t.id, "state": t.state} for t in status.tasks]


def _planned(action: str, status: ConnectorStatus, all_tasks: bool) -> tuple[bool, str]:
    """Whether the action changes anything, and one sentence saying what."""
    state = status.state
    if action == "restart":
        failed = [t.id for t in status.tasks if t.state == "FAILED"]
        if all_tasks:
            return True, f"restart the connector and all {len(status.tasks)} task(s)"
        if failed or state == "FAILED":
            what = ", ".join(map(str, failed)) if failed else "none"
            return True, f"restart the failed connector and task(s) ({what})"
        return False, "no failed task to restart (--all-tasks restarts every task)"
    target = TARGET[action]
    if action == "pause" and state == "STOPPED":
        return True, "STOPPED → PAUSED (its tasks are started, paused)"
    if state == target and all(t.state == target for t in status.tasks) and (
            action != "stop" or not status.tasks):
        return False, f"already {target}"
    return True, f"{state} → {target}"


def plan(settings: Settings, action: str, names: list[str], all_tasks: bool = False) -> dict:
    """What the action would change on each connector (NotFoundError naming any that Connect
    does not have, before anything changes)."""
    connect = Connect(settings)
    overview = connect.overview()
    names = list(dict.fromkeys(names))
    missing = [n for n in names if n not in overview]
    if missing:
        raise NotFoundError(
            f"connector {', '.join(missing)} does not exist on Kafka Connect at {connect.url}; "
            "`ingestctl connectors list` shows the ones it has."
        )
    rows = []
    for name in names:
        status = overview[name][0]
        change, what = _planned(action, status, all_tasks)
        rows.append({"connector": name, "state_before": status.state,
                     "tasks_before": _tasks(status), "change": change, "plan": what,
                     "state_after": None, "tasks_after": None})
    return {"executed": False, "action": action, "all_tasks": all_tasks,
            "connect_url": connect.url, "connectors": rows}


def execute(settings: Settings, action: str, names: list[str], audit_dir: Path,
            all_tasks: bool = False,
            progress: Callable[[str], None] = lambda _m: None) -> dict:
    """Apply the plan: each change made, waited for (the connector reaching its state) and
    audited. Connectors with nothing to change are left alone."""
    doc = plan(settings, action, names, all_tasks)
    audit.prepare(audit_dir)
    connect = Connect(settings)
    cluster = connect.info().get("kafka_cluster_id")
    for row in doc["connectors"]:
        name = row["connector"]
        if row["change"]:
            before = None  # a restart's status before it (see Connect.wait_for_state)
            if action == "pause":
                connect.pause(name)
            elif action == "resume":
                connect.resume(name)
            elif action == "stop":
                connect.stop(name)
            else:
                before = connect.status(name)
                connect.restart(name, only_failed=not all_tasks)
            progress(f"{action}: {name} {row['plan']}")
            fields = dict(connector=name, connect_url=connect.url,
                          state_before=row["state_before"], tasks_before=row["tasks_before"],
                          all_tasks=all_tasks)
            try:
                after = connect.wait_for_state(
                    name, TARGET[action], restarted=before)
            except IngestError as exc:
                # The change was asked for: the audit log says so, and what went wrong.
                audit.record(audit_dir, f"connectors {action}", cluster, **fields,
                             state_after=None, error=exc.message)
                raise
            audit.record(audit_dir, f"connectors {action}", cluster, **fields,
                         state_after=after.state, tasks_after=_tasks(after))
        else:
            after = connect.status(name)
        row["state_after"], row["tasks_after"] = after.state, _tasks(after)
    doc["executed"] = True
    return doc
