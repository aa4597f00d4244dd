"""Replay: plan a bounded window, then copy it exactly once (or at least once) under a
quota, resumably.

Order matters for exactly-once. A run first calls init_transactions with the stable
transactional id of its replay shard (fencing an older run and aborting its open
transaction), then reads the progress topic, and only then starts copying from the next
offsets found there. Each transaction carries the records and the progress records that
account for them, so a kill at any point leaves the target and the progress agreeing.
"""

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import audit
from ..config import Settings
from ..errors import IncompleteError, NotFoundError, RefusedError, UsageError
from ..kafka import Admin, cluster_id, metadata
from ..kafka import copy as kcopy
from ..kafka.records import read_ranges
from ..parsing import format_time
from . import progress as prog
from .quota import Clock, Limiter, Quota, SystemClock
from .validate import Validation, checker
from .validate import check as check_validation
from .window import (
    Selection,
    WindowSpec,
    derive_replay_id,
    in_shard,
    plan_window,
    replay_identity,
)

MODES = ("exactly-once", "at-least-once")
PARTITIONINGS = ("preserve", "key")
COMMIT_INTERVAL_SECONDS = 1.0
PROGRESS_INTERVAL_SECONDS = 0.25
SAMPLE_RECORDS = 20
# Fresh producers for one run whose transactions expired (it was paused past
# transaction.timeout.ms); more means something keeps stalling it: stop, resumable.
MAX_REINITS = 3
AT_LEAST_ONCE = ("at-least-once: records written after the last saved progress of a run that "
                 "was killed are written again on resume, so the target may hold them twice.")


@dataclass(frozen=True)
class ReplayRequest:
    source_topic: str
    target_topic: str
    window: WindowSpec
    selection: Selection = field(default_factory=Selection)
    partitioning: str = "preserve"
    mode: str = "exactly-once"
    replay_id: str | None = None
    create_target: bool = False
    quota: Quota = field(default_factory=Quota)
    shard: tuple[int, int] | None = None
    workers: int = 1
    # --from-checkpoint: the cluster the checkpoints were taken on (must be the source).
    checkpoint_cluster: str | None = None
    validation: Validation | None = None  # --validate; not part of the replay's identity

    @property
    def shards(self) -> int:
        return self.shard[1] if self.shard else self.workers


@dataclass
class Plan:
    request: ReplayRequest
    replay_id: str
    identity: dict
    source_cluster: str
    target_cluster: str
    source_partitions: int
    source_replication: int
    target_partitions: int | None  # None: the target does not exist yet
    window: dict[int, tuple[int, int]]
    stored: prog.StoredReplay | None

    def partitions(self, shard: tuple[int, int] | None) -> list[int]:
        return [p for p in sorted(self.window) if shard is None or in_shard(p, shard)]

    def plan_record(self) -> dict:
        return {
            "replay_id": self.replay_id, "created_at": format_time(int(time.time() * 1000)),
            "mode": self.request.mode, "shards": self.request.shards,
            "identity": self.identity,
            "source": {"topic": self.request.source_topic, "cluster_id": self.source_cluster},
            "target": {"topic": self.request.target_topic, "cluster_id": self.target_cluster},
            "window": self.request.window.identity(),
            "selection": self.request.selection.identity(),
            "partitioning": self.request.partitioning,
            "partitions": [{"partition": p, "start": s, "end": e}
                           for p, (s, e) in sorted(self.window.items())],
        }


@dataclass
class Hooks:
    """How the replay talks to the person running it (the CLI renders both)."""

    note: Callable[[str], None] = lambda message: None
    # (offsets done, offsets in the window, records written, bytes written), ~4 times a second
    progress: Callable[[int, int, int, int], None] | None = None


class IncompleteReplay(IncompleteError):
    """The replay stopped before its end; `summary` says how far it got."""

    def __init__(self, message: str, summary: dict):
        super().__init__(message)
        self.summary = summary


# -- planning -------------------------------------------------------------------------------

def plan(source: Settings, target: Settings, request: ReplayRequest) -> Plan:
    """Check everything that can be checked without writing, and resolve the window. A
    replay that already has progress keeps the window stored with it."""
    request.window.validate()
    if request.mode not in MODES:
        raise UsageError(f"--mode: '{request.mode}' is not one of {', '.join(MODES)}.")
    if request.partitioning not in PARTITIONINGS:
        raise UsageError(f"--partitioning: '{request.partitioning}' is not one of "
                         f"{', '.join(PARTITIONINGS)}.")
    src_admin = Admin(source)
    tgt_admin = src_admin if target is source else Admin(target)
    src_cluster = cluster_id(src_admin)
    tgt_cluster = src_cluster if target is source else cluster_id(tgt_admin)
    topic = request.source_topic
    if request.checkpoint_cluster not in (None, src_cluster):
        raise RefusedError(
            f"the checkpoint is from cluster {request.checkpoint_cluster}, but "
            f"{source.bootstrap_servers} is cluster {src_cluster}: its offsets mean nothing "
            "here; replay by time (--start/--end) instead."
        )
    src_meta = metadata.topics(src_admin, [topic])[topic]
    if tgt_cluster == src_cluster and request.target_topic == topic:
        raise UsageError(f"the target topic is the source topic {topic}; replay into a repair "
                         "topic or into another cluster.")
    tgt_topics = metadata.list_topics(tgt_admin)
    tgt_meta = tgt_topics.get(request.target_topic)
    if tgt_meta is None and not request.create_target:
        raise NotFoundError(
            f"target topic {request.target_topic} does not exist on {target.bootstrap_servers};"
            f" create it, or add --create-target to create it like {topic}."
        )
    identity = replay_identity(
        source_cluster=src_cluster, source_topic=topic, window=request.window,
        selection=request.selection, partitioning=request.partitioning,
        target_cluster=tgt_cluster, target_topic=request.target_topic,
    )
    replay_id = request.replay_id or derive_replay_id(identity)
    if request.validation is not None:
        check_validation(request.validation, source, topic, src_cluster,
                         request.target_topic, tgt_cluster, tgt_topics)
    stored = None
    if prog.PROGRESS_TOPIC in tgt_topics:
        # What is decided now; the run re-reads it authoritatively after fencing.
        stored = prog.decode(kcopy.read_compacted(target, prog.PROGRESS_TOPIC),
                             replay_id).get(replay_id)
    tps = [(topic, p) for p in src_meta.partitions]
    marks = metadata.watermarks(src_admin, tps)
    log_start = {p: marks[(t, p)][0] for t, p in tps}
    if stored is not None:
        check_stored(stored, replay_id, identity, request.shards)
        window = stored.window
        for state in stored.all_states():
            if not state.done and state.next < log_start.get(state.partition, 0):
                raise RefusedError(
                    f"replay {replay_id} cannot resume: partition {state.partition} offsets "
                    f"{state.next}–{log_start[state.partition] - 1} were deleted by retention "
                    "before they were copied."
                )
    else:
        stable_end = {p: marks[(t, p)][1] for t, p in tps}
        start_at = end_at = None
        if request.window.start_time is not None:
            found = metadata.list_offsets(src_admin, {tp: request.window.start_time
                                                      for tp in tps})
            start_at = {p: found[(t, p)].offset for t, p in tps}
        if request.window.end_time is not None:
            found = metadata.list_offsets(src_admin, {tp: request.window.end_time for tp in tps})
            end_at = {p: found[(t, p)].offset for t, p in tps}
        window = plan_window(request.window, topic, sorted(src_meta.partitions), log_start,
                             stable_end, start_at, end_at)
    target_partitions = len(tgt_meta.partitions) if tgt_meta is not None else None
    if request.partitioning == "preserve" and window:
        needed = max(window) + 1
        have = target_partitions if target_partitions is not None else len(src_meta.partitions)
        if have < needed:
            raise RefusedError(
                f"target topic {request.target_topic} has {have} partitions, but preserving "
                f"partition numbers needs at least {needed} (source partition {needed - 1} is "
                "in the window); add partitions to the target, or use --partitioning key."
            )
    replication = len(next(iter(src_meta.partitions.values())).replicas)
    return Plan(request, replay_id, identity, src_cluster, tgt_cluster,
                len(src_meta.partitions), replication, target_partitions, window, stored)


def checkpoint_window(directory: Path, topic: str, from_ref: str, group: str | None,
                      to_ref: str | None, partitions: tuple[int, ...] | None,
                      end_time: int | None = None) -> tuple[WindowSpec, str]:
    """--from-checkpoint: the window starts at the end offsets REF recorded for the topic (or
    at group G's committed offsets in it) and ends at the ends --to-checkpoint recorded, at
    --end (end_time), or at the current end. Returns the window and the cluster the
    checkpoints were taken on."""
    from .. import checkpoints

    first = checkpoints.load(checkpoints.resolve_ref(from_ref, directory))
    if topic not in first.topics:
        raise NotFoundError(f"checkpoint {from_ref} does not record topic {topic}; "
                            f"`ingestctl checkpoint show {from_ref}` lists what it holds.")
    if group is None:
        start = {p: s.end for p, s in first.topics[topic].partitions.items()}
    else:
        if group not in first.groups:
            raise NotFoundError(f"checkpoint {from_ref} does not record group {group}.")
        start = {p: o.offset for p, o in first.groups[group].offsets.get(topic, {}).items()}
        uncommitted = sorted(p for p in first.topics[topic].partitions if p not in start
                             and (partitions is None or p in partitions))
        if uncommitted:
            raise RefusedError(
                f"group {group} had no committed offset on {topic} partition "
                f"{', '.join(map(str, uncommitted))} in checkpoint {from_ref}, so the window "
                "has no start there; narrow it with --partitions."
            )
    end = None
    if to_ref is not None:
        last = checkpoints.load(checkpoints.resolve_ref(to_ref, directory))
        if topic not in last.topics:
            raise NotFoundError(f"checkpoint {to_ref} does not record topic {topic}.")
        if last.cluster_id != first.cluster_id:
            raise RefusedError(f"checkpoints {from_ref} and {to_ref} are from different "
                               "clusters; their offsets cannot bound one window.")
        end = {p: s.end for p, s in last.topics[topic].partitions.items() if p in start}
    return WindowSpec(start_offset=start, end_offset=end, end_time=end_time,
                      partitions=partitions), first.cluster_id


def check_stored(stored: prog.StoredReplay, replay_id: str, identity: dict,
                 shards: int) -> None:
    """A resume must be the same replay, sharded the same way (a shard's transactional id
    contains N: with another N an older run would not be fenced)."""
    recorded = stored.plan or {}
    if recorded.get("identity") not in (None, identity):
        raise RefusedError(
            f"replay id {replay_id} belongs to another replay ({_describe_identity(recorded)});"
            " choose another --id, or repeat that replay's own options."
        )
    if recorded.get("shards") not in (None, shards):
        raise RefusedError(
            f"replay {replay_id} was started with {recorded['shards']} shard(s); resume it "
            f"with the same number (--workers {recorded['shards']} or --shard K/"
            f"{recorded['shards']}), so that an older run is fenced."
        )


def _describe_identity(plan: dict) -> str:
    source, target = plan.get("source") or {}, plan.get("target") or {}
    return f"{source.get('topic')} -> {target.get('topic')}, window {plan.get('window')}"


def plan_document(source: Settings, plan: Plan, shard: tuple[int, int] | None) -> dict:
    """The plan as printed without --execute. Bytes are an estimate from a sample of each
    partition's first records (the broker does not tell sizes by offset range)."""
    request = plan.request
    partitions = plan.partitions(shard)
    ranges = {(request.source_topic, p): (s, min(e, s + SAMPLE_RECORDS))
              for p in partitions for s, e in [plan.window[p]] if s < e}
    samples = read_ranges(source, ranges) if ranges else {}
    sizes = {tp[1]: [kcopy.written_size(r, plan.replay_id, request.selection.drop_headers)
                     for r in records] for tp, records in samples.items()}
    every = [size for values in sizes.values() for size in values]
    overall = sum(every) / len(every) if every else 0.0
    rows = []
    for p in partitions:
        start, end = plan.window[p]
        mean = sum(sizes[p]) / len(sizes[p]) if sizes.get(p) else overall
        stored = plan.stored.state(p) if plan.stored else None
        row = {"partition": p, "start": start, "end": end, "records": end - start,
               "bytes": int(round(mean * (end - start))), "filtered": 0}
        if stored is not None and stored.next > start:
            row["next"] = stored.next
        rows.append(row)
    records = sum(r["records"] for r in rows)
    total_bytes = sum(r["bytes"] for r in rows)
    quota = request.quota
    return {
        "replay_id": plan.replay_id, "mode": request.mode, "status": "planned",
        "source": {"topic": request.source_topic, "cluster_id": plan.source_cluster},
        "target": {"topic": request.target_topic, "cluster_id": plan.target_cluster,
                   "exists": plan.target_partitions is not None,
                   "partitions": plan.target_partitions or plan.source_partitions},
        "partitioning": request.partitioning,
        "shard": f"{shard[0]}/{shard[1]}" if shard else None,
        "workers": request.workers,
        "partitions": rows, "records": records, "bytes": total_bytes,
        "bytes_estimated": True, "bytes_sampled_records": len(every),
        "filtered": 0, "invalid": 0,
        "validation": request.validation.as_dict() if request.validation else None,
        "duration_seconds": None, "rate_bytes_per_second": None,
        "quota": {"bytes_per_second": quota.bytes_per_second,
                  "records_per_second": quota.records_per_second},
        "estimated_duration_seconds": quota.estimated_seconds(total_bytes, records),
        "resumes": plan.stored is not None,
    }


# -- execution ------------------------------------------------------------------------------

def execute(source: Settings, target: Settings, plan: Plan, hooks: Hooks, audit_dir: Path,
            clock: Clock | None = None) -> dict:
    """Create what is missing on the target, run the replay (one shard, or --workers local
    processes), write one line to the audit log in `audit_dir`, and return the summary.
    Raises IncompleteReplay (exit 6) when it stops before the end."""
    clock = clock or SystemClock()
    request = plan.request
    audit.prepare(audit_dir)  # a refused audit dir stops the replay before it writes anything
    prepare_target(source, target, plan, hooks)
    try:
        if request.workers > 1:
            from .workers import run_workers

            summary = run_workers(source, target, plan, hooks)
        else:
            summary = run_shard(source, target, plan, request.shard, request.quota, hooks, clock)
    except IncompleteReplay as exc:
        _audit(audit_dir, plan, exc.summary)
        raise
    _audit(audit_dir, plan, summary)
    return summary


def prepare_target(source: Settings, target: Settings, plan: Plan, hooks: Hooks) -> None:
    request = plan.request
    tgt_admin = Admin(target)
    brokers = kcopy.broker_count(tgt_admin)
    if plan.target_partitions is None:
        configs = kcopy.topic_overrides(Admin(source), request.source_topic)
        if kcopy.create_topic(tgt_admin, request.target_topic, plan.source_partitions,
                              min(plan.source_replication, brokers), configs):
            hooks.note(f"created {request.target_topic} with {plan.source_partitions} "
                       f"partitions and the configs of {request.source_topic}"
                       + (f" ({', '.join(sorted(configs))})" if configs else ""))
        plan.target_partitions = plan.source_partitions
    kcopy.create_topic(tgt_admin, prog.PROGRESS_TOPIC, 1, min(3, brokers),
                       prog.PROGRESS_TOPIC_CONFIG)


class _StopSignals:
    """SIGINT and SIGTERM ask the copy loop to stop at the next batch (it then finishes the
    open transaction) instead of raising in the middle of it."""

    def __init__(self):
        self.received: str | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.received = signal.Signals(signum).name

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def run_shard(source: Settings, target: Settings, plan: Plan, shard: tuple[int, int] | None,
              quota: Quota, hooks: Hooks, clock: Clock) -> dict:
    """Copy this process's partitions (all, or shard K/N's) and return the summary.

    A run that stalled past transaction.timeout.ms (paused, swapped out) finds its open
    transaction aborted by the broker and its producer fenced: it starts again from the
    committed progress with a new producer, as a re-run would, up to MAX_REINITS times."""
    request = plan.request
    shard = shard or (0, 1)
    shard_name = f"{shard[0]}/{shard[1]}"
    exactly_once = request.mode == "exactly-once"
    validation = request.validation
    began = clock.monotonic()
    max_message_bytes = _max_message_bytes(target, request.target_topic)

    def new_copier() -> kcopy.Copier:
        return kcopy.Copier(
            source, target, target_topic=request.target_topic,
            progress_topic=prog.PROGRESS_TOPIC,
            transactional_id=(f"ingestctl-replay-{plan.replay_id}-{shard[0]}of{shard[1]}"
                              if exactly_once else None),
            by_key=request.partitioning == "key",
            max_message_bytes=max_message_bytes,
            invalid=kcopy.InvalidPolicy(checker(source), validation.on_invalid,
                                        validation.dead_letter_topic) if validation else None,
        )

    initial: dict[int, tuple[int, int]] | None = None  # records, bytes before this run
    resumed_from: list[dict] = []
    reinits = 0

    def summary(status: str, shown: list, already_completed: bool = False) -> dict:
        return _summary(plan, shown, status, shard_name, initial, resumed_from,
                        clock.monotonic() - began, already_completed)

    # From here a signal asks the run to stop at the next safe point, instead of raising
    # in the middle of a transaction.
    with _StopSignals() as stop:
        while True:
            copier = new_copier()
            committed: dict[int, prog.PartitionState] = {}
            try:
                copier.init_transactions()
                stored = prog.decode(kcopy.read_compacted(
                    target, prog.PROGRESS_TOPIC, settle=True, on_wait=hooks.note),
                    plan.replay_id).get(plan.replay_id)
                if stored is not None:
                    check_stored(stored, plan.replay_id, plan.identity, request.shards)
                window = stored.window if stored is not None else plan.window
                states = []
                for p in sorted(window):
                    if in_shard(p, shard):
                        known = stored.partitions.get(p) if stored is not None else None
                        states.append(known or prog.PartitionState(p, *window[p], window[p][0]))
                unrecorded = {s.partition for s in states
                              if stored is None or s.partition not in stored.partitions}
                # What the progress topic holds for each partition, kept in step with each
                # commit.
                committed = {s.partition: replace(s) for s in states}
                if initial is None:
                    initial = {s.partition: (s.records, s.bytes) for s in states}
                    resumed_from = [{"partition": s.partition, "offset": s.next}
                                    for s in states if s.start < s.next < s.end]

                if not unrecorded and all(s.done for s in states):
                    if reinits:
                        return summary("completed", states)
                    hooks.note(f"replay {plan.replay_id} already completed "
                               f"({sum(s.records for s in states)} records copied); "
                               "nothing written.")
                    return summary("completed", states, already_completed=True)
                if resumed_from and not reinits:
                    hooks.note(f"resuming replay {plan.replay_id} from "
                               + ", ".join(f"partition {r['partition']} offset {r['offset']}"
                                           for r in resumed_from[:6])
                               + (" …" if len(resumed_from) > 6 else ""))
                if stop.received:
                    when = ("while it started a new producer; what was copied is committed"
                            if reinits else "before this run copied anything")
                    raise IncompleteReplay(
                        f"replay {plan.replay_id} was interrupted ({stop.received}) {when}. "
                        "To resume, run the same command again "
                        f"(replay id {plan.replay_id}).", summary("incomplete", states))
                copier.assign(request.source_topic, plan.replay_id, states, request.selection)
                stopped = _copy(copier, plan, states, committed, unrecorded, stored is None,
                                shard_name, Limiter(quota, clock, kcopy.MAX_BATCH), hooks, stop)
                break
            except kcopy.TransactionExpiredError as exc:
                if reinits >= MAX_REINITS or stop.received:
                    raise
                reinits += 1
                hooks.note(f"{exc.args[0].split(';')[0]}; starting a new producer and going on "
                           "from the last committed progress (nothing is written twice).")
            except kcopy.FencedError:
                # The fenced run's open transaction was aborted: only what was committed
                # counts.
                raise IncompleteReplay(
                    f"replay {plan.replay_id} shard {shard_name} stopped: another run of the "
                    "same replay started and fenced this one, and its uncommitted records were "
                    f"discarded. Let the other run finish; `ingestctl replay status "
                    f"{plan.replay_id}` shows its progress.",
                    summary("incomplete", list(committed.values())),
                ) from None
            finally:
                copier.close()
    if copier.invalid_stop is not None:
        p, offset, problem = copier.invalid_stop
        raise IncompleteReplay(
            f"replay {plan.replay_id} stopped before {request.source_topic} partition {p} "
            f"offset {offset}, an invalid record: {problem} What came before it is copied and "
            "committed; to go on past invalid records, re-run the same command with "
            "--on-invalid skip or --on-invalid dead-letter TOPIC (it resumes there).",
            summary("incomplete", states),
        )
    if stopped:
        done = sum(s.next - s.start for s in states)
        total = sum(s.end - s.start for s in states)
        raise IncompleteReplay(
            f"replay {plan.replay_id} was interrupted ({stopped}) after {done} of {total} "
            "offsets; what was copied is committed. To resume, run the same command again "
            f"(replay id {plan.replay_id}); `ingestctl replay status {plan.replay_id}` shows "
            "its progress.",
            summary("incomplete", states),
        )
    return summary("completed", states)


def _copy(copier: kcopy.Copier, plan: Plan, states: list[prog.PartitionState],
          committed: dict[int, prog.PartitionState], unrecorded: set[int],
          plan_unrecorded: bool, shard_name: str, limiter: Limiter, hooks: Hooks,
          stop: _StopSignals) -> str | None:
    """The copy loop: batches under the quota, a transaction every second carrying the
    progress of the partitions it moved. Returns the signal's name if one stopped it."""
    clock = limiter.clock
    write_plan = plan_unrecorded
    unrecorded = set(unrecorded)
    total_offsets = sum(s.end - s.start for s in states)

    def commit() -> None:
        nonlocal write_plan
        now_ms = int(time.time() * 1000)
        records = []
        if write_plan:
            records.append((prog.plan_key(plan.replay_id), prog.encode_plan(plan.plan_record())))
        for s in states:
            if s.partition in unrecorded or _counters(committed[s.partition]) != _counters(s):
                records.append((prog.partition_key(plan.replay_id, s.partition),
                                prog.encode_partition(plan.replay_id, s, shard_name, now_ms)))
        copier.commit(records)
        write_plan = False
        unrecorded.clear()
        for s in states:
            committed[s.partition] = replace(s)

    def report() -> None:
        if hooks.progress is not None:
            hooks.progress(sum(s.next - s.start for s in states), total_offsets,
                           sum(s.records for s in states), sum(s.bytes for s in states))

    copier.begin()
    try:
        opened = last_report = clock.monotonic()
        while not copier.done and stop.received is None:
            records, written = copier.copy_batch(*limiter.batch_limits())
            wait = limiter.wait_after(written, records)
            while wait > 0 and stop.received is None:
                step = min(wait, 0.1)
                clock.sleep(step)
                wait -= step
            now = clock.monotonic()
            if now - opened >= COMMIT_INTERVAL_SECONDS:
                commit()
                copier.begin()
                opened = now
            if now - last_report >= PROGRESS_INTERVAL_SECONDS:
                report()
                last_report = now
        # Finishes the open transaction: on an interrupt too, so no copied record is redone.
        commit()
        report()
    except kcopy.FencedError:
        raise
    except BaseException:
        copier.abort()
        raise
    return stop.received


def _counters(state: prog.PartitionState) -> tuple:
    return (state.next, state.records, state.bytes, state.filtered, state.invalid)


def _summary(plan: Plan, shown: list[prog.PartitionState], status: str, shard_name: str,
             initial: dict[int, tuple[int, int]], resumed_from: list[dict], duration: float,
             already_completed: bool) -> dict:
    """Counts are the replay's totals (all runs); this_run, duration and rate are this run's."""
    run_records = sum(s.records - initial[s.partition][0] for s in shown)
    run_bytes = sum(s.bytes - initial[s.partition][1] for s in shown)
    mode = plan.request.mode
    return {
        "replay_id": plan.replay_id, "mode": mode, "status": status,
        "source": {"topic": plan.request.source_topic, "cluster_id": plan.source_cluster},
        "target": {"topic": plan.request.target_topic, "cluster_id": plan.target_cluster},
        "partitions": [prog.partition_row(s) for s in shown],
        **prog.totals(shown),
        "validation": plan.request.validation.as_dict() if plan.request.validation else None,
        "duration_seconds": round(duration, 3),
        "rate_bytes_per_second": round(run_bytes / duration, 1) if duration > 0 else 0.0,
        "this_run": {"records": run_records, "bytes": run_bytes},
        "resumed_from": resumed_from,
        "already_completed": already_completed,
        "shard": shard_name if plan.request.shards > 1 else None,
        "guarantee": "exactly-once" if mode == "exactly-once" else AT_LEAST_ONCE,
    }


def _max_message_bytes(target: Settings, topic: str) -> int:
    """The producer's size limit: what the target topic accepts, plus room for framing."""
    configs = metadata.topic_configs(Admin(target), [topic]).get(topic, {})
    return max(1_000_000, int(configs.get("max.message.bytes") or 1_048_588) + 65_536)


def _audit(directory: Path, plan: Plan, summary: dict) -> None:
    audit.record(
        directory, "replay", plan.source_cluster,
        replay_id=plan.replay_id, status=summary["status"], mode=plan.request.mode,
        source=summary["source"], target=summary["target"],
        window=plan.request.window.identity(), records=summary["records"],
        bytes=summary["bytes"], filtered=summary["filtered"], invalid=summary["invalid"],
        this_run=summary["this_run"], already_completed=summary["already_completed"],
    )


# -- reading the progress topic ---------------------------------------------------------------

def _stored_replays(settings: Settings,
                    replay_id: str | None = None) -> dict[str, prog.StoredReplay]:
    admin = Admin(settings)
    if prog.PROGRESS_TOPIC not in metadata.list_topics(admin):
        return {}
    return prog.decode(kcopy.read_compacted(settings, prog.PROGRESS_TOPIC), replay_id)


def status(settings: Settings, replay_id: str) -> dict:
    stored = _stored_replays(settings, replay_id).get(replay_id)
    if stored is None:
        raise NotFoundError(
            f"no replay {replay_id} in {prog.PROGRESS_TOPIC} on {settings.bootstrap_servers}; "
            "progress lives on the replay's target cluster (point -b or -p at it), and "
            "`ingestctl replay list` shows the replays there."
        )
    return prog.describe(stored)


def list_replays(settings: Settings) -> list[dict]:
    rows = []
    for stored in _stored_replays(settings).values():
        d = prog.describe(stored)
        rows.append({key: d[key] for key in (
            "replay_id", "status", "mode", "source", "target", "created_at", "updated_at",
            "records", "filtered", "invalid", "bytes", "window_records", "remaining_offsets")})
    return sorted(rows, key=lambda r: r["created_at"] or "", reverse=True)
