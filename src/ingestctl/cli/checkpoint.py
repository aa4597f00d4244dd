"""`ingestctl checkpoint create|list|show|diff|verify`."""

from pathlib import Path
from typing import Annotated

import typer

from . import checkpoint_views as views
from .context import app_context
from .options import Dir, Ref
from .render import emit, note

app = typer.Typer(
    help="Checkpoints of a migration wave: where every partition and consumer group stood.\n\n"
    "A REF is a checkpoint file's path, a wave name (its newest checkpoint) or WAVE@N "
    "(N = 1 is the wave's oldest).",
    no_args_is_help=True,
)



def _directory(ctx: typer.Context, directory: Path | None) -> Path:
    from ..checkpoints import checkpoint_dir

    return checkpoint_dir(directory, app_context(ctx).settings)


def _document(path: Path, cp) -> dict:
    from ..checkpoints import to_document

    return {"path": str(path), **to_document(cp)}


@app.command("create")
def create(
    ctx: typer.Context,
    wave: Annotated[str, typer.Argument(help="The wave's name (letters, digits, . _ -).",
                                        show_default=False)],
    topic: Annotated[list[str] | None, typer.Option(
        "--topic", help="A topic to record (repeatable).")] = None,
    group: Annotated[list[str] | None, typer.Option(
        "--group", help="A consumer group to record, with all its topics (repeatable).")] = None,
    connector: Annotated[list[str] | None, typer.Option(
        "--connector", help="A Kafka Connect connector to record: state, tasks, offsets; a "
        "sink's group and topics too (repeatable; needs --connect-url).")] = None,
    plan: Annotated[Path | None, typer.Option(
        "--plan", help="Wave plan file: its entry for WAVE names topics, groups, "
        "connectors.")] = None,
    note_text: Annotated[str | None, typer.Option("--note", help="A note kept in the file.")
                         ] = None,
    directory: Dir = None,
) -> None:
    """Record where the wave's partitions, consumer groups and connectors stand, in a new
    file."""
    from .. import checkpoints

    state = app_context(ctx)
    topics, groups = list(topic or []), list(group or [])
    connectors = list(dict.fromkeys(connector or []))
    if plan is not None:
        scope = checkpoints.load_wave_plan(plan, checkpoints.check_wave(wave))
        topics += [t for t in scope.topics if t not in topics]
        groups += [g for g in scope.groups if g not in groups]
        connectors += [c for c in scope.connectors if c not in connectors]
    directory = _directory(ctx, directory)
    cp = checkpoints.capture(state.settings, wave, topics, groups, connectors, note_text)
    path = checkpoints.write(cp, directory)
    note(f"checkpoint written to {path}")
    emit(state.output, _document(path, cp), lambda d: [views.summary(d)])


@app.command("list")
def list_(
    ctx: typer.Context,
    wave: Annotated[str | None, typer.Argument(help="Only this wave.", show_default=False)
                    ] = None,
    directory: Dir = None,
) -> None:
    """The checkpoints in the directory, oldest first per wave, with their REFs."""
    from .. import checkpoints

    state = app_context(ctx)
    entries = checkpoints.listing(_directory(ctx, directory), wave)
    emit(state.output, entries, views.listing)


@app.command("show")
def show(ctx: typer.Context, ref: Ref, directory: Dir = None) -> None:
    """A checkpoint's content (checked to be intact)."""
    from .. import checkpoints

    state = app_context(ctx)
    path = checkpoints.resolve_ref(ref, _directory(ctx, directory))
    emit(state.output, _document(path, checkpoints.load(path)), views.show)


@app.command("diff")
def diff(
    ctx: typer.Context,
    ref: Ref,
    other: Annotated[str | None, typer.Argument(help="The later checkpoint (REF).",
                                                show_default=False)] = None,
    live: Annotated[bool, typer.Option(
        "--live", help="Compare with the cluster as it is now.")] = False,
    directory: Dir = None,
) -> None:
    """Records produced and consumed, partitions added or removed, schema ids changed and
    connectors' state and offsets between two checkpoints, or since a checkpoint (--live)."""
    from .. import checkpoints
    from ..errors import UsageError

    if (other is None) == (not live):
        raise UsageError("give a second REF or --live (one of them).")
    state = app_context(ctx)
    directory = _directory(ctx, directory)
    path = checkpoints.resolve_ref(ref, directory)
    before = checkpoints.load(path)
    compare_subjects = compare_connectors = True
    if live:
        after, to_name = checkpoints.capture_like(state.settings, before), "live"
        compare_subjects = bool(state.settings.schema_registry_url)
        if before.schemas and not compare_subjects:
            note("schema subjects not compared: no schema registry is configured "
                 "(--schema-registry or the profile).")
        compare_connectors = bool(state.settings.connect_url)
        if before.connectors and not compare_connectors:
            note("connectors not compared: no Kafka Connect URL is configured "
                 "(--connect-url or the profile).")
    else:
        other_path = checkpoints.resolve_ref(other, directory)
        after, to_name = checkpoints.load(other_path), str(other_path)
    data = checkpoints.diff(before, after, str(path), to_name, compare_subjects,
                            compare_connectors)
    if not data["same_cluster"]:
        note("warning: the two sides are different clusters; offsets are not comparable.")
    emit(state.output, data, views.diff)


@app.command("verify")
def verify(ctx: typer.Context, ref: Ref, directory: Dir = None) -> None:
    """Check that a checkpoint is intact (exit 7 if not) and still applies to the cluster:
    same cluster, same partitions, offsets still retained, recorded connectors still on
    Kafka Connect (with a Connect URL) (exit 3 listing each problem)."""
    from .. import checkpoints
    from ..errors import RefusedError

    state = app_context(ctx)
    path = checkpoints.resolve_ref(ref, _directory(ctx, directory))
    cp = checkpoints.load(path)
    problems = checkpoints.applicability_problems(cp, state.settings)
    if problems:
        raise RefusedError(
            f"checkpoint {path} is intact but does not apply to the cluster at "
            f"{state.settings.bootstrap_servers} ({len(problems)} problem(s)).",
            details=problems,
        )
    emit(state.output, {"path": str(path), "intact": True, "applicable": True,
                        "cluster_id": cp.cluster_id}, views.verified)
