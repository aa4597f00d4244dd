"""Pure planning of consumer-group offsets, shared by `rollback` and `groups reset`: where
each partition should go, what is refused and what is clamped.

Nothing here talks to Kafka: callers pass the live facts (committed offsets, log-start and
end offsets, offsets found for timestamps) and get moves and refusal sentences back."""

from dataclasses import dataclass

from ..parsing import format_time
from ..partitions import TP, name

RESET_KINDS = ("to-datetime", "by-duration", "to-offset", "shift-by", "to-earliest",
               "to-latest")


@dataclass(frozen=True)
class Bounds:
    """The offsets a group may commit on a partition: log-start up to the end (the high
    watermark; committing the end means "caught up")."""

    log_start: int
    end: int


@dataclass(frozen=True)
class Move:
    topic: str
    partition: int
    current: int | None  # None: the group has no committed offset there yet
    target: int
    note: str = ""

    @property
    def delta(self) -> int | None:
        """Records that will be read again (positive) or skipped (negative)."""
        return None if self.current is None else self.current - self.target

    @property
    def changes(self) -> bool:
        return self.current != self.target



def place(tp: TP, current: int | None, wanted: int, bounds: Bounds, allow_clamp: bool,
          note: str = "") -> tuple[Move | None, str | None]:
    """The move of one partition to `wanted`, or a refusal sentence when `wanted` lies outside
    the retained offsets and clamping was not allowed (Kafka's own tool clamps silently)."""
    notes = [note] if note else []
    target = wanted
    if wanted < bounds.log_start:
        if not allow_clamp:
            return None, (f"{name(tp)}: target {wanted} is below the log-start "
                          f"{bounds.log_start} (those records were deleted).")
        target = bounds.log_start
        notes.append(f"clamped from {wanted} up to the log-start")
    elif wanted > bounds.end:
        if not allow_clamp:
            return None, (f"{name(tp)}: target {wanted} is above the end {bounds.end} "
                          "(no such record yet).")
        target = bounds.end
        notes.append(f"clamped from {wanted} down to the end")
    if current is None:
        notes.append("no committed offset yet")
    elif current == target:
        notes.append("unchanged")
    return Move(tp[0], tp[1], current, target, "; ".join(notes)), None


def place_all(wanted: dict[TP, int], current: dict[TP, int], bounds: dict[TP, Bounds],
              allow_clamp: bool, notes: dict[TP, str] | None = None
              ) -> tuple[list[Move], list[str]]:
    """place() for many partitions, in partition order: the moves and every refusal."""
    moves, problems = [], []
    for tp in sorted(wanted):
        move, problem = place(tp, current.get(tp), wanted[tp], bounds[tp], allow_clamp,
                              (notes or {}).get(tp, ""))
        if problem:
            problems.append(problem)
        else:
            moves.append(move)
    return moves, problems


def reset_wanted(kind: str, value: int | None, tps: list[TP], current: dict[TP, int],
                 bounds: dict[TP, Bounds], time_offsets: dict[TP, int] | None = None,
                 now_ms: int | None = None) -> tuple[dict[TP, int], list[str]]:
    """Where an ad-hoc reset sends each partition, before clamping. For to-datetime and
    by-duration, `value` is the time (ms) and `time_offsets` the first offset whose
    timestamp is at or after it (-1 when none: refused, where Kafka's tool would fall back to
    the end)."""
    wanted: dict[TP, int] = {}
    problems: list[str] = []
    if kind in ("to-datetime", "by-duration"):
        if now_ms is not None and value > now_ms:
            return {}, [f"the time {format_time(value)} is in the future; nothing is at or "
                        "after it yet."]
        for tp in tps:
            found = time_offsets[tp]
            if found < 0:
                problems.append(f"{name(tp)}: no record at or after {format_time(value)} "
                                f"(its end is {bounds[tp].end}).")
            else:
                wanted[tp] = found
    elif kind == "to-offset":
        wanted = dict.fromkeys(tps, value)
    elif kind == "shift-by":
        for tp in tps:
            if tp not in current:
                problems.append(f"{name(tp)}: the group has no committed offset to shift; "
                                "use --to-offset, --to-datetime, --to-earliest or --to-latest.")
            else:
                wanted[tp] = current[tp] + value
    elif kind == "to-earliest":
        wanted = {tp: bounds[tp].log_start for tp in tps}
    elif kind == "to-latest":
        wanted = {tp: bounds[tp].end for tp in tps}
    else:
        raise ValueError(f"unknown reset kind {kind}")
    return wanted, problems


def timestamp_to_find(next_timestamp: int | None, last_timestamp: int | None) -> int | None:
    """What to look up for a rollback by timestamp: the next record's timestamp, else just
    after the last consumed record's (the group was caught up); None when neither is known."""
    if next_timestamp is not None:
        return next_timestamp
    if last_timestamp is not None:
        return last_timestamp + 1
    return None


def by_timestamp_wanted(recorded: dict[TP, tuple[int | None, int | None]],
                        found: dict[TP, int], bounds: dict[TP, Bounds]
                        ) -> tuple[dict[TP, int], dict[TP, str], list[str]]:
    """Targets on a cluster where offsets differ. `recorded` holds each partition's
    (next_timestamp, last_timestamp) from the checkpoint; `found` the first offset whose
    timestamp is at or after timestamp_to_find() (-1 when none)."""
    wanted: dict[TP, int] = {}
    notes: dict[TP, str] = {}
    problems: list[str] = []
    for tp, (next_ts, last_ts) in sorted(recorded.items()):
        if next_ts is not None:
            if found[tp] < 0:
                problems.append(f"{name(tp)}: no record at or after {format_time(next_ts)} "
                                "(the next record the group was to read) on this cluster.")
                continue
            wanted[tp] = found[tp]
            notes[tp] = f"first record at or after {format_time(next_ts)}"
            if last_ts == next_ts:
                notes[tp] += ("; records share this timestamp, so the group may read some of "
                              "them again")
        elif last_ts is not None:
            # Caught up: after the last record consumed, or the end when nothing came since.
            wanted[tp] = found[tp] if found[tp] >= 0 else bounds[tp].end
            notes[tp] = f"caught up: first record after {format_time(last_ts)}"
        else:
            problems.append(f"{name(tp)}: the checkpoint knows neither the next nor the last "
                            "record's timestamp (they were not retained), so no time to go by.")
    return wanted, notes, problems

