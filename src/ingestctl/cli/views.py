"""View builders: pure functions from a command's data (the JSON document) to views
(render.Table, render.Pairs, render.Line) that render.py lays out for the terminal. No I/O.

Each column says what it holds (render.IDENT, NUMBER, STATE, TIME, PATH, TEXT): identifiers,
numbers, states and times are never split; only free text is cut, with an ellipsis."""

import json

from .render import (
    IDENT,
    NUMBER,
    PATH,
    STATE,
    TEXT,
    TIME,
    Col,
    Pairs,
    Table,
    cut,
    dash,
    duration,
    time_form,
)


def tasks_text(tasks: list[dict] | None) -> str:
    return ", ".join(f"{t['id']}:{t['state']}" for t in tasks or []) or "none"


def size(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# -- topics ----------------------------------------------------------------------------------

def topics_list(rows: list[dict]) -> list:
    return [Table(None, [Col("topic", TEXT), Col("partitions", NUMBER), Col("rf", NUMBER),
                         Col("records", NUMBER)],
                  [(r["topic"], r["partitions"], r["replication_factor"], r["records"])
                   for r in rows])]


def topics_describe(items: list[dict]) -> list:
    out = []
    for t in items:
        window = t["replay_window"]
        ago = f"{duration(window['age_seconds'])} ago" if window["age_seconds"] is not None \
            else ""
        out.append(Pairs(t["topic"], [
            ("partitions", len(t["partitions"])),
            ("records", sum(p["records"] for p in t["partitions"])),
            *[(k, v, IDENT) for k, v in t["configs"].items()],
            ("replay window", f"from {window['oldest_timestamp']} ({ago})"
             if window["oldest_timestamp"] else "empty: no records retained", TEXT),
        ]))
        out.append(Table(None, [
            Col("p", NUMBER), Col("leader", NUMBER), Col("replicas"), Col("isr"),
            Col("start", NUMBER), Col("end", NUMBER), Col("records", NUMBER),
            Col("first (UTC)", TIME, time_form=1), Col("last (UTC)", TIME, time_form=1)], [
            (p["partition"], p["leader"], ",".join(map(str, p["replicas"])),
             ",".join(map(str, p["isr"])), p["log_start"], p["end"], p["records"],
             p["first_timestamp"], p["last_timestamp"])
            for p in t["partitions"]]))
        out.append("")
    return out


def _marked(text: str | None, encoding: str | None) -> str | None:
    return f"base64:{text}" if encoding == "base64" else text


def _value_text(record: dict) -> str | None:
    if record["value_encoding"] == "avro":
        return json.dumps(record["value"], separators=(",", ":"), ensure_ascii=False,
                          default=str)
    return _marked(record["value"], record["value_encoding"])


def _schema_text(record: dict) -> str:
    if record.get("decode_error_reason"):
        return f"not decoded: {record['decode_error_reason']}"
    ref = record.get("schema")
    if ref is None:
        return ""
    if ref["subject"] is None:
        return f"id {ref['id']}"
    return f"id {ref['id']}: {ref['subject']} v{ref['version']}"


def peek(records: list[dict], decode: bool) -> list:
    columns = [Col("partition", NUMBER), Col("offset", NUMBER), Col("timestamp", TIME),
               Col("key", TEXT), Col("headers", TEXT), Col("value", TEXT)]
    if decode:
        columns.append(Col("schema", TEXT))
    return [Table(None, columns, [
        (r["partition"], r["offset"], r["timestamp"],
         cut(_marked(r["key"], r["key_encoding"]), 24),
         cut(", ".join(f"{k}={v}" for k, v in r["headers"].items()), 40),
         cut(_value_text(r), 60), *([_schema_text(r)] if decode else []))
        for r in records])]


# -- groups ----------------------------------------------------------------------------------

def groups_list(rows: list[dict]) -> list:
    return [Table(None, [Col("group"), Col("state", STATE), Col("members", NUMBER),
                         Col("topics", TEXT), Col("total lag", NUMBER)],
                  [(r["group"], r["state"], r["members"], ",".join(r["topics"]),
                    r["total_lag"]) for r in rows])]


def groups_describe(items: list[dict]) -> list:
    out = []
    for g in items:
        out.append(Pairs(g["group"], [
            ("state", g["state"], STATE), ("members", len(g["members"])),
            ("total lag", g["total_lag"]),
        ]))
        if g["members"]:
            out.append(Table(None, [
                Col("client id"), Col("host"), Col("member id", optional=1),
                Col("assigned", TEXT)], [
                (m["client_id"], m["host"], m["member_id"],
                 ", ".join(f"{a['topic']}[{a['partition']}]" for a in m["assignment"]))
                for m in g["members"]]))
        for topic in dict.fromkeys(p["topic"] for p in g["partitions"]):
            out.append(Table(topic, [
                Col("p", NUMBER), Col("committed", NUMBER), Col("end", NUMBER),
                Col("lag", NUMBER), Col("behind", NUMBER),
                Col("next record (UTC)", TIME, time_form=1)], [
                (p["partition"], dash(p["committed"]), dash(p["end"]), dash(p["lag"]),
                 duration(p["lag_seconds"]) if p["lag_seconds"] is not None else dash(None),
                 p["next_timestamp"])
                for p in g["partitions"] if p["topic"] == topic]))
        out.append("")
    return out


def pairs(data: dict) -> list:
    return [Pairs(None, list(data.items()))]


# -- connectors ------------------------------------------------------------------------------

def _first_line(trace: str | None) -> str | None:
    return trace.strip().splitlines()[0] if trace and trace.strip() else None


def connectors_list(rows: list[dict]) -> list:
    return [Table(None, [
        Col("connector"), Col("type", STATE, optional=1), Col("state", STATE),
        Col("tasks", TEXT), Col("group", optional=1), Col("lag", NUMBER),
        Col("lag (s)", NUMBER)], [
        (r["connector"], r["type"], r["state"], tasks_text(r["tasks"]), dash(r["group"]),
         dash(r["total_lag"]), dash(r["lag_seconds"]))
        for r in rows])]


def connectors_describe(items: list[dict]) -> list:
    out = []
    for c in items:
        entries = [
            ("type", c["type"], STATE), ("class", c["class"], IDENT), ("state", c["state"], STATE),
            ("worker", c["worker_id"], IDENT), ("topics", ",".join(c["topics"]) or None, TEXT),
            ("group", c["group"], IDENT), ("group state", c["group_state"], STATE),
            ("total lag", c["total_lag"]), ("lag (s)", c["lag_seconds"]),
            ("error", _first_line(c["trace"]), TEXT),
        ]
        out.append(Pairs(c["connector"], [e for e in entries if e[1] is not None]))
        out.append(Table(None, [Col("task", NUMBER), Col("state", STATE), Col("worker"),
                                Col("error", TEXT)], [
            (t["id"], t["state"], t["worker_id"], _first_line(t["trace"]) or "")
            for t in c["tasks"]]))
        if c["partitions"]:
            out.append(Table(None, [
                Col("topic", TEXT), Col("partition", NUMBER), Col("committed", NUMBER),
                Col("end", NUMBER), Col("lag", NUMBER), Col("lag (s)", NUMBER),
                Col("next timestamp", TIME)], [
                (p["topic"], p["partition"], dash(p["committed"]), dash(p["end"]),
                 dash(p["lag"]), dash(p["lag_seconds"]), p["next_timestamp"])
                for p in c["partitions"]]))
        out.append("")
    return out


# -- cluster, config, sandbox ----------------------------------------------------------------

def connector_changes(d: dict) -> list:
    """`connectors pause|resume|stop|restart`: each connector's state and tasks, the change
    planned, and (once executed) what it became."""
    rows = [(c["connector"], c["state_before"], tasks_text(c["tasks_before"]), c["plan"],
             c["state_after"] or "",
             tasks_text(c["tasks_after"]) if c["tasks_after"] is not None else "")
            for c in d["connectors"]]
    return [Table(None, [Col("connector", IDENT), Col("state", STATE), Col("tasks", TEXT),
                         Col("plan", TEXT), Col("state after", STATE),
                         Col("tasks after", TEXT)], rows)]


def cluster_info(d: dict) -> list:
    controller = d["controller"]
    return [
        Pairs(None, [("cluster id", d["cluster_id"], IDENT),
                     ("controller", controller and f"{controller['id']} "
                      f"({controller['host']}:{controller['port']})", IDENT)]),
        Table("brokers", [Col("id", NUMBER), Col("host"), Col("port", NUMBER), Col("rack")],
              [(b["id"], b["host"], b["port"], b["rack"]) for b in d["brokers"]]),
    ]


def config_show(d: dict) -> list:
    entries = [(k, v, IDENT) for k, v in d.items() if k not in ("kafka", "sources")]
    entries += [(f"kafka: {k}", v, IDENT) for k, v in d["kafka"].items()]
    return [Pairs("effective configuration", entries)]


def sandbox_status(d: dict) -> list:
    entries = []
    for key, value in d.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        if value is not None:
            path = key == "data_dir" or key.endswith(("log", "_file", "_dir", "_path"))
            entries.append((key, value, PATH if path else IDENT))
    return [Pairs(None, entries)]


# -- moves: rollback, groups reset -----------------------------------------------------------

def _moves(title: str, moves: list[dict]) -> Table:
    return Table(title, [Col("topic", TEXT), Col("partition", NUMBER), Col("current", NUMBER),
                         Col("target", NUMBER), Col("delta", NUMBER), Col("note", TEXT)],
                 [(m["topic"], m["partition"], dash(m["current"]), m["target"],
                   dash(m["delta"]), m["note"]) for m in moves])


def move_plan(data: dict) -> list:
    return [_moves(f"group {g['group']} ({g['state']})", g["partitions"])
            for g in data["groups"]]


def connector_move_plan(data: dict) -> list:
    out = []
    for c in data["connectors"]:
        state = c["state"] + (f" -> {c['final_state']}" if c["final_state"] else "")
        out.append(_moves(f"connector {c['connector']} ({state}), group {c['group']}",
                          c["partitions"]))
    return out


def audit(doc: dict) -> list:
    """`topics audit`: the counts, per partition (records, duplicates, share), per header value
    when split, and examples of duplicated keys."""
    dups = doc["duplicates"]
    window = doc["window"]
    pairs = [("records", doc["records"]), ("bytes", doc["bytes"]),
             ("partitions", f"{len(window['partitions'])}, {window['offsets']} offsets, "
                            f"ends fixed {time_form(window['ends_fixed_at'], 1)} UTC", TEXT)]
    if window["start"] or window["end"]:
        pairs.append(("window", f"{time_form(window['start'], 1) or 'log-start'} to "
                                f"{time_form(window['end'], 1) or 'end'} UTC", TEXT))
    if dups is None:
        pairs.append(("duplicates", "not checked: no --idempotency-header", TEXT))
    else:
        pairs += [("duplicates", f"{dups['records']} records of {dups['keys']} keys "
                                 f"(by {dups['header']})", TEXT),
                  ("on >1 partition", f"{dups['cross_partition_keys']} keys"),
                  ("max repeats", dups["max_repeats"]),
                  ("without key", dups["without_key"])]
    for header, n in doc["missing_headers"].items():
        pairs.append((f"without {header}", n))
    if doc["partition_skew"] is not None:
        pairs.append(("partition skew", f"{doc['partition_skew']} (largest / mean)"))
    schemas = doc["schemas"]
    if schemas is None:
        pairs.append(("schemas", "not checked: no schema registry", TEXT))
    else:
        ids = ", ".join(f"{s['id']}: {s['records']}" for s in schemas["ids"][:6])
        more = len(schemas["ids"]) - 6
        pairs.append(("schema ids", (ids or "none") + (f", +{more} more" if more > 0 else ""),
                      TEXT))
        pairs.append(("unknown ids", f"{', '.join(map(str, schemas['unknown_ids'])) or 'none'}"
                                     f" ({schemas['unknown_id_records']} records)", TEXT))
        pairs.append(("not wire format", schemas["not_wire_format"]))
        pairs.append(("tombstones", schemas["tombstones"]))
    out = [Pairs(doc["topic"], pairs), ""]
    out.append(Table(None, [Col("p", NUMBER), Col("start", NUMBER, optional=1),
                            Col("end", NUMBER, optional=1), Col("records", NUMBER),
                            Col("bytes", NUMBER), Col("dups", NUMBER), Col("share", NUMBER)], [
        (p["partition"], p["start"], p["end"], p["records"], p["bytes"],
         dash(p["duplicates"]), f"{p['share']:.1%}") for p in doc["partitions"]]))
    if doc["by"] is not None:
        groups = list(doc["by"].items())
        groups += [(f"({label})", doc[field]) for label, field in
                   (("no header", "by_absent"), ("other values", "by_other")) if doc[field]]
        out += ["", Table(f"by {doc['by_header']}", [
            Col("value", TEXT), Col("records", NUMBER), Col("dups", NUMBER),
            Col("keys", NUMBER), Col("x-part", NUMBER, optional=1),
            Col("max", NUMBER, optional=1), Col("missing", NUMBER)], [
            (name, e["records"],
             *((e["duplicates"]["records"], e["duplicates"]["keys"],
                e["duplicates"]["cross_partition_keys"], e["duplicates"]["max_repeats"])
               if e["duplicates"] else ("-",) * 4),
             sum(e["missing_headers"].values()))
            for name, e in groups])]
    if dups and dups["examples"]:
        out += ["", Table("duplicate examples", [
            Col("key", TEXT), Col("records", NUMBER), Col("at (p:offset)", TEXT)], [
            (("base64:" if e.get("key_encoding") == "base64" else "") + e["key"], e["records"],
             " ".join(f"{o['partition']}:{o['offset']}" for o in e["occurrences"][:3])
             + (f" +{e['records'] - 3}" if e["records"] > 3 else ""))
            for e in dups["examples"]])]
    return out
