"""`ingestctl connectors list|describe`: Kafka Connect connectors, their tasks and sink lag."""

from typing import Annotated

import typer

from . import views
from .context import app_context
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
