"""`ingestctl cutover groups|check`: a wave's consumer groups onto a mirrored target, each at
the very record it was to read next, and the read-only gate before it."""

from pathlib import Path
from typing import Annotated

import typer

from .context import app_context, refuse_empty
from .options import Dir
from .render import emit, make_table, note

app = typer.Typer(
    help="Move a wave's consumer groups onto a mirrored target cluster (MirrorMaker 2 or "
    "replay), and check that the wave is ready to move.",
    no_args_is_help=True,
)

Wave = Annotated[str, typer.Option("--wave", help="The wave, as named in the plan file.")]
WavePlan = Annotated[Path, typer.Option(
    "--plan", help="The wave plan (waves.yaml): the wave's topics and groups.")]
ToProfile = Annotated[str | None, typer.Option(
    "--to-profile", help="Target cluster: a profile of the config file.")]
ToBootstrap = Annotated[str | None, typer.Option(
    "--to-bootstrap-servers", help="Target cluster: bootstrap servers (with the source's "
    "credentials and -X).")]
SourceAlias = Annotated[str | None, typer.Option(
    "--source-alias", help="The source's alias in MirrorMaker 2: its topics are ALIAS.topic "
    "on the target (default replication policy). Without it (and --topic-map), topics keep "
    "their names.")]
TopicMap = Annotated[list[str] | None, typer.Option(
    "--topic-map", help="SRC=DST: the source topic SRC is DST on the target (repeatable).")]
MirrorAlias = Annotated[str | None, typer.Option(
    "--mm2-alias", help="For --translate mm2: the alias MirrorMaker 2 knows the source by "
    "(its checkpoints are in ALIAS.checkpoints.internal); default --source-alias, else "
    "'source'.")]


def target_settings(ctx: typer.Context, to_profile: str | None,
                    to_bootstrap_servers: str | None):
    from ..errors import UsageError

    state = app_context(ctx)
    refuse_empty(("--to-profile", to_profile), ("--to-bootstrap-servers", to_bootstrap_servers))
    if not (to_profile or to_bootstrap_servers):
        raise UsageError("give the target cluster: --to-profile T or --to-bootstrap-servers B.")
    return state.other_cluster(to_profile, to_bootstrap_servers)


def topic_mapping(source_alias: str | None, topic_map: list[str] | None):
    from ..errors import UsageError
    from ..moves.translate import TopicMapping

    pairs = []
    for item in topic_map or []:
        src, sep, dst = item.partition("=")
        if not sep or not src or not dst:
            raise UsageError(f"--topic-map {item!r}: write SRC=DST.")
        pairs.append((src, dst))
    if source_alias is not None and not source_alias.strip():
        raise UsageError("--source-alias was given an empty value.")
    return TopicMapping(source_alias, tuple(pairs))


def _scope(plan: Path, wave: str):
    from .. import checkpoints
    from ..moves.cutover import Scope

    scope = checkpoints.load_wave_plan(plan, checkpoints.check_wave(wave))
    return Scope(list(scope.topics), list(scope.groups))


def _plan_tables(data: dict) -> list:
    tables = []
    for g in data["groups"]:
        rows = [(p["source_topic"], p["topic"], p["partition"], p["source_offset"],
                 "-" if p["current"] is None else p["current"], p["target"],
                 p["note"]) for p in g["partitions"]]
        rows += [(u["source_topic"], u["topic"], u["partition"], "-", "-", "-", u["note"])
                 for u in g["uncommitted"]]
        tables.append(make_table(
            f"group {g['group']} ({g['state']} on the target), --translate {data['translate']}",
            ["source topic", "target topic", "partition", "source offset", "current",
             "target", "note"], rows))
    return tables


@app.command("groups")
def groups(
    ctx: typer.Context,
    wave: Wave,
    plan: WavePlan,
    to_profile: ToProfile = None,
    to_bootstrap_servers: ToBootstrap = None,
    source_alias: SourceAlias = None,
    topic_map: TopicMap = None,
    translate: Annotated[str, typer.Option(
        "--translate", help="exact: the very record each group was to read next; mm2: "
        "MirrorMaker 2's checkpoints; timestamp: the first record at or after its time.")
    ] = "exact",
    mm2_alias: MirrorAlias = None,
    directory: Dir = None,
    plan_out: Annotated[Path | None, typer.Option(
        "--plan-out", help="Save the plan, to apply later with `ingestctl -b TARGET rollback "
        "--from-plan FILE --execute`.")] = None,
    execute: Annotated[bool, typer.Option(
        "--execute", help="Apply the plan on the target. Without it nothing is changed.")
    ] = False,
) -> None:
    """Move the wave's consumer groups from this cluster (the source: -b or the profile) onto
    the target, each partition translated as --translate says.

    Prints the plan and changes nothing without --execute. Refuses (exit 3, nothing changed)
    a group that is not Empty or Dead on the target, and a partition that cannot be
    translated (exact: the record not on the target yet, or deleted by retention on either
    side; mm2: no checkpoint). A partition the group never committed stays uncommitted on the
    target. Applies one request per group, reads the offsets back (exit 5 if they differ)
    and logs each change to audit.jsonl."""
    from ..errors import UsageError
    from ..moves.cutover import plan_groups
    from ..moves.translate import TRANSLATIONS

    state = app_context(ctx)
    if translate not in TRANSLATIONS:
        raise UsageError(f"--translate {translate!r}: use one of {', '.join(TRANSLATIONS)}.")
    target = target_settings(ctx, to_profile, to_bootstrap_servers)
    mapping = topic_mapping(source_alias, topic_map)
    scope = _scope(plan, wave)
    cutover = plan_groups(state.settings, target, scope, mapping, translate,
                          mm2_alias or source_alias or "source")
    moving = sorted(g for g, s in cutover.source_states.items() if s not in ("Empty", "Dead"))
    if moving:
        note(f"warning: {', '.join(moving)} still has members on the source: its consumers "
             "may commit past this plan; stop them first.")
    _finish(ctx, cutover, target, plan_out, execute, directory)


def _finish(ctx: typer.Context, cutover, target, plan_out: Path | None, execute: bool,
            directory: Path | None) -> None:
    """Save, print and (with --execute) apply a translated plan on the target."""
    from ..checkpoints import checkpoint_dir
    from ..moves import apply, planfile

    state = app_context(ctx)
    if plan_out is not None:
        path = planfile.save_plan(cutover.plan, plan_out)
        note(f"plan saved to {path}; apply it with `ingestctl -b {target.bootstrap_servers} "
             f"rollback --from-plan {path} --execute`.")
    if cutover.plan.at_target:
        emit(state.output, cutover.as_json(executed=False), _plan_tables)
        note("already at target: every partition is where the plan puts it; nothing to "
             "change.")
        return
    if not execute:
        emit(state.output, cutover.as_json(executed=False), _plan_tables)
        note("nothing changed; add --execute to apply on the target")
        return
    changed = apply.execute(target, cutover.plan, checkpoint_dir(directory, state.settings))
    emit(state.output, cutover.as_json(executed=True), _plan_tables)
    note(f"applied on the target and read back: {', '.join(changed)}; logged to the audit "
         "log.")


def rollback_translated(ctx: typer.Context, to_checkpoint: str, how: str,
                        from_bootstrap_servers: str | None, source_alias: str | None,
                        topic_map: list[str] | None, mm2_alias: str | None,
                        groups: list[str] | None, topics: list[str] | None,
                        plan_out: Path | None, execute: bool, directory: Path | None) -> None:
    """`rollback --to-checkpoint REF --translate exact|mm2` on this (target) cluster, reading
    the records the checkpoint points at on the cluster it was taken on."""
    from .. import checkpoints
    from ..errors import UsageError
    from ..moves.cutover import plan_rollback_translated

    state = app_context(ctx)
    refuse_empty(("--from-bootstrap-servers", from_bootstrap_servers))
    if not from_bootstrap_servers:
        raise UsageError(f"--translate {how} reads the records the checkpoint points at: give "
                         "the cluster it was taken on with --from-bootstrap-servers B.")
    source = state.other_cluster(None, from_bootstrap_servers)
    path = checkpoints.resolve_ref(to_checkpoint,
                                   checkpoints.checkpoint_dir(directory, state.settings))
    cutover = plan_rollback_translated(source, state.settings, path, groups, topics,
                                       topic_mapping(source_alias, topic_map), how,
                                       mm2_alias or source_alias or "source")
    _finish(ctx, cutover, state.settings, plan_out, execute, directory)


def _check_tables(data: dict) -> list:
    tables = []
    for t in data["topics"]:
        rows = [(key, v["source"], v["target"]) for key, v in t["configs"].items()]
        tables.append(make_table(
            f"topic {t['topic']} -> {t['target_topic']}: {t['partitions']} -> "
            f"{t['target_partitions']} partition(s)", ["config", "source", "target"], rows))
        tables.append(make_table(None, ["partition", "mirror lag", "note"],
                                 [(x["partition"], x["records"], x["note"]) for x in t["lag"]]))
    for g in data["groups"]:
        tables.append(make_table(
            f"group {g['group']} ({g['target_state']} on the target)",
            ["topic", "partition", "source committed", "translated", "target committed",
             "same record", "note"],
            [(p["topic"], p["partition"], p["source_committed"], p["translated"],
              p["target_committed"], p["same_record"], p["note"]) for p in g["partitions"]]))
    return tables


@app.command("check")
def check(
    ctx: typer.Context,
    wave: Wave,
    plan: WavePlan,
    to_profile: ToProfile = None,
    to_bootstrap_servers: ToBootstrap = None,
    source_alias: SourceAlias = None,
    topic_map: TopicMap = None,
    max_mirror_lag: Annotated[int, typer.Option(
        "--max-mirror-lag", min=0, help="Records a partition's mirror may still be behind.")
    ] = 0,
) -> None:
    """Whether the wave can move onto the target: read-only.

    Per topic: partitions and the configs that matter on both sides, and the mirror's lag
    per partition in records (source records after the one the target's last record copies).
    Per group and partition: the committed offset on the source, the offset --translate exact
    would set on the target, whether the record there is the same record, and the target
    group's current offsets (shown, never a blocker). Exit 0 when the wave can move, 3
    listing every blocker."""
    from ..errors import RefusedError
    from ..moves.cutover import check as readiness

    state = app_context(ctx)
    target = target_settings(ctx, to_profile, to_bootstrap_servers)
    result = readiness(state.settings, target, _scope(plan, wave),
                       topic_mapping(source_alias, topic_map), max_mirror_lag)
    emit(state.output, result.as_json(), _check_tables)
    if result.blockers:
        raise RefusedError(f"wave {wave} cannot move yet: {len(result.blockers)} blocker(s).",
                           details=result.blockers)
    note(f"wave {wave} can move: every topic is mirrored and every group translates exactly.")
