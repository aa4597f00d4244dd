"""`ingestctl connectors list|describe`: Kafka Connect connectors, their tasks and sink lag."""

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
