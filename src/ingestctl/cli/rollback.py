"""`ingestctl rollback`: put consumer groups back where a checkpoint recorded them. Also the
plan rendering and apply step that `groups reset` shares."""

from pathlib import Path
from typing import Annotated

import typer

from . import views
from .context import app_context
from .options import AllowClamp, Dir, Execute, PlanOut
from .render import emit, note


def _rollback_connector(ctx: typer.Context, connector: str, to_checkpoint: str,
                        allow_clamp: bool, by_timestamp: bool, execute: bool,
                        directory: Path | None) -> None:
    from .. import checkpoints
    from ..moves import connectors as connector_moves

    state = app_context(ctx)
    directory = checkpoints.checkpoint_dir(directory, state.settings)
    path = checkpoints.resolve_ref(to_checkpoint, directory)
    plan = connector_moves.plan(state.settings, path, connector, allow_clamp, by_timestamp)
    if plan.at_target or not execute:
        emit(state.output, plan.as_json(executed=False), views.connector_move_plan)
        if plan.at_target:
            note(f"already at target: connector {connector} is where the checkpoint puts it; "
                 f"nothing to change (it is {plan.state}).")
        else:
            note("nothing changed; add --execute to stop the connector, apply the offsets, "
                 f"read them back and put it back as it is ({plan.state})")
        return
    done = connector_moves.execute(state.settings, plan, directory)
    emit(state.output, done.as_json(executed=True), views.connector_move_plan)
    note(f"connector {connector} stopped, offsets applied and read back, put back as it was "
         f"({done.final_state}); logged to the audit log.")


def finish(ctx: typer.Context, plan, plan_out: Path | None, execute: bool,
           directory: Path | None) -> None:
    """Save, print and (with --execute) apply a plan; shared by rollback and groups reset."""
    from ..checkpoints import checkpoint_dir
    from ..moves import apply, planfile

    state = app_context(ctx)
    if plan_out is not None:
        path = planfile.save_plan(plan, plan_out)
        note(f"plan saved to {path}; apply it with `ingestctl rollback --from-plan {path} "
             "--execute`.")
    if plan.at_target:
        emit(state.output, plan.as_json(executed=False), views.move_plan)
        note("already at target: every partition is where the plan puts it; nothing to "
             "change.")
        return
    if not execute:
        emit(state.output, plan.as_json(executed=False), views.move_plan)
        note("nothing changed; add --execute to apply")
        return
    changed = apply.execute(state.settings, plan,
                               checkpoint_dir(directory, state.settings))
    emit(state.output, plan.as_json(executed=True), views.move_plan)
    note(f"applied and read back: {', '.join(changed)}; logged to the audit log.")


def rollback(
    ctx: typer.Context,
    to_checkpoint: Annotated[str | None, typer.Option(
        "--to-checkpoint", help="The checkpoint REF: a path, a wave (its newest) or WAVE@N.")
    ] = None,
    from_plan: Annotated[Path | None, typer.Option(
        "--from-plan", help="Apply a plan saved with --plan-out, if nothing drifted since.")
    ] = None,
    group: Annotated[list[str] | None, typer.Option(
        "--group", help="Only this group of the checkpoint (repeatable; default: all).")
    ] = None,
    connector: Annotated[str | None, typer.Option(
        "--connector", help="Roll back this sink connector's offsets instead of groups "
        "(with --to-checkpoint; needs --connect-url).")] = None,
    topic: Annotated[list[str] | None, typer.Option(
        "--topic", help="Only this topic's partitions (repeatable; default: all).")] = None,
    by_timestamp: Annotated[bool, typer.Option(
        "--by-timestamp", help="Place each partition by record time, not offset: for a "
        "checkpoint taken on another cluster (a migration's source).")] = False,
    allow_clamp: AllowClamp = False,
    plan_out: PlanOut = None,
    execute: Execute = False,
    directory: Dir = None,
    translate: Annotated[str | None, typer.Option(
        "--translate", help="On a migration target: exact (the very record each group was to "
        "read next; needs --from-bootstrap-servers), mm2 (MirrorMaker 2's checkpoints; "
        "needs --from-bootstrap-servers) or timestamp (= --by-timestamp).")] = None,
    from_bootstrap_servers: Annotated[str | None, typer.Option(
        "--from-bootstrap-servers", help="For --translate exact|mm2: the cluster the "
        "checkpoint was taken on, whose records are read.")] = None,
    source_alias: Annotated[str | None, typer.Option(
        "--source-alias", help="For --translate exact|mm2: topics are ALIAS.topic here.")
    ] = None,
    topic_map: Annotated[list[str] | None, typer.Option(
        "--topic-map", help="For --translate exact|mm2: SRC=DST, the checkpoint's topic SRC "
        "is DST here (repeatable).")] = None,
) -> None:
    """Put consumer groups back where a checkpoint recorded them.

    Prints the plan (current offset, target, records re-read or skipped per partition) and
    changes nothing without --execute. Refuses (exit 3, nothing changed) a group that is not
    Empty or Dead, a checkpoint from another cluster without --by-timestamp, changed partition
    counts, targets no longer retained (unless --allow-clamp), and a saved plan after anything
    drifted. Applies one request per group, reads the offsets back (exit 5 if they differ)
    and logs each change to audit.jsonl.

    With --connector NAME, puts a sink connector's offsets back through Kafka Connect (by
    record time with --by-timestamp): with --execute it stops the connector, waits until it
    is STOPPED, applies the checkpoint's offsets, reads them back (exit 5, connector left
    STOPPED, if they differ) and puts it back in the state it was in (RUNNING, PAUSED or
    STOPPED), waiting until it is. A connector missing from the checkpoint or from Connect
    exits 4.

    On a migration target, --translate exact places each group partition at the copy of the
    very record it was to read next when the checkpoint was taken (read on the checkpoint's
    cluster, --from-bootstrap-servers), as `cutover groups` does; --translate mm2 uses
    MirrorMaker 2's checkpoints; --translate timestamp is --by-timestamp. A partition that
    cannot be translated is refused (exit 3).
    """
    from .. import checkpoints
    from ..errors import UsageError
    from ..moves import apply, planfile
    from ..moves.plan import plan_rollback

    state = app_context(ctx)
    if translate is not None:
        if translate not in ("exact", "mm2", "timestamp"):
            raise UsageError(f"--translate {translate!r}: use exact, mm2 or timestamp.")
        if translate == "timestamp":
            by_timestamp = True
        elif connector is not None or from_plan is not None or to_checkpoint is None \
                or allow_clamp:
            raise UsageError(f"--translate {translate} takes --to-checkpoint REF (with "
                             "--group, --topic, --plan-out, --execute, --dir); drop "
                             "--connector, --from-plan and --allow-clamp.")
        else:
            from .cutover import rollback_translated

            rollback_translated(ctx, to_checkpoint, translate, from_bootstrap_servers,
                                source_alias, topic_map, None, group, topic, plan_out,
                                execute, directory)
            return
    if from_bootstrap_servers or source_alias or topic_map:
        raise UsageError("--from-bootstrap-servers, --source-alias and --topic-map go with "
                         "--translate exact|mm2.")
    if connector is not None:
        if to_checkpoint is None or from_plan or group or topic or plan_out:
            raise UsageError("--connector takes --to-checkpoint REF (and --by-timestamp, "
                             "--allow-clamp, --execute, --dir); drop --from-plan, --group, "
                             "--topic and --plan-out.")
        _rollback_connector(ctx, connector, to_checkpoint, allow_clamp, by_timestamp, execute,
                            directory)
        return
    if (to_checkpoint is None) == (from_plan is None):
        raise UsageError("give exactly one of --to-checkpoint REF or --from-plan FILE.")
    if from_plan is not None:
        if group or topic or by_timestamp or allow_clamp or plan_out:
            raise UsageError("--from-plan applies the saved plan as it is; drop --group, "
                             "--topic, --by-timestamp, --allow-clamp and --plan-out.")
        plan = planfile.load_plan(from_plan)
        apply.check_drift(state.settings, plan)
    else:
        path = checkpoints.resolve_ref(
            to_checkpoint, checkpoints.checkpoint_dir(directory, state.settings))
        plan = plan_rollback(state.settings, path, group, topic, by_timestamp,
                                      allow_clamp)
    finish(ctx, plan, plan_out, execute, directory)
