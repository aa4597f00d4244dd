"""`ingestctl config show`."""

import typer

from ..config import Settings
from . import views
from .context import app_context
from .render import emit

app = typer.Typer(help="The effective configuration.", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the effective configuration (flags > environment > profile > defaults), with
    every secret redacted."""
    state = app_context(ctx)
    settings: Settings = state.settings
    data = settings.as_redacted_dict()
    emit(state.output, data, views.config_show)
