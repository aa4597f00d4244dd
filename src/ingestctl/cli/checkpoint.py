"""`ingestctl checkpoint create|list|show|diff|verify`."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from .context import app_context
from .render import emit, key_values, make_table, note

app = typer.Typer(
    help="Checkpoints of a migration wave: where every partition and consumer group stood.\n\n"
    "A REF is a checkpoint file's path, a wave name (its newest checkpoint) or WAVE@N "
    "(N = 1 is the wave's oldest).",
    no_args_is_help=True,
)

Dir = Annotated[Path | None, typer.Option(
    "--dir", help="Checkpoint directory (default: the profile's checkpoint_dir, else "
    "./checkpoints).")]
Ref = Annotated[str, typer.Argument(help="A path, a wave name (its newest) or WAVE@N.",
                                    show_default=False)]


def _directory(ctx: typer.Context, directory: Path | None) -> Path:
    from ..checkpoints import checkpoint_dir

    return checkpoint_dir(directory, app_context(ctx).settings)


def _document(path: Path, cp) -> dict:
    from ..checkpoints import to_document

    return {"path": str(path), **to_document(cp)}


def _summary_table(data: dict):
    partitions = sum(len(t["partitions"]) for t in data["topics"].values())
    return key_values(None, [
        ("checkpoint", data["path"]), ("wave", data["wave"]),
        ("created at", data["created_at"]), ("cluster id", data["cluster_id"]),
        ("note", data["note"]),
        ("topics", f"{len(data['topics'])} ({partitions} partitions)"),
        ("groups", len(data["groups"])),
        ("connectors", len(data["connectors"])),
    ])


def _tasks(tasks: list[dict] | None) -> str:
    return ", ".join(f"{t['id']}:{t['state']}" for t in tasks) or "none"


def _show_tables(data: dict) -> list:
    tables = [_summary_table(data)]
    tables.append(make_table("partitions", [
        "topic", "partition", "log-start", "end", "records", "first timestamp",
        "last timestamp", "schema ids"], [
        (topic, p["partition"], p["log_start"], p["end"], p["end"] - p["log_start"],
         p["first_timestamp"], p["last_timestamp"], ",".join(map(str, p["schema_ids"])))
        for topic, body in data["topics"].items() for p in body["partitions"]]))
    if data["schemas"]:
        tables.append(make_table("schemas", ["subject", "id", "version", "fingerprint"], [
            (subject, s["id"], s["version"], s["fingerprint"])
            for subject, s in data["schemas"].items()]))
    if data["groups"]:
        tables.append(make_table("groups", [
            "group", "state", "members", "topic", "partition", "offset", "next timestamp",
            "last timestamp"], [
            (group, body["state"], body["members"], topic, o["partition"], o["offset"],
             o["next_timestamp"], o["last_timestamp"])
            for group, body in data["groups"].items()
            for topic, entries in body["offsets"].items() for o in entries]))
    if data["connectors"]:
        tables.append(make_table("connectors", [
            "connector", "type", "state", "tasks", "group", "offsets"], [
            (name, c["type"], c["state"], _tasks(c["tasks"]), c["group"] or "-",
             len(c["offsets"])) for name, c in data["connectors"].items()]))
        tables.append(make_table("connector offsets", ["connector", "partition", "offset"], [
            (name, *_offset_cells(o))
            for name, c in data["connectors"].items() for o in c["offsets"]]))
    return tables


def _offset_cells(entry: dict) -> tuple[str, str]:
    """A sink's offset as topic[partition] and offset; a source's as Connect's JSON."""
    partition, offset = entry["partition"], entry["offset"]
    if "kafka_topic" in partition and isinstance(offset, dict) and "kafka_offset" in offset:
        return f"{partition['kafka_topic']}[{partition['kafka_partition']}]", \
            str(offset["kafka_offset"])
    return json.dumps(partition, sort_keys=True), json.dumps(offset, sort_keys=True)


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
    emit(state.output, _document(path, cp), lambda d: [_summary_table(d)])


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
    emit(state.output, entries, lambda rows: [make_table(None, [
        "ref", "created at", "cluster id", "topics", "groups", "connectors", "note"], [
        (e["ref"], e.get("created_at"), e.get("cluster_id"), e.get("topics"), e.get("groups"),
         e.get("connectors"), e.get("note") if "error" not in e else "INVALID: " + e["error"])
        for e in rows])])


@app.command("show")
def show(ctx: typer.Context, ref: Ref, directory: Dir = None) -> None:
    """A checkpoint's content (checked to be intact)."""
    from .. import checkpoints

    state = app_context(ctx)
    path = checkpoints.resolve_ref(ref, _directory(ctx, directory))
    emit(state.output, _document(path, checkpoints.load(path)), _show_tables)


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
    emit(state.output, data, _diff_tables)


def _diff_tables(data: dict) -> list:
    tables = [key_values(None, [("from", data["from"]), ("to", data["to"])]),
              make_table("partitions", ["topic", "partition", "produced", "log-start moved"],
                         [(t["topic"], t["partition"], t["produced"], t["log_start_moved"])
                          for t in data["topics"]])]
    if data["groups"]:
        tables.append(make_table("groups", ["group", "topic", "partition", "consumed"], [
            (g["group"], g["topic"], g["partition"],
             g["consumed"] if g["consumed"] is not None else
             f"{g['from_offset']} -> {g['to_offset']}") for g in data["groups"]]))
    for key, title in (("partitions_added", "partitions added"),
                       ("partitions_removed", "partitions removed")):
        if data[key]:
            tables.append(f"{title}: " + ", ".join(f"{e['topic']}[{e['partition']}]"
                                                   for e in data[key]))
    for change in data["schemas_changed"]:
        if "subject" in change:
            tables.append(f"schema changed: {change['subject']}: "
                          f"{_subject_version(change['from'])} -> "
                          f"{_subject_version(change['to'])}")
        else:
            tables.append(f"schema ids of the last record changed: {change['topic']}"
                          f"[{change['partition']}]: {change['from']} -> {change['to']}")
    for c in data["connectors"]:
        tables.append(Text(f"connector {c['connector']}: {c['from_state'] or 'absent'} "
                           f"(tasks {_tasks(c['from_tasks'])}) -> {c['to_state'] or 'absent'} "
                           f"(tasks {_tasks(c['to_tasks'])})"))
        if c["partitions"]:
            tables.append(make_table(None, ["topic", "partition", "from", "to", "consumed"], [
                (p["topic"], p["partition"], _dash(p["from_offset"]), _dash(p["to_offset"]),
                 _dash(p["consumed"])) for p in c["partitions"]]))
        for change in c["source_offsets_changed"]:
            tables.append(Text(f"  source offset {json.dumps(change['partition'])}: "
                               f"{json.dumps(change['from'])} -> {json.dumps(change['to'])}"))
    return tables


def _dash(value):
    return "-" if value is None else value


def _subject_version(entry: dict | None) -> str:
    return "absent" if entry is None else f"version {entry['version']} (id {entry['id']})"


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
                        "cluster_id": cp.cluster_id},
         lambda d: [f"{d['path']}: intact, and applies to cluster {d['cluster_id']}."])
