"""--workers N: the replay's N shards as local processes, one summary.

Each worker is a fresh interpreter (spawn, not fork: librdkafka's threads do not survive a
fork) running shard K/N with its share of the quota and the parent's plan, so every shard
uses the same end offsets. Workers report progress, notes and their outcome through a
queue; the parent merges them. SIGINT/SIGTERM reaching the parent are passed on, and each
worker finishes its open transaction before it stops.
"""

import logging
import multiprocessing
import os
import queue
import signal
import threading
import time

from .. import secrets
from ..config import Settings
from ..errors import IncompleteError, IncompleteReplay, IngestError
from . import progress as prog
from .model import Hooks, Plan
from .quota import SystemClock
from .shard import run_shard


def _worker(channel, shard: tuple[int, int], source: Settings, target: Settings,
            plan: Plan) -> None:
    """A worker process's body: run one shard and report how it ended."""
    for settings in (source, target):
        for key, value in settings.kafka.items():
            if secrets.is_secret_key(key):
                secrets.register(value)
    logging.getLogger("ingestctl.librdkafka").setLevel(
        logging.DEBUG if source.verbose else logging.CRITICAL + 1)
    k = shard[0]
    hooks = Hooks(note=lambda m: channel.put(("note", k, m)),
                  progress=lambda *values: channel.put(("progress", k, values)))
    try:
        summary = run_shard(source, target, plan, shard,
                            plan.request.quota.share(shard[1]), hooks, SystemClock())
        channel.put(("done", k, summary))
    except IngestError as exc:  # pickled whole, whatever its class (errors.IngestError)
        channel.put(("error", k, exc))
    except KeyboardInterrupt:  # Ctrl-C before its copy loop took over the signal
        channel.put(("error", k, IncompleteError(
            f"worker {k} was interrupted before it started copying; run the same command "
            "again to resume.")))
    except BaseException as exc:  # a bug: reported by the parent as one
        channel.put(("error", k, IngestError(
            f"worker {k} failed: {exc.__class__.__name__}: {exc}")))


def run_workers(source: Settings, target: Settings, plan: Plan, hooks: Hooks) -> dict:
    n = plan.request.workers
    context = multiprocessing.get_context("spawn")
    channel = context.Queue()
    workers = [context.Process(target=_worker, args=(channel, (k, n), source, target, plan),
                               name=f"ingestctl-replay-{k}of{n}") for k in range(n)]
    began = time.monotonic()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        def forward(signum, frame):
            for w in workers:
                if w.pid is not None and w.exitcode is None:
                    os.kill(w.pid, signal.SIGTERM)

        previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    outcomes: dict[int, tuple] = {}
    ticks: dict[int, tuple] = {}
    try:
        for w in workers:
            w.start()
        while len(outcomes) < n:
            try:
                message = channel.get(timeout=0.25)
            except queue.Empty:
                for k, w in enumerate(workers):
                    if k not in outcomes and w.exitcode is not None and channel.empty():
                        outcomes[k] = ("error", k, IngestError(
                            f"worker {k} ended unexpectedly (exit code {w.exitcode})"))
                continue
            kind, k = message[0], message[1]
            if kind == "note":
                hooks.note(f"worker {k}: {message[2]}")
            elif kind == "progress":
                ticks[k] = message[2]
                if hooks.progress is not None:
                    hooks.progress(*(sum(t[i] for t in ticks.values()) for i in range(4)))
            else:
                outcomes[k] = message
        for w in workers:
            w.join()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return _merge(plan, outcomes, time.monotonic() - began)


def _merge(plan: Plan, outcomes: dict[int, tuple], duration: float) -> dict:
    """One summary of every worker's. A worker that failed (not a resumable stop) fails the
    whole; resumable stops keep the others' summaries and end as one IncompleteReplay."""
    errors = {k: o[2] for k, o in outcomes.items() if o[0] == "error"}
    failures = [e for e in errors.values() if not isinstance(e, IncompleteError)]
    if failures:
        raise failures[0]
    # A worker that stopped resumably carries its summary, unless it stopped before its run
    # began: then only the others' count.
    summaries = [o[2] for _, o in sorted(outcomes.items()) if o[0] == "done"]
    summaries += [e.summary for _, e in sorted(errors.items()) if isinstance(e, IncompleteReplay)]
    if not summaries:
        raise IncompleteError(
            f"replay {plan.replay_id} was interrupted before any worker started copying. To "
            "resume, run the same command again.")
    rows = sorted((row for s in summaries for row in s["partitions"]),
                  key=lambda r: r["partition"])
    states = [prog.PartitionState(r["partition"], r["start"], r["end"], r["next"], r["records"],
                                  r["bytes"], r["filtered"], r["invalid"],
                                  duplicates=r["duplicates"], missing_key=r["missing_key"])
              for r in rows]
    run_records = sum(s["this_run"]["records"] for s in summaries)
    run_bytes = sum(s["this_run"]["bytes"] for s in summaries)
    first = summaries[0]
    merged = {
        **first,
        "status": "completed" if all(s["status"] == "completed" for s in summaries)
        else "incomplete",
        "partitions": rows,
        **prog.totals(states),
        "duration_seconds": round(duration, 3),
        "rate_bytes_per_second": round(run_bytes / duration, 1) if duration > 0 else 0.0,
        "this_run": {"records": run_records, "bytes": run_bytes},
        "resumed_from": sorted((r for s in summaries for r in s["resumed_from"]),
                               key=lambda r: r["partition"]),
        "already_completed": all(s["already_completed"] for s in summaries),
        "shard": None,
        "workers": len(summaries),
    }
    incomplete = [(k, e.message) for k, e in sorted(errors.items())]
    if incomplete:
        error = IncompleteReplay(
            f"replay {plan.replay_id} stopped before its end in {len(incomplete)} of "
            f"{len(outcomes)} workers; what was copied is committed. To resume, run the same "
            "command again.", merged)
        error.details = [f"worker {k}: {message}" for k, message in incomplete]
        raise error
    return merged
