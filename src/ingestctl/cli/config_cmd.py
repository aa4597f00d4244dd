"""`ingestctl config show`."""

import typer

from ..config import Settings
from .context import app_context
from .render import emit, key_values

app = typer.Typer(help="The effective configuration.", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the effective configuration (flags > environment > profile > defaults), with
    every secret redacted."""
    state = app_context(ctx)
    settings: Settings = state.settings
    data = settings.as_redacted_dict()

    def table(d):
        pairs = [(k, v) for k, v in d.items() if k not in ("kafka", "sources")]
        pairs += [(f"kafka: {k}", v) for k, v in d["kafka"].items()]
        return [key_values("effective configuration", pairs)]

    emit(state.output, data, table)
