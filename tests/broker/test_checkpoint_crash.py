"""A process writing checkpoints is killed (SIGKILL) at random moments, many times: every
checkpoint file on disk is always complete, and every write it reported is there."""

import os
import random
import signal
import subprocess
import sys
import time

from ingestctl import checkpoints

WRITER = r"""
import sys
from ingestctl import checkpoints as c

directory = sys.argv[1]
# Big enough (~60 KB) that a kill often lands inside a write.
topics = {f"topic-{t}": c.TopicState({p: c.PartitionState(p, 0, 10_000 + p, 1790000000000,
                                                            1790000009000, (42,))
                                      for p in range(50)}) for t in range(3)}
n = 0
while True:
    n += 1
    groups = {f"group-{g}": c.GroupState("Empty", 0, {t: {p: c.GroupOffset(p, n + p, None,
                                                                         1790000000000 + n)
                                                          for p in range(50)}
                                                      for t in topics}) for g in range(3)}
    cp = c.Checkpoint("crash", 1790000000000 + n * 10, "cluster-x", f"write {n}", topics, groups)
    path = c.write(cp, directory)
    print(path, flush=True)
"""


def test_sigkill_while_writing_leaves_only_complete_checkpoints(tmp_path):
    directory = tmp_path / "cps"
    rng = random.Random(20261126)
    reported: list[str] = []
    checked: set[str] = set()
    for round_number in range(1, 26):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(directory)],
                                stdout=subprocess.PIPE, text=True)
        # Let it get going (interpreter start-up), then kill it at a random moment.
        first = proc.stdout.readline()
        assert first, "the writer did not start"
        time.sleep(rng.uniform(0, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        reported += [first.strip()] + rest.split()

        files = {str(p) for p in checkpoints.wave_files(directory, "crash")}
        for path in files - checked:  # files are never rewritten: check each new one once
            cp = checkpoints.load(path)  # raises if any file is incomplete or damaged
            assert cp.note.startswith("write ") and len(cp.groups) == 3
        # Every write the process saw finish is on disk; at most one per kill finished
        # unseen (renamed into place just before the kill, not yet reported).
        assert set(reported) <= files
        assert len(files - set(reported)) <= round_number
        checked |= files

    assert len(reported) > 25  # the kills landed at different points, not all before a write
    listed = checkpoints.listing(directory, "crash")
    assert not [e for e in listed if "error" in e]
