"""`ingestctl wave status`: one operating view of a migration wave, once or live (--watch),
with an optional gate (exit 6 naming each condition that does not hold)."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.text import Text

from .. import secrets
from .context import app_context
from .options import Dir
from .render import dash, duration, emit, make_table, note, stdout

app = typer.Typer(
    help="A migration wave as one operating view: topics, groups, connectors, replays and "
    "schema changes since its newest checkpoint.",
    no_args_is_help=True,
)

_SPARKS = "▁▂▃▄▅▆▇█"
_ARROWS = {"rising": "↑", "falling": "↓", "steady": "→", None: " "}
_STATE_STYLES = {"RUNNING": "green", "PAUSED": "yellow", "STOPPED": "yellow",
                 "FAILED": "bold red", "UNASSIGNED": "red", "RESTARTING": "yellow"}


def sparkline(values: list[int]) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return _SPARKS[0] * len(values)
    return "".join(_SPARKS[round((v - low) / (high - low) * (len(_SPARKS) - 1))]
                   for v in values)


def _styled_state(state: str | None) -> Text:
    return Text(state or "unknown", style=_STATE_STYLES.get(state or "", "red"))


def render(doc: dict) -> list:
    """The wave as rich renderables (the table view, and each frame of --watch)."""
    since = doc["since_checkpoint"] or "no checkpoint"
    out = [Text(f"wave {doc['wave']}  at {doc['at']}  since {since}", style="bold")]
    if doc["groups"]:
        table = make_table("groups", ["group", "state", "members", "lag", "behind", "consumed",
                                      "trend", ""], [])
        for g in doc["groups"]:
            table.add_row(
                g["group"], g["state"], str(g["members"]), str(dash(g["lag"])),
                duration(g["lag_seconds"]) if g["lag_seconds"] is not None else "-",
                str(dash(g["consumed_since_checkpoint"])),
                sparkline([s["lag"] for s in g["lag_trend"]]),
                _ARROWS[g["lag_direction"]])
        out.append(table)
    if doc["topics"]:
        out.append(make_table("topics", ["topic", "partitions", "end", "produced", "rate/s",
                                         "replay window from"], [
            (t["topic"], t["partitions"], t["end"], dash(t["produced_since_checkpoint"]),
             dash(t["rate_per_sec"]), t["replay_window"]["oldest_timestamp"] or "-")
            for t in doc["topics"]]))
    if doc["connectors"]:
        table = make_table("connectors", ["connector", "type", "state", "tasks", "failed",
                                          "group", "lag"], [])
        for c in doc["connectors"]:
            tasks = Text(", ").join(
                Text(f"{t['id']}:{t['state']}", style=_STATE_STYLES.get(t["state"], "red"))
                for t in c["tasks"]) if c["tasks"] else Text("none")
            table.add_row(c["connector"], c["type"] or "-", _styled_state(c["state"]), tasks,
                          str(c["failed_tasks"]), c["group"] or "-", str(dash(c["total_lag"])))
        out.append(table)
    if doc["replays"]:
        out.append(make_table("replays", ["replay", "status", "done", "total", "records/s",
                                          "eta"], [
            (r["replay_id"], r["status"], r["done"], r["total"], dash(r["records_per_sec"]),
             duration(r["eta_seconds"]) if r["eta_seconds"] is not None else "-")
            for r in doc["replays"]]))
    if doc["schemas_changed"]:
        out.append(make_table("schemas changed", ["subject or partition", "from", "to"], [
            (s.get("subject") or f"{s['topic']}[{s['partition']}]", json.dumps(s["from"]),
             json.dumps(s["to"])) for s in doc["schemas_changed"]]))
    if doc["gate"] is not None:
        lines = Text("gate: ", style="bold")
        lines.append("passed" if doc["gate"]["passed"] else "not met",
                     style="green" if doc["gate"]["passed"] else "bold red")
        for c in doc["gate"]["conditions"]:
            lines.append(f"\n  {'✓' if c['passed'] else '✗'} {c['condition']}",
                         style="green" if c["passed"] else "red")
            for reason in c["failures"]:
                lines.append(f"\n      {reason}")
        out.append(lines)
    return out


def _json_line(doc: dict) -> None:
    sys.stdout.write(json.dumps(secrets.scrub_data(doc)) + "\n")
    sys.stdout.flush()


def _yaml_document(doc: dict) -> None:
    import yaml

    sys.stdout.write(yaml.safe_dump(secrets.scrub_data(doc), sort_keys=False,
                                    allow_unicode=True, explicit_start=True))
    sys.stdout.flush()


@app.command("status")
def status(
    ctx: typer.Context,
    wave: Annotated[str, typer.Argument(help="The wave's name.", show_default=False)],
    plan: Annotated[Path | None, typer.Option(
        "--plan", help="Wave plan file naming the wave's topics, groups and connectors "
        "(default: those of the wave's newest checkpoint).")] = None,
    directory: Dir = None,
    watch: Annotated[str | None, typer.Option(
        "--watch", metavar="INTERVAL", help="Redraw every INTERVAL (e.g. 5s) until Ctrl-C; "
        "without a terminal (or with -o json) one JSON document per line per interval.")
    ] = None,
    gate: Annotated[list[str] | None, typer.Option(
        "--gate", metavar="CONDITIONS", help="Exit 6 unless every condition holds: "
        "max-lag=N, max-lag-seconds=S, connectors=running, replays=done, schemas=unchanged "
        "(comma-separated or repeated). With --watch: wait until they hold.")] = None,
    timeout: Annotated[str | None, typer.Option(
        "--timeout", metavar="DURATION", help="With --watch: stop after this long (e.g. 15m); "
        "with --gate, exit 6 if it still does not hold (default 10m).")] = None,
) -> None:
    """The wave's topics (end, produced since its newest checkpoint, rate, replay window),
    consumer groups (lag in records and seconds, consumed since the checkpoint, trend),
    connectors (state, tasks, sink lag), the replays reading or writing its topics, and the
    schemas changed since the checkpoint. With no checkpoint yet the *_since_checkpoint
    fields are null (said on stderr)."""
    from ..checkpoints import checkpoint_dir
    from ..errors import IncompleteError, UsageError
    from ..inspection import wave as wave_view
    from ..parsing import parse_duration_ms

    state = app_context(ctx)
    conditions = wave_view.parse_gate(gate) if gate else None
    interval_s = parse_duration_ms(watch, "--watch") / 1000 if watch is not None else None
    if interval_s is not None and interval_s <= 0:
        raise UsageError("--watch: give an interval above zero, e.g. 5s.")
    if timeout is not None and interval_s is None:
        raise UsageError("--timeout applies to --watch only; add --watch INTERVAL (or leave "
                         "--timeout out).")
    timeout_s = parse_duration_ms(timeout, "--timeout") / 1000 if timeout is not None else (
        600.0 if conditions and interval_s is not None else None)
    directory = checkpoint_dir(directory, state.settings)
    scope, baseline = wave_view.resolve_scope(wave, plan, directory)
    viewer = wave_view.WaveStatus(state.settings, wave, scope, baseline, conditions)

    def say_notes() -> None:
        for message in viewer.take_notes():
            note(message)

    if interval_s is None:
        doc = viewer.sample()
        say_notes()
        emit(state.output, doc, render)
        _finish(doc)
        return

    _interruptible()
    live_view = state.output == "table" and sys.stdout.isatty()
    last: dict | None = None
    try:
        if live_view:
            from rich.live import Live

            with Live(Text("sampling…"), console=stdout(), refresh_per_second=4,
                      auto_refresh=False) as live:
                def on_sample(doc: dict) -> None:
                    nonlocal last
                    last = doc
                    say_notes()
                    live.update(Group(*render(doc)), refresh=True)

                last = wave_view.watch(viewer, interval_s, timeout_s, on_sample)
        else:
            write = _yaml_document if state.output == "yaml" else _json_line

            def on_sample(doc: dict) -> None:
                nonlocal last
                last = doc
                say_notes()
                write(doc)

            last = wave_view.watch(viewer, interval_s, timeout_s, on_sample)
    except KeyboardInterrupt:
        if conditions and last is not None and not last["gate"]["passed"]:
            message, details = wave_view.gate_message(last["gate"])
            raise IncompleteError("interrupted before the gate held; " + message,
                                  details) from None
        note("stopped.")
        return
    if last is not None:
        if conditions is None:
            return
        if not last["gate"]["passed"]:
            message, details = wave_view.gate_message(last["gate"])
            raise IncompleteError(f"{message[:-1]} after {timeout or '10m'}; wait longer "
                                  "with a larger --timeout.", details)


def _interruptible() -> None:
    """SIGINT ends a watch (Ctrl-C, or `kill -INT` from a script), also when the shell
    started it in the background with SIGINT ignored."""
    import signal
    import threading

    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _finish(doc: dict) -> None:
    from ..errors import IncompleteError
    from ..inspection.wave import gate_message

    if doc["gate"] is not None and not doc["gate"]["passed"]:
        message, details = gate_message(doc["gate"])
        raise IncompleteError(message, details)
