"""`ingestctl groups reset`: move one group's offsets ad hoc, with the planner, refusals and
apply step of `rollback`. cli/groups.py registers it on the groups app."""

from typing import Annotated

import typer

from .context import app_context
from .options import AllowClamp, Dir, Execute, PlanOut
from .rollback import finish


def reset(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument(help="The consumer group.", show_default=False)],
    topic: Annotated[list[str], typer.Option(
        "--topic", help="The topic whose offsets to move (repeatable).", show_default=False)],
    to_datetime: Annotated[str | None, typer.Option(
        "--to-datetime", help="First record at or after this time (ISO-8601 or epoch ms).")
    ] = None,
    by_duration: Annotated[str | None, typer.Option(
        "--by-duration", help="First record at or after this long ago (e.g. 90m, 2h).")] = None,
    to_offset: Annotated[int | None, typer.Option(
        "--to-offset", help="This offset on every partition.")] = None,
    shift_by: Annotated[int | None, typer.Option(
        "--shift-by", help="The committed offset plus N (negative: re-read N records).")
    ] = None,
    to_earliest: Annotated[bool, typer.Option(
        "--to-earliest", help="The log-start: re-read everything retained.")] = False,
    to_latest: Annotated[bool, typer.Option(
        "--to-latest", help="The end: skip everything not yet read.")] = False,
    partitions: Annotated[str | None, typer.Option(
        "--partitions", help="Only these partitions, e.g. 0,2,4-7 (default: all).")] = None,
    allow_clamp: AllowClamp = False,
    plan_out: PlanOut = None,
    execute: Execute = False,
    directory: Dir = None,
) -> None:
    """Move a group's committed offsets on a topic: to a time, an offset, a shift, the
    log-start or the end.

    Targets equal those of Kafka's `kafka-consumer-groups --reset-offsets`, except that this
    refuses (exit 3, nothing changed) where that tool silently clamps an offset outside the
    retained ones (unless --allow-clamp) or falls back to the end for a time with no record
    at or after it, and for a time in the future. Refuses a group that is not Empty or Dead.
    Prints the plan; --execute applies it in one request, reads it back (exit 5 if it differs)
    and logs it to audit.jsonl.
    """
    from ..errors import UsageError
    from ..moves.plan import ResetSpec, plan_reset
    from ..parsing import parse_duration_ms, parse_partitions, parse_time_ms

    given = {"--to-datetime": to_datetime is not None, "--by-duration": by_duration is not None,
             "--to-offset": to_offset is not None, "--shift-by": shift_by is not None,
             "--to-earliest": to_earliest, "--to-latest": to_latest}
    if sum(given.values()) != 1:
        raise UsageError("give exactly one of " + ", ".join(given) + ".")
    if to_offset is not None and to_offset < 0:
        raise UsageError(f"--to-offset: {to_offset} is negative; offsets start at 0.")
    if to_datetime is not None:
        spec = ResetSpec("to-datetime", parse_time_ms(to_datetime, "--to-datetime"))
    elif by_duration is not None:
        spec = ResetSpec("by-duration", parse_duration_ms(by_duration, "--by-duration"))
    elif to_offset is not None:
        spec = ResetSpec("to-offset", to_offset)
    elif shift_by is not None:
        spec = ResetSpec("shift-by", shift_by)
    else:
        spec = ResetSpec("to-earliest" if to_earliest else "to-latest")
    chosen = parse_partitions(partitions) if partitions is not None else None
    state = app_context(ctx)
    plan = plan_reset(state.settings, group, list(dict.fromkeys(topic)), spec, chosen,
                               allow_clamp)
    finish(ctx, plan, plan_out, execute, directory)
