"""Checkpoints of a migration wave: the model (model.py), its YAML format (format.py), the
checkpoint directory and REF lookup (store.py), wave plans (waves.py), capture from a live
cluster (live.py), applicability (verify.py), differences (compare.py), and the Kafka Connect
part (connectors.py). This face names what commands use."""

from .live import capture, capture_like
from .compare import diff
from .format import dumps, load, loads, to_document
from .model import (
    Checkpoint,
    GroupOffset,
    GroupState,
    PartitionState,
    SchemaVersion,
    TopicState,
)
from .store import checkpoint_dir, check_wave, listing, resolve_ref, wave_files, write
from .verify import applicability_problems, partition_count_problems
from .waves import load_wave_plan

__all__ = [
    "Checkpoint", "GroupOffset", "GroupState", "PartitionState", "SchemaVersion", "TopicState",
    "applicability_problems", "capture", "capture_like",
    "check_wave", "checkpoint_dir", "diff", "dumps", "listing", "load", "load_wave_plan",
    "loads", "partition_count_problems", "resolve_ref", "to_document", "wave_files", "write",
]
