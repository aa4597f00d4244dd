"""Planning a replay: the window resolved to offsets per partition, fixed at the first run and
reused by every resume (stored with the progress), its size and duration at the quota."""

import os
from pathlib import Path

from ..config import Settings
from ..errors import NotFoundError, RefusedError, UsageError
from ..kafka import Admin, cluster_id, metadata
from ..kafka.admin import topic_overrides
from ..kafka.compacted import read_compacted
from ..kafka.records import read_ranges
from . import progress as prog
from .model import MODES, PARTITIONINGS, SAMPLE_RECORDS, Plan, ReplayRequest, dedupe_document
from .provenance import written_size
from .validate import check as check_validation
from .window import WindowSpec, derive_replay_id, plan_window, replay_identity


def plan(source: Settings, target: Settings, request: ReplayRequest) -> Plan:
    """Check everything that can be checked without writing, and resolve the window. A
    replay that already has progress keeps the window stored with it."""
    request.window.validate()
    if request.mode not in MODES:
        raise UsageError(f"--mode: '{request.mode}' is not one of {', '.join(MODES)}.")
    if request.partitioning not in PARTITIONINGS:
        raise UsageError(f"--partitioning: '{request.partitioning}' is not one of "
                         f"{', '.join(PARTITIONINGS)}.")
    if request.dedupe is not None and request.dedupe.header in request.selection.drop_headers:
        raise UsageError(
            f"--drop-header {request.dedupe.header} would strip the idempotency key that "
            "--dedupe-header reads back from the target when a replay resumes; keep it.")
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
        dedupe=request.dedupe.identity() if request.dedupe is not None else None,
    )
    replay_id = request.replay_id or derive_replay_id(identity)
    if request.validation is not None:
        check_validation(request.validation, source, topic, src_cluster,
                         request.target_topic, tgt_cluster, tgt_topics)
    stored = None
    if prog.PROGRESS_TOPIC in tgt_topics:
        # What is decided now; the run re-reads it authoritatively after fencing.
        stored = prog.decode(read_compacted(target, prog.PROGRESS_TOPIC),
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
    if request.dedupe is not None and request.dedupe.horizon_ms is not None:
        configs = (metadata.topic_configs(tgt_admin, [request.target_topic])
                   .get(request.target_topic, {}) if tgt_meta is not None
                   else topic_overrides(src_admin, topic))
        if configs.get("message.timestamp.type") == "LogAppendTime":
            raise RefusedError(
                f"{request.target_topic if tgt_meta is not None else topic} has "
                "message.timestamp.type=LogAppendTime: the copies would not keep their "
                "records' times, and a resumed --dedupe-horizon compares with the copies' "
                "times; replay into a CreateTime topic, or leave out --dedupe-horizon.")
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


# bench/replay.py's --workers curve (2 cores, the broker on the same machine): a worker is a
# fresh interpreter with its own clients and transaction, ~0.25 s more start-up than one
# process; two workers copied 1M records 1.1-1.3x faster than one, 100k ones slower. Fitted
# to each run, the two cross at ~180,000 and ~360,000 records.
WORKERS_PAY_OFF_RECORDS = 300_000


def suggested_workers(records: int, partitions: int, shard: tuple[int, int] | None) -> int:
    """How many --workers to run: one per core (no more than partitions) from a window of
    WORKERS_PAY_OFF_RECORDS records on; one below it, or when a shard is given."""
    if shard is not None or records < WORKERS_PAY_OFF_RECORDS:
        return 1
    return max(1, min(partitions, os.cpu_count() or 1))


def plan_document(source: Settings, plan: Plan, shard: tuple[int, int] | None) -> dict:
    """The plan as printed without --execute. Bytes are an estimate from a sample of each
    partition's first records (the broker does not tell sizes by offset range)."""
    request = plan.request
    partitions = plan.partitions(shard)
    ranges = {(request.source_topic, p): (s, min(e, s + SAMPLE_RECORDS))
              for p in partitions for s, e in [plan.window[p]] if s < e}
    samples = read_ranges(source, ranges) if ranges else {}
    sizes = {tp[1]: [written_size(r, plan.replay_id, request.selection.drop_headers)
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
        "suggested_workers": suggested_workers(records, len(rows), shard),
        "partitions": rows, "records": records, "bytes": total_bytes,
        "bytes_estimated": True, "bytes_sampled_records": len(every),
        "filtered": 0, "invalid": 0,
        "dedupe": dedupe_document(request),
        "validation": request.validation.as_dict() if request.validation else None,
        "duration_seconds": None, "rate_bytes_per_second": None,
        "quota": {"bytes_per_second": quota.bytes_per_second,
                  "records_per_second": quota.records_per_second},
        "estimated_duration_seconds": quota.estimated_seconds(total_bytes, records),
        "resumes": plan.stored is not None,
    }

