"""`ingestctl connectors list|describe`: Kafka Connect connectors, their tasks and sink lag."""

from pathlib import Path
from typing import Annotated

import typer

from . import views
from .context import app_context
from .options import Dir, Execute
from .render import emit, note

app = typer.Typer(
    help="Kafka Connect connectors: state, tasks, and a sink's consumer group lag "
    "(needs --connect-url or the profile's connect_url).",
    no_args_is_help=True,
)


@app.command("list")
def list_connectors(ctx: typer.Context) -> None:
    """Every connector with its state, tasks, and for a sink its consumer group and total lag
    in records and seconds (on the cluster of --bootstrap-servers)."""
    from ..inspection import connectors as connector_views

    state = app_context(ctx)
    rows, notes = connector_views.list_connectors(state.settings)
    for message in notes:
        note(message)
    emit(state.output, rows, views.connectors_list)


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
    emit(state.output, rows, views.connectors_describe)


# --- changing a connector's state: plan first, --execute to act, audited -------------------

_Names = Annotated[list[str], typer.Argument(help="One or more connector names.",
                                             show_default=False)]


def _change(ctx: typer.Context, action: str, names: list[str], directory: Path | None,
            execute: bool, all_tasks: bool = False) -> None:
    from ..checkpoints import checkpoint_dir
    from ..operations import connector_changes

    state = app_context(ctx)
    if execute:
        audit_dir = checkpoint_dir(directory, state.settings)
        doc = connector_changes.execute(state.settings, action, names, audit_dir, all_tasks,
                                    progress=note)
    else:
        doc = connector_changes.plan(state.settings, action, names, all_tasks)

    emit(state.output, doc, views.connector_changes)
    if not execute and any(c["change"] for c in doc["connectors"]):
        note("nothing changed; add --execute")
    elif not any(c["change"] for c in doc["connectors"]):
        note("nothing to change.")


@app.command("pause")
def pause(ctx: typer.Context, names: _Names, directory: Dir = None,
          execute: Execute = False) -> None:
    """Pause connectors (their tasks stay assigned, idle). Plan first: without --execute,
    prints what would change. Each change is appended to the audit log."""
    _change(ctx, "pause", names, directory, execute)


@app.command("resume")
def resume(ctx: typer.Context, names: _Names, directory: Dir = None,
           execute: Execute = False) -> None:
    """Resume paused or stopped connectors (RUNNING again). Plan first: without --execute,
    prints what would change. Each change is appended to the audit log."""
    _change(ctx, "resume", names, directory, execute)


@app.command("stop")
def stop(ctx: typer.Context, names: _Names, directory: Dir = None,
         execute: Execute = False) -> None:
    """Stop connectors (tasks shut down; a sink's group has no members, and its offsets can
    be altered). Plan first: without --execute, prints what would change. Audited."""
    _change(ctx, "stop", names, directory, execute)


@app.command("restart")
def restart(
    ctx: typer.Context, names: _Names, directory: Dir = None,
    all_tasks: Annotated[bool, typer.Option(
        "--all-tasks", help="Restart the connector and every task, not only failed ones.")
    ] = False,
    execute: Execute = False,
) -> None:
    """Restart connectors' failed tasks (every task with --all-tasks). Plan first: without
    --execute, prints what would change. Each change is appended to the audit log."""
    _change(ctx, "restart", names, directory, execute, all_tasks)
