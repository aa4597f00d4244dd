"""Running one shard of a replay: the copy loop, exactly once (or at least once), under a
quota, resumably.

Order matters for exactly-once. A run first calls init_transactions with the stable
transactional id of its replay shard (fencing an older run and aborting its open
transaction), then reads the progress topic, and only then starts copying from the next
offsets found there. Each transaction carries the records and the progress records that
account for them, so a kill at any point leaves the target and the progress agreeing."""

import gc
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import replace

from ..config import Settings
from ..errors import FencedError, IncompleteReplay, RefusedError, TransactionExpiredError
from ..kafka import Admin, metadata
from ..kafka.compacted import read_compacted
from ..kafka.copier import MAX_BATCH, TRANSACTION_TIMEOUT_MS, Copier
from ..kafka.records import scan_committed
from . import progress as prog
from .dedupe import SeenKeys, SeenKeysWithin, seen_keys
from .model import Hooks, Plan, dedupe_document
from .plan import check_stored
from .provenance import PROVENANCE_HEADERS, InvalidPolicy
from .quota import Clock, Limiter, Quota
from .validate import checker
from .window import in_shard

COMMIT_INTERVAL_SECONDS = 1.0

PROGRESS_INTERVAL_SECONDS = 0.25




# Fresh producers for one run whose transactions expired (it was paused past
# transaction.timeout.ms); more means something keeps stalling it: stop, resumable.
MAX_REINITS = 3


AT_LEAST_ONCE = ("at-least-once: records written after the last saved progress of a run that "
                 "was killed are written again on resume, so the target may hold them twice.")




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

    def new_copier() -> Copier:
        return Copier(
            source, target, target_topic=request.target_topic,
            progress_topic=prog.PROGRESS_TOPIC,
            transactional_id=(f"ingestctl-replay-{plan.replay_id}-{shard[0]}of{shard[1]}"
                              if exactly_once else None),
            by_key=request.partitioning == "key",
            max_message_bytes=max_message_bytes,
            invalid=InvalidPolicy(checker(source), validation.on_invalid,
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
                stored = prog.decode(read_compacted(
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
                dedupe = shard_record = None
                if request.dedupe is not None:
                    seen, dedupe_from = _seen_keys(target, plan, shard, stored, hooks)
                    dedupe = (request.dedupe.header, seen)
                    if dedupe_from is not None:
                        shard_record = (prog.shard_key(plan.replay_id, shard),
                                        prog.encode_shard(plan.replay_id, shard, dedupe_from))
                copier.assign(request.source_topic, plan.replay_id, states, request.selection,
                              dedupe)
                stopped = _copy(copier, plan, states, committed, unrecorded, stored is None,
                                shard_name, Limiter(quota, clock, MAX_BATCH), hooks, stop,
                                shard_record)
                break
            except TransactionExpiredError as exc:
                if reinits >= MAX_REINITS or stop.received:
                    # What was committed stands: the summary says how far it got, as for
                    # any other resumable stop.
                    raise IncompleteReplay(
                        f"replay {plan.replay_id} shard {shard_name} stopped: {exc.message} "
                        "What was copied is committed; to resume, run the same command again.",
                        summary("incomplete", list(committed.values())),
                    ) from None
                reinits += 1
                hooks.note(f"{exc.args[0].split(';')[0]}; starting a new producer and going on "
                           "from the last committed progress (nothing is written twice).")
            except FencedError:
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


def _copy(copier: Copier, plan: Plan, states: list[prog.PartitionState],
          committed: dict[int, prog.PartitionState], unrecorded: set[int],
          plan_unrecorded: bool, shard_name: str, limiter: Limiter, hooks: Hooks,
          stop: _StopSignals, shard_record: tuple[bytes, bytes] | None = None) -> str | None:
    """The copy loop: batches under the quota, a transaction every second carrying the
    progress of the partitions it moved (and, in the first, the shard record when there is
    one to write). Returns the signal's name if one stopped it."""
    clock = limiter.clock
    write_plan = plan_unrecorded
    unrecorded = set(unrecorded)
    total_offsets = sum(s.end - s.start for s in states)

    def commit() -> None:
        nonlocal write_plan, shard_record
        now_ms = int(time.time() * 1000)
        records = []
        if write_plan:
            records.append((prog.plan_key(plan.replay_id), prog.encode_plan(plan.plan_record())))
        if shard_record is not None:
            records.append(shard_record)
        for s in states:
            if s.partition in unrecorded or _counters(committed[s.partition]) != _counters(s):
                records.append((prog.partition_key(plan.replay_id, s.partition),
                                prog.encode_partition(plan.replay_id, s, shard_name, now_ms)))
        copier.commit(records)
        gc.collect(1)  # what cycles the last second left, while the collector is off
        write_plan = False
        shard_record = None
        unrecorded.clear()
        for s in states:
            committed[s.partition] = replace(s)

    def report() -> None:
        if hooks.progress is not None:
            hooks.progress(sum(s.next - s.start for s in states), total_offsets,
                           sum(s.records for s in states), sum(s.bytes for s in states))

    copier.begin()
    try:
        with _without_automatic_gc():
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
    except FencedError:
        raise
    except BaseException:
        copier.abort()
        raise
    return stop.received


@contextmanager
def _without_automatic_gc():
    """The copy loop allocates thousands of objects a batch (messages, header lists) that
    reference counting frees at once, yet CPython's cyclic collector walks them every 700
    allocations: a sixth of the loop's CPU in bench/replay.py's profile. It is off while
    copying; each commit collects what cycles the last second left."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _counters(state: prog.PartitionState) -> tuple:
    return (state.next, state.records, state.bytes, state.filtered, state.invalid,
            state.duplicates, state.missing_key)


def _seen_keys(target: Settings, plan: Plan, shard: tuple[int, int],
               stored: prog.StoredReplay | None, hooks: Hooks
               ) -> tuple[SeenKeys | SeenKeysWithin, dict[int, int] | None]:
    """The keys this replay shard has written, read back from the target's committed
    records (read_committed, so an aborted run's records do not count), and, when the shard
    has committed nothing yet, the target's ends now, where a later resume starts reading
    (returned to be stored in the shard's first transaction). Called after
    init_transactions: no older run of the shard can commit any more."""
    request = plan.request
    topic = request.target_topic
    admin = Admin(target)
    partitions = sorted(metadata.topics(admin, [topic])[topic].partitions)
    if request.partitioning == "preserve":  # the copies sit in the source's partitions
        partitions = [p for p in partitions if p in plan.window and in_shard(p, shard)]
    marks = metadata.watermarks(admin, [(topic, p) for p in partitions], read_committed=False)
    seen = seen_keys(request.dedupe)
    record = stored.shards.get(f"{shard[0]}/{shard[1]}") if stored is not None else None
    if record is None:
        # Nothing of this shard is committed: whatever it writes lies past the ends now.
        return seen, {p: marks[(topic, p)][1] for p in partitions}
    # A partition added to the target since is read from its log start.
    ranges = {p: (record["dedupe_from"].get(p, marks[(topic, p)][0]), marks[(topic, p)][1])
              for p in partitions}
    deleted = [f"partition {p}: offsets {start}–{marks[(topic, p)][0] - 1}"
               for p, (start, end) in ranges.items() if start < marks[(topic, p)][0]]
    if deleted:
        raise RefusedError(
            f"replay {plan.replay_id} cannot resume with --dedupe-header: records it wrote to "
            f"{topic} were deleted (retention), so the keys they carried are unknown and "
            "could be written again.", details=deleted)
    replay_id = plan.replay_id.encode()
    mine = {str(p).encode() for p in plan.window if in_shard(p, shard)}
    header = request.dedupe.header
    id_header, partition_header = PROVENANCE_HEADERS[0], PROVENANCE_HEADERS[2]
    add = seen.add

    def visit(headers: list | None, timestamp: int) -> None:
        # The copy loop appends the provenance headers last: id, topic, partition, offset.
        if (not headers or len(headers) < 5 or headers[-4] != (id_header, replay_id)
                or headers[-2][1] not in mine or headers[-2][0] != partition_header):
            return
        for name, value in headers:
            if name == header:
                if value is not None:
                    add(value, timestamp)
                return

    began = time.monotonic()
    patience = target.timeout + int(target.kafka.get("transaction.timeout.ms",
                                                     TRANSACTION_TIMEOUT_MS)) / 1000
    read = scan_committed(target, topic, ranges, visit, patience=patience, on_wait=hooks.note)
    hooks.note(f"dedupe: read back {len(seen):,} keys this replay wrote before "
               f"({read:,} records of {topic} in {time.monotonic() - began:.1f} s)")
    return seen, None


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
        "dedupe": dedupe_document(plan.request),
        "guarantee": "exactly-once" if mode == "exactly-once" else AT_LEAST_ONCE,
    }


def _max_message_bytes(target: Settings, topic: str) -> int:
    """The producer's size limit: what the target topic accepts, plus room for framing."""
    configs = metadata.topic_configs(Admin(target), [topic]).get(topic, {})
    return max(1_000_000, int(configs.get("max.message.bytes") or 1_048_588) + 65_536)

