"""`wave status`: one operating view of a migration wave — its topics (end, records produced
since the wave's newest checkpoint, rate, replay window), consumer groups (lag in records and
seconds, records consumed since the checkpoint, the lag's trend), connectors (state, tasks,
sink lag), the replays reading or writing its topics, and the schemas changed since the
checkpoint — with a gate that says which of the conditions a cutover waits for do not hold.

Cost: one capture's reads (checkpoints.live.snapshot: metadata, ListOffsets per kind, the
groups' committed offsets, and one pass of record reads for every log-start, end and
committed offset, as `checkpoint create` does), one Connect overview request, one read of the
replay progress topic, and the registry's subjects when one is configured. Lag is computed
from those reads as group_lag computes it; comparisons with the checkpoint go through
checkpoints.diff, as `checkpoint diff --live` does."""

import dataclasses
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..checkpoints import Checkpoint, diff, load, load_wave_plan, wave_files
from ..checkpoints.model import GroupState
from ..checkpoints.store import check_wave
from ..checkpoints.waves import WaveScope
from ..config import Settings
from ..errors import NotFoundError, UsageError
from ..kafka import Admin, cluster_id
from ..parsing import format_time, parse_duration_ms
from .topics import age_seconds, now_ms, replay_window

TREND_SAMPLES = 30  # lag samples kept per group (the checkpoint's lag first, when known)


# --- scope ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Baseline:
    """The wave's newest checkpoint: what `*_since_checkpoint` is measured against."""

    ref: str  # WAVE@N
    path: Path
    checkpoint: Checkpoint


def resolve_scope(wave: str, plan: Path | None, directory: Path
                  ) -> tuple[WaveScope, Baseline | None]:
    """The wave's topics, groups and connectors (from the plan, else from its newest
    checkpoint) and that checkpoint, if the wave has one. NotFoundError without either."""
    check_wave(wave)
    files = wave_files(directory, wave)
    baseline = None
    if files:
        baseline = Baseline(f"{wave}@{len(files)}", files[-1], load(files[-1]))
    if plan is not None:
        return load_wave_plan(plan, wave), baseline
    if baseline is None:
        raise NotFoundError(
            f"no checkpoint of wave {wave} in {directory} and no --plan: nothing says what "
            "the wave holds; pass --plan waves.yaml (or --dir, or create a checkpoint first "
            f"with `ingestctl checkpoint create {wave} …`)."
        )
    cp = baseline.checkpoint
    return WaveScope(sorted(cp.topics), sorted(cp.groups), sorted(cp.connectors)), baseline


# --- the gate ------------------------------------------------------------------------------

GATE_KEYS = ("max-lag", "max-lag-seconds", "connectors", "replays", "schemas")
_GATE_VALUES = {"connectors": "running", "replays": "done", "schemas": "unchanged"}


@dataclass(frozen=True)
class Condition:
    key: str
    value: str  # normalised: records, seconds, or the one allowed word
    given: str = ""  # as the user wrote it

    @property
    def text(self) -> str:
        return self.given or f"{self.key}={self.value}"


def parse_gate(texts: list[str]) -> list[Condition]:
    """`max-lag=N,max-lag-seconds=S,connectors=running,replays=done,schemas=unchanged` (any
    subset, in one or several --gate options). UsageError naming what is wrong."""
    conditions: dict[str, Condition] = {}
    for text in texts:
        for part in text.split(","):
            part = part.strip()
            key, sep, value = part.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key or not value:
                raise UsageError(
                    f"--gate: '{part}' is not KEY=VALUE; use e.g. "
                    "max-lag=0,max-lag-seconds=30,connectors=running,replays=done,"
                    "schemas=unchanged.")
            if key not in GATE_KEYS:
                raise UsageError(f"--gate: unknown condition '{key}'; the conditions are "
                                 f"{', '.join(GATE_KEYS)}.")
            if key in conditions:
                raise UsageError(f"--gate: '{key}' is given twice.")
            if key == "max-lag" and not re.fullmatch(r"\d+", value):
                raise UsageError(f"--gate: max-lag={value}: give a number of records (0 or "
                                 "more).")
            if key == "max-lag-seconds":
                try:
                    seconds = parse_duration_ms(value) / 1000 if not re.fullmatch(
                        r"\d+(\.\d+)?", value) else float(value)
                except UsageError:
                    raise UsageError(f"--gate: max-lag-seconds={value}: give seconds (30) or "
                                     "a duration (30s, 5m).") from None
                value = f"{seconds:g}"
            if key in _GATE_VALUES and value != _GATE_VALUES[key]:
                raise UsageError(f"--gate: {key}={value}: the only value is "
                                 f"{key}={_GATE_VALUES[key]}.")
            conditions[key] = Condition(key, value, part)
    if not conditions:
        raise UsageError("--gate: name at least one condition, e.g. max-lag=0.")
    return list(conditions.values())


def evaluate_gate(conditions: list[Condition], doc: dict) -> dict:
    """Each condition with `passed` and, where it fails, one sentence per reason."""
    results = []
    for c in conditions:
        failures = _failures(c, doc)
        results.append({"condition": c.text, "passed": not failures, "failures": failures})
    return {"passed": all(r["passed"] for r in results), "conditions": results}


def _failures(c: Condition, doc: dict) -> list[str]:
    out = []
    if c.key == "max-lag":
        limit = int(c.value)
        for g in doc["groups"]:
            if g["lag"] is None:
                out.append(f"group {g['group']} has no committed offsets (state {g['state']})")
            elif g["lag"] > limit:
                out.append(f"group {g['group']} lags {g['lag']} records (more than {limit})")
    elif c.key == "max-lag-seconds":
        limit = float(c.value)
        for g in doc["groups"]:
            if g["lag_seconds"] is None:
                out.append(f"group {g['group']} has no lag in seconds (no committed offsets)")
            elif g["lag_seconds"] > limit:
                out.append(f"group {g['group']} is {g['lag_seconds']:g} s behind (more than "
                           f"{limit:g} s)")
    elif c.key == "connectors":
        for r in doc["connectors"]:
            tasks = r["tasks"] or []
            if r["state"] is None:
                out.append(f"connector {r['connector']}: {r.get('note') or 'state unknown'}")
            elif r["state"] != "RUNNING" or not tasks or any(
                    t["state"] != "RUNNING" for t in tasks):
                states = ", ".join(f"{t['id']}:{t['state']}" for t in tasks) or "none"
                out.append(f"connector {r['connector']} is {r['state']} (tasks {states})")
    elif c.key == "replays":
        for r in doc["replays"]:
            if r["status"] != "completed":
                out.append(f"replay {r['replay_id']} is {r['status']} ({r['done']} of "
                           f"{r['total']} offsets)")
    elif c.key == "schemas":
        if doc["schemas_changed"] is None:
            out.append(doc.get("schemas_note") or "no checkpoint of the wave to compare with")
        for s in doc["schemas_changed"] or []:
            what = s.get("subject") or f"{s['topic']}[{s['partition']}]"
            out.append(f"{what} changed from {s['from']} to {s['to']}")
    return out


def gate_message(gate: dict) -> tuple[str, list[str]]:
    failed = [c for c in gate["conditions"] if not c["passed"]]
    message = "gate not met: " + ", ".join(c["condition"] for c in failed) + "."
    return message, [f"{c['condition']}: {reason}" for c in failed for reason in c["failures"]]


# --- sampling ------------------------------------------------------------------------------

@dataclass
class _Previous:
    at: float  # monotonic seconds
    topic_ends: dict[str, int] = field(default_factory=dict)
    replay_done: dict[str, int] = field(default_factory=dict)


class WaveStatus:
    """Samples the wave's state; keeps what the trend, the rates and a watch need between
    samples. `notes` collects hints for stderr (each said once)."""

    def __init__(self, settings: Settings, wave: str, scope: WaveScope,
                 baseline: Baseline | None, gate: list[Condition] | None = None):
        self.settings = settings
        self.wave = wave
        self.scope = scope
        self.baseline = baseline
        self.gate = gate
        self.admin = Admin(settings)
        self.cluster = cluster_id(self.admin)
        self._said: set[str] = set()
        self.notes: list[str] = []
        self._previous: _Previous | None = None
        self._trend: dict[str, deque] = {}
        if baseline is None:
            self._note(f"wave {wave} has no checkpoint yet: nothing to compare with, so "
                       "since_checkpoint, the *_since_checkpoint fields and schemas_changed "
                       f"are null (`ingestctl checkpoint create {wave} …` records one).")
        elif baseline.checkpoint.cluster_id != self.cluster:
            self._note(f"checkpoint {baseline.ref} is of cluster {baseline.checkpoint.cluster_id}"
                       f", not {self.cluster}: offsets are not comparable, so the "
                       "*_since_checkpoint fields and schemas_changed are null.")

    def _note(self, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            self.notes.append(message)

    def take_notes(self) -> list[str]:
        notes, self.notes = self.notes, []
        return notes

    @property
    def comparable(self) -> bool:
        return self.baseline is not None and self.baseline.checkpoint.cluster_id == self.cluster

    def sample(self) -> dict:
        """One document: the wave as it stands now."""
        from ..checkpoints.live import snapshot

        began = time.monotonic()
        at = now_ms()
        overview, connect_note = self._connectors_overview()
        sink_groups, sink_topics = {}, []
        if overview:
            from ..services.connect import sink_topics as topics_of
            from .connectors import sink_groups as groups_of

            sink_groups = groups_of(overview)
            sink_topics = [t for name, (_, config) in overview.items() if name in sink_groups
                           for t in topics_of(config)]
        group_ids = list(dict.fromkeys([*self.scope.groups, *sink_groups.values()]))
        known_subjects = set(self.baseline.checkpoint.schemas) if self.baseline else set()
        # One capture's reads: watermarks, committed offsets and the records around them
        # (log-start, end, each committed offset) in one pass, registry subjects if any.
        live, marks, around = snapshot(self.settings, self.wave,
                                       list(dict.fromkeys([*self.scope.topics, *sink_topics])),
                                       group_ids, known_subjects)
        missing = [t for t in self.scope.topics if t not in live.topics]
        if missing:
            raise NotFoundError(
                f"topic {', '.join(missing)} of wave {self.wave} does not exist on "
                f"{self.settings.bootstrap_servers}; check the name with `ingestctl topics "
                "list`.")
        lags = {g: _group_lag(live.groups.get(g), marks, around, at) for g in group_ids}
        compared = self._compare(live) if self.comparable else None
        doc = {
            "wave": self.wave,
            "at": format_time(at),
            "since_checkpoint": self.baseline.ref if self.baseline else None,
            "checkpoint_path": str(self.baseline.path) if self.baseline else None,
            "checkpoint_created_at": (format_time(self.baseline.checkpoint.created_at)
                                      if self.baseline else None),
            "cluster_id": self.cluster,
            "topics": self._topic_rows(live, compared, at),
            "groups": self._group_rows(group_ids, lags, compared, at),
            "connectors": self._connector_rows(overview, sink_groups, lags, connect_note),
            "replays": self._replay_rows(set(live.topics)),
            "schemas_changed": compared["schemas_changed"] if compared else None,
        }
        if compared and not compared["subjects_compared"] and self.baseline.checkpoint.schemas:
            self._note("schema subjects not compared: no schema registry is configured "
                       "(--schema-registry or the profile); schemas_changed lists changed "
                       "schema ids of the last records only.")
        if not self.comparable:
            doc["schemas_note"] = (
                f"wave {self.wave} has no checkpoint to compare schemas with"
                if self.baseline is None else
                f"checkpoint {self.baseline.ref} is of another cluster")
        doc["gate"] = evaluate_gate(self.gate, doc) if self.gate else None
        self._previous = _Previous(
            began,
            {t["topic"]: t["end"] for t in doc["topics"]},
            {r["replay_id"]: r["done"] for r in doc["replays"]},
        )
        return doc

    # --- parts -----------------------------------------------------------------------------

    def _connectors_overview(self):
        if not self.scope.connectors:
            return {}, None
        if not self.settings.connect_url:
            message = "no Kafka Connect URL is configured (--connect-url or the profile)"
            self._note(f"connectors not shown: {message}.")
            return {}, message
        from ..services.connect import Connect
        from .connectors import other_cluster_note

        connect = Connect(self.settings)
        overview = connect.overview()
        for name in self.scope.connectors:
            if name not in overview:
                self._note(f"connector {name} of wave {self.wave} does not exist on Kafka "
                           f"Connect at {connect.url}.")
        if not hasattr(self, "_other_cluster"):
            self._other_cluster = other_cluster_note(connect, self.settings, self.cluster)
            if self._other_cluster:
                self._note(self._other_cluster)
        return {n: overview[n] for n in self.scope.connectors if n in overview}, None

    def _compare(self, live: Checkpoint) -> dict:
        """checkpoints.diff between the checkpoint and this sample's live state, over the
        checkpoint's own topics and groups (as `checkpoint diff --live` compares)."""
        cp = self.baseline.checkpoint
        live = dataclasses.replace(
            live, topics={t: s for t, s in live.topics.items() if t in cp.topics},
            groups={g: s for g, s in live.groups.items() if g in cp.groups})
        registry = bool(self.settings.schema_registry_url)
        d = diff(cp, live, str(self.baseline.path), "live", compare_subjects=registry,
                 compare_connectors=False)
        produced: dict[str, int] = {}
        for row in d["topics"]:
            produced[row["topic"]] = produced.get(row["topic"], 0) + row["produced"]
        consumed: dict[str, int] = {}
        for row in d["groups"]:
            if row["consumed"] is not None:
                consumed[row["group"]] = consumed.get(row["group"], 0) + row["consumed"]
        return {"produced": produced, "consumed": consumed,
                "schemas_changed": d["schemas_changed"],
                "subjects_compared": d["subjects_compared"]}

    def _topic_rows(self, live: Checkpoint, compared, at: int) -> list[dict]:
        out = []
        prev = self._previous
        for topic in sorted(live.topics):
            parts = live.topics[topic].partitions
            end = sum(p.end for p in parts.values())
            produced = compared["produced"].get(topic) if compared else None
            rate = None
            if prev is not None and topic in prev.topic_ends:
                elapsed = time.monotonic() - prev.at
                if elapsed > 0:
                    rate = round(max(0, end - prev.topic_ends[topic]) / elapsed, 1)
            elif produced is not None:
                elapsed = (at - self.baseline.checkpoint.created_at) / 1000
                rate = round(max(0, produced) / elapsed, 1) if elapsed > 0 else None
            window = replay_window([(p.log_start, p.first_timestamp) for p in parts.values()
                                    if p.first_timestamp is not None], at)
            out.append({"topic": topic, "partitions": len(parts), "end": end,
                        "produced_since_checkpoint": produced, "rate_per_sec": rate,
                        "replay_window": window})
        return out

    def _checkpoint_lag(self, group: str) -> int | None:
        cp = self.baseline.checkpoint if self.comparable else None
        if cp is None or group not in cp.groups:
            return None
        total = 0
        for topic, parts in cp.groups[group].offsets.items():
            for p, o in parts.items():
                state = cp.topics.get(topic) and cp.topics[topic].partitions.get(p)
                if state is not None:
                    total += max(0, state.end - o.offset)
        return total

    def _group_rows(self, group_ids: list[str], lags: dict[str, "_Lag"], compared,
                    at: int) -> list[dict]:
        """The wave's groups and its sink connectors' groups (as a checkpoint records them)."""
        out = []
        for g in group_ids:
            lag = lags[g]
            if not lag.exists:
                self._note(f"group {g} of wave {self.wave} does not exist on "
                           f"{self.settings.bootstrap_servers} (no members, no committed "
                           "offsets).")
            trend = self._trend.get(g)
            if trend is None:
                trend = self._trend[g] = deque(maxlen=TREND_SAMPLES)
                before = self._checkpoint_lag(g)
                if before is not None:
                    trend.append({"at": format_time(self.baseline.checkpoint.created_at),
                                  "lag": before})
            if lag.lag is not None:
                trend.append({"at": format_time(at), "lag": lag.lag})
            out.append({
                "group": g, "state": lag.state, "members": lag.members, "lag": lag.lag,
                "lag_seconds": lag.lag_seconds,
                "consumed_since_checkpoint": (compared["consumed"].get(g, 0)
                                              if compared and g in
                                              self.baseline.checkpoint.groups else None),
                "lag_trend": list(trend),
                "lag_direction": _direction([s["lag"] for s in trend]),
            })
        return out

    def _connector_rows(self, overview, sink_groups: dict[str, str], lags,
                        connect_note: str | None) -> list[dict]:
        lag_known = not getattr(self, "_other_cluster", None)
        out = []
        for name in self.scope.connectors:
            if name not in overview:
                out.append({"connector": name, "type": None, "state": None, "tasks": [],
                            "failed_tasks": 0, "group": None, "total_lag": None,
                            "lag_seconds": None,
                            "note": connect_note or "does not exist on Kafka Connect"})
                continue
            status, _ = overview[name]
            group = sink_groups.get(name)
            lag = lags.get(group) if group and lag_known else None
            tasks = [t.as_dict() for t in status.tasks]
            out.append({
                "connector": name, "type": status.type, "state": status.state, "tasks": tasks,
                "failed_tasks": sum(1 for t in tasks if t["state"] == "FAILED"),
                "group": group,
                "total_lag": (lag.lag or 0) if lag is not None and lag.exists else None,
                "lag_seconds": lag.lag_seconds if lag is not None else None,
            })
        return out

    def _replay_rows(self, topics: set[str]) -> list[dict]:
        from ..replay.status import list_replays

        out = []
        prev = self._previous
        for r in list_replays(self.settings):
            source, target = r["source"] or {}, r["target"] or {}
            reads = source.get("topic") in topics and source.get("cluster_id") == self.cluster
            writes = target.get("topic") in topics
            if not (reads or writes):
                continue
            total = r["window_records"]
            done = total - r["remaining_offsets"]
            rate = None
            if prev is not None and r["replay_id"] in prev.replay_done:
                elapsed = time.monotonic() - prev.at
                if elapsed > 0:
                    rate = round(max(0, done - prev.replay_done[r["replay_id"]]) / elapsed, 1)
            else:
                rate = _average_rate(done, r["created_at"], r["updated_at"])
            remaining = total - done
            eta = 0.0 if remaining <= 0 else (round(remaining / rate, 1) if rate else None)
            out.append({"replay_id": r["replay_id"], "status": r["status"], "done": done,
                        "total": total, "records_per_sec": rate, "eta_seconds": eta,
                        "source_topic": source.get("topic"),
                        "target_topic": target.get("topic")})
        return out


@dataclass(frozen=True)
class _Lag:
    state: str
    members: int
    exists: bool
    lag: int | None  # None: no committed offset on a partition that still exists
    lag_seconds: float | None


def _group_lag(group: GroupState | None, marks, around, now: int) -> _Lag:
    """A group's lag from a snapshot, as group_lag computes it: per committed partition the
    end (last stable offset) minus the committed offset, 0 where only transaction markers
    are left; in seconds, the age of the next record to consume (at log-start for a
    committed offset below it)."""
    if group is None:
        return _Lag("Dead", 0, False, None, None)
    total, ages, counted = 0, [], False
    for topic, parts in group.offsets.items():
        for p, o in parts.items():
            tp = (topic, p)
            if tp not in marks:
                continue
            counted = True
            log_start, end = marks[tp]
            lag = max(0, end - o.offset)
            age = 0.0
            if lag > 0:
                at = around.get((tp, max(o.offset, log_start)), (None, None))[1]
                if at is None:
                    lag = 0  # only transaction markers (or aborted records) are left
                else:
                    age = age_seconds(now, at.timestamp) if at.timestamp >= 0 else None
            total += lag
            if age is not None:
                ages.append(age)
    if not counted:
        return _Lag(group.state, group.members, True, None, None)
    return _Lag(group.state, group.members, True, total, max(ages) if ages else None)


def _average_rate(done: int, created_at: str | None, updated_at: str | None) -> float | None:
    from ..parsing import parse_time_ms

    if not created_at or not updated_at:
        return None
    elapsed = (parse_time_ms(updated_at) - parse_time_ms(created_at)) / 1000
    return round(done / elapsed, 1) if elapsed > 0 else None


def _direction(lags: list[int]) -> str | None:
    """rising, falling or steady over the last samples; None with fewer than two."""
    if len(lags) < 2:
        return None
    recent = lags[-5:]
    change = recent[-1] - recent[0]
    if change > 0:
        return "rising"
    if change < 0:
        return "falling"
    return "steady"


# --- watching ------------------------------------------------------------------------------

def watch(status: WaveStatus, interval_s: float, timeout_s: float | None,
          on_sample: Callable[[dict], None]) -> dict:
    """Sample every interval until the gate (if any) holds or the timeout passes; returns the
    last document. Without a gate or timeout it runs until interrupted."""
    deadline = time.monotonic() + timeout_s if timeout_s is not None else None
    while True:
        began = time.monotonic()
        doc = status.sample()
        on_sample(doc)
        if doc["gate"] is not None and doc["gate"]["passed"]:
            return doc
        if deadline is not None and time.monotonic() >= deadline:
            return doc
        pause = interval_s - (time.monotonic() - began)
        if deadline is not None:
            pause = min(pause, deadline - time.monotonic())
        if pause > 0:
            time.sleep(pause)
