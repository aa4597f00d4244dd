"""`ingestctl topics list|describe|peek|audit`."""

import re
from typing import Annotated

import typer

from ..errors import UsageError
from ..parsing import format_time, parse_partitions, parse_time_ms
from . import views
from .context import app_context
from .options import Dir
from .render import emit, note
from .window import parse_window

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


_AUDIT_HELP = """The event contract of a topic over a window, read once: duplicates by
idempotency key, records missing required headers, records and bytes per partition (key
skew), schema ids.

Read-only and read_committed; the window's end offsets are fixed when it starts (records
written meanwhile are not read). WINDOW as for replay: --start/--end TIME, --start-offset
N|P:O,… [--end-offset …], or --from-checkpoint REF [--group G] [--to-checkpoint REF], and
--partitions; default: everything retained.

A duplicate is a record whose idempotency header value an earlier record of the window
has; earlier is the window's order, partitions ascending and offsets within each, so the
counts are the same on every run. max_repeats is the most duplicates of one key (0: none).
With --by-header every count is split by that header's value: a record counts under its
own value, a key under its first record's value. With a schema registry (--schema-registry
or the profile), values are checked for the Confluent wire format and their schema ids
against the registry.

Keys are kept as 64-bit digests in a table sized from the window's offsets: about 23
bytes a record (230 MB for 10 million).

--fail-on duplicates|missing|any exits 3, with one sentence on stderr, when the window
holds what it names (after printing the report); 0 otherwise.

EXAMPLES

  ingestctl topics audit payments.authorized \\
      --idempotency-header idempotency-key --require-header tenant \\
      --by-header tenant --start 2026-11-26T02:10:00Z

  ingestctl -o json topics audit payments.authorized --fail-on any
"""


@app.command("audit", help=_AUDIT_HELP)
def audit(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="The topic to audit.")],
    start: Annotated[str | None, typer.Option(
        "--start", help="Window start (ISO-8601 or epoch ms), inclusive.")] = None,
    end: Annotated[str | None, typer.Option(
        "--end", help="Window end (ISO-8601 or epoch ms), exclusive.")] = None,
    start_offset: Annotated[str | None, typer.Option(
        "--start-offset", help="N for every partition, or P:O,… per partition.")] = None,
    end_offset: Annotated[str | None, typer.Option(
        "--end-offset", help="N or P:O,… (exclusive); default: the end when the audit "
        "starts.")] = None,
    from_checkpoint: Annotated[str | None, typer.Option(
        "--from-checkpoint", help="Start at the end offsets this checkpoint recorded for "
        "the topic (REF: a path, a wave, or WAVE@N).")] = None,
    group: Annotated[str | None, typer.Option(
        "--group", help="With --from-checkpoint: start at this group's committed offsets "
        "in it.")] = None,
    to_checkpoint: Annotated[str | None, typer.Option(
        "--to-checkpoint", help="End at the end offsets this checkpoint recorded "
        "(default: the current end).")] = None,
    directory: Dir = None,
    partitions: Annotated[str | None, typer.Option(
        "--partitions", help="Only these partitions (0,2,4-7).")] = None,
    idempotency_header: Annotated[str | None, typer.Option(
        "--idempotency-header", metavar="K", help="Count duplicates by this header's value "
        "(default: the profile's contract.idempotency_header).")] = None,
    require_header: Annotated[list[str] | None, typer.Option(
        "--require-header", metavar="H", help="Count the records without header H "
        "(repeatable; default: the profile's contract.required_headers).")] = None,
    by_header: Annotated[str | None, typer.Option(
        "--by-header", metavar="NAME", help="Split every count by this header's value "
        "(e.g. tenant).")] = None,
    examples: Annotated[int, typer.Option(
        "--examples", metavar="N", help="Duplicate keys to show, with their partitions "
        "and offsets.")] = 5,
    fail_on: Annotated[str | None, typer.Option(
        "--fail-on", metavar="WHAT", help="duplicates, missing or any: exit 3 when the "
        "window holds them.")] = None,
) -> None:
    from ..errors import RefusedError
    from ..inspection import audit as auditing
    from ..inspection import audit_scan

    state = app_context(ctx)
    settings = state.settings
    contract = audit_scan.Contract(
        key_header=idempotency_header if idempotency_header is not None
        else settings.contract_idempotency_header,
        required_headers=tuple(require_header if require_header
                               else settings.contract_required_headers),
        by_header=by_header, examples=examples)
    contract.validate()
    contract.check_fail_on(fail_on)
    from ..checkpoints import checkpoint_dir

    spec, checkpoint_cluster = parse_window(
        checkpoint_dir(directory, settings), topic, start=start, end=end,
        start_offset=start_offset, end_offset=end_offset, from_checkpoint=from_checkpoint,
        group=group, to_checkpoint=to_checkpoint, partitions=partitions)
    start_ms = parse_time_ms(start, "--start") if start else None
    end_ms = parse_time_ms(end, "--end") if end else None
    given = {"start": format_time(start_ms), "end": format_time(end_ms),
             "start_offset": _offsets_given(spec.start_offset if start_offset else None),
             "end_offset": _offsets_given(spec.end_offset if end_offset else None),
             "from_checkpoint": from_checkpoint, "group": group,
             "to_checkpoint": to_checkpoint}
    request = auditing.WindowRequest(spec, given, checkpoint_cluster)
    with _AuditProgress(topic) as progress:
        doc = auditing.audit(settings, topic, request, contract, fail_on, progress)
    emit(state.output, doc, views.audit)
    if doc["by_other"]:
        note(f"header {by_header} has more than {audit_scan.GROUP_CAP:,} distinct values; "
             f"the records of the rest are counted together under by_other.")
    if doc["schemas"] and doc["schemas"]["other_id_records"]:
        note(f"values carry more than {audit_scan.ID_CAP:,} distinct schema ids (is the topic "
             "in the wire format at all?); the records of the rest are other_id_records.")
    sentence = auditing.failures(doc, fail_on)
    if sentence:
        raise RefusedError(sentence)


def _offsets_given(value):
    if isinstance(value, dict):
        return {str(p): o for p, o in sorted(value.items())}
    return value


class _AuditProgress:
    """A progress bar on stderr while reading, only when stderr is a terminal."""

    def __init__(self, topic: str):
        self._topic = topic
        self._progress = None
        self._task = None

    def __enter__(self):
        import sys

        if not sys.stderr.isatty():
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        from .render import stderr

        self._progress = Progress(TextColumn("auditing {task.description}"), BarColumn(),
                                  TextColumn("{task.fields[records]} records"),
                                  TimeRemainingColumn(), console=stderr(), transient=True)
        self._progress.start()
        self._task = self._progress.add_task(self._topic, total=None, records=0)
        return self.update

    def update(self, done: int, total: int, records: int) -> None:
        self._progress.update(self._task, completed=done, total=total or None,
                              records=f"{records:,}")

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
