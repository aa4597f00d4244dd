"""`rehearse sink-outage`: the failure rehearsal of a sink connector. Stop it, let lag build for
the outage, resume it, and measure how long it takes to catch up — with the connector always
put back in its prior state, whatever happens (a failure, a timeout, Ctrl-C).

Planned first: the plan names the connector, its tasks, group, topics and lag, and the
topics' ingest rate (records/s, and bytes/s estimated from the newest records' size; see
inspection/ingest.py). It refuses (exit 3, see `refusals`) a connector or task that is not
RUNNING, and an outage that could let records expire before the sink reads them: a topic's
retention.ms, or its retention.bytes at a partition's current bytes/s, shorter than the
sink's current delay + the outage + the catch-up allowance + 10 minutes. The issue asks for
outage + catch-up + 10 minutes; the sink's delay is added because the records it has not read
yet are the ones at risk. Executed, it takes a checkpoint of the connector first (a way
back), samples the sink group's lag every second, and returns a report."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings
from ..errors import NotFoundError, RefusedError
from ..files import audit
from ..inspection.groups import group_lag
from ..inspection.ingest import Ingest
from ..inspection.ingest import measure as measure_ingest
from ..kafka import Admin, cluster_id, metadata
from ..parsing import format_time
from ..services.connect import Connect, is_sink, sink_group, sink_topics

SAMPLE_SECONDS = 1.0


MARGIN_MS = 10 * 60_000  # retention must outlast the rehearsal by this much


@dataclass
class Target:
    connector: str
    state: str
    tasks: list[tuple[int, str]]  # (task id, state)
    group: str
    topics: list[str]
    lag: int
    lag_seconds: float | None
    retention_ms: dict[str, int | None]  # None: no time-based deletion
    retention_bytes: dict[str, int | None]  # per partition; None: no size-based deletion
    ingest: Ingest


def _target(settings: Settings, admin: Admin, connect: Connect, name: str) -> Target:
    overview = connect.overview()
    if name not in overview:
        raise NotFoundError(f"connector {name} does not exist on Kafka Connect at "
                            f"{connect.url}; `ingestctl connectors list` shows the ones it has.")
    status, config = overview[name]
    if not is_sink(status, config):
        raise RefusedError(f"connector {name} is a source connector; a sink outage is "
                           "rehearsed on a sink.")
    group = sink_group(name, config)
    lag = group_lag(admin, [group])[group]
    topics = sink_topics(config) or lag.topics
    known = metadata.list_topics(admin)
    configs = metadata.topic_configs(admin, [t for t in topics if t in known])
    retention_ms, retention_bytes = {}, {}
    for t in topics:
        c = configs.get(t, {})
        deletes = "delete" in (c.get("cleanup.policy") or "delete")
        ms = int(c.get("retention.ms") or -1)
        size = int(c.get("retention.bytes") or -1)
        retention_ms[t] = ms if ms >= 0 and deletes else None
        retention_bytes[t] = size if size >= 0 and deletes else None
    ages = [p.lag_seconds for p in lag.partitions if p.lag_seconds is not None]
    ingest = measure_ingest(admin, [(t, p) for t in topics if t in known
                                    for p in known[t].partitions])
    return Target(name, status.state, [(t.id, t.state) for t in status.tasks], group, topics,
                  lag.total_lag, max(ages) if ages else None, retention_ms, retention_bytes,
                  ingest)


def _s(ms: float) -> str:
    """Milliseconds as seconds for a sentence: 60000 -> '60', 1500 -> '1.5'."""
    return f"{ms / 1000:.3f}".rstrip("0").rstrip(".")


def needed_ms(target: Target, outage_ms: int, catch_up_ms: int) -> int:
    """How long retention must keep records: the sink's current delay (the records it has not
    read yet are the ones at risk) + the outage + the catch-up allowance + MARGIN_MS."""
    return int((target.lag_seconds or 0) * 1000) + outage_ms + catch_up_ms + MARGIN_MS


def refusals(target: Target, outage_ms: int, catch_up_ms: int) -> list[str]:
    """One sentence per reason the rehearsal must not run: what is wrong, and what to do."""
    problems = []
    name = target.connector
    if target.state in ("PAUSED", "STOPPED"):
        problems.append(f"connector {name} is {target.state}; a rehearsal starts from a "
                        f"RUNNING sink: resume it first (`ingestctl connectors resume {name} "
                        "--execute`), or rehearse another")
    elif target.state != "RUNNING":
        problems.append(f"connector {name} is {target.state}; a rehearsal starts from a "
                        f"RUNNING sink: restart it first (`ingestctl connectors restart {name} "
                        "--execute`), or rehearse another")
    elif not target.tasks:
        problems.append(f"connector {name} has no tasks, so nothing reads its topics; wait "
                        "until Kafka Connect has started them (`ingestctl connectors describe "
                        f"{name}`)")
    else:
        down = [f"{task} {state}" for task, state in target.tasks if state != "RUNNING"]
        if down:
            problems.append(
                f"connector {name} is RUNNING but its task(s) {', '.join(down)} are not: "
                "the rehearsal would restart them at its end, not put the sink back as it "
                f"was, and a broken sink measures nothing; restart them first (`ingestctl "
                f"connectors restart {name} --execute`) and rehearse once every task runs")
    behind_ms = int((target.lag_seconds or 0) * 1000)
    need = needed_ms(target, outage_ms, catch_up_ms)
    why = (f"the sink is {_s(behind_ms)} s behind, the outage and its catch-up allowance last "
           f"up to {_s(outage_ms + catch_up_ms)} s, plus a {_s(MARGIN_MS)} s margin")
    for topic in target.topics:
        ms = target.retention_ms.get(topic)
        if ms is not None and ms < need:
            problems.append(
                f"topic {topic} keeps records for {_s(ms)} s (retention.ms), less than the "
                f"{_s(need)} s the rehearsal needs ({why}): records could expire before the "
                "sink reads them; shorten --outage or --catch-up-timeout, or raise the "
                f"topic's retention.ms to at least {need}")
        size = target.retention_bytes.get(topic)
        if size is None:
            continue
        # A partition with no ingest (or no record to size) cannot fill up by bytes.
        short = [p for p in target.ingest.of_topic(topic)
                 if p.bytes_per_sec and size / p.bytes_per_sec * 1000 < need]
        if short:
            rate = max(p.bytes_per_sec for p in short)
            worst = next(p for p in short if p.bytes_per_sec == rate)
            lasts_ms = size / rate * 1000
            partitions = ", ".join(str(p.partition) for p in short)
            problems.append(
                f"topic {topic} keeps {size} bytes per partition (retention.bytes); at the "
                f"current ingest, partition(s) {partitions} fill that in less than the "
                f"{_s(need)} s the rehearsal needs ({why}): partition {worst.partition} writes "
                f"about {rate:.0f} bytes/s and fills it in {_s(round(lasts_ms, -2))} s; "
                "records could be deleted before the sink reads them; shorten --outage or "
                "--catch-up-timeout, or raise the topic's retention.bytes to at least "
                f"{int(rate * need / 1000) + 1}")
    return problems


def _ingest_doc(target: Target) -> dict:
    """Per topic: records/s and bytes/s, and per partition also the newest records' mean size
    and how long retention.bytes lasts at that rate (null: no limit, or no ingest)."""
    out = {}
    for topic in target.topics:
        rows = []
        for p in target.ingest.of_topic(topic):
            size = target.retention_bytes.get(topic)
            lasts = (round(size / p.bytes_per_sec, 1) if size is not None and p.bytes_per_sec
                     else None)
            rows.append({"partition": p.partition,
                         "ingest_rate_per_sec": round(p.records_per_sec, 1),
                         "ingest_bytes_per_sec": _round(p.bytes_per_sec),
                         "record_bytes": _round(p.record_bytes),
                         "retention_bytes_lasts_seconds": lasts})
        known = [r["ingest_bytes_per_sec"] for r in rows]
        out[topic] = {
            "ingest_rate_per_sec": round(sum(r["ingest_rate_per_sec"] for r in rows), 1),
            "ingest_bytes_per_sec": (None if None in known else round(sum(known), 1)),
            "partitions": rows}
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def plan(settings: Settings, connector: str, outage_ms: int, catch_up_ms: int) -> dict:
    """What the rehearsal would do; RefusedError (exit 3) when it must not run."""
    admin = Admin(settings)
    connect = Connect(settings)
    target = _target(settings, admin, connect, connector)
    by_topic = _ingest_doc(target)
    known = [t["ingest_bytes_per_sec"] for t in by_topic.values()]
    doc = {
        "executed": False, "connector": connector, "state": target.state,
        "tasks": [{"id": task, "state": state} for task, state in target.tasks],
        "group": target.group, "topics": target.topics, "lag": target.lag,
        "lag_seconds": target.lag_seconds,
        "ingest_rate_per_sec": round(target.ingest.records_per_sec, 1),
        "ingest_bytes_per_sec": None if None in known else round(sum(known), 1),
        "ingest_sample_seconds": target.ingest.seconds,
        "retention_ms": target.retention_ms, "retention_bytes": target.retention_bytes,
        "retention_needed_seconds": needed_ms(target, outage_ms, catch_up_ms) / 1000,
        "outage_seconds": outage_ms / 1000, "catch_up_timeout_seconds": catch_up_ms / 1000,
        "ingest_by_topic": by_topic,
        "steps": [
            f"checkpoint connector {connector} (its state and offsets: a way back)",
            f"stop {connector} and sample its group's lag every second for "
            f"{outage_ms / 1000:g} s",
            f"resume {connector} and sample until it has read everything written during the "
            f"outage, or {catch_up_ms / 1000:g} s pass",
            f"put {connector} back in its prior state ({target.state}), also on failure or "
            "Ctrl-C",
        ],
    }
    problems = refusals(target, outage_ms, catch_up_ms)
    if problems:
        raise RefusedError("refused: the rehearsal could lose records or start from the "
                           "wrong state; nothing changed.", problems)
    return doc


@dataclass
class _Run:
    samples: list[dict] = field(default_factory=list)
    peak: int = 0
    stopped_at: float | None = None
    resumed_at: float | None = None
    progress_at: float | None = None  # the first sample after the resume with offsets moved
    caught_up_at: float | None = None
    ends_at_stop: dict | None = None  # (topic, partition) -> end offset
    ends_at_resume: dict | None = None
    committed_at_resume: int | None = None
    committed_at_catch_up: int | None = None


def execute(settings: Settings, connector: str, outage_ms: int, catch_up_ms: int,
            checkpoint_dir: Path, progress: Callable[[str], None] = lambda _m: None) -> dict:
    """Run the rehearsal; returns the report (ended: caught-up, timeout, interrupted or
    failed). The connector is put back in its prior state before this returns or raises;
    KeyboardInterrupt is re-raised after that, with the report in `exc.report`."""
    from .. import checkpoints

    doc = plan(settings, connector, outage_ms, catch_up_ms)
    admin = Admin(settings)
    connect = Connect(settings)
    cluster = cluster_id(admin)
    audit.prepare(checkpoint_dir)
    group, lag_before, state_before = doc["group"], doc["lag"], doc["state"]
    cp = checkpoints.capture(settings, f"rehearsal-{connector}", connectors=[connector],
                             note=f"before a {outage_ms / 1000:g} s sink-outage rehearsal")
    cp_path = checkpoints.write(cp, checkpoint_dir)
    progress(f"checkpoint of {connector} written to {cp_path}")
    run = _Run()
    began = time.monotonic()

    def sample() -> tuple[int, dict, dict]:
        lag = group_lag(admin, [group])[group]
        ends = {(p.topic, p.partition): p.end or 0 for p in lag.partitions}
        committed = {(p.topic, p.partition): p.committed or 0 for p in lag.partitions}
        run.samples.append({"at": format_time(time.time_ns() // 1_000_000),
                            "lag": lag.total_lag})
        run.peak = max(run.peak, lag.total_lag)
        return lag.total_lag, ends, committed

    ended, interrupted, error = "failed", None, None
    try:
        audit.record(checkpoint_dir, "rehearse sink-outage", cluster, connector=connector,
                     step="stop", state_before=state_before, checkpoint=str(cp_path))
        connect.stop(connector)
        connect.wait_for_state(connector, "STOPPED")
        run.stopped_at = time.monotonic()
        progress(f"{connector} stopped; lag builds for {outage_ms / 1000:g} s")
        _, run.ends_at_stop, _ = sample()
        time.sleep(SAMPLE_SECONDS)
        _every_second(run.stopped_at + outage_ms / 1000, lambda: sample() and False)
        _, run.ends_at_resume, committed = sample()
        run.committed_at_resume = sum(committed.values())
        connect.resume(connector)
        run.resumed_at = time.monotonic()
        connect.wait_for_state(connector, "RUNNING")
        progress(f"{connector} resumed; waiting until it has read what was written during "
                 "the outage")

        def caught_up() -> bool:
            _, _, committed = sample()
            if run.progress_at is None and sum(committed.values()) > run.committed_at_resume:
                run.progress_at = time.monotonic()
            if all(committed.get(tp, 0) >= end for tp, end in run.ends_at_resume.items()):
                run.caught_up_at = time.monotonic()
                run.committed_at_catch_up = sum(committed.values())
                return True
            return False

        ended = "caught-up" if _every_second(run.resumed_at + catch_up_ms / 1000,
                                             caught_up) else "timeout"
    except KeyboardInterrupt as exc:
        ended, interrupted = "interrupted", exc
    except Exception as exc:  # noqa: BLE001 - restored, reported, re-raised below
        error = exc
    finally:
        state_after = _restore(connect, connector, state_before)
    report = _report(doc, run, began, lag_before, state_before, state_after, cp_path, ended)
    audit.record(checkpoint_dir, "rehearse sink-outage", cluster, connector=connector,
                 step="end", ended=ended, state_after=state_after,
                 peak_lag=report["peak_lag"], catch_up_seconds=report["catch_up_seconds"])
    if interrupted is not None:
        interrupted.report = report
        raise interrupted
    if error is not None:
        error.report = report
        raise error
    return report


def _every_second(deadline: float, check: Callable[[], bool]) -> bool:
    """Call check() about every second until it returns True (-> True) or the deadline."""
    while True:
        began = time.monotonic()
        if check():
            return True
        if began >= deadline:
            return False
        time.sleep(max(0.0, min(SAMPLE_SECONDS - (time.monotonic() - began),
                                deadline - time.monotonic())))


def _restore(connect: Connect, connector: str, state_before: str) -> str | None:
    """Put the connector back in its prior state (RUNNING: a rehearsal starts from there)."""
    try:
        current = connect.status(connector)
        if current.state != state_before or any(t.state != state_before
                                                 for t in current.tasks):
            if state_before == "RUNNING" and current.state in ("STOPPED", "PAUSED"):
                connect.resume(connector)
            elif state_before == "RUNNING":
                connect.restart(connector, only_failed=True)
            current = connect.wait_for_state(connector, state_before)
        return current.state
    except KeyboardInterrupt:
        # A second Ctrl-C while restoring: say what is left to do rather than hide it.
        return None
    except Exception:  # noqa: BLE001 - the report says the state is unknown
        return None


def _report(doc: dict, run: _Run, began: float, lag_before: int, state_before: str,
            state_after: str | None, cp_path: Path, ended: str) -> dict:
    def span(a: float | None, b: float | None) -> float | None:
        return round(b - a, 3) if a is not None and b is not None else None

    outage = span(run.stopped_at, run.resumed_at)
    ingest = None
    if outage and run.ends_at_stop is not None and run.ends_at_resume is not None:
        written = sum(run.ends_at_resume.values()) - sum(run.ends_at_stop.values())
        ingest = round(written / outage, 1)
    catch_up = span(run.resumed_at, run.caught_up_at)
    catch_up_rate = None
    if catch_up and run.committed_at_catch_up is not None:
        catch_up_rate = round((run.committed_at_catch_up - run.committed_at_resume) / catch_up,
                              1)
    return {
        "executed": True, "connector": doc["connector"], "group": doc["group"],
        "topics": doc["topics"], "lag_before": lag_before, "peak_lag": max(run.peak, lag_before),
        "outage_seconds": outage,
        "no_progress_seconds": span(run.stopped_at, run.progress_at or run.caught_up_at),
        "ingest_rate_per_sec": ingest, "catch_up_seconds": catch_up,
        "catch_up_rate_per_sec": catch_up_rate, "state_before": state_before,
        "state_after": state_after, "checkpoint": str(cp_path), "ended": ended,
        "duration_seconds": round(time.monotonic() - began, 3), "samples": run.samples,
    }
