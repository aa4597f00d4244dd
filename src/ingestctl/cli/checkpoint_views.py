"""View builders of `checkpoint list|show|diff|verify|create`: pure functions from the JSON
document to render views (see cli/views.py)."""

import json

from .render import IDENT, NUMBER, PATH, STATE, TEXT, TIME, Col, Line, Pairs, Table, dash
from .views import tasks_text


def summary(data: dict) -> Pairs:
    partitions = sum(len(t["partitions"]) for t in data["topics"].values())
    return Pairs(None, [
        ("checkpoint", data["path"], PATH), ("wave", data["wave"], IDENT),
        ("created at", data["created_at"], IDENT), ("cluster id", data["cluster_id"], IDENT),
        ("note", data["note"], TEXT),
        ("topics", f"{len(data['topics'])} ({partitions} partitions)", IDENT),
        ("groups", len(data["groups"])),
        ("connectors", len(data["connectors"])),
    ])


def listing(rows: list[dict]) -> list:
    return [Table(None, [
        Col("ref"), Col("created at", TIME), Col("cluster id"),
        Col("topics", NUMBER, optional=1), Col("groups", NUMBER, optional=1),
        Col("connectors", NUMBER, optional=1), Col("note", TEXT, optional=2)], [
        (e["ref"], e.get("created_at"), e.get("cluster_id"), e.get("topics"), e.get("groups"),
         e.get("connectors"), e.get("note") if "error" not in e else "INVALID: " + e["error"])
        for e in rows])]


def _offset_cells(entry: dict) -> tuple[str, str]:
    """A sink's offset as topic[partition] and offset; a source's as Connect's JSON."""
    partition, offset = entry["partition"], entry["offset"]
    if "kafka_topic" in partition and isinstance(offset, dict) and "kafka_offset" in offset:
        return f"{partition['kafka_topic']}[{partition['kafka_partition']}]", \
            str(offset["kafka_offset"])
    return json.dumps(partition, sort_keys=True), json.dumps(offset, sort_keys=True)


def show(data: dict) -> list:
    out = [summary(data), Table("partitions", [
        Col("topic", TEXT), Col("partition", NUMBER), Col("log-start", NUMBER),
        Col("end", NUMBER), Col("records", NUMBER), Col("first timestamp", TIME),
        Col("last timestamp", TIME), Col("schema ids")], [
        (topic, p["partition"], p["log_start"], p["end"], p["end"] - p["log_start"],
         p["first_timestamp"], p["last_timestamp"], ",".join(map(str, p["schema_ids"])))
        for topic, body in data["topics"].items() for p in body["partitions"]])]
    if data["schemas"]:
        out.append(Table("schemas", [Col("subject", TEXT), Col("id", NUMBER),
                                     Col("version", NUMBER), Col("fingerprint", TEXT)], [
            (subject, s["id"], s["version"], s["fingerprint"])
            for subject, s in data["schemas"].items()]))
    for group, body in data["groups"].items():
        out.append(Table(f"group {group} ({body['state']}, {body['members']} members)", [
            Col("topic", TEXT), Col("partition", NUMBER), Col("offset", NUMBER),
            Col("next timestamp", TIME), Col("last timestamp", TIME)], [
            (topic, o["partition"], o["offset"], o["next_timestamp"], o["last_timestamp"])
            for topic, entries in body["offsets"].items() for o in entries]))
    if data["connectors"]:
        out.append(Table("connectors", [
            Col("connector"), Col("type", STATE), Col("state", STATE), Col("tasks"),
            Col("group", optional=1), Col("offsets", NUMBER)], [
            (name, c["type"], c["state"], tasks_text(c["tasks"]), c["group"] or "-",
             len(c["offsets"])) for name, c in data["connectors"].items()]))
        out.append(Table("connector offsets", [Col("connector"), Col("partition", TEXT),
                                               Col("offset")], [
            (name, *_offset_cells(o))
            for name, c in data["connectors"].items() for o in c["offsets"]]))
    return out


def _subject_version(entry: dict | None) -> str:
    return "absent" if entry is None else f"version {entry['version']} (id {entry['id']})"


def diff(data: dict) -> list:
    out = [Pairs(None, [("from", data["from"], PATH), ("to", data["to"], PATH)]),
           Table("partitions", [Col("topic", TEXT), Col("partition", NUMBER),
                                Col("produced", NUMBER), Col("log-start moved", NUMBER)],
                 [(t["topic"], t["partition"], t["produced"], t["log_start_moved"])
                  for t in data["topics"]])]
    if data["groups"]:
        out.append(Table("groups", [Col("group"), Col("topic", TEXT), Col("partition", NUMBER),
                                    Col("consumed", NUMBER)], [
            (g["group"], g["topic"], g["partition"],
             g["consumed"] if g["consumed"] is not None else
             f"{g['from_offset']} -> {g['to_offset']}") for g in data["groups"]]))
    for key, title in (("partitions_added", "partitions added"),
                       ("partitions_removed", "partitions removed")):
        if data[key]:
            out.append(Line(f"{title}: " + ", ".join(f"{e['topic']}[{e['partition']}]"
                                                     for e in data[key])))
    for change in data["schemas_changed"]:
        if "subject" in change:
            out.append(Line(f"schema changed: {change['subject']}: "
                            f"{_subject_version(change['from'])} -> "
                            f"{_subject_version(change['to'])}"))
        else:
            out.append(Line(f"schema ids of the last record changed: {change['topic']}"
                            f"[{change['partition']}]: {change['from']} -> {change['to']}"))
    for c in data["connectors"]:
        out.append(Line(f"connector {c['connector']}: {c['from_state'] or 'absent'} "
                        f"(tasks {tasks_text(c['from_tasks'])}) -> {c['to_state'] or 'absent'} "
                        f"(tasks {tasks_text(c['to_tasks'])})"))
        if c["partitions"]:
            out.append(Table(None, [Col("topic", TEXT), Col("partition", NUMBER),
                                    Col("from", NUMBER), Col("to", NUMBER),
                                    Col("consumed", NUMBER)], [
                (p["topic"], p["partition"], dash(p["from_offset"]), dash(p["to_offset"]),
                 dash(p["consumed"])) for p in c["partitions"]]))
        for change in c["source_offsets_changed"]:
            out.append(Line(f"  source offset {json.dumps(change['partition'])}: "
                            f"{json.dumps(change['from'])} -> {json.dumps(change['to'])}"))
    return out


def verified(data: dict) -> list:
    return [Line(f"{data['path']}: intact, and applies to cluster {data['cluster_id']}.")]
