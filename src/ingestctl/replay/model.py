"""What a replay is asked to do (ReplayRequest), what it planned (Plan), and the callbacks a
run reports through (Hooks)."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..parsing import format_time
from . import progress as prog
from .dedupe import Dedupe
from .quota import Quota
from .validate import Validation
from .window import Selection, WindowSpec, in_shard

MODES = ("exactly-once", "at-least-once")


PARTITIONINGS = ("preserve", "key")
# Records read at planning time to estimate the window's bytes per record.
SAMPLE_RECORDS = 20


@dataclass(frozen=True)
class ReplayRequest:
    source_topic: str
    target_topic: str
    window: WindowSpec
    selection: Selection = field(default_factory=Selection)
    partitioning: str = "preserve"
    mode: str = "exactly-once"
    replay_id: str | None = None
    create_target: bool = False
    quota: Quota = field(default_factory=Quota)
    shard: tuple[int, int] | None = None
    workers: int = 1
    # --from-checkpoint: the cluster the checkpoints were taken on (must be the source).
    checkpoint_cluster: str | None = None
    validation: Validation | None = None  # --validate; not part of the replay's identity
    dedupe: Dedupe | None = None  # --dedupe-header/--dedupe-horizon; part of the identity

    @property
    def shards(self) -> int:
        return self.shard[1] if self.shard else self.workers


@dataclass
class Plan:
    request: ReplayRequest
    replay_id: str
    identity: dict
    source_cluster: str
    target_cluster: str
    source_partitions: int
    source_replication: int
    target_partitions: int | None  # None: the target does not exist yet
    window: dict[int, tuple[int, int]]
    stored: prog.StoredReplay | None

    def partitions(self, shard: tuple[int, int] | None) -> list[int]:
        return [p for p in sorted(self.window) if shard is None or in_shard(p, shard)]

    def plan_record(self) -> dict:
        return {
            "replay_id": self.replay_id, "created_at": format_time(int(time.time() * 1000)),
            "mode": self.request.mode, "shards": self.request.shards,
            "identity": self.identity,
            "source": {"topic": self.request.source_topic, "cluster_id": self.source_cluster},
            "target": {"topic": self.request.target_topic, "cluster_id": self.target_cluster},
            "window": self.request.window.identity(),
            "selection": self.request.selection.identity(),
            "partitioning": self.request.partitioning,
            "dedupe": dedupe_document(self.request),
            "partitions": [{"partition": p, "start": s, "end": e}
                           for p, (s, e) in sorted(self.window.items())],
        }


def dedupe_document(request: ReplayRequest) -> dict | None:
    """The dedupe settings as plans, summaries and the stored plan show them: with more
    than one shard a key is deduplicated within its shard only."""
    if request.dedupe is None:
        return None
    horizon = request.dedupe.horizon_ms
    return {"header": request.dedupe.header,
            "horizon_seconds": horizon / 1000 if horizon is not None else None,
            "scope": "shard" if request.shards > 1 else "replay", "shards": request.shards}


@dataclass
class Hooks:
    """How the replay talks to the person running it (the CLI renders both)."""

    note: Callable[[str], None] = lambda message: None
    # (offsets done, offsets in the window, records written, bytes written), ~4 times a second
    progress: Callable[[int, int, int, int], None] | None = None

