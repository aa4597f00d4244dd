"""`ingestctl replay …` (plan, or copy with --execute), `replay status ID`, `replay list`."""

import sys
from typing import Annotated

import typer
from typer.core import TyperGroup

from ..errors import UsageError
from . import replay_views as views
from .context import app_context, refuse_empty
from .options import Dir
from .render import emit, note
from .window import parse_window


class _ReplayGroup(TyperGroup):
    """Reads `--on-invalid dead-letter TOPIC` (an option value followed by its topic) as
    `--on-invalid dead-letter --dead-letter-topic TOPIC`."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _dead_letter_topic(args))


def _dead_letter_topic(args: list[str]) -> list[str]:
    out = list(args)
    for i, arg in enumerate(out):
        if arg == "--":
            break
        takes_topic = (arg == "--on-invalid=dead-letter" or (
            arg == "--on-invalid" and i + 1 < len(out) and out[i + 1] == "dead-letter"))
        if takes_topic:
            at = i + 1 if arg.startswith("--on-invalid=") else i + 2
            if at < len(out) and not out[at].startswith("-"):
                out.insert(at, "--dead-letter-topic")
            break
    return out


app = typer.Typer(
    cls=_ReplayGroup,
    help="Replay a bounded window of a topic into another topic, exactly once, under a quota.",
)

_HELP = """Copy a bounded window of a topic into a repair topic (or another cluster).

Prints the plan and changes nothing unless --execute is given. With --execute it copies
exactly once (Kafka transactions, progress kept in the compacted topic
ingestctl-replay-progress on the target cluster); re-running the same command resumes, and
a finished replay re-run writes nothing. Ctrl-C stops at a committed point (exit 6).

WINDOW: a start, --start TIME (inclusive), --start-offset N|P:O,… or --from-checkpoint REF
[--group G]; and an end (exclusive), --end TIME with any start, --end-offset N|P:O,… with
--start-offset, or --to-checkpoint REF with --from-checkpoint. An omitted end is the
partition's end when first planned. --partitions narrows any of them.

--validate avro checks that every value carries a schema id the registry knows and decodes
with it; --on-invalid fail (stop before the record, exit 6; a re-run resumes there), skip
(count it as invalid), or dead-letter TOPIC (write it there, with the reason in the header
ingestctl-invalid-reason). Without --validate, bytes are copied untouched.

--dedupe-header K writes a record only if this replay has not written its K value yet
(--dedupe-horizon D: not within D of the record's time); the others count as duplicates,
records without K are written and counted as missing_key. With several shards a key is
deduplicated within its shard. A resume reads back what the replay wrote to know its keys.

EXAMPLES

  ingestctl replay --from-topic payments.authorized \\
      --to-topic payments.repair --rate 5MiB/s \\
      --start 2026-11-26T02:10:00Z --end 2026-11-26T03:40:00Z --execute

  ingestctl replay status rp-3f9a1c0b2d4e5f60
"""


def _positive(value: float | None, name: str) -> float | None:
    if value is not None and value <= 0:
        raise UsageError(f"{name} must be a positive number.")
    return value


@app.callback(invoke_without_command=True, help=_HELP)
def replay(
    ctx: typer.Context,
    from_topic: Annotated[str | None, typer.Option("--from-topic", help="Source topic.")] = None,
    to_topic: Annotated[str | None, typer.Option("--to-topic", help="Target topic.")] = None,
    start: Annotated[str | None, typer.Option(
        "--start", help="Window start (ISO-8601 or epoch ms), inclusive.")] = None,
    end: Annotated[str | None, typer.Option(
        "--end", help="Window end (ISO-8601 or epoch ms), exclusive.")] = None,
    start_offset: Annotated[str | None, typer.Option(
        "--start-offset", help="N for every partition, or P:O,… per partition.")] = None,
    end_offset: Annotated[str | None, typer.Option(
        "--end-offset", help="N or P:O,… (exclusive); default: the end when first planned."),
    ] = None,
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
    to_profile: Annotated[str | None, typer.Option(
        "--to-profile", help="Target cluster: a profile of the config file.")] = None,
    to_bootstrap_servers: Annotated[str | None, typer.Option(
        "--to-bootstrap-servers", help="Target cluster: bootstrap servers.")] = None,
    create_target: Annotated[bool, typer.Option(
        "--create-target", help="Create the target topic like the source (partitions, "
        "configs).")] = False,
    rate: Annotated[str | None, typer.Option(
        "--rate", help="Quota in bytes/s (5MiB/s, 500KB/s); default: the profile's.")] = None,
    max_records_per_sec: Annotated[float | None, typer.Option(
        "--max-records-per-sec", help="Quota in records/s.")] = None,
    filter_header: Annotated[list[str] | None, typer.Option(
        "--filter-header", help="Copy only records with header k=v (repeatable; every name "
        "must match one of its values).")] = None,
    filter_key: Annotated[str | None, typer.Option(
        "--filter-key", help="Copy only records whose key matches this regular expression "
        "(searched; anchor with ^…$).")] = None,
    drop_header: Annotated[list[str] | None, typer.Option(
        "--drop-header", help="Strip this header from the copies (repeatable).")] = None,
    partitioning: Annotated[str, typer.Option(
        "--partitioning", help="preserve (same partition number) or key (murmur2, as the "
        "Java client).")] = "preserve",
    validate: Annotated[str | None, typer.Option(
        "--validate", help="avro: every value must decode through the schema registry "
        "(--schema-registry or the profile).")] = None,
    on_invalid: Annotated[str | None, typer.Option(
        "--on-invalid", help="With --validate: fail (default), skip, or dead-letter TOPIC.")
    ] = None,
    dead_letter_topic: Annotated[str | None, typer.Option(
        "--dead-letter-topic", hidden=True)] = None,
    dedupe_header: Annotated[str | None, typer.Option(
        "--dedupe-header", help="Write each value of this header (an idempotency key) once; "
        "repeats count as duplicates.")] = None,
    dedupe_horizon: Annotated[str | None, typer.Option(
        "--dedupe-horizon", help="With --dedupe-header: a repeat more than this long (10m, "
        "2h) from the written copy's time is written again (default: the whole window).")
    ] = None,
    mode: Annotated[str, typer.Option(
        "--mode", help="exactly-once or at-least-once (for brokers without transactions).")
    ] = "exactly-once",
    shard: Annotated[str | None, typer.Option(
        "--shard", help="K/N: only partitions p with p mod N = K (share a replay across "
        "machines).")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Run N shards as local processes.")] = None,
    replay_id: Annotated[str | None, typer.Option(
        "--id", help="Replay id (default: derived from clusters, topics, window, filters).")
    ] = None,
    execute: Annotated[bool, typer.Option("--execute", help="Copy (default: plan only).")
    ] = False,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from ..checkpoints import checkpoint_dir
    from ..errors import IncompleteReplay
    from ..parsing import (
        parse_duration_ms,
        parse_kv,
        parse_rate,
    )
    from ..replay import plan as replay_plan
    from ..replay.dedupe import Dedupe
    from ..replay.model import Hooks, ReplayRequest
    from ..replay.quota import Quota
    from ..replay.run import execute as run_replay
    from ..replay.validate import Validation
    from ..replay.window import Selection, check_replay_id, parse_shard

    state = app_context(ctx)
    refuse_empty(("--to-profile", to_profile), ("--to-bootstrap-servers", to_bootstrap_servers))
    if not from_topic or not to_topic:
        raise UsageError("give --from-topic and --to-topic (see `ingestctl replay --help`).")
    if shard and workers:
        raise UsageError("--shard and --workers exclude each other: --workers N runs all N "
                         "shards here.")
    if workers is not None and not 1 <= workers <= 64:
        raise UsageError("--workers must be between 1 and 64.")
    source = state.settings
    audit_dir = checkpoint_dir(directory, source)
    window, checkpoint_cluster = parse_window(
        audit_dir, from_topic, start=start, end=end, start_offset=start_offset,
        end_offset=end_offset, from_checkpoint=from_checkpoint, group=group,
        to_checkpoint=to_checkpoint, partitions=partitions)
    selection = Selection.parse([parse_kv(f, "--filter-header") for f in filter_header or []],
                                filter_key, list(drop_header or []))
    if dedupe_horizon is not None and dedupe_header is None:
        raise UsageError("--dedupe-horizon needs --dedupe-header (the header that holds the "
                         "idempotency key).")
    dedupe = Dedupe(dedupe_header, parse_duration_ms(dedupe_horizon, "--dedupe-horizon")
                    if dedupe_horizon is not None else None) if dedupe_header is not None else None
    quota = Quota(parse_rate(rate) if rate else source.replay_rate,
                  _positive(max_records_per_sec, "--max-records-per-sec")
                  or source.replay_max_records_per_sec)
    request = ReplayRequest(
        source_topic=from_topic, target_topic=to_topic, window=window, selection=selection,
        partitioning=partitioning, mode=mode,
        replay_id=check_replay_id(replay_id) if replay_id else None,
        create_target=create_target, quota=quota,
        shard=parse_shard(shard) if shard else None, workers=workers or 1,
        validation=Validation.parse(validate, on_invalid, dead_letter_topic),
        checkpoint_cluster=checkpoint_cluster, dedupe=dedupe,
    )
    target = source
    if to_profile or to_bootstrap_servers:
        target = state.other_cluster(to_profile, to_bootstrap_servers)
    plan = replay_plan.plan(source, target, request)
    if not execute:
        document = replay_plan.plan_document(source, plan, request.shard)
        emit(state.output, document, views.plan)
        suggested = document["suggested_workers"]
        if suggested > request.workers and request.shard is None:
            note(f"{document['records']:,} offsets to copy: --workers {suggested} (one per core) "
                 f"copies them faster; workers pay off from "
                 f"~{replay_plan.WORKERS_PAY_OFF_RECORDS:,} records.")
        note("nothing changed; add --execute to copy.")
        return
    with _progress_bar(plan.replay_id) as progress:
        hooks = Hooks(note=note, progress=progress)
        try:
            summary = run_replay(source, target, plan, hooks, audit_dir)
        except IncompleteReplay as exc:
            emit(state.output, exc.summary, views.summary)
            raise
    emit(state.output, summary, views.summary)


@app.command("status")
def status(ctx: typer.Context, replay_id: Annotated[str, typer.Argument(
        help="The replay id (printed by the plan and the summary).")]) -> None:
    """Progress of a replay, from its progress records on the target cluster (-b/-p)."""
    from ..replay import status as replay_status

    state = app_context(ctx)
    emit(state.output, replay_status.status(state.settings, replay_id), views.status)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(
        "--status", help="Only replays in this state: completed or incomplete.")] = None,
    topic: Annotated[str | None, typer.Option(
        "--topic", help="Only replays copying from or to this topic.")] = None,
    limit: Annotated[int, typer.Option(
        "--limit", min=1, metavar="N",
        help="Show the newest N; how many more there are goes to stderr.")] = 20,
) -> None:
    """Replays recorded in the progress topic of the cluster (-b/-p): newest first, the
    newest 20 unless --limit says otherwise."""
    from ..replay import status as replay_status

    if status is not None and status not in replay_status.STATUSES:
        raise UsageError(f"--status: '{status}' is not one of "
                         f"{', '.join(replay_status.STATUSES)}.")
    state = app_context(ctx)
    rows = replay_status.list_replays(state.settings, status, topic)
    emit(state.output, rows[:limit], views.listing)
    if len(rows) > limit:
        note(f"{len(rows) - limit} more replay(s) not shown (the newest {limit} of "
             f"{len(rows)}); raise --limit, or narrow with --status or --topic.")


class _progress_bar:
    """A rich progress bar on stderr while copying, only when stderr is a terminal."""

    def __init__(self, replay_id: str):
        self._replay_id = replay_id
        self._progress = None

    def __enter__(self):
        if not sys.stderr.isatty():
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        from .render import stderr

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(),
            TextColumn("{task.fields[offsets]}"), TextColumn("{task.fields[written]}"),
            TimeRemainingColumn(),
            console=stderr(), transient=True,
        )
        self._progress.start()
        task = self._progress.add_task(self._replay_id, total=None, offsets="", written="")
        began = [None]

        def update(done: int, total: int, records: int, written: int) -> None:
            import time

            now = time.monotonic()
            if began[0] is None:
                began[0] = (now, written)
            elapsed = now - began[0][0]
            rate = (written - began[0][1]) / elapsed if elapsed > 0 else 0
            self._progress.update(task, completed=done, total=total,
                                  offsets=f"{done:,}/{total:,} offsets",
                                  written=f"{records:,} records, {views.size(written)} "
                                          f"({views.size(rate)}/s)")

        return update

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
