"""`rehearse sink-outage`: the failure rehearsal of a sink connector. Stop it, let lag build for
the outage, resume it, and measure how long it takes to catch up — with the connector always
put back in its prior state, whatever happens (a failure, a timeout, Ctrl-C).

Planned first: the plan names the connector, its group, topics and lag, and refuses (exit 3)
an outage that could let records expire before the sink reads them (retention.ms shorter
than the sink's current delay + the outage + the catch-up allowance). Executed, it takes a
checkpoint of the connector first (a way back), samples the sink group's lag every second,
and returns a report."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings
from ..errors import NotFoundError, RefusedError
from ..files import audit
from ..inspection.groups import group_lag
from ..kafka import Admin, cluster_id, metadata
from ..parsing import format_time
from ..services.connect import Connect, is_sink, sink_group, sink_topics

SAMPLE_SECONDS = 1.0


@dataclass
class Target:
    connector: str
    state: str
    group: str
    topics: list[str]
    lag: int
    lag_seconds: float | None
    retention_ms: dict[str, int | None]  # None: no time-based deletion


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
    configs = metadata.topic_configs(admin, [t for t in topics
                                             if t in metadata.list_topics(admin)])
    retention = {}
    for t in topics:
        c = configs.get(t, {})
        ms = int(c.get("retention.ms", "-1") or -1)
        deletes = "delete" in (c.get("cleanup.policy") or "delete")
        retention[t] = ms if ms >= 0 and deletes else None
    ages = [p.lag_seconds for p in lag.partitions if p.lag_seconds is not None]
    return Target(name, status.state, group, topics, lag.total_lag,
                  max(ages) if ages else None, retention)


def _refusals(target: Target, outage_ms: int, catch_up_ms: int) -> list[str]:
    problems = []
    if target.state != "RUNNING":
        problems.append(f"connector {target.connector} is {target.state}; a rehearsal starts "
                        "from a RUNNING sink (resume it first, or rehearse another)")
    behind_ms = int((target.lag_seconds or 0) * 1000)
    for topic, ms in target.retention_ms.items():
        if ms is not None and behind_ms + outage_ms + catch_up_ms >= ms:
            problems.append(
                f"topic {topic} keeps records for {ms / 1000:g} s (retention.ms), but the "
                f"sink is {behind_ms / 1000:g} s behind and the outage plus its catch-up "
                f"allowance last up to {(outage_ms + catch_up_ms) / 1000:g} s: records could "
                "expire before the sink reads them; shorten --outage or --catch-up-timeout")
    return problems


def plan(settings: Settings, connector: str, outage_ms: int, catch_up_ms: int) -> dict:
    """What the rehearsal would do; RefusedError (exit 3) when it must not run."""
    admin = Admin(settings)
    connect = Connect(settings)
    target = _target(settings, admin, connect, connector)
    doc = {
        "executed": False, "connector": connector, "state": target.state,
        "group": target.group, "topics": target.topics, "lag": target.lag,
        "lag_seconds": target.lag_seconds,
        "retention_ms": target.retention_ms,
        "outage_seconds": outage_ms / 1000, "catch_up_timeout_seconds": catch_up_ms / 1000,
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
    problems = _refusals(target, outage_ms, catch_up_ms)
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
