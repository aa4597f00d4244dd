"""The checkpoint file format v1 without a broker: round trip, REF resolution, atomic and
never-overwriting writes, and rejection of damaged files (exit 7 naming file and field)."""

import os
import re
import stat
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from support.strategies import checkpoints

from ingestctl import checkpoints as cps
from ingestctl.checkpoints import live, model, store, waves
from ingestctl.errors import ExitCode, InvalidFileError, NotFoundError, UsageError
from ingestctl.files import documents


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(checkpoints())
def test_round_trip(cp):
    assert cps.loads(cps.dumps(cp)) == cp


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(checkpoints())
def test_written_file_reads_back_and_is_private(tmp_path_factory, cp):
    directory = tmp_path_factory.mktemp("cps") / "checkpoints"
    path = cps.write(cp, directory)
    assert path.parent == directory / cp.wave
    assert path.name == store.file_name(cp.created_at)
    assert cps.load(path) == cp
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def sample() -> cps.Checkpoint:
    return cps.Checkpoint(
        wave="wave-3", created_at=1795734000123, cluster_id="Jc9t2abc", note="before cutover",
        topics={"payments": model.TopicState({
            0: model.PartitionState(0, 0, 1200, 1795730000000, 1795733000000, (42,)),
            1: model.PartitionState(1, 10, 900, 1795730000500, 1795733000500, ())})},
        groups={"sink": model.GroupState("Empty", 0, {"payments": {
            0: model.GroupOffset(0, 1100, 1795732000000, 1795731999000),
            1: model.GroupOffset(1, 900, None, 1795733000500)}})},
    )


def test_never_overwrites_and_a_later_write_in_the_same_millisecond_gets_a_new_name(tmp_path):
    cp = sample()
    first = cps.write(cp, tmp_path)
    original = first.read_bytes()
    second = cps.write(cp, tmp_path)
    assert first != second and first.read_bytes() == original
    assert cps.load(second).created_at == cp.created_at + 1
    assert cps.wave_files(tmp_path, "wave-3") == [first, second]


def test_refs(tmp_path):
    paths = [cps.write(sample(), tmp_path) for _ in range(3)]
    assert cps.resolve_ref("wave-3", tmp_path) == paths[-1]
    assert cps.resolve_ref("wave-3@1", tmp_path) == paths[0]
    assert cps.resolve_ref("wave-3@2", tmp_path) == paths[1]
    assert cps.resolve_ref(str(paths[1]), tmp_path) == paths[1]
    for ref in ("wave-3@4", "wave-3@0", "wave-9", "nope/x.yaml"):
        with pytest.raises(NotFoundError):
            cps.resolve_ref(ref, tmp_path)
    with pytest.raises(UsageError):
        cps.resolve_ref("-bad wave", tmp_path)
    listing = cps.listing(tmp_path)
    assert [e["ref"] for e in listing] == ["wave-3@1", "wave-3@2", "wave-3@3"]
    assert listing[0]["note"] == "before cutover" and listing[0]["groups"] == 1


def test_temporary_files_of_an_interrupted_write_are_not_checkpoints(tmp_path):
    path = cps.write(sample(), tmp_path)
    (path.parent / f".{path.name}.abc.tmp").write_text(cps.dumps(sample())[:100])
    assert cps.wave_files(tmp_path, "wave-3") == [path]


def _rewrite(path: Path, edit) -> None:
    """Apply edit to the loaded document and write it back with a correct checksum: what a
    buggy writer would produce, so the field checks (not the checksum) must catch it."""
    document = yaml.safe_load(path.read_text())
    edit(document)
    document["checksum"] = documents.checksum(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _damage(kind: str, path: Path) -> None:
    text = path.read_text()
    if kind == "truncated":
        path.write_text(text[: len(text) // 2])
    elif kind == "truncated-at-line":
        lines = text.splitlines(keepends=True)
        path.write_text("".join(lines[:-1]))
    elif kind == "hand-edited":
        path.write_text(text.replace("offset: 1100", "offset: 1000"))
    elif kind == "wrong-version":
        _rewrite(path, lambda d: d.update(format="ingestctl.checkpoint/v9"))
    elif kind == "negative-offset":
        _rewrite(path, lambda d: d["groups"]["sink"]["offsets"]["payments"][0].update(offset=-5))
    elif kind == "duplicate-partition":
        _rewrite(path, lambda d: d["topics"]["payments"]["partitions"][1].update(partition=0))
    elif kind == "duplicate-group-partition":
        _rewrite(path, lambda d: d["groups"]["sink"]["offsets"]["payments"][1].update(
            partition=0))
    elif kind == "missing-field":
        _rewrite(path, lambda d: d["topics"]["payments"]["partitions"][0].pop("log_start"))
    elif kind == "mistyped-field":
        _rewrite(path, lambda d: d["topics"]["payments"]["partitions"][0].update(end="1200"))
    elif kind == "duplicate-key":
        path.write_text(text.replace("groups:\n", "groups:\n  sink: {}\n", 1))


EXPECTED_FIELD = {
    "truncated": r"(not valid YAML at line \d+|field \S+ is missing|field checksum)",
    "truncated-at-line": r"field checksum is missing \(the file is truncated",
    "hand-edited": r"field checksum does not match the content",
    "wrong-version": r"field format is 'ingestctl.checkpoint/v9'",
    "negative-offset": r"field groups\.sink\.offsets\.payments\[0\]\.offset is negative \(-5\)",
    "duplicate-partition": r"field topics\.payments\.partitions\[1\]\.partition repeats "
                           r"partition 0",
    "duplicate-group-partition": r"field groups\.sink\.offsets\.payments\[1\]\.partition "
                                 r"repeats partition 0",
    "missing-field": r"field topics\.payments\.partitions\[0\]\.log_start is missing",
    "mistyped-field": r"field topics\.payments\.partitions\[0\]\.end must be a whole number",
    "duplicate-key": r"duplicate key 'sink'",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_FIELD))
def test_damaged_files_are_rejected_with_file_and_field(tmp_path, cli, kind):
    path = cps.write(sample(), tmp_path)
    _damage(kind, path)
    with pytest.raises(InvalidFileError) as caught:
        cps.load(path)
    assert str(path) in caught.value.message
    assert re.search(EXPECTED_FIELD[kind], caught.value.message), caught.value.message
    for command in (["show"], ["verify"], ["diff", "--live"]):
        result = cli("checkpoint", command[0], str(path), *command[1:], "--dir", tmp_path)
        assert result.code == ExitCode.INVALID_FILE, (command, result.stderr)
        assert result.stdout == ""
        assert str(path) in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_every_truncation_point_is_rejected(tmp_path):
    """Not only the middle: a file cut anywhere is never read as a checkpoint."""
    text = cps.dumps(sample())
    for cut in range(0, len(text) - 1, 7):
        with pytest.raises(InvalidFileError):
            cps.loads(text[:cut], "cut.yaml")


def test_wave_plan(tmp_path):
    plan = tmp_path / "waves.yaml"
    plan.write_text("waves:\n  wave-3:\n    topics: [a, b]\n    groups: [sink]\n"
                    "    connectors: [jdbc-sink]\n  wave-4:\n    topics: [c]\n")
    assert cps.load_wave_plan(plan, "wave-3") == waves.WaveScope(["a", "b"], ["sink"],
                                                               ["jdbc-sink"])
    assert cps.load_wave_plan(plan, "wave-4") == waves.WaveScope(["c"], [], [])
    with pytest.raises(UsageError, match="wave-5 is not in"):
        cps.load_wave_plan(plan, "wave-5")
    plan.write_text("waves:\n  wave-3:\n    topic: [a]\n")
    with pytest.raises(InvalidFileError, match="unknown key 'topic'"):
        cps.load_wave_plan(plan, "wave-3")


def test_wire_schema_id():
    assert live.wire_schema_id(b"\x00\x00\x00\x00\x2a{...}") == 42
    assert live.wire_schema_id(b"\x00\x00\x01\x00\x00") == 65536
    assert live.wire_schema_id(b'{"json": 1}') is None
    assert live.wire_schema_id(b"\x00\x00") is None
    assert live.wire_schema_id(None) is None


def test_checkpoint_dir_precedence(tmp_path):
    from ingestctl.config import Settings

    assert cps.checkpoint_dir(tmp_path / "x", Settings(checkpoint_dir=Path("/p"))) == \
        tmp_path / "x"
    assert cps.checkpoint_dir(None, Settings(checkpoint_dir=Path("/p"))) == Path("/p")
    assert cps.checkpoint_dir(None, Settings()) == Path("checkpoints")
    assert os.fspath(cps.checkpoint_dir("~/cp", None)).startswith(os.path.expanduser("~"))
