"""`ingestctl cluster info`."""

import typer

from . import views
from .context import app_context
from .render import emit

app = typer.Typer(help="The cluster itself.", no_args_is_help=True)


@app.command("info")
def info(ctx: typer.Context) -> None:
    """Cluster id, controller and brokers."""
    from .. import kafka

    state = app_context(ctx)
    data = kafka.cluster_info(state.settings)
    emit(state.output, data, views.cluster_info)
