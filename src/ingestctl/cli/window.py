"""The WINDOW options `replay` and `topics audit` share (--start/--end, --start-offset/
--end-offset, --from-checkpoint [--group] [--to-checkpoint], --partitions), parsed into the
replay's WindowSpec with one set of refusals."""

from pathlib import Path

from ..errors import UsageError
from ..parsing import parse_partition_offsets, parse_partitions, parse_time_ms


def parse_window(checkpoints: Path, topic: str, *, start: str | None, end: str | None,
                 start_offset: str | None, end_offset: str | None,
                 from_checkpoint: str | None, group: str | None, to_checkpoint: str | None,
                 partitions: str | None):
    """(WindowSpec, the checkpoint's cluster id when the window starts at a checkpoint).
    `checkpoints` is the checkpoint dir REFs are looked up in."""
    from ..replay.plan import checkpoint_window
    from ..replay.window import WindowSpec

    narrowed = tuple(parse_partitions(partitions)) if partitions else None
    end_ms = parse_time_ms(end, "--end") if end else None
    if from_checkpoint:
        if start or start_offset or end_offset:
            raise UsageError("--from-checkpoint gives the window's start: leave out --start, "
                             "--start-offset and --end-offset (end it with --to-checkpoint or "
                             "--end TIME).")
        if end and to_checkpoint:
            raise UsageError("give the window's end by --to-checkpoint or by --end, not both.")
        return checkpoint_window(checkpoints, topic, from_checkpoint, group, to_checkpoint,
                                 narrowed, end_time=end_ms)
    if group or to_checkpoint:
        raise UsageError("--group and --to-checkpoint need --from-checkpoint.")
    return WindowSpec(
        start_time=parse_time_ms(start, "--start") if start else None,
        end_time=end_ms,
        start_offset=parse_partition_offsets(start_offset, "--start-offset")
        if start_offset else None,
        end_offset=parse_partition_offsets(end_offset, "--end-offset") if end_offset else None,
        partitions=narrowed,
    ), None
