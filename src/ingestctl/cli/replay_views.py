"""View builders of `replay` (plan and summary), `replay status` and `replay list`: pure
functions from the JSON document to render views (see cli/views.py)."""

from .render import IDENT, NUMBER, STATE, TEXT, TIME, Col, Pairs, Table
from .views import size

_PARTITION_COLUMNS = {"partition", "start", "end", "next", "records", "bytes", "filtered",
                      "invalid", "duplicates", "missing_key"}


# Per-partition counts the summary above the table also totals: left out of the table when it
# would not fit otherwise (JSON keeps them).
_SECONDARY = {"filtered", "invalid", "duplicates", "missing_key"}


def _partitions(rows: list[dict], columns: list[str]) -> Table:
    return Table(None, [Col(c, NUMBER if c in _PARTITION_COLUMNS else IDENT,
                            optional=1 if c in _SECONDARY else 0) for c in columns],
                 [tuple(r.get(c, "") for c in columns) for r in rows])


def _validation_text(validation: dict | None) -> str:
    if validation is None:
        return "no: bytes are copied as they are"
    policy = validation["on_invalid"]
    if validation["dead_letter_topic"]:
        policy += f" to {validation['dead_letter_topic']}"
    return f"{validation['format']}, invalid records: {policy}"


def _dedupe_text(dedupe: dict | None) -> str:
    if dedupe is None:
        return "no"
    horizon = dedupe["horizon_seconds"]
    text = (f"by header {dedupe['header']}, "
            + (f"within {horizon:g} s of a written copy" if horizon is not None
               else "over the whole window"))
    if dedupe["scope"] == "shard":  # first: a table may cut the end of the line
        text = (f"per shard ({dedupe['shards']} shards), {text}: a key repeated on a "
                "partition of another shard is written once in each")
    return text


def _ends(d: dict) -> list[tuple]:
    """The two topics and their clusters, each on a line of its own: a topic may be cut to
    fit, a cluster id never."""
    return [("from", d["source"]["topic"], TEXT),
            ("source cluster", d["source"]["cluster_id"], IDENT),
            ("to", d["target"]["topic"] + ("" if d["target"].get("exists", True)
                                           else " — will be created"), TEXT),
            ("target cluster", d["target"]["cluster_id"], IDENT)]


def plan(d: dict) -> list:
    quota = d["quota"]
    limits = [f"{size(quota['bytes_per_second'])}/s" if quota["bytes_per_second"] else None,
              f"{quota['records_per_second']:g} records/s" if quota["records_per_second"]
              else None]
    eta = d["estimated_duration_seconds"]
    return [
        Pairs("replay plan (nothing is written without --execute)", [
            ("replay id", d["replay_id"], IDENT), *_ends(d),
            ("mode", d["mode"], STATE), ("partitioning", d["partitioning"], STATE),
            ("records", d["records"]),
            ("bytes", f"≈ {size(d['bytes'])} (estimate from {d['bytes_sampled_records']} "
                      "sampled records)", TEXT),
            ("quota", ", ".join(x for x in limits if x) or "none", IDENT),
            ("estimated duration", f"{eta:.0f} s" if eta is not None else "unthrottled",
             IDENT),
            ("resumes", "yes: progress is stored for this replay" if d["resumes"] else "no",
             TEXT),
            ("validate", _validation_text(d["validation"]), TEXT),
            ("dedupe", _dedupe_text(d["dedupe"]), TEXT),
        ]),
        _partitions(d["partitions"], ["partition", "start", "end", "records", "bytes"]),
    ]


def summary(d: dict) -> list:
    resumed = ", ".join(f"{r['partition']}:{r['offset']}" for r in d["resumed_from"])
    columns = ["partition", "start", "end", "next", "records", "bytes", "filtered", "invalid"]
    counts = [("filtered", d["filtered"]), ("invalid", d["invalid"])]
    if d.get("dedupe"):
        columns += ["duplicates", "missing_key"]
        counts += [("duplicates", d["duplicates"]), ("missing key", d["missing_key"]),
                   ("dedupe", _dedupe_text(d["dedupe"]), TEXT)]
    return [
        Pairs(f"replay {d['status']}", [
            ("replay id", d["replay_id"], IDENT), *_ends(d),
            ("mode", d["guarantee"], TEXT),
            ("records", d["records"]), ("bytes", size(d["bytes"]), IDENT),
            *counts,
            ("validate", _validation_text(d["validation"]), TEXT),
            ("this run", f"{d['this_run']['records']} records, "
                         f"{size(d['this_run']['bytes'])} in {d['duration_seconds']:.1f} s "
                         f"({size(d['rate_bytes_per_second'])}/s)", TEXT),
            ("resumed from", resumed or "-", TEXT),
        ]),
        _partitions(d["partitions"], columns),
    ]


def status(d: dict) -> list:
    return [
        Pairs(f"replay {d['replay_id']}: {d['status']}", [
            ("from", (d["source"] or {}).get("topic"), TEXT),
            ("to", (d["target"] or {}).get("topic"), TEXT),
            ("mode", d["mode"], STATE), ("shards", d["shards"]),
            ("created", d["created_at"], IDENT), ("updated", d["updated_at"], IDENT),
            ("records", d["records"]), ("bytes", size(d["bytes"]), IDENT),
            ("filtered", d["filtered"]), ("invalid", d["invalid"]),
            ("remaining offsets", d["remaining_offsets"]),
        ]),
        _partitions(d["partitions"], ["partition", "start", "end", "next", "records", "bytes",
                                      "filtered", "invalid"]),
    ]


def listing(rows: list[dict]) -> list:
    return [Table(None, [
        Col("replay"), Col("status", STATE), Col("source", TEXT), Col("target", TEXT),
        Col("records", NUMBER), Col("filtered", NUMBER, optional=1),
        Col("invalid", NUMBER, optional=1), Col("remaining", NUMBER, optional=1),
        Col("updated", TIME)], [
        (r["replay_id"], r["status"], (r["source"] or {}).get("topic"),
         (r["target"] or {}).get("topic"), r["records"], r["filtered"], r["invalid"],
         r["remaining_offsets"], r["updated_at"])
        for r in rows])]
