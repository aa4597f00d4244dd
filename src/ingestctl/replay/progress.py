"""The progress records a replay keeps in the compacted topic `ingestctl-replay-progress` on
the target cluster: one plan record per replay (the window with its fixed end offsets) and
one record per partition (next source offset and counts); with --dedupe-header, one record
per shard (the target's end offsets when the shard first wrote, where a resume starts
re-reading what it wrote). Under exactly-once they are written in the same transaction as
the records they account for, so what they say is exactly what the target holds.

Keys: `replay/<id>/plan`, `replay/<id>/partition/<p>` and `replay/<id>/shard/<K>of<N>`;
values: JSON documents.
"""

import json
from dataclasses import dataclass, field

from ..parsing import format_time

PROGRESS_TOPIC = "ingestctl-replay-progress"
FORMAT = "ingestctl.replay-progress/v1"
PROGRESS_TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    # Compaction only cleans closed segments: roll them hourly so the topic stays small.
    "segment.ms": "3600000",
}


@dataclass
class PartitionState:
    partition: int
    start: int
    end: int
    next: int
    records: int = 0
    bytes: int = 0
    filtered: int = 0
    invalid: int = 0
    updated_at: str | None = None
    duplicates: int = 0  # --dedupe-header: records not written, their key already was
    missing_key: int = 0  # --dedupe-header: records written without the header

    @property
    def done(self) -> bool:
        return self.next >= self.end

    @property
    def window_records(self) -> int:
        return self.end - self.start


@dataclass
class StoredReplay:
    replay_id: str
    plan: dict | None = None
    partitions: dict[int, PartitionState] = field(default_factory=dict)
    # "K/N" -> the shard record: {"dedupe_from": {target partition: offset}}
    shards: dict[str, dict] = field(default_factory=dict)

    def state(self, partition: int) -> PartitionState | None:
        """A partition's state: its own record, else the plan's window (nothing copied)."""
        if partition in self.partitions:
            return self.partitions[partition]
        for entry in (self.plan or {}).get("partitions", []):
            if entry["partition"] == partition:
                return PartitionState(partition, entry["start"], entry["end"], entry["start"])
        return None

    def all_states(self) -> list[PartitionState]:
        numbers = {e["partition"] for e in (self.plan or {}).get("partitions", [])}
        numbers |= set(self.partitions)
        return [self.state(p) for p in sorted(numbers)]

    @property
    def window(self) -> dict[int, tuple[int, int]]:
        return {s.partition: (s.start, s.end) for s in self.all_states()}


def plan_key(replay_id: str) -> bytes:
    return f"replay/{replay_id}/plan".encode()


def partition_key(replay_id: str, partition: int) -> bytes:
    return f"replay/{replay_id}/partition/{partition}".encode()


def shard_key(replay_id: str, shard: tuple[int, int]) -> bytes:
    return f"replay/{replay_id}/shard/{shard[0]}of{shard[1]}".encode()


def encode_shard(replay_id: str, shard: tuple[int, int], dedupe_from: dict[int, int]) -> bytes:
    return json.dumps({
        "format": FORMAT, "kind": "shard", "replay_id": replay_id,
        "shard": f"{shard[0]}/{shard[1]}",
        "dedupe_from": {str(p): o for p, o in sorted(dedupe_from.items())},
    }, sort_keys=True).encode()


def encode_plan(plan: dict) -> bytes:
    return json.dumps({"format": FORMAT, "kind": "plan", **plan}, sort_keys=True).encode()


def encode_partition(replay_id: str, state: PartitionState, shard: str, now_ms: int) -> bytes:
    return json.dumps({
        "format": FORMAT, "kind": "partition", "replay_id": replay_id, "shard": shard,
        "partition": state.partition, "start": state.start, "end": state.end,
        "next": state.next, "records": state.records, "bytes": state.bytes,
        "filtered": state.filtered, "invalid": state.invalid,
        "duplicates": state.duplicates, "missing_key": state.missing_key,
        "updated_at": format_time(now_ms),
    }, sort_keys=True).encode()


def decode(records: dict[bytes, bytes | None],
           replay_id: str | None = None) -> dict[str, StoredReplay]:
    """Every replay in the progress topic's latest records (only `replay_id`'s when given:
    the topic holds every replay ever run on the cluster). Records this version does not
    understand (another format, not JSON) are skipped rather than trusted."""
    replays: dict[str, StoredReplay] = {}
    for key, value in records.items():
        parts = key.decode("utf-8", "replace").split("/")
        if len(parts) < 3 or parts[0] != "replay" or value is None:
            continue
        if replay_id is not None and parts[1] != replay_id:
            continue
        try:
            doc = json.loads(value)
        except ValueError:
            continue
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            continue
        replay = replays.setdefault(parts[1], StoredReplay(parts[1]))
        if parts[2] == "plan" and doc.get("kind") == "plan":
            replay.plan = doc
        elif parts[2] == "partition" and doc.get("kind") == "partition":
            replay.partitions[int(doc["partition"])] = PartitionState(
                int(doc["partition"]), int(doc["start"]), int(doc["end"]), int(doc["next"]),
                int(doc["records"]), int(doc["bytes"]), int(doc["filtered"]),
                int(doc["invalid"]), doc.get("updated_at"),
                int(doc.get("duplicates", 0)), int(doc.get("missing_key", 0)),
            )
        elif parts[2] == "shard" and doc.get("kind") == "shard":
            replay.shards[str(doc["shard"])] = {
                "dedupe_from": {int(p): int(o) for p, o in doc["dedupe_from"].items()}}
    return {rid: r for rid, r in replays.items() if r.plan is not None or r.partitions}


def describe(stored: StoredReplay) -> dict:
    """`replay status`: the replay as its progress records tell it."""
    plan = stored.plan or {}
    states = stored.all_states()
    updated = [s.updated_at for s in states if s.updated_at]
    return {
        "replay_id": stored.replay_id,
        "mode": plan.get("mode"),
        "status": "completed" if states and all(s.done for s in states) else "incomplete",
        "source": plan.get("source"),
        "target": plan.get("target"),
        "window": plan.get("window"),
        "shards": plan.get("shards"),
        "dedupe": plan.get("dedupe"),
        "created_at": plan.get("created_at"),
        "updated_at": max(updated) if updated else None,
        "partitions": [partition_row(s) for s in states],
        **totals(states),
    }


def partition_row(state: PartitionState) -> dict:
    return {"partition": state.partition, "start": state.start, "end": state.end,
            "next": state.next, "records": state.records, "bytes": state.bytes,
            "filtered": state.filtered, "invalid": state.invalid,
            "duplicates": state.duplicates, "missing_key": state.missing_key}


def totals(states: list[PartitionState]) -> dict:
    return {
        "records": sum(s.records for s in states),
        "bytes": sum(s.bytes for s in states),
        "filtered": sum(s.filtered for s in states),
        "invalid": sum(s.invalid for s in states),
        "duplicates": sum(s.duplicates for s in states),
        "missing_key": sum(s.missing_key for s in states),
        "window_records": sum(s.window_records for s in states),
        "remaining_offsets": sum(max(0, s.end - s.next) for s in states),
    }
