"""Consumer groups and their lag: state, members, and per partition the committed offset,
the end offset and the lag in records and in seconds (age of the next unconsumed record).

One lag computation serves `groups list`, `groups describe`, `groups wait` and connector
views. Each group's committed offsets come from one OffsetFetch, whatever the partitions."""

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config import Settings
from ..errors import IncompleteError, NotFoundError
from ..kafka import Admin, metadata
from ..kafka import groups as kgroups
from ..kafka.around import records_around
from ..kafka.records import Record
from ..parsing import format_time
from ..partitions import TP
from .topics import age_seconds, now_ms


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


def group_lag(admin: Admin, group_ids: list[str],
              topics: list[str] | None = None) -> dict[str, GroupLag]:
    """Each group's state, members, and per partition its committed offset, log-start, high
    watermark, lag, and the timestamp and age of the next unconsumed record. The one lag
    computation of every command: lag counts records, so a group with only transaction
    markers (or aborted records) left before the end is caught up, whichever command asks.

    Covers every partition of the given topics (NotFoundError naming any that does not
    exist), or else of every topic the group committed offsets on or has assigned; partitions
    without a committed offset have committed, lag and lag_seconds None. Unknown groups come
    back with exists=False rather than raising. One DescribeGroups, one OffsetFetch per group,
    one ListOffsets per kind (high watermark, log-start, last stable offset), and record reads
    only for partitions that lag.
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
    next_records: dict[tuple[TP, int], Record | None] = {
        point: at for point, (_, at) in around.items()}
    now = now_ms()
    result = {}
    for g in group_ids:
        rows = []
        for tp in wanted[g]:
            offset = committed[g].get(tp)
            end = high[tp].offset if tp in high else None
            lag = max(0, end - offset) if offset is not None and end is not None else None
            next_ts, age = None, None
            if lag is not None:
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
                    age = age_seconds(now, next_ts) if next_ts is not None else None
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
    lags = group_lag(admin, group_ids)
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

