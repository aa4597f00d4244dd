"""`replay status` and `replay list`: replays as their progress records in Kafka describe them."""

from ..config import Settings
from ..errors import NotFoundError
from ..kafka import Admin, metadata
from ..kafka.compacted import read_compacted
from . import progress as prog


def _stored_replays(settings: Settings,
                    replay_id: str | None = None) -> dict[str, prog.StoredReplay]:
    admin = Admin(settings)
    if prog.PROGRESS_TOPIC not in metadata.list_topics(admin):
        return {}
    return prog.decode(read_compacted(settings, prog.PROGRESS_TOPIC), replay_id)


def status(settings: Settings, replay_id: str) -> dict:
    stored = _stored_replays(settings, replay_id).get(replay_id)
    if stored is None:
        raise NotFoundError(
            f"no replay {replay_id} in {prog.PROGRESS_TOPIC} on {settings.bootstrap_servers}; "
            "progress lives on the replay's target cluster (point -b or -p at it), and "
            "`ingestctl replay list` shows the replays there."
        )
    return prog.describe(stored)


STATUSES = ("completed", "incomplete")


def list_replays(settings: Settings, status: str | None = None,
                 topic: str | None = None) -> list[dict]:
    """Every replay in the progress topic, newest first; only those in `status`, or copying
    from or to `topic`, when given."""
    rows = []
    for stored in _stored_replays(settings).values():
        d = prog.describe(stored)
        rows.append({key: d[key] for key in (
            "replay_id", "status", "mode", "source", "target", "created_at", "updated_at",
            "records", "filtered", "invalid", "bytes", "window_records", "remaining_offsets")})
    return select(rows, status, topic)


def select(rows: list[dict], status: str | None = None, topic: str | None = None
           ) -> list[dict]:
    """The rows in `status` whose source or target topic is `topic`, newest first."""
    chosen = [r for r in rows
              if (status is None or r["status"] == status)
              and (topic is None or topic in ((r["source"] or {}).get("topic"),
                                              (r["target"] or {}).get("topic")))]
    return sorted(chosen, key=lambda r: r["created_at"] or "", reverse=True)

