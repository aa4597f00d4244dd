"""Every runbook is run as written, against real brokers, so a runbook cannot drift from the tool.

The convention, for whoever writes or edits runbooks/*.md:

- Every ```sh and ```bash block is run, in file order, each by its own `bash -euo pipefail`:
  a block fails at its first failing command (or pipeline stage).
- Shell variables a block sets (exported or not) carry into the next block, as if all blocks
  were typed into one terminal; the working directory does not (each block starts in the
  test's scratch directory).
- A block that is meant to exit non-zero says so on its first line, e.g. `# expect-exit: 3`.
  Every other block must exit 0. The first unexpected exit code fails the test, naming the
  runbook, the block's line, the code and the block's output; later blocks are not run.
- ```console, ```yaml and other blocks are illustrations and are not run.
- Each block's output is kept in the scratch directory's .runbook-harness/output-N, for a
  check that fails after every block passed.
- Each runbook names its inputs in its first block as `: "${VAR:=example}"`. The test supplies
  them (BOOTSTRAP, TARGET_BOOTSTRAP, CHECKPOINT_DIR, topic and group names, ...) and first
  creates the data the runbook assumes, in one setup function per runbook (SETUPS below); a
  runbook without one fails the test. A setup may leave something running through the
  runbook on the ExitStack it is given (the consumer-rollback one keeps a producer writing;
  the rehearsal one a producer and a sink connector). A setup marked `needs_mirrors` also
  gets the session's MirrorMaker 2 sandboxes (`mirrors=`, conftest's `mirrors`: topics named
  mirror-* are mirrored); one marked `needs_connect`, the session's Kafka Connect worker
  (`connect=`, conftest's `services.connect()`: .url, and .bootstrap, the cluster it uses).
  After the run, before what it left running is stopped, its check verifies the result on
  the cluster (and the worker).
- `ingestctl` is the one installed next to this Python (the venv's), first on PATH. The
  runbooks also use jq.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Producer
from support.kafkautil import commit, committed, create_topic, produce, read_all
from support.names import unique
from support.process import REPO, run_process
from support.waiting import wait_for

RUNBOOKS = REPO / "runbooks"
MINUTE = 60_000

OPENING_FENCE = re.compile(r"^\s*```\s*([\w+-]*)")
CLOSING_FENCE = re.compile(r"^\s*```\s*$")
EXPECT_EXIT = re.compile(r"^\s*#\s*expect-exit:\s*(\d+)\s*$")


@dataclass
class Block:
    line: int  # of the opening fence, 1-based
    code: str
    expect_exit: int


def shell_blocks(markdown: str) -> list[Block]:
    """The ```sh and ```bash blocks of a markdown text, in order."""
    blocks, language, start, lines = [], None, 0, []
    for number, line in enumerate(markdown.splitlines(), 1):
        if language is None:
            opening = OPENING_FENCE.match(line)
            if opening:
                language, start, lines = opening.group(1), number, []
        elif CLOSING_FENCE.match(line):
            if language in ("sh", "bash"):
                expected = EXPECT_EXIT.match(lines[0]) if lines else None
                blocks.append(Block(start, "\n".join(lines) + "\n",
                                    int(expected.group(1)) if expected else 0))
            language = None
        else:
            lines.append(line)
    assert language is None, f"a code block opened at line {start} is never closed"
    return blocks


# Runs one block after restoring the variables the previous blocks left, and on any exit
# saves the variables it leaves for the next one. Bash's own variables (the baseline: what a
# bare `bash` defines) and the harness's (__*) are not carried.
PRELUDE = """\
source {state_in}
declare -A __baseline=()
while read -r __name; do __baseline[$__name]=1; done < {baseline}
__save() {{
  local __name
  for __name in $(compgen -v); do
    [[ $__name == __* || -n ${{__baseline[$__name]:-}} ]] || declare -p "$__name"
  done
}}
trap '__rc=$?; __save > {state_out} 2>/dev/null || true; exit $__rc' EXIT
"""


def run_blocks(blocks: list[Block], name: str, env: dict, workdir: Path,
               timeout: float = 180) -> str | None:
    """Run the blocks in order; None when each exited as expected, else what went wrong."""
    harness = workdir / ".runbook-harness"
    harness.mkdir(exist_ok=True)
    baseline = harness / "baseline"
    # listed the way __save lists them: from a function in a script file
    (harness / "baseline.sh").write_text("__list() { compgen -v; }\n__list\n")
    bare = subprocess.run(["env", "-i", "bash", "-euo", "pipefail", str(harness / "baseline.sh")],
                          capture_output=True, text=True, check=True)
    baseline.write_text(bare.stdout)
    state = harness / "state-0"
    state.write_text("")
    for index, block in enumerate(blocks, 1):
        state_out = harness / f"state-{index}"
        script = harness / f"block-{index}.sh"
        script.write_text(PRELUDE.format(state_in=state, baseline=baseline,
                                         state_out=state_out) + block.code)
        began = time.monotonic()
        done = subprocess.run(["bash", "-euo", "pipefail", str(script)], cwd=workdir, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout)
        (harness / f"output-{index}").write_text(done.stdout)  # for a failing check()
        if done.returncode != block.expect_exit:
            output = "\n".join(done.stdout.splitlines()[-60:])
            return (f"{name}:{block.line}: block exited {done.returncode}, expected "
                    f"{block.expect_exit} (after {time.monotonic() - began:.1f} s)\n"
                    f"--- block ---\n{block.code}--- output (last 60 lines) ---\n{output}")
        state = state_out
    return None


def runbook_env(variables: dict[str, str]) -> dict[str, str]:
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "ingestctl").exists(), f"no ingestctl next to {sys.executable}"
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **variables}


# --- the harness itself ------------------------------------------------------------------

SAMPLE = """\
# A runbook

```sh
: "${NAME:=example}"
COUNT=2
export SHOWN=yes
```

```console
$ this is an illustration and never runs
```

```bash
# expect-exit: 3
test "$COUNT" = 2 && test "$SHOWN" = yes && test "$NAME" = given
exit 3
```

- in a list:

  ```sh
  echo "$COUNT more" | grep -q "2 more"
  ```
"""


def test_blocks_are_the_sh_and_bash_fences_with_their_expected_exit():
    blocks = shell_blocks(SAMPLE)
    assert [(b.line, b.expect_exit) for b in blocks] == [(3, 0), (13, 3), (21, 0)]
    assert blocks[0].code.startswith(': "${NAME:=example}"\nCOUNT=2\n')


def test_variables_carry_from_block_to_block(tmp_path):
    env = {**os.environ, "NAME": "given"}
    assert run_blocks(shell_blocks(SAMPLE), "sample.md", env, tmp_path) is None


@pytest.mark.parametrize("code, expected, says", [
    ("false\necho never\n", 0, "block exited 1, expected 0"),
    ("false | true\n", 0, "block exited 1, expected 0"),  # pipefail
    ("echo $UNDEFINED_VARIABLE\n", 0, "block exited 1, expected 0"),  # nounset
    ("# expect-exit: 3\nexit 4\n", 3, "block exited 4, expected 3"),
    ("# expect-exit: 3\ntrue\n", 3, "block exited 0, expected 3"),
])
def test_an_unexpected_exit_code_fails_and_names_the_block(tmp_path, code, expected, says):
    blocks = [Block(1, "A=1\n", 0), Block(7, code, expected), Block(9, "touch ran\n", 0)]
    failure = run_blocks(blocks, "bad.md", dict(os.environ), tmp_path)
    assert failure is not None and failure.startswith(f"bad.md:7: {says}")
    assert not (tmp_path / "ran").exists()  # nothing after the failing block runs


# --- the runbooks, with the data each assumes ---------------------------------------------

def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def three_hours_of_records(bootstrap: str, topic: str, partitions: int, per_partition: int,
                           now: int) -> dict[int, list[int]]:
    """per_partition records in each partition, evenly over the last three hours (whole
    seconds, partitions 10 s apart); returns their timestamps per partition."""
    create_topic(bootstrap, topic, partitions)
    step = 180 * MINUTE // per_partition
    stamps = {p: [now - 180 * MINUTE + i * step + p * 10_000 for i in range(per_partition)]
              for p in range(partitions)}
    produce(bootstrap, topic, [
        {"partition": p, "key": f"acct-{i % 17}".encode(), "value": f'{{"n": {i}}}'.encode(),
         "timestamp": ts, "headers": [("tenant", b"acme")]}
        for p, series in stamps.items() for i, ts in enumerate(series)])
    return stamps


def setup_sink_outage(kafka_bootstrap, second_bootstrap, work: Path, stack: ExitStack):
    """A topic with three hours of records, an empty repair topic, and a sink group that
    stopped at an outage 100 minutes ago (it came back 10 minutes ago): partition 0 at the
    outage's first record, partitions 1 and 2 a few records later, as a crashing sink does."""
    now = int(time.time()) * 1000
    topic, repair, group = unique("rb-payments"), unique("rb-repair"), unique("rb-sink")
    stamps = three_hours_of_records(kafka_bootstrap, topic, 3, 60, now)
    create_topic(kafka_bootstrap, repair, 3)
    outage_start, outage_end = now - 100 * MINUTE, now - 10 * MINUTE
    stopped = {p: next(i for i, ts in enumerate(series) if ts >= outage_start) + 2 * p
               for p, series in stamps.items()}
    commit(kafka_bootstrap, group, topic, stopped)
    variables = {"BOOTSTRAP": kafka_bootstrap, "TOPIC": topic, "REPAIR_TOPIC": repair,
                 "GROUP": group, "INCIDENT": unique("inc"), "RATE": "1MiB/s",
                 "CHECKPOINT_DIR": str(work / "checkpoints"), "OUTAGE_END": iso(outage_end)}
    # The runbook starts the window at the sink's oldest next record: partition 0's.
    window_start = min(series[stopped[p]] for p, series in stamps.items())
    in_window = sum(window_start <= ts < outage_end for series in stamps.values()
                    for ts in series)

    def check():
        copies = read_all(kafka_bootstrap, repair, range(3))
        assert len(copies) == in_window
        # the rewind was undone: the sink is back where it stopped
        assert committed(kafka_bootstrap, group, topic, range(3)) == stopped

    return variables, check


def setup_migration(kafka_bootstrap, second_bootstrap, work: Path, stack: ExitStack,
                    mirrors=None):
    """Two topics on the source, each read to its end by its own group (the producers have
    stopped: the wave is ready to move), mirrored by MM2 (identity policy) into the target;
    partition 0 of the first ends with a transaction, whose marker takes an offset on the
    source only."""
    from confluent_kafka import Producer

    target = mirrors["identity"].bootstrap
    now = int(time.time()) * 1000
    topics = {unique("mirror-rb-orders"): 3, unique("mirror-rb-settled"): 2}
    groups = {unique("rb-loader"): t for t in topics}
    for topic, partitions in topics.items():
        three_hours_of_records(kafka_bootstrap, topic, partitions, 30, now)
    first = next(iter(topics))
    producer = Producer({"bootstrap.servers": kafka_bootstrap,
                         "transactional.id": unique("rb-tx")})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(3):
        producer.produce(first, value=f"tx{i}".encode(), partition=0, timestamp=now - i)
    producer.commit_transaction(30)
    # The coordinator writes the commit marker after commit_transaction() returns: wait
    # for it, or the groups would be committed one offset short of the end.
    wait_for("the transaction's commit marker",
             lambda: _high_watermark(kafka_bootstrap, first, 0) == 30 + 3 + 1, timeout=30)
    ends = {}
    for group, topic in groups.items():
        ends[topic] = {p: _high_watermark(kafka_bootstrap, topic, p)
                       for p in range(topics[topic])}
        commit(kafka_bootstrap, group, topic, ends[topic])
    variables = {"BOOTSTRAP": kafka_bootstrap, "TARGET_BOOTSTRAP": target,
                 "WAVE": unique("wave"), "WAVE_TOPICS": " ".join(topics),
                 "WAVE_GROUPS": " ".join(groups), "SOURCE_ALIAS": "",
                 "CHECKPOINT_DIR": str(work / "checkpoints")}

    def check():
        for group, topic in groups.items():
            partitions = range(topics[topic])
            source = read_all(kafka_bootstrap, topic, partitions)
            copies = read_all(target, topic, partitions)
            # the same records, partition by partition (a read interleaves partitions)
            assert (sorted(map(_content, copies), key=repr)
                    == sorted(map(_content, source), key=repr))
            placed = committed(target, group, topic, partitions)
            for p in partitions:
                mine = [m for m in copies if m.partition() == p]
                # caught up on the source, so right after the copy of its last record
                assert placed[p] == mine[-1].offset() + 1, (group, p, placed)
            # and on the source, where it was before the wave
            assert committed(kafka_bootstrap, group, topic, partitions) == ends[topic]
        # the marker: one offset more on the source than on the target
        assert committed(target, next(iter(groups)), first, [0])[0] == ends[first][0] - 1
        # MM2 syncs the groups' offsets onto the target too (sync.group.offsets, every
        # second), to the very offsets exact gives a caught-up group: a group it placed
        # before step 6 ran is "already at target" there, unchanged and not logged (one
        # run found both so). What cutover groups did change, it logged, and nothing else
        # in the runbook changed offsets (both rollbacks find their groups in place).
        audit = work / "checkpoints" / "audit.jsonl"
        logged = [json.loads(line) for line in audit.read_text().splitlines()] \
            if audit.exists() else []
        assert all(e["action"] == "cutover groups" and e["group"] in groups
                   for e in logged), logged

    return variables, check


setup_migration.needs_mirrors = True


def _content(msg) -> tuple:
    return (msg.partition(), msg.key(), msg.value(), msg.timestamp()[1],
            tuple(msg.headers() or ()))


def _high_watermark(bootstrap: str, topic: str, partition: int) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "rb-marks"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=20)[1]
    finally:
        consumer.close()


class BackgroundProducer:
    """Producers that keep writing while the runbook runs (as they do during a sink outage):
    one record every ~50 ms, alternating partitions, until stopped."""

    def __init__(self, bootstrap: str, topic: str, partitions: int):
        self.bootstrap, self.topic, self.partitions = bootstrap, topic, partitions
        self.written = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="runbook-producer", daemon=True)

    def _delivered(self, err, msg) -> None:
        if err is not None:
            self.errors.append(str(err))
        else:
            self.written += 1

    def _run(self) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 0})
        n = 0
        while not self._stop.is_set():
            producer.produce(self.topic, value=f"live-{n}".encode(),
                             partition=n % self.partitions, on_delivery=self._delivered)
            producer.poll(0)
            n += 1
            self._stop.wait(0.05)
        producer.flush(30)

    def __enter__(self) -> "BackgroundProducer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(60)


def setup_consumer_rollback(kafka_bootstrap, second_bootstrap, work: Path, stack: ExitStack):
    """A group checkpointed at (20, 25), then moved on to (45, 50) by a bad deploy; producers
    keep writing to its topic all through the runbook."""
    topic, group, wave = unique("rb-events"), unique("rb-consumer"), unique("deploy")
    create_topic(kafka_bootstrap, topic, 2)
    produce(kafka_bootstrap, topic, [{"partition": p, "key": b"k", "value": b"v"}
                                     for p in range(2) for _ in range(60)])
    checkpoint_dir = work / "checkpoints"
    commit(kafka_bootstrap, group, topic, {0: 20, 1: 25})
    made = run_process("-b", kafka_bootstrap, "checkpoint", "create", wave, "--group", group,
                       "--note", "before the deploy", "--dir", checkpoint_dir)
    assert made.returncode == 0, made.stderr
    commit(kafka_bootstrap, group, topic, {0: 45, 1: 50})
    variables = {"BOOTSTRAP": kafka_bootstrap, "GROUP": group, "CHECKPOINT": wave,
                 "CHECKPOINT_DIR": str(checkpoint_dir)}
    producer = stack.enter_context(BackgroundProducer(kafka_bootstrap, topic, 2))

    def check():
        # the runbook ran while records kept arriving (between its plan and its apply too)
        assert producer.written >= 20 and not producer.errors, (producer.written,
                                                                producer.errors)
        assert committed(kafka_bootstrap, group, topic, range(2)) == {0: 20, 1: 25}
        audit = (checkpoint_dir / "audit.jsonl").read_text()
        assert group in audit

    return variables, check


def setup_rehearse_sink_outage(kafka_bootstrap, second_bootstrap, work: Path, stack: ExitStack,
                               connect=None):
    """A FileStreamSink (on the session's Connect worker) reading a 2-partition topic that a
    producer writes 20 records a second to, all through the runbook; the topic keeps records
    a day, so the plan weighs the outage against a retention. A 10 s outage."""
    from support.connectutil import FILE_SINK, client, connector, lines
    from support.kafkautil import SteadyProducer

    from ingestctl import checkpoints

    topic, name = unique("rb-orders"), unique("rb-sink")
    create_topic(connect.bootstrap, topic, 2, config={"retention.ms": str(24 * 60 * MINUTE)})
    sink_file = work / "sink.txt"
    stack.enter_context(connector(connect, name, {"connector.class": FILE_SINK,
                                                  "topics": topic, "file": str(sink_file)}))
    steady = SteadyProducer(connect.bootstrap, topic, 2)
    stack.callback(steady.stop)  # stopped before the connector is deleted
    checkpoint_dir, report = work / "checkpoints", work / "reports" / "rehearsal.json"
    variables = {"BOOTSTRAP": connect.bootstrap, "CONNECT_URL": connect.url,
                 "CONNECTOR": name, "OUTAGE": "10s", "CATCH_UP_TIMEOUT": "2m",
                 "CHECKPOINT_DIR": str(checkpoint_dir), "REPORT": str(report)}

    def check():
        rest = client(connect)
        assert rest.status(name).state == "RUNNING"
        assert all(t.state == "RUNNING" for t in rest.status(name).tasks)
        doc = json.loads(report.read_text())
        assert (doc["ended"], doc["state_before"], doc["state_after"]) == (
            "caught-up", "RUNNING", "RUNNING")
        assert doc["outage_seconds"] >= 10 and doc["peak_lag"] > doc["lag_before"]
        assert doc["catch_up_seconds"] is not None
        # the rehearsal's checkpoint, of this connector, taken while it was RUNNING
        files = checkpoints.wave_files(checkpoint_dir, f"rehearsal-{name}")
        assert [str(f) for f in files] == [doc["checkpoint"]]
        assert checkpoints.load(files[0]).connectors[name].state == "RUNNING"
        audit = [json.loads(line)
                 for line in (checkpoint_dir / "audit.jsonl").read_text().splitlines()]
        assert [(e["action"], e["connector"], e["step"]) for e in audit] == [
            ("rehearse sink-outage", name, "stop"), ("rehearse sink-outage", name, "end")]
        # and it reads what the producer goes on writing: every record written by now
        written = sum(_high_watermark(connect.bootstrap, topic, p) for p in range(2))
        wait_for("the sink to write every record written so far",
                 lambda: len(lines(sink_file)) >= written, timeout=60)

    return variables, check


setup_rehearse_sink_outage.needs_connect = True


SETUPS = {
    "sink-outage-replay.md": setup_sink_outage,
    "migration-wave-cutover.md": setup_migration,
    "consumer-rollback.md": setup_consumer_rollback,
    "rehearse-sink-outage.md": setup_rehearse_sink_outage,
}


def test_every_runbook_has_a_setup():
    assert sorted(p.name for p in RUNBOOKS.glob("*.md")) == sorted(SETUPS)


@pytest.mark.parametrize("runbook", sorted(SETUPS))
def test_runbook_runs_as_written(runbook, kafka_bootstrap, second_bootstrap, tmp_path,
                                 request):
    assert shutil.which("jq"), "the runbooks use jq: install it (e.g. apt-get install jq)"
    path = RUNBOOKS / runbook
    blocks = shell_blocks(path.read_text())
    assert blocks, f"{runbook} has no sh block"
    setup = SETUPS[runbook]
    extra = {}
    if getattr(setup, "needs_mirrors", False):
        extra["mirrors"] = request.getfixturevalue("mirrors")
    if getattr(setup, "needs_connect", False):
        extra["connect"] = request.getfixturevalue("services").connect()
    # What a setup leaves running (a producer, a connector) ends after the check.
    with ExitStack() as stack:
        variables, check = setup(kafka_bootstrap, second_bootstrap, tmp_path, stack, **extra)
        failure = run_blocks(blocks, f"runbooks/{runbook}", runbook_env(variables), tmp_path)
        assert failure is None, failure
        check()
