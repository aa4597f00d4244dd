"""`ingestctl groups list|describe|wait` (and `groups reset`, registered from cli/reset.py)."""

from typing import Annotated

import typer

from ..parsing import parse_duration_ms
from . import views
from .context import app_context
from .render import emit, note
from .reset import reset

app = typer.Typer(
    help="Consumer groups: state, members, lag in records and in seconds.",
    no_args_is_help=True,
)


@app.command("list")
def list_groups(ctx: typer.Context) -> None:
    """Groups with state, members, topics and total lag in records."""
    from ..inspection import groups as group_views

    state = app_context(ctx)
    data = group_views.list_groups(state.settings)
    emit(state.output, data, views.groups_list)


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
    emit(state.output, data, views.groups_describe)


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
    emit(state.output, data, views.pairs)


app.command("reset")(reset)
