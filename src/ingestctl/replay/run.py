"""Executing a planned replay: the target topic prepared, one shard run here or N as worker
processes, and one line in the audit log."""

from pathlib import Path

from ..config import Settings
from ..errors import IncompleteReplay
from ..files import audit
from ..kafka import Admin
from ..kafka.admin import broker_count, create_topic, topic_overrides
from . import progress as prog
from .model import Hooks, Plan
from .quota import Clock, SystemClock
from .shard import run_shard


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
    brokers = broker_count(tgt_admin)
    if plan.target_partitions is None:
        configs = topic_overrides(Admin(source), request.source_topic)
        if create_topic(tgt_admin, request.target_topic, plan.source_partitions,
                              min(plan.source_replication, brokers), configs):
            hooks.note(f"created {request.target_topic} with {plan.source_partitions} "
                       f"partitions and the configs of {request.source_topic}"
                       + (f" ({', '.join(sorted(configs))})" if configs else ""))
        plan.target_partitions = plan.source_partitions
    create_topic(tgt_admin, prog.PROGRESS_TOPIC, 1, min(3, brokers),
                       prog.PROGRESS_TOPIC_CONFIG)


def _audit(directory: Path, plan: Plan, summary: dict) -> None:
    audit.record(
        directory, "replay", plan.source_cluster,
        replay_id=plan.replay_id, status=summary["status"], mode=plan.request.mode,
        source=summary["source"], target=summary["target"],
        window=plan.request.window.identity(), records=summary["records"],
        bytes=summary["bytes"], filtered=summary["filtered"], invalid=summary["invalid"],
        duplicates=summary["duplicates"], missing_key=summary["missing_key"],
        dedupe=summary["dedupe"], this_run=summary["this_run"],
        already_completed=summary["already_completed"],
    )

