"""Real failures during replays and rollbacks, on a sandbox broker of this module's own (it
is stopped and restarted): the broker restarting mid-replay, the replay process frozen past
its transaction timeout, a group that comes alive between plan and apply, and a broker that
is down when a rollback is applied. After each, the read_committed verifier of the replay
tests finds every window record exactly once, or the group's offsets are as they were."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.kafkautil import commit, committed, create_topic, produce
from support.names import unique
from support.replay import copies, freeze_inside_a_transaction, wait_for_progress
from support.rollbackutil import member

from ingestctl import sandbox
from ingestctl.errors import ExitCode

PARTITIONS = range(3)
PER_PARTITION = 300


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("sandbox-faults")
    status = sandbox.start(data_dir=data_dir, port=sandbox.free_port())
    try:
        yield data_dir, status.bootstrap
    finally:
        sandbox.stop(data_dir)


def window(bootstrap: str) -> tuple[str, str]:
    """A source topic of 900 records (~190 B each once copied) and an empty target."""
    src, dst = unique("fault-src"), unique("fault-dst")
    create_topic(bootstrap, src, len(PARTITIONS))
    create_topic(bootstrap, dst, len(PARTITIONS))
    ts = int(time.time() * 1000) - 60_000
    produce(bootstrap, src, [{"partition": p, "key": f"k{p}-{i}".encode(), "value": b"x" * 100,
                              "timestamp": ts + i}
                             for p in PARTITIONS for i in range(PER_PARTITION)])
    return src, dst


def replay_args(bootstrap: str, src: str, dst: str, replay_id: str, *extra: str) -> list[str]:
    # ~6 KB/s: the replay takes about half a minute, long enough to fail in the middle.
    return [sys.executable, "-m", "ingestctl", "-b", bootstrap, *extra, "replay",
            "--from-topic", src, "--to-topic", dst, "--start-offset", "0", "--id", replay_id,
            "--rate", "6KB/s", "--execute", "-o", "json"]


def finish(cli, bootstrap: str, run: subprocess.Popen, args: list[str], stalled: str) -> str:
    """Wait for the disturbed run: it completed (exit 0), or stopped resumable (exit 6, saying
    why) and a re-run completes. Returns how it ended."""
    out, err = run.communicate(timeout=300)
    assert "Traceback" not in err
    if run.returncode == 0:
        assert json.loads(out)["status"] == "completed"
        return "rode through"
    assert run.returncode == ExitCode.INCOMPLETE, err
    assert stalled in err, err
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "resuming replay" in again.stderr
    assert json.loads(again.stdout)["records"] == len(PARTITIONS) * PER_PARTITION
    return "resumed"


def every_record_once(bootstrap: str, dst: str) -> None:
    got = copies(bootstrap, dst, PARTITIONS)  # read_committed; fails on any duplicate
    assert sorted(got) == [(p, o) for p in PARTITIONS for o in range(PER_PARTITION)]


def test_replay_survives_a_broker_restart(cli, broker):
    data_dir, bootstrap = broker
    src, dst = window(bootstrap)
    replay_id = unique("restart")
    # --timeout 60: long enough to wait out a restart (~10-30 s) where it can.
    args = replay_args(bootstrap, src, dst, replay_id, "--timeout", "60")
    run = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_progress(cli, bootstrap, replay_id)
        sandbox.stop(data_dir)
        assert run.poll() is None, "the replay ended before the broker went down"
        time.sleep(2)
        sandbox.start(data_dir=data_dir)
        finish(cli, bootstrap, run, args, "run the same command again")
    finally:
        run.kill()
        sandbox.start(data_dir=data_dir)  # a no-op when it runs
    every_record_once(bootstrap, dst)


def test_replay_frozen_past_its_transaction_timeout(cli, broker):
    """SIGSTOP, while a transaction is open, for longer than transaction.timeout.ms plus the
    broker's abort interval (10 s): the broker aborts the open transaction and bumps the
    producer's epoch. On SIGCONT the run itself starts a new producer, goes on from the
    committed progress and completes; nothing is duplicated."""
    _, bootstrap = broker
    src, dst = window(bootstrap)
    replay_id = unique("frozen")
    # --timeout 30: thawed after 16 s, the client reconnects before it writes on (the restart
    # test gives 60 for the same reason).
    args = replay_args(bootstrap, src, dst, replay_id, "-X", "transaction.timeout.ms=2000",
                       "--timeout", "30")
    run = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_progress(cli, bootstrap, replay_id)
        freeze_inside_a_transaction(bootstrap, dst, [run.pid], [set(PARTITIONS)])
        time.sleep(16)
        run.send_signal(signal.SIGCONT)
        out, err = run.communicate(timeout=300)
    finally:
        run.kill()
    assert run.returncode == 0, err
    assert "Traceback" not in err
    assert "starting a new producer" in err, err
    assert "longer than transaction.timeout.ms (2000 ms)" in err, err
    summary = json.loads(out)
    assert summary["status"] == "completed"
    assert summary["records"] == summary["this_run"]["records"] == len(PARTITIONS) * PER_PARTITION
    every_record_once(bootstrap, dst)


def worker_pids(parent: int) -> list[int]:
    """The replay's worker processes: the spawned interpreters among the parent's children."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children
            if "multiprocessing" in Path(f"/proc/{pid}/cmdline").read_text()
            and "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text()]


def test_workers_whose_transactions_expired_stop_resumably(cli, broker):
    """--workers 2, both frozen inside a transaction past its timeout, then asked to stop
    (SIGTERM, forwarded by the parent): each worker's commit fails on the expired
    transaction. That is a resumable stop, exit 6, with both workers' summaries merged —
    as the same replay without --workers — and a re-run completes, nothing twice."""
    _, bootstrap = broker
    src, dst = window(bootstrap)
    replay_id = unique("frozen-workers")
    args = replay_args(bootstrap, src, dst, replay_id, "-X", "transaction.timeout.ms=2000")
    args.insert(args.index("--execute"), "--workers")
    args.insert(args.index("--execute"), "2")
    run = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_progress(cli, bootstrap, replay_id, partitions=(0, 1))
        workers = worker_pids(run.pid)
        assert len(workers) == 2, workers
        # worker 0 writes partitions 0 and 2, worker 1 partition 1
        freeze_inside_a_transaction(bootstrap, dst, workers, [{0, 2}, {1}])
        run.send_signal(signal.SIGTERM)
        time.sleep(16)
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
        out, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert "Traceback" not in err
    assert run.returncode == ExitCode.INCOMPLETE, err
    assert "transaction.timeout.ms" in err and "run the same command again" in err, err
    stopped = json.loads(out)
    assert stopped["status"] == "incomplete" and stopped["workers"] == 2
    assert [p["partition"] for p in stopped["partitions"]] == list(PARTITIONS)
    assert len(copies(bootstrap, dst, PARTITIONS)) == stopped["records"]
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    every_record_once(bootstrap, dst)


@pytest.fixture
def checkpointed_group(cli, broker, tmp_path):
    """A group checkpointed at {0: 4, 1: 7} that then read on to {9, 10}; a saved rollback
    plan back to the checkpoint."""
    _, bootstrap = broker
    topic, group = unique("fault-rb"), unique("fault-rb-group")
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, [{"partition": p, "value": b"v"} for p in (0, 1)
                               for _ in range(10)])
    commit(bootstrap, group, topic, {0: 4, 1: 7})
    directory = tmp_path / "checkpoints"
    created = cli("-b", bootstrap, "checkpoint", "create", "w", "--group", group,
                  "--dir", directory)
    assert created.code == 0, created.stderr
    commit(bootstrap, group, topic, {0: 9, 1: 10})
    plan = tmp_path / "plan.yaml"
    saved = cli("-b", bootstrap, "rollback", "--to-checkpoint", "w", "--dir", directory,
                "--plan-out", plan)
    assert saved.code == 0, saved.stderr
    return bootstrap, topic, group, directory, plan


def audit_lines(directory) -> list[str]:
    path = directory / "audit.jsonl"
    return path.read_text().splitlines() if path.exists() else []


def test_rollback_refused_when_the_group_came_alive_after_the_plan(cli, checkpointed_group):
    bootstrap, topic, group, directory, plan = checkpointed_group
    with member(bootstrap, group, topic, client_id="sink-restarted"):
        applied = cli("-b", bootstrap, "rollback", "--from-plan", plan, "--execute",
                      "--dir", directory)
        assert applied.code == ExitCode.REFUSED, applied.stderr
        assert f"group {group} was Empty, now Stable" in applied.stderr
        direct = cli("-b", bootstrap, "rollback", "--to-checkpoint", "w", "--execute",
                     "--dir", directory)
        assert direct.code == ExitCode.REFUSED, direct.stderr
        assert "(client ids: sink-restarted)" in direct.stderr
    assert committed(bootstrap, group, topic, [0, 1]) == {0: 9, 1: 10}
    assert audit_lines(directory) == []
    applied = cli("-b", bootstrap, "rollback", "--from-plan", plan, "--execute",
                  "--dir", directory)
    assert applied.code == 0, applied.stderr  # the member left: nothing else drifted
    assert committed(bootstrap, group, topic, [0, 1]) == {0: 4, 1: 7}


def test_rollback_with_the_broker_down_changes_nothing(cli, broker, checkpointed_group):
    data_dir, _ = broker
    bootstrap, topic, group, directory, plan = checkpointed_group
    sandbox.stop(data_dir)
    try:
        for args in (("--from-plan", plan), ("--to-checkpoint", "w")):
            down = cli("-b", bootstrap, "--timeout", "3", "rollback", *args, "--execute",
                       "--dir", directory)
            assert down.code == ExitCode.CLUSTER, down.stderr
            lines = down.stderr.strip().splitlines()
            assert len(lines) == 1 and "cannot reach the Kafka cluster" in lines[0]
    finally:
        sandbox.start(data_dir=data_dir)
    assert committed(bootstrap, group, topic, [0, 1]) == {0: 9, 1: 10}
    assert audit_lines(directory) == []
