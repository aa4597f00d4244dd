"""`ingestctl rehearse sink-outage`: the failure rehearsal of a sink connector."""

import json
from pathlib import Path
from typing import Annotated

import typer

from .context import app_context
from .options import Dir
from .render import emit, key_values, note

app = typer.Typer(
    help="Failure rehearsals: make a failure happen on purpose, measure the recovery, and "
    "put everything back.",
    no_args_is_help=True,
)


def _table(doc: dict):
    from .render import NUMBER, TEXT, Col, Table, dash
    from .views import size, tasks_text

    keep = {k: v for k, v in doc.items()
            if k not in ("samples", "steps", "tasks", "ingest_by_topic")}
    pairs = [(k.replace("_", " "), json.dumps(v) if isinstance(v, dict | list) else v)
             for k, v in keep.items()]
    if "tasks" in doc:
        pairs.insert(3, ("tasks", tasks_text(doc["tasks"])))
    out = [key_values(doc["connector"], pairs)]
    if doc.get("ingest_by_topic"):
        out.append(Table("ingest", [
            Col("topic", TEXT), Col("p", NUMBER), Col("records/s", NUMBER),
            Col("bytes/s", NUMBER), Col("record size", NUMBER),
            Col("retention.bytes lasts (s)", NUMBER)], [
            (topic, p["partition"], p["ingest_rate_per_sec"], size(p["ingest_bytes_per_sec"]),
             size(p["record_bytes"]), dash(p["retention_bytes_lasts_seconds"]))
            for topic, t in doc["ingest_by_topic"].items() for p in t["partitions"]]))
    for step in doc.get("steps", []):
        out.append(f"  - {step}")
    return out


@app.command("sink-outage")
def sink_outage(
    ctx: typer.Context,
    connector: Annotated[str, typer.Option("--connector", help="The sink connector.",
                                           show_default=False)],
    outage: Annotated[str, typer.Option("--outage", help="How long the sink stays stopped, "
                                        "e.g. 30s, 5m.", show_default=False)],
    catch_up_timeout: Annotated[str, typer.Option(
        "--catch-up-timeout", help="How long to wait, after the resume, for the sink to read "
        "what was written during the outage (then exit 6).")] = "10m",
    report: Annotated[Path | None, typer.Option(
        "--report", help="Also write the report (JSON) to this file.")] = None,
    directory: Dir = None,
    execute: Annotated[bool, typer.Option(
        "--execute", help="Run the rehearsal (without it: the plan only).")] = False,
) -> None:
    """Stop a sink connector for --outage, sample its group's lag every second, resume it,
    and measure how long it takes to read what was written meanwhile. The connector always
    ends in its prior state (Ctrl-C included). The plan shows the topics' ingest rate
    (records/s, bytes/s). Refused (exit 3) when the connector or a task is not RUNNING, or a
    topic's retention.ms, or its retention.bytes at the current bytes/s, is shorter than the
    sink's delay + --outage + --catch-up-timeout + 10 minutes. Report: lag_before,
    peak_lag, outage_seconds, no_progress_seconds, ingest_rate_per_sec, catch_up_seconds,
    catch_up_rate_per_sec, state_before, state_after, checkpoint, ended, samples."""
    from ..checkpoints import checkpoint_dir
    from ..errors import IncompleteError
    from ..files.fs import atomic_write, private_dir
    from ..operations import rehearsal
    from ..parsing import parse_duration_ms

    state = app_context(ctx)
    outage_ms = parse_duration_ms(outage, "--outage")
    catch_up_ms = parse_duration_ms(catch_up_timeout, "--catch-up-timeout")
    if not execute:
        doc = rehearsal.plan(state.settings, connector, outage_ms, catch_up_ms)
        emit(state.output, doc, _table)
        note("nothing changed; add --execute")
        return

    def write_report(doc: dict) -> None:
        if report is not None:
            atomic_write(report, json.dumps(doc, indent=2) + "\n", tighten_dir=False)
            note(f"report written to {report}")

    if report is not None and report.parent.is_dir():
        # The report is written after the rehearsal: refuse a directory it could not be
        # written into (one others can read) now, before the connector is stopped. One
        # that does not exist yet is made private when the report is written.
        private_dir(report.parent, tighten=False)
    try:
        doc = rehearsal.execute(state.settings, connector, outage_ms, catch_up_ms,
                                checkpoint_dir(directory, state.settings), progress=note)
    except BaseException as exc:
        partial = getattr(exc, "report", None)
        if partial is not None:
            write_report(partial)
            note(f"{connector} is {partial['state_after'] or 'in an unknown state'} again "
                 f"(it was {partial['state_before']}).")
        raise
    write_report(doc)
    emit(state.output, doc, _table)
    if doc["state_after"] != doc["state_before"]:
        note(f"warning: {connector} is {doc['state_after']}, not {doc['state_before']} as "
             "before; check it with `ingestctl connectors describe`.")
    if doc["ended"] == "timeout":
        raise IncompleteError(
            f"{connector} had not read what was written during the outage after "
            f"{catch_up_timeout}; it is {doc['state_after']} again. See the report's samples.")
