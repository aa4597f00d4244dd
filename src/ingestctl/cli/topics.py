"""`ingestctl topics list|describe|peek`."""

import re
from typing import Annotated

import typer

from ..errors import UsageError
from ..parsing import parse_partitions, parse_time_ms
from . import views
from .context import app_context
from .render import emit, note

app = typer.Typer(
    help="Topics: partitions, watermarks, retention, the replay window, and their records.",
    no_args_is_help=True,
)

@app.command("list")
def list_topics(
    ctx: typer.Context,
    pattern: Annotated[str | None, typer.Option(
        "--pattern", help="Only topics whose name matches this regular expression.")] = None,
    internal: Annotated[bool, typer.Option(
        "--internal", help="Include internal topics (__consumer_offsets, ...).")] = False,
) -> None:
    """Topics with partition count, replication factor and records retained."""
    from ..inspection import topics as topic_views

    state = app_context(ctx)
    try:
        compiled = re.compile(pattern) if pattern is not None else None
    except re.error as exc:
        raise UsageError(f"--pattern: '{pattern}' is not a regular expression ({exc}).") from None
    data = topic_views.list_topics(state.settings, compiled, internal)
    emit(state.output, data, views.topics_list)


@app.command("describe")
def describe(
    ctx: typer.Context,
    topics: Annotated[list[str], typer.Argument(help="One or more topic names.")],
) -> None:
    """Per partition: leader, replicas, ISR, log-start, high watermark, records, first and last
    record timestamps; retention configs; and the replay window: the oldest time from which
    every partition still holds its records."""
    from ..inspection import topics as topic_views

    state = app_context(ctx)
    data = topic_views.describe_topics(state.settings, topics)
    emit(state.output, data, views.topics_describe)


@app.command("peek")
def peek(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="The topic to read.")],
    partition: Annotated[str | None, typer.Option(
        "--partition", help="Partitions to read, e.g. 0 or 0,2,4-7 (default: all).")] = None,
    offset: Annotated[int | None, typer.Option(
        "--offset", min=0, help="Start at this offset of each partition.")] = None,
    at: Annotated[str | None, typer.Option(
        "--at", help="Start at the first record at or after this time "
        "(ISO-8601 with offset or Z, or epoch ms).")] = None,
    last: Annotated[int | None, typer.Option(
        "--last", min=1, help="The newest this many records of each partition.")] = None,
    count: Annotated[int | None, typer.Option(
        "--count", min=1, help="Records per partition (default 5, or --last).")] = None,
    decode: Annotated[str | None, typer.Option(
        "--decode", help="avro: decode values (Confluent wire format) through the schema "
        "registry (--schema-registry or the profile).")] = None,
) -> None:
    """Records with offset, timestamp, key, headers and value: by default the newest 5 of each
    partition. Keys, values and headers that are not UTF-8 are shown as base64 (and marked
    so in JSON); tables shorten long values, JSON and YAML carry them whole. With --decode
    avro a value that does not decode is shown as it is, with a decode_error sentence."""
    from ..inspection import peek as peek_view

    state = app_context(ctx)
    chosen = [name for name, value in (("--offset", offset), ("--at", at), ("--last", last))
              if value is not None]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)} each choose where to start; give only one.")
    partitions = parse_partitions(partition, "--partition") if partition is not None else None
    at_ms = parse_time_ms(at, "--at") if at is not None else None
    result = peek_view.peek(state.settings, topic, partitions, offset=offset, at_ms=at_ms,
                          last=last, count=count, decode=decode)
    for message in result.notes:
        note(message)
    undecoded = [r for r in result.records if r.get("decode_error")]
    if undecoded and state.output == "table":  # the table has no room for the sentences
        for r in undecoded:
            note(f"{r['topic']}[{r['partition']}] offset {r['offset']}: {r['decode_error']}")
    elif undecoded:
        note(f"{len(undecoded)} record(s) did not decode; see their decode_error.")
    emit(state.output, result.records, lambda rows: views.peek(rows, bool(decode)))

