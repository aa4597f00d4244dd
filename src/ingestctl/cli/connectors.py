"""`ingestctl connectors list|describe`: Kafka Connect connectors, their tasks and sink lag."""

from pathlib import Path
from typing import Annotated

import typer

from .context import app_context
from .render import emit, key_values, make_table, note

app = typer.Typer(
    help="Kafka Connect connectors: state, tasks, and a sink's consumer group lag "
    "(needs --connect-url or the profile's connect_url).",
    no_args_is_help=True,
)


def _dash(value):
    return "-" if value is None else value


def _tasks(tasks: list[dict]) -> str:
    return ", ".join(f"{t['id']}:{t['state']}" for t in tasks) or "none"


@app.command("list")
def list_connectors(ctx: typer.Context) -> None:
    """Every connector with its state, tasks, and for a sink its consumer group and total lag
    in records and seconds (on the cluster of --bootstrap-servers)."""
    from ..inspection import connectors as connector_views

    state = app_context(ctx)
    rows, notes = connector_views.list_connectors(state.settings)
    for message in notes:
        note(message)

    def table(items):
        return [make_table(None, ["connector", "type", "state", "tasks", "group", "lag",
                                  "lag (s)"], [
            (r["connector"], r["type"], r["state"], _tasks(r["tasks"]), _dash(r["group"]),
             _dash(r["total_lag"]), _dash(r["lag_seconds"]))
            for r in items])]

    emit(state.output, rows, table)


@app.command("describe")
def describe(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="One or more connector names.",
                                               show_default=False)],
) -> None:
    """Each connector's class, state, worker and tasks (with the first line of a failed
    one's trace); for a sink its topics, consumer group (connect-NAME unless overridden) and
    per partition committed offset, end, lag in records and in seconds. A connector Connect
    does not have exits 4."""
    from ..inspection import connectors as connector_views

    state = app_context(ctx)
    rows, notes = connector_views.describe_connectors(state.settings, names)
    for message in notes:
        note(message)

    def table(items):
        out = []
        for c in items:
            pairs = [
                ("type", c["type"]), ("class", c["class"]), ("state", c["state"]),
                ("worker", c["worker_id"]), ("topics", ",".join(c["topics"]) or None),
                ("group", c["group"]), ("group state", c["group_state"]),
                ("total lag", c["total_lag"]), ("lag (s)", c["lag_seconds"]),
                ("error", _first_line(c["trace"])),
            ]
            out.append(key_values(c["connector"], [(k, v) for k, v in pairs if v is not None]))
            out.append(make_table(None, ["task", "state", "worker", "error"], [
                (t["id"], t["state"], t["worker_id"], _first_line(t["trace"]) or "")
                for t in c["tasks"]]))
            if c["partitions"]:
                out.append(make_table(None, [
                    "topic", "partition", "committed", "end", "lag", "lag (s)",
                    "next timestamp"], [
                    (p["topic"], p["partition"], _dash(p["committed"]), _dash(p["end"]),
                     _dash(p["lag"]), _dash(p["lag_seconds"]), p["next_timestamp"])
                    for p in c["partitions"]]))
            out.append("")
        return out

    emit(state.output, rows, table)


def _first_line(trace: str | None) -> str | None:
    return trace.strip().splitlines()[0] if trace and trace.strip() else None


# --- changing a connector's state: plan first, --execute to act, audited -------------------

_Names = Annotated[list[str], typer.Argument(help="One or more connector names.",
                                             show_default=False)]
_Dir = Annotated[Path | None, typer.Option(
    "--dir", help="Checkpoint directory, where the audit log audit.jsonl lives (default: the "
    "profile's checkpoint_dir, else ./checkpoints).")]
_Execute = Annotated[bool, typer.Option("--execute", help="Make the change (without it: the "
                                        "plan only, nothing changed).")]


def _change(ctx: typer.Context, action: str, names: list[str], directory: Path | None,
            execute: bool, all_tasks: bool = False) -> None:
    from ..checkpoints import checkpoint_dir
    from ..services import connector_ops

    state = app_context(ctx)
    if execute:
        audit_dir = checkpoint_dir(directory, state.settings)
        doc = connector_ops.execute(state.settings, action, names, audit_dir, all_tasks,
                                    progress=note)
    else:
        doc = connector_ops.plan(state.settings, action, names, all_tasks)

    def table(d):
        rows = [(c["connector"], c["state_before"], _tasks(c["tasks_before"]), c["plan"],
                 c["state_after"] or "", _tasks(c["tasks_after"]) if c["tasks_after"] is not None
                 else "") for c in d["connectors"]]
        return [make_table(None, ["connector", "state", "tasks", "plan", "state after",
                                  "tasks after"], rows)]

    emit(state.output, doc, table)
    if not execute and any(c["change"] for c in doc["connectors"]):
        note("nothing changed; add --execute")
    elif not any(c["change"] for c in doc["connectors"]):
        note("nothing to change.")


@app.command("pause")
def pause(ctx: typer.Context, names: _Names, directory: _Dir = None,
          execute: _Execute = False) -> None:
    """Pause connectors (their tasks stay assigned, idle). Plan first: without --execute,
    prints what would change. Each change is appended to the audit log."""
    _change(ctx, "pause", names, directory, execute)


@app.command("resume")
def resume(ctx: typer.Context, names: _Names, directory: _Dir = None,
           execute: _Execute = False) -> None:
    """Resume paused or stopped connectors (RUNNING again). Plan first: without --execute,
    prints what would change. Each change is appended to the audit log."""
    _change(ctx, "resume", names, directory, execute)


@app.command("stop")
def stop(ctx: typer.Context, names: _Names, directory: _Dir = None,
         execute: _Execute = False) -> None:
    """Stop connectors (tasks shut down; a sink's group has no members, and its offsets can
    be altered). Plan first: without --execute, prints what would change. Audited."""
    _change(ctx, "stop", names, directory, execute)


@app.command("restart")
def restart(
    ctx: typer.Context, names: _Names, directory: _Dir = None,
    all_tasks: Annotated[bool, typer.Option(
        "--all-tasks", help="Restart the connector and every task, not only failed ones.")
    ] = False,
    execute: _Execute = False,
) -> None:
    """Restart connectors' failed tasks (every task with --all-tasks). Plan first: without
    --execute, prints what would change. Each change is appended to the audit log."""
    _change(ctx, "restart", names, directory, execute, all_tasks)
