"""`ingestctl cluster info`."""

import typer

from .context import app_context
from .render import emit, key_values, make_table

app = typer.Typer(help="The cluster itself.", no_args_is_help=True)


@app.command("info")
def info(ctx: typer.Context) -> None:
    """Cluster id, controller and brokers."""
    from .. import kafka

    state = app_context(ctx)
    data = kafka.cluster_info(state.settings)

    def table(d):
        controller = d["controller"]
        return [
            key_values(None, [("cluster id", d["cluster_id"]),
                              ("controller", controller and f"{controller['id']} "
                               f"({controller['host']}:{controller['port']})")]),
            make_table("brokers", ["id", "host", "port", "rack"],
                       [(b["id"], b["host"], b["port"], b["rack"]) for b in d["brokers"]]),
        ]

    emit(state.output, data, table)
