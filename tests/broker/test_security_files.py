"""Files that may hold what a cluster looks like are the user's alone: checkpoints, plans and
the audit log are 0600 in 0700 directories, written by the real commands. A directory or file
that is more open is tightened (and the user told); a shared directory (sticky, like /tmp, or
another user's) is refused, never tightened, and nothing is written."""

import os
import stat

import pytest
from support.kafkautil import commit, committed, create_topic, produce, read_all
from support.names import unique

from ingestctl.errors import ExitCode


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def group(kafka_bootstrap):
    topic, name = unique("files"), unique("files-group")
    create_topic(kafka_bootstrap, topic, partitions=2)
    produce(kafka_bootstrap, topic, [{"partition": p, "value": b"v"} for p in (0, 1)
                                     for _ in range(4)])
    commit(kafka_bootstrap, name, topic, {0: 4, 1: 4})
    return topic, name


def test_checkpoints_and_audit_are_private_from_the_start(cli, kafka_bootstrap, group,
                                                          tmp_path):
    topic, name = group
    directory = tmp_path / "new" / "checkpoints"
    created = cli("-b", kafka_bootstrap, "checkpoint", "create", "wave-1", "--group", name,
                  "--dir", directory)
    assert created.code == 0, created.stderr
    files = list((directory / "wave-1").glob("*.yaml"))
    assert len(files) == 1 and mode(files[0]) == 0o600
    assert mode(directory) == 0o700 and mode(directory / "wave-1") == 0o700
    reset = cli("-b", kafka_bootstrap, "groups", "reset", name, "--topic", topic,
                "--to-earliest", "--execute", "--dir", directory)
    assert reset.code == 0, reset.stderr
    assert mode(directory / "audit.jsonl") == 0o600
    assert "tightened" not in created.stderr + reset.stderr


def test_open_directories_and_files_are_tightened_and_said_so(cli, kafka_bootstrap, group,
                                                              tmp_path):
    topic, name = group
    directory = tmp_path / "checkpoints"
    (directory / "wave-1").mkdir(parents=True)
    os.chmod(directory, 0o755)
    os.chmod(directory / "wave-1", 0o775)
    audit = directory / "audit.jsonl"
    audit.write_text("")
    os.chmod(audit, 0o644)

    created = cli("-b", kafka_bootstrap, "checkpoint", "create", "wave-1", "--group", name,
                  "--dir", directory)
    assert created.code == 0, created.stderr
    assert mode(directory) == 0o700 and mode(directory / "wave-1") == 0o700
    assert f"tightened {directory} from mode 755 to 700" in created.stderr
    assert f"tightened {directory / 'wave-1'} from mode 775 to 700" in created.stderr

    reset = cli("-b", kafka_bootstrap, "groups", "reset", name, "--topic", topic,
                "--to-earliest", "--execute", "--dir", directory)
    assert reset.code == 0, reset.stderr
    assert mode(audit) == 0o600 and f"tightened {audit} from mode 644 to 600" in reset.stderr
    assert audit.read_text().count("\n") == 1

    # A plan goes where the user said (often the current directory): an open directory
    # there is refused, never chmod-ed; a private one gets the plan, replacing what was there.
    plans = tmp_path / "plans"
    plans.mkdir()
    os.chmod(plans, 0o755)
    plan = plans / "plan.yaml"
    plan.write_text("old")
    os.chmod(plan, 0o666)
    refused = cli("-b", kafka_bootstrap, "rollback", "--to-checkpoint", "wave-1", "--dir",
                  directory, "--plan-out", plan)
    assert refused.code == ExitCode.REFUSED
    assert f"{plans} is readable by other users (mode 755)" in refused.stderr
    assert mode(plans) == 0o755 and plan.read_text() == "old"
    os.chmod(plans, 0o700)
    saved = cli("-b", kafka_bootstrap, "rollback", "--to-checkpoint", "wave-1", "--dir",
                directory, "--plan-out", plan)
    assert saved.code == 0, saved.stderr
    assert mode(plan) == 0o600 and "old" not in plan.read_text()


def test_a_shared_directory_is_refused_not_tightened(cli, kafka_bootstrap, group, tmp_path):
    topic, name = group
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp: tightening it would lock every other user out
    plan = cli("-b", kafka_bootstrap, "groups", "reset", name, "--topic", topic,
               "--to-earliest", "--plan-out", shared / "plan.yaml")
    assert plan.code == ExitCode.REFUSED
    assert f"{shared} is shared with other users (mode 1777)" in plan.stderr
    assert mode(shared) == 0o1777 and list(shared.iterdir()) == []

    executed = cli("-b", kafka_bootstrap, "groups", "reset", name, "--topic", topic,
                   "--to-earliest", "--execute", "--dir", shared)
    assert executed.code == ExitCode.REFUSED, executed.stderr
    assert mode(shared) == 0o1777 and list(shared.iterdir()) == []
    assert committed(kafka_bootstrap, name, topic, [0, 1]) == {0: 4, 1: 4}

    # A replay whose audit line could not be written copies nothing.
    target = unique("sec-target")
    create_topic(kafka_bootstrap, target, partitions=2)
    replayed = cli("-b", kafka_bootstrap, "replay", "--from-topic", topic, "--to-topic", target,
                   "--start-offset", "0", "--execute", "--dir", shared)
    assert replayed.code == ExitCode.REFUSED, replayed.stderr
    assert "is shared with other users" in replayed.stderr
    assert list(shared.iterdir()) == []
    assert read_all(kafka_bootstrap, target, [0, 1]) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory away")
def test_another_users_directory_is_refused(cli, kafka_bootstrap, group, tmp_path):
    _, name = group
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chmod(theirs, 0o755)
    os.chown(theirs, 65534, 65534)
    created = cli("-b", kafka_bootstrap, "checkpoint", "create", "wave-1", "--group", name,
                  "--dir", theirs)
    assert created.code == ExitCode.REFUSED
    assert "is shared with other users (mode 755)" in created.stderr
    assert mode(theirs) == 0o755 and list(theirs.iterdir()) == []
