"""Saved plan files (`--plan-out`, `--from-plan`): checksummed YAML, written atomically 0600,
read back field by field (exit 7 naming the field when damaged)."""

from pathlib import Path

import yaml

from ..errors import InvalidFileError, NotFoundError
from ..files.documents import FieldReader, checksum
from ..files.fs import atomic_write
from ..parsing import format_time
from ..partitions import TP, name
from .plan import GroupPlan, Plan, TopicFacts
from .planners import Bounds, Move

PLAN_FORMAT = "ingestctl.plan/v1"


def plan_document(plan: Plan) -> dict:
    document = {
        "format": PLAN_FORMAT,
        "command": plan.command,
        "source": plan.source,
        "created_at": format_time(plan.created_at),
        "cluster_id": plan.cluster_id,
        "topics": {t: {"topic_id": f.topic_id, "partitions": f.partitions}
                   for t, f in sorted(plan.topics.items())},
        "groups": {
            g.group: {"state": g.state, "partitions": [
                {"topic": m.topic, "partition": m.partition, "current": m.current,
                 "target": m.target, "note": m.note} for m in g.moves]}
            for g in plan.groups
        },
        "bounds": [{"topic": t, "partition": p, "log_start": b.log_start, "end": b.end}
                   for (t, p), b in sorted(plan.bounds.items())],
    }
    document["checksum"] = checksum(document)
    return document


def save_plan(plan: Plan, path: Path) -> Path:
    """Write the plan (with a checksum) for a later `rollback --from-plan FILE --execute`."""
    text = yaml.safe_dump(plan_document(plan), sort_keys=False, allow_unicode=True, width=4096)
    # The plan goes where the user said, often the current directory: never chmod that.
    return atomic_write(Path(path).expanduser(), text, tighten_dir=False)


def load_plan(path: Path) -> Plan:
    """Read a saved plan; exit 7 naming the file and field unless it is intact."""
    path = Path(path).expanduser()
    try:
        document = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"plan file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidFileError(f"plan file {path} is not readable YAML "
                               f"({exc.__class__.__name__}); save the plan again.") from None
    f = FieldReader(str(path), "plan")
    if not isinstance(document, dict):
        raise InvalidFileError(f"plan {path} is not intact: it is not a YAML mapping.")
    version = f.get(document, "format", "")
    if version != PLAN_FORMAT:
        f.fail("format", f"is {version!r}, not {PLAN_FORMAT!r}")
    if "checksum" not in document:
        f.fail("checksum", "is missing (the file is truncated or was not written by ingestctl)")
    command = f.text(document, "command", "")
    if command not in ("rollback", "groups reset", "cutover groups"):
        f.fail("command", f"({command!r}) is not rollback, groups reset or cutover groups")
    topics: dict[str, TopicFacts] = {}
    # A plan written before plans recorded topic ids has no `topics`: it loads, and its drift
    # check goes by offsets and partitions alone.
    if "topics" in document:
        for topic, entry in f.mapping(document, "topics", "").items():
            if not isinstance(entry, dict):
                f.fail(f"topics.{topic}", "must be a mapping")
            topics[topic] = TopicFacts(f.text(entry, "topic_id", f"topics.{topic}.", optional=True),
                                       f.count(entry, "partitions", f"topics.{topic}."))
    bounds: dict[TP, Bounds] = {}
    for i, entry in enumerate(f.items(document, "bounds", "")):
        at = f"bounds[{i}]."
        if not isinstance(entry, dict):
            f.fail(f"bounds[{i}]", "must be a mapping")
        tp = (f.text(entry, "topic", at), f.count(entry, "partition", at))
        bounds[tp] = Bounds(f.count(entry, "log_start", at), f.count(entry, "end", at))
    groups = []
    for group, body in f.mapping(document, "groups", "").items():
        where = f"groups.{group}."
        if not isinstance(body, dict):
            f.fail(f"groups.{group}", "must be a mapping")
        moves = []
        for i, entry in enumerate(f.items(body, "partitions", where)):
            at = f"{where}partitions[{i}]."
            if not isinstance(entry, dict):
                f.fail(f"{where}partitions[{i}]", "must be a mapping")
            tp = (f.text(entry, "topic", at), f.count(entry, "partition", at))
            if tp not in bounds:
                f.fail(f"{at}partition", f"({name(tp)}) has no entry in bounds")
            current = f.get(entry, "current", at)
            if current is not None:
                current = f.count(entry, "current", at)
            note = f.get(entry, "note", at)
            if not isinstance(note, str):
                f.fail(f"{at}note", "must be a string")
            moves.append(Move(tp[0], tp[1], current, f.count(entry, "target", at), note))
        groups.append(GroupPlan(group, f.text(body, "state", where), moves))
    plan = Plan(command, f.text(document, "source", ""), f.text(document, "cluster_id", ""),
                f.time(document, "created_at", "", optional=False), groups, bounds, topics)
    if checksum(document) != document["checksum"]:
        f.fail("checksum", "does not match the content (the file was edited or damaged)")
    return plan

