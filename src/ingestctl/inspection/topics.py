"""Topics as an on-call engineer reads them: partitions, watermarks, records retained,
first and last timestamps, retention configs and the replay window.

Builds plain data with the field names the README documents; the CLI only renders it. Every
offset lookup is one batched ListOffsets per kind, whatever the number of partitions."""

import re
import time

from ..config import Settings
from ..kafka import Admin, metadata
from ..kafka.around import records_around
from ..parsing import format_time

TOPIC_CONFIGS = ("retention.ms", "retention.bytes", "cleanup.policy", "min.insync.replicas")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def age_seconds(now: int, timestamp: int) -> float:
    """How long ago a record was written; never negative (a producer clock ahead of ours)."""
    return round(max(0, now - timestamp) / 1000, 3)


def list_topics(settings: Settings, pattern: re.Pattern | None = None,
                include_internal: bool = False) -> list[dict]:
    """Every topic (matching the pattern) with partitions, replication factor and records
    retained (the sum over partitions of high watermark - log-start)."""
    admin = Admin(settings)
    metas = metadata.list_topics(admin)
    names = sorted(
        name for name, meta in metas.items()
        if (include_internal or not meta.internal)
        and (pattern is None or pattern.search(name))
    )
    tps = [(name, p) for name in names for p in metas[name].partitions]
    marks = metadata.watermarks(admin, tps, read_committed=False)
    return [
        {
            "topic": name,
            "partitions": len(metas[name].partitions),
            "replication_factor": max(
                (len(pm.replicas) for pm in metas[name].partitions.values()), default=0),
            "records": sum(marks[(name, p)][1] - marks[(name, p)][0]
                           for p in metas[name].partitions),
            "internal": metas[name].internal,
        }
        for name in names
    ]


def describe_topics(settings: Settings, names: list[str]) -> list[dict]:
    """Per partition: leader, replicas, ISR, log-start, end (high watermark), records, the
    timestamps of the first and last records; the topic's retention configs and replay window.
    """
    names = list(dict.fromkeys(names))
    admin = Admin(settings)
    metas = metadata.topics(admin, names)
    tps = [(name, p) for name in names for p in sorted(metas[name].partitions)]
    log_starts = metadata.list_offsets(admin, {tp: "earliest" for tp in tps})
    high = metadata.list_offsets(admin, {tp: "latest" for tp in tps}, read_committed=False)
    stable = metadata.list_offsets(admin, {tp: "latest" for tp in tps})
    # The first and last records are read (committed records below the last stable offset,
    # so neither a transaction marker nor an open transaction stands in for a record): the
    # first at or after log-start, the last below the last stable offset, in one pass.
    bounds = {tp: (log_starts[tp].offset, stable[tp].offset) for tp in tps
              if stable[tp].offset > log_starts[tp].offset}
    around = records_around(settings, {tp: {start, end} for tp, (start, end) in bounds.items()},
                            bounds)
    firsts = {tp: around[(tp, start)][1] for tp, (start, _) in bounds.items()}
    lasts = {tp: around[(tp, end)][0] for tp, (_, end) in bounds.items()}
    configs = metadata.topic_configs(admin, names)
    now = now_ms()
    result = []
    for name in names:
        partitions = []
        for p in sorted(metas[name].partitions):
            tp = (name, p)
            meta = metas[name].partitions[p]
            first = firsts.get(tp)
            last = lasts.get(tp)
            partitions.append({
                "partition": p,
                "leader": meta.leader,
                "replicas": meta.replicas,
                "isr": meta.isr,
                "log_start": log_starts[tp].offset,
                "end": high[tp].offset,
                "records": high[tp].offset - log_starts[tp].offset,
                "first_timestamp": format_time(first.timestamp) if first else None,
                "last_timestamp": format_time(last.timestamp) if last else None,
            })
        result.append({
            "topic": name,
            "partitions": partitions,
            "configs": {k: configs[name][k] for k in TOPIC_CONFIGS if k in configs[name]},
            "replay_window": replay_window(
                [(log_starts[(name, p)].offset, firsts[(name, p)].timestamp)
                 for p in sorted(metas[name].partitions) if firsts.get((name, p))],
                now,
            ),
        })
    return result


def replay_window(partitions: list[tuple[int, int]], now: int) -> dict:
    """The oldest time from which a replay still finds every partition's records.

    `partitions` holds (log-start, first retained record's timestamp) of each non-empty
    partition. A partition whose log-start moved (retention, DeleteRecords) lost the records
    before its first retained one, so the window opens at the newest such first timestamp;
    when no partition lost anything, at the oldest first timestamp.
    """
    known = [(start, ts) for start, ts in partitions if ts >= 0]
    truncated = [ts for start, ts in known if start > 0]
    if truncated:
        oldest = max(truncated)
    elif known:
        oldest = min(ts for _, ts in known)
    else:
        return {"oldest_timestamp": None, "age_seconds": None}
    return {"oldest_timestamp": format_time(oldest), "age_seconds": age_seconds(now, oldest)}

