"""`ingestctl groups list|describe|wait` (and `groups reset`, registered from cli/reset.py)."""

from typing import Annotated

import typer

from ..parsing import parse_duration_ms
from .context import app_context
from .render import duration, emit, key_values, make_table, note, table_time
from .reset import reset

app = typer.Typer(
    help="Consumer groups: state, members, lag in records and in seconds.",
    no_args_is_help=True,
)


def _dash(value):
    return "-" if value is None else value


@app.command("list")
def list_groups(ctx: typer.Context) -> None:
    """Groups with state, members, topics and total lag in records."""
    from ..inspection import groups as group_views

    state = app_context(ctx)
    data = group_views.list_groups(state.settings)

    def table(rows):
        return [make_table(None, ["group", "state", "members", "topics", "total lag"], [
            (r["group"], r["state"], r["members"], ",".join(r["topics"]), r["total_lag"])
            for r in rows])]

    emit(state.output, data, table)


@app.command("describe")
def describe(
    ctx: typer.Context,
    groups: Annotated[list[str], typer.Argument(help="One or more group ids.")],
    topic: Annotated[list[str] | None, typer.Option(
        "--topic", help="Only this topic (repeatable); shows all its partitions.")] = None,
) -> None:
    """State, members, and per partition: committed offset, end offset (high watermark), lag
    in records and in seconds (how old the next unconsumed record is; 0 when caught up).
    Partitions the group never committed show '-' (null in JSON), not zero."""
    from ..inspection import groups as group_views

    state = app_context(ctx)
    data = group_views.describe_groups(state.settings, groups, topic or None)

    def table(items):
        out = []
        for g in items:
            out.append(key_values(g["group"], [
                ("state", g["state"]), ("members", len(g["members"])),
                ("total lag", g["total_lag"]),
            ]))
            if g["members"]:
                out.append(make_table(None, ["client id", "host", "member id", "assigned"], [
                    (m["client_id"], m["host"], m["member_id"],
                     ", ".join(f"{a['topic']}[{a['partition']}]" for a in m["assignment"]))
                    for m in g["members"]]))
            for topic in dict.fromkeys(p["topic"] for p in g["partitions"]):
                out.append(make_table(topic, [
                    "p", "committed", "end", "lag", "behind", "next record (UTC)"], [
                    (p["partition"], _dash(p["committed"]), _dash(p["end"]), _dash(p["lag"]),
                     duration(p["lag_seconds"]) if p["lag_seconds"] is not None
                     else _dash(None), table_time(p["next_timestamp"]))
                    for p in g["partitions"] if p["topic"] == topic]))
            out.append("")
        return out

    emit(state.output, data, table)


@app.command("wait")
def wait(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument(help="The group id.")],
    max_lag: Annotated[int, typer.Option(
        "--max-lag", min=0, help="Succeed once the group's total lag is at most this.")],
    timeout: Annotated[str, typer.Option(
        "--timeout", help="Give up (exit 6) after this long, e.g. 90s, 10m, 2h.")] = "10m",
    interval: Annotated[str, typer.Option(
        "--interval", help="Time between checks, e.g. 500ms, 5s.")] = "2s",
) -> None:
    """Block until the group's total lag is at most --max-lag: the gate before a cutover.
    Exit 0 when it is, 6 on timeout; progress goes to stderr. Partitions without a committed
    offset do not count towards the lag."""
    from ..inspection import groups as group_views

    state = app_context(ctx)
    timeout_ms = parse_duration_ms(timeout, "--timeout")
    interval_ms = parse_duration_ms(interval, "--interval")

    def progress(lag, waited: float) -> None:
        uncommitted = sum(1 for p in lag.partitions if p.committed is None)
        extra = f"; partitions without a committed offset: {uncommitted}" if uncommitted else ""
        note(f"group {group}: total lag {lag.total_lag} > {max_lag} after {waited:.1f} s{extra}")

    data = group_views.wait_for_lag(state.settings, group, max_lag, timeout_ms,
                                interval_ms, progress)
    emit(state.output, data, lambda d: [key_values(None, list(d.items()))])


app.command("reset")(reset)
