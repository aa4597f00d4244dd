"""`ingestctl topics list|describe|peek|audit`."""

import json
import re
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from ..parsing import format_time, parse_partitions, parse_time_ms
from .context import app_context
from .render import duration, emit, key_values, make_table, note, table_time

app = typer.Typer(
    help="Topics: partitions, watermarks, retention, the replay window, and their records.",
    no_args_is_help=True,
)

_TEXT_WIDTH = 60


def _short(text, width: int = _TEXT_WIDTH) -> str:
    if text is None:
        return ""
    text = str(text).replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"


def _marked(text: str | None, encoding: str | None) -> str | None:
    return f"base64:{text}" if encoding == "base64" else text


def _ago(seconds: float | None) -> str:
    return f"{duration(seconds)} ago" if seconds is not None else ""


@app.command("list")
def list_topics(
    ctx: typer.Context,
    pattern: Annotated[str | None, typer.Option(
        "--pattern", help="Only topics whose name matches this regular expression.")] = None,
    internal: Annotated[bool, typer.Option(
        "--internal", help="Include internal topics (__consumer_offsets, ...).")] = False,
) -> None:
    """Topics with partition count, replication factor and records retained."""
    from .. import inspect

    state = app_context(ctx)
    try:
        compiled = re.compile(pattern) if pattern is not None else None
    except re.error as exc:
        raise UsageError(f"--pattern: '{pattern}' is not a regular expression ({exc}).") from None
    data = inspect.list_topics(state.settings, compiled, internal)

    def table(rows):
        return [make_table(None, ["topic", "partitions", "rf", "records"],
                           [(r["topic"], r["partitions"], r["replication_factor"], r["records"])
                            for r in rows])]

    emit(state.output, data, table)


@app.command("describe")
def describe(
    ctx: typer.Context,
    topics: Annotated[list[str], typer.Argument(help="One or more topic names.")],
) -> None:
    """Per partition: leader, replicas, ISR, log-start, high watermark, records, first and last
    record timestamps; retention configs; and the replay window: the oldest time from which
    every partition still holds its records."""
    from .. import inspect

    state = app_context(ctx)
    data = inspect.describe_topics(state.settings, topics)

    def table(items):
        out = []
        for t in items:
            window = t["replay_window"]
            out.append(key_values(t["topic"], [
                ("partitions", len(t["partitions"])),
                ("records", sum(p["records"] for p in t["partitions"])),
                *t["configs"].items(),
                ("replay window", f"from {window['oldest_timestamp']} "
                 f"({_ago(window['age_seconds'])})" if window["oldest_timestamp"]
                 else "empty: no records retained"),
            ]))
            out.append(make_table(None, [
                "p", "leader", "replicas", "isr", "start", "end", "records",
                "first (UTC)", "last (UTC)"], [
                (p["partition"], p["leader"], ",".join(map(str, p["replicas"])),
                 ",".join(map(str, p["isr"])), p["log_start"], p["end"], p["records"],
                 table_time(p["first_timestamp"]), table_time(p["last_timestamp"]))
                for p in t["partitions"]]))
            out.append("")
        return out

    emit(state.output, data, table)


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
    from .. import inspect

    state = app_context(ctx)
    chosen = [name for name, value in (("--offset", offset), ("--at", at), ("--last", last))
              if value is not None]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)} each choose where to start; give only one.")
    partitions = parse_partitions(partition, "--partition") if partition is not None else None
    at_ms = parse_time_ms(at, "--at") if at is not None else None
    result = inspect.peek(state.settings, topic, partitions, offset=offset, at_ms=at_ms,
                          last=last, count=count, decode=decode)
    for message in result.notes:
        note(message)
    undecoded = [r for r in result.records if r.get("decode_error")]
    if undecoded and state.output == "table":  # the table has no room for the sentences
        for r in undecoded:
            note(f"{r['topic']}[{r['partition']}] offset {r['offset']}: {r['decode_error']}")
    elif undecoded:
        note(f"{len(undecoded)} record(s) did not decode; see their decode_error.")

    def table(rows):
        columns = ["partition", "offset", "timestamp", "key", "headers", "value"]
        if decode:
            columns.append("schema")
        return [make_table(None, columns, [
            (r["partition"], r["offset"], r["timestamp"],
             _short(_marked(r["key"], r["key_encoding"]), 24),
             _short(", ".join(f"{k}={v}" for k, v in r["headers"].items()), 40),
             _short(_value_text(r)), *([_schema_text(r)] if decode else []))
            for r in rows])]

    emit(state.output, result.records, table)


def _value_text(record: dict) -> str | None:
    if record["value_encoding"] == "avro":
        return json.dumps(record["value"], separators=(",", ":"), ensure_ascii=False,
                          default=str)
    return _marked(record["value"], record["value_encoding"])


def _schema_text(record: dict) -> str:
    if record.get("decode_error_reason"):
        return f"not decoded: {record['decode_error_reason']}"
    ref = record.get("schema")
    if ref is None:
        return ""
    if ref["subject"] is None:
        return f"id {ref['id']}"
    return f"id {ref['id']}: {ref['subject']} v{ref['version']}"


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
    directory: Annotated[Path | None, typer.Option(
        "--dir", help="Checkpoint directory (default: the profile's checkpoint_dir, else "
        "./checkpoints).")] = None,
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
    from ..parsing import parse_partition_offsets

    state = app_context(ctx)
    settings = state.settings
    contract = auditing.Contract(
        key_header=idempotency_header if idempotency_header is not None
        else settings.contract_idempotency_header,
        required_headers=tuple(require_header if require_header
                               else settings.contract_required_headers),
        by_header=by_header, examples=examples)
    contract.validate()
    contract.check_fail_on(fail_on)
    narrowed = tuple(parse_partitions(partitions)) if partitions else None
    start_ms = parse_time_ms(start, "--start") if start else None
    end_ms = parse_time_ms(end, "--end") if end else None
    checkpoint_cluster = None
    if from_checkpoint:
        from ..checkpoints import checkpoint_dir
        from ..replay.engine import checkpoint_window

        if start or start_offset or end_offset:
            raise UsageError("--from-checkpoint gives the window's start: leave out --start, "
                             "--start-offset and --end-offset (end it with --to-checkpoint or "
                             "--end TIME).")
        if end and to_checkpoint:
            raise UsageError("give the window's end by --to-checkpoint or by --end, not both.")
        spec, checkpoint_cluster = checkpoint_window(
            checkpoint_dir(directory, settings), topic, from_checkpoint, group, to_checkpoint,
            narrowed, end_time=end_ms)
    elif group or to_checkpoint:
        raise UsageError("--group and --to-checkpoint need --from-checkpoint.")
    else:
        from ..replay.window import WindowSpec

        spec = WindowSpec(
            start_time=start_ms, end_time=end_ms,
            start_offset=parse_partition_offsets(start_offset, "--start-offset")
            if start_offset else None,
            end_offset=parse_partition_offsets(end_offset, "--end-offset")
            if end_offset else None,
            partitions=narrowed)
    given = {"start": format_time(start_ms), "end": format_time(end_ms),
             "start_offset": _offsets_given(spec.start_offset if start_offset else None),
             "end_offset": _offsets_given(spec.end_offset if end_offset else None),
             "from_checkpoint": from_checkpoint, "group": group,
             "to_checkpoint": to_checkpoint}
    request = auditing.WindowRequest(spec, given, checkpoint_cluster)
    with _AuditProgress(topic) as progress:
        doc = auditing.audit(settings, topic, request, contract, fail_on, progress)
    emit(state.output, doc, _audit_table)
    if doc["by_other"]:
        note(f"header {by_header} has more than {auditing.GROUP_CAP:,} distinct values; "
             f"the records of the rest are counted together under by_other.")
    if doc["schemas"] and doc["schemas"]["other_id_records"]:
        note(f"values carry more than {auditing.ID_CAP:,} distinct schema ids (is the topic "
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


_AUDIT_NUMBERS = {"dups", "share", "keys", "x-part", "max", "missing", "records", "bytes"}
_TABLE_WIDTH = 80


def _fitted(title: str | None, columns: list[str], rows, *, shrink: str | None = None,
            optional: tuple[str, ...] = (), flowing: str | None = None):
    """A table within 80 columns whose numbers and identifiers each stay on one line. While
    it is too wide, `optional` columns are left out (the last first); then the `shrink`
    column (a header value) is shortened with …. The `flowing` column (a list of positions)
    wraps between its words."""
    from rich.cells import cell_len

    columns = list(columns)
    rows = [["" if v is None else str(v) for v in row] for row in rows]

    def widths() -> list[int]:
        out = []
        for i, name in enumerate(columns):
            cells = [name, *(row[i] for row in rows)]
            if name == flowing:
                cells = [word for cell in cells for word in cell.split()]
            out.append(max(map(cell_len, cells)))
        return out

    def total() -> int:
        return sum(widths()) + 2 * (len(columns) - 1)

    for name in reversed(optional):
        if total() <= _TABLE_WIDTH:
            break
        i = columns.index(name)
        columns.pop(i)
        rows = [row[:i] + row[i + 1:] for row in rows]
    table = make_table(title, columns, rows)
    for column in table.columns:
        if column.header == flowing:
            continue
        column.no_wrap = True
        column.overflow = "ellipsis"
        if column.header in _AUDIT_NUMBERS:
            column.justify = "right"
    excess = total() - _TABLE_WIDTH
    if excess > 0 and shrink in columns:
        i = columns.index(shrink)
        table.columns[i].max_width = max(8, widths()[i] - excess)
    return table


def _audit_table(doc: dict) -> list:
    dups = doc["duplicates"]
    window = doc["window"]
    pairs = [("records", doc["records"]), ("bytes", doc["bytes"]),
             ("partitions", f"{len(window['partitions'])}, {window['offsets']} offsets, "
                            f"ends fixed {table_time(window['ends_fixed_at'])} UTC")]
    if window["start"] or window["end"]:
        pairs.append(("window", f"{table_time(window['start']) or 'log-start'} to "
                                f"{table_time(window['end']) or 'end'} UTC"))
    if dups is None:
        pairs.append(("duplicates", "not checked: no --idempotency-header"))
    else:
        pairs += [("duplicates", f"{dups['records']} records of {dups['keys']} keys "
                                 f"(by {dups['header']})"),
                  ("on >1 partition", f"{dups['cross_partition_keys']} keys"),
                  ("max repeats", dups["max_repeats"]),
                  ("without key", dups["without_key"])]
    for header, n in doc["missing_headers"].items():
        pairs.append((f"without {header}", n))
    if doc["partition_skew"] is not None:
        pairs.append(("partition skew", f"{doc['partition_skew']} (largest / mean)"))
    schemas = doc["schemas"]
    if schemas is None:
        pairs.append(("schemas", "not checked: no schema registry"))
    else:
        ids = ", ".join(f"{s['id']}: {s['records']}" for s in schemas["ids"][:6])
        more = len(schemas["ids"]) - 6
        pairs.append(("schema ids", (ids or "none") + (f", +{more} more" if more > 0 else "")))
        pairs.append(("unknown ids", f"{', '.join(map(str, schemas['unknown_ids'])) or 'none'}"
                                     f" ({schemas['unknown_id_records']} records)"))
        pairs.append(("not wire format", schemas["not_wire_format"]))
        pairs.append(("tombstones", schemas["tombstones"]))
    out = [key_values(doc["topic"], pairs), ""]
    out.append(_fitted(None, ["p", "start", "end", "records", "bytes", "dups", "share"], [
        (p["partition"], p["start"], p["end"], p["records"], p["bytes"],
         "-" if p["duplicates"] is None else p["duplicates"], f"{p['share']:.1%}")
        for p in doc["partitions"]], optional=("start", "end")))
    if doc["by"] is not None:
        groups = [(name, entry) for name, entry in doc["by"].items()]
        groups += [(f"({label})", doc[field]) for label, field in
                   (("no header", "by_absent"), ("other values", "by_other")) if doc[field]]
        out += ["", _fitted(f"by {doc['by_header']}", [
            "value", "records", "dups", "keys", "x-part", "max", "missing"], [
            (name, e["records"],
             *((e["duplicates"]["records"], e["duplicates"]["keys"],
                e["duplicates"]["cross_partition_keys"], e["duplicates"]["max_repeats"])
               if e["duplicates"] else ("-",) * 4),
             sum(e["missing_headers"].values()))
            for name, e in groups], shrink="value", optional=("x-part", "max"))]
    if dups and dups["examples"]:
        out += ["", _fitted("duplicate examples", ["key", "records", "at (p:offset)"], [
            (("base64:" if e.get("key_encoding") == "base64" else "") + e["key"], e["records"],
             " ".join(f"{o['partition']}:{o['offset']}" for o in e["occurrences"][:3])
             + (f" +{e['records'] - 3}" if e["records"] > 3 else ""))
            for e in dups["examples"]], shrink="key", flowing="at (p:offset)")]
    return out
