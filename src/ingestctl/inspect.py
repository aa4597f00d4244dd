"""Topics and consumer groups as an on-call engineer reads them: watermarks, records retained,
the replay window, lag in records and in seconds, and records to peek at.

Builds plain data with the field names DESIGN.md documents; the CLI only renders it. Every
offset lookup is one batched ListOffsets per kind and every group's committed offsets one
OffsetFetch, whatever the number of partitions.
"""

import base64
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from .config import Settings
from .errors import IncompleteError, NotFoundError, UsageError
from .kafka import Admin, metadata, records
from .kafka import groups as kgroups
from .kafka.around import records_around
from .kafka.records import Record
from .parsing import format_time

TP = tuple[str, int]

DEFAULT_PEEK_COUNT = 5
DECODINGS = ("avro",)
TOPIC_CONFIGS = ("retention.ms", "retention.bytes", "cleanup.policy", "min.insync.replicas")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _age_seconds(now: int, timestamp: int) -> float:
    """How long ago a record was written; never negative (a producer clock ahead of ours)."""
    return round(max(0, now - timestamp) / 1000, 3)


# --- topics -------------------------------------------------------------------------------


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
    return {"oldest_timestamp": format_time(oldest), "age_seconds": _age_seconds(now, oldest)}


# --- peek ---------------------------------------------------------------------------------


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _text_or_base64(data: bytes | None) -> tuple[str | None, str | None]:
    if data is None:
        return None, None
    text = _utf8(data)
    if text is not None:
        return text, "utf-8"
    return base64.b64encode(data).decode("ascii"), "base64"


def record_view(record: Record, registry=None) -> dict:
    """A record as peek shows it: UTF-8 text where the bytes decode, else base64 marked as such
    in `key_encoding`, `value_encoding` and `header_encodings`. A header name that occurs more
    than once maps to the list of its values, all base64 when any of them is not UTF-8.

    With a schema.Registry the value is decoded from Avro in the Confluent wire format (see
    _avro_fields)."""
    key, key_encoding = _text_or_base64(record.key)
    value, value_encoding = _text_or_base64(record.value)
    by_name: dict[str, list[bytes | None]] = {}
    for name, raw in record.headers:
        by_name.setdefault(name, []).append(raw)
    headers: dict[str, object] = {}
    header_encodings: dict[str, str] = {}
    for name, raws in by_name.items():
        if any(raw is not None and _utf8(raw) is None for raw in raws):
            header_encodings[name] = "base64"
            shown = [None if raw is None else base64.b64encode(raw).decode("ascii")
                     for raw in raws]
        else:
            shown = [None if raw is None else raw.decode("utf-8") for raw in raws]
        headers[name] = shown if len(shown) > 1 else shown[0]
    view = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": format_time(record.timestamp),
        "key": key,
        "key_encoding": key_encoding,
        "headers": headers,
        "header_encodings": header_encodings,
        "value": value,
        "value_encoding": value_encoding,
    }
    if registry is not None:
        view.update(_avro_fields(record, registry))
    return view


def _avro_fields(record: Record, registry) -> dict:
    """The decoded value (JSON-safe, `value_encoding` "avro") and its schema's id, subject and
    version. A value that does not decode keeps its raw form and gets `decode_error` (one
    sentence) and `decode_error_reason` (a schema.InvalidRecordError reason) instead, so one
    bad record does not hide the others. A tombstone has nothing to decode: schema null."""
    from .schema import InvalidRecordError, jsonable

    if record.value is None:
        return {"schema": None, "decode_error": None, "decode_error_reason": None}
    try:
        decoded = registry.decode(record.value)
    except InvalidRecordError as exc:
        return {"schema": _schema_ref(registry, record.topic, exc.schema_id),
                "decode_error": exc.message, "decode_error_reason": exc.reason}
    return {"value": jsonable(decoded.value), "value_encoding": "avro",
            "schema": _schema_ref(registry, record.topic, decoded.schema_id),
            "decode_error": None, "decode_error_reason": None}


def _schema_ref(registry, topic: str, schema_id: int | None) -> dict | None:
    """{id, subject, version}: the topic's value subject when the id is registered under it
    (its newest such version), else the first subject that registered it; subject and version
    are null for an id under no subject (or unknown to the registry)."""
    if schema_id is None:
        return None
    found = sorted(registry.versions_of(schema_id))
    own = [sv for sv in found if sv[0] == f"{topic}-value"]
    subject, version = (own[-1] if own else found[0]) if found else (None, None)
    return {"id": schema_id, "subject": subject, "version": version}


@dataclass(frozen=True)
class PeekResult:
    records: list[dict]
    notes: list[str]  # for the human (stderr): where a requested start was moved


def peek(settings: Settings, topic: str, partitions: list[int] | None = None,
         offset: int | None = None, at_ms: int | None = None, last: int | None = None,
         count: int | None = None, decode: str | None = None) -> PeekResult:
    """Up to `count` records of each partition from a start: `offset`, the first record at or
    after `at_ms`, `last` offsets before the end, or (by default) the newest `count`.
    decode="avro" decodes values through the schema registry of the settings."""
    registry = None
    if decode is not None:
        if decode not in DECODINGS:
            raise UsageError(f"--decode: '{decode}' is not one of {', '.join(DECODINGS)}.")
        from .schema import Registry

        registry = Registry(settings)  # no registry configured: exit 2 before reading
    admin = Admin(settings)
    meta = metadata.topics(admin, [topic])[topic]
    if partitions is None:
        partitions = sorted(meta.partitions)
    missing = [p for p in partitions if p not in meta.partitions]
    if missing:
        raise NotFoundError(
            f"partition {', '.join(map(str, missing))} of topic {topic} does not exist; "
            f"it has partitions 0-{len(meta.partitions) - 1}."
        )
    if count is None:
        count = last if last is not None else DEFAULT_PEEK_COUNT
    if offset is None and at_ms is None and last is None:
        last = count
    tps = [(topic, p) for p in partitions]
    # Read committed records only, up to the last stable offset: beyond it a read would wait
    # for an open transaction.
    marks = metadata.watermarks(admin, tps)
    notes = []
    starts = {}
    if at_ms is not None:
        found = metadata.list_offsets(admin, {tp: at_ms for tp in tps})
        for tp in tps:
            starts[tp] = found[tp].offset if found[tp].offset >= 0 else marks[tp][1]
    for tp in tps:
        log_start, end = marks[tp]
        if offset is not None:
            starts[tp] = max(offset, log_start)
            if offset < log_start:
                notes.append(f"offset {offset} of {topic}[{tp[1]}] is no longer retained; "
                             f"starting at its log-start {log_start}.")
    if last is not None:
        read = _newest_records(settings, {tp: marks[tp] for tp in tps}, last)
        read = {tp: found[:count] for tp, found in read.items()}
    else:
        read = records.read_ranges(settings, {tp: (starts[tp], marks[tp][1]) for tp in tps},
                                   limit_per_partition=count)
    return PeekResult([record_view(r, registry) for tp in tps for r in read[tp]], notes)


def _newest_records(settings: Settings, marks: dict[TP, tuple[int, int]], want: int
                    ) -> dict[TP, list[Record]]:
    """The newest `want` records of each partition. Transaction markers and aborted records
    occupy offsets without being records, so the look-back widens until it holds enough
    records or reaches log-start."""
    result: dict[TP, list[Record]] = {}
    span = want
    pending = dict(marks)
    while pending:
        ranges = {tp: (max(log_start, end - span), end) for tp, (log_start, end) in
                  pending.items()}
        read = records.read_ranges(settings, ranges)
        for tp, found in read.items():
            if len(found) >= want or ranges[tp][0] <= pending[tp][0]:
                result[tp] = found[-want:]
                del pending[tp]
        span *= 4
    return result


# --- groups -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group never committed an offset here
    log_start: int | None  # None when the topic no longer exists, or without `seconds`
    end: int | None  # the high watermark
    lag: int | None  # end - committed, never below 0; 0 when only transaction markers remain
    next_timestamp: int | None  # ms, of the record AT the committed offset (the next to consume)
    lag_seconds: float | None  # age of that record; 0 when caught up

    def as_dict(self) -> dict:
        return {
            "topic": self.topic, "partition": self.partition, "committed": self.committed,
            "log_start": self.log_start, "end": self.end, "lag": self.lag,
            "lag_seconds": self.lag_seconds, "next_timestamp": format_time(self.next_timestamp),
        }


@dataclass(frozen=True)
class GroupLag:
    group: str
    state: str
    members: list[kgroups.Member]
    partitions: list[PartitionLag]
    exists: bool  # False: unknown to the broker (Dead, no members, no committed offsets)

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions if p.lag is not None)

    @property
    def topics(self) -> list[str]:
        return sorted({p.topic for p in self.partitions})


def group_lag(admin: Admin, group_ids: list[str], topics: list[str] | None = None,
              seconds: bool = True) -> dict[str, GroupLag]:
    """Each group's state, members, and per partition its committed offset, log-start, high
    watermark, lag, and (with `seconds`) the timestamp and age of the next unconsumed record.

    Covers every partition of the given topics (NotFoundError naming any that does not
    exist), or else of every topic the group committed offsets on or has assigned; partitions
    without a committed offset have committed, lag and lag_seconds None. Unknown groups come
    back with exists=False rather than raising. One DescribeGroups, one OffsetFetch per group,
    one ListOffsets per kind (high watermark; with `seconds` also log-start and last stable
    offset), and record reads only for partitions that lag.
    """
    group_ids = list(dict.fromkeys(group_ids))
    infos = kgroups.describe_groups(admin, group_ids)
    committed = kgroups.committed_offsets(admin, group_ids)
    metas = metadata.topics(admin, topics) if topics else metadata.list_topics(admin)
    wanted: dict[str, list[TP]] = {}
    for g in group_ids:
        if topics:
            names = set(topics)
        else:
            names = {t for t, _ in committed[g]}
            names |= {t for m in infos[g].members for t, _ in m.assignment}
        tps = {(t, p) for t in names if t in metas for p in metas[t].partitions}
        # Offsets committed on a topic since deleted stay visible (without an end).
        tps |= {tp for tp in committed[g] if tp[0] in names}
        wanted[g] = sorted(tps)
    live = sorted({tp for tps in wanted.values() for tp in tps if tp[0] in metas})
    high = metadata.list_offsets(admin, {tp: "latest" for tp in live}, read_committed=False)
    log_starts: dict[TP, metadata.OffsetInfo] = {}
    next_records: dict[tuple[TP, int], Record | None] = {}
    if seconds:
        log_starts = metadata.list_offsets(admin, {tp: "earliest" for tp in live})
        stable = metadata.list_offsets(admin, {tp: "latest" for tp in live})
        starts = {
            (tp, max(committed[g][tp], log_starts[tp].offset))
            for g in group_ids for tp in wanted[g]
            if tp in high and tp in committed[g] and committed[g][tp] < high[tp].offset
        }
        points: dict[TP, set[int]] = {}
        for tp, start in starts:
            if start < stable[tp].offset:
                points.setdefault(tp, set()).add(start)
        around = records_around(
            admin.settings, points,
            {tp: (log_starts[tp].offset, stable[tp].offset) for tp in points})
        next_records = {point: at for point, (_, at) in around.items()}
    now = now_ms()
    result = {}
    for g in group_ids:
        rows = []
        for tp in wanted[g]:
            offset = committed[g].get(tp)
            end = high[tp].offset if tp in high else None
            lag = max(0, end - offset) if offset is not None and end is not None else None
            next_ts, age = None, None
            if seconds and lag is not None:
                age = 0.0
                record = next_records.get((tp, max(offset, log_starts[tp].offset)))
                if lag > 0 and record is None and stable[tp].offset == end:
                    # Only transaction markers (or aborted records) lie between the committed
                    # offset and the end: nothing is left to consume. Every transactionally
                    # written topic (a replay's target) ends with a marker.
                    lag = 0
                if lag > 0 and record is not None:
                    # A record without a timestamp (-1) has no age to show.
                    next_ts = record.timestamp if record.timestamp >= 0 else None
                    age = _age_seconds(now, next_ts) if next_ts is not None else None
            rows.append(PartitionLag(
                topic=tp[0], partition=tp[1], committed=offset,
                log_start=log_starts[tp].offset if tp in log_starts else None,
                end=end, lag=lag, next_timestamp=next_ts, lag_seconds=age,
            ))
        info = infos[g]
        result[g] = GroupLag(
            group=g, state=info.state, members=info.members, partitions=rows,
            exists=info.state != "Dead" or bool(info.members) or bool(committed[g]),
        )
    return result


def _require_known(lags: dict[str, GroupLag], settings: Settings) -> None:
    unknown = [g for g, lag in lags.items() if not lag.exists]
    if unknown:
        raise NotFoundError(
            f"group {', '.join(unknown)} does not exist on {settings.bootstrap_servers} (no "
            "members and no committed offsets); check the name with `ingestctl groups list`."
        )


def _member_view(member: kgroups.Member) -> dict:
    return {
        "member_id": member.member_id, "client_id": member.client_id, "host": member.host,
        "assignment": [{"topic": t, "partition": p} for t, p in member.assignment],
    }


def list_groups(settings: Settings) -> list[dict]:
    """Every group with its state, member count, topics and total lag in records."""
    admin = Admin(settings)
    group_ids = [g for g, _ in kgroups.list_groups(admin)]
    lags = group_lag(admin, group_ids, seconds=False)
    return [
        {"group": g, "state": lag.state, "members": len(lag.members), "topics": lag.topics,
         "total_lag": lag.total_lag}
        for g, lag in lags.items()
    ]


def describe_groups(settings: Settings, group_ids: list[str],
                    topics: list[str] | None = None) -> list[dict]:
    """State, members, and per partition committed offset, end, lag and lag in seconds."""
    admin = Admin(settings)
    lags = group_lag(admin, group_ids, topics)
    _require_known(lags, settings)
    return [
        {
            "group": g, "state": lag.state,
            "members": [_member_view(m) for m in lag.members],
            "partitions": [p.as_dict() for p in lag.partitions],
            "total_lag": lag.total_lag,
        }
        for g, lag in lags.items()
    ]


def wait_for_lag(settings: Settings, group: str, max_lag: int, timeout_ms: int,
                 interval_ms: int, progress: Callable[[GroupLag, float], None]) -> dict:
    """Poll the group's total lag until it is at most max_lag; IncompleteError at the timeout.
    `progress(lag, waited_seconds)` is told about every check that is not yet good enough."""
    admin = Admin(settings)
    began = time.monotonic()
    deadline = began + timeout_ms / 1000
    while True:
        # With record reads, so a group past a topic's last record, with only a transaction
        # marker left (every replay target), counts as caught up.
        lag = group_lag(admin, [group])[group]
        _require_known({group: lag}, settings)
        waited = time.monotonic() - began
        if lag.total_lag <= max_lag:
            return {"group": group, "state": lag.state, "total_lag": lag.total_lag,
                    "max_lag": max_lag, "waited_seconds": round(waited, 3)}
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise IncompleteError(
                f"group {group} still lags {lag.total_lag} records (more than {max_lag}) after "
                f"{waited:.1f} s; wait longer with a larger --timeout, or check that its "
                "consumers are running."
            )
        progress(lag, waited)
        time.sleep(min(interval_ms / 1000, remaining))
