"""--dedupe-header K [--dedupe-horizon D]: the keys a replay shard has written, as 64-bit
digests, and the rule that decides whether a record is a duplicate. Pure logic: the run
seeds the state from the target's committed records (what earlier runs wrote) and the copy
loop asks admit() for every record that carries K.

A record is a duplicate when a record with the same K value was already written by this
replay shard with a timestamp within D of its own (|t - t'| <= D; no horizon: any time).
Digests are Python's hash() of the value: 64 bits, keyed per process (so not chosen by
whoever writes the keys), never stored, and rebuilt by each run from the target."""

from dataclasses import dataclass

from ..errors import UsageError


@dataclass(frozen=True)
class Dedupe:
    """What the user asked for: the header that holds the idempotency key, and the horizon
    in milliseconds (None: the whole window). Both are part of the replay's identity."""

    header: str
    horizon_ms: int | None = None

    def __post_init__(self):
        if not self.header:
            raise UsageError("--dedupe-header: give the name of the header that holds the "
                             "idempotency key.")
        if self.horizon_ms is not None and self.horizon_ms <= 0:
            raise UsageError("--dedupe-horizon must be a positive duration (e.g. 10m).")

    def identity(self) -> dict:
        return {"header": self.header, "horizon_ms": self.horizon_ms}


class SeenKeys:
    """Keys written, without a horizon: a key is written once. admit(key, timestamp) says
    whether to write a record (and remembers it as written); add() records one that an
    earlier run wrote."""

    def __init__(self):
        self._seen: set[int] = set()

    def admit(self, key: bytes, timestamp: int) -> bool:
        digest = hash(key)
        if digest in self._seen:
            return False
        self._seen.add(digest)
        return True

    def add(self, key: bytes, timestamp: int) -> None:
        self._seen.add(hash(key))

    def __len__(self) -> int:
        return len(self._seen)


class SeenKeysWithin:
    """Keys written, with a horizon: a key is written again when every copy of it written
    so far lies more than horizon_ms from the record's timestamp. Almost every key is
    written once: its timestamp lives in `_first`, further copies' in `_more`."""

    def __init__(self, horizon_ms: int):
        self._horizon = horizon_ms
        self._first: dict[int, int] = {}
        self._more: dict[int, list[int]] = {}

    def admit(self, key: bytes, timestamp: int) -> bool:
        digest = hash(key)
        first = self._first.get(digest)
        if first is None:
            self._first[digest] = timestamp
            return True
        horizon = self._horizon
        if abs(timestamp - first) <= horizon:
            return False
        more = self._more.get(digest)
        if more is None:
            self._more[digest] = [timestamp]
            return True
        for written in more:
            if abs(timestamp - written) <= horizon:
                return False
        more.append(timestamp)
        return True

    def add(self, key: bytes, timestamp: int) -> None:
        digest = hash(key)
        if digest in self._first:
            self._more.setdefault(digest, []).append(timestamp)
        else:
            self._first[digest] = timestamp

    def __len__(self) -> int:
        return len(self._first) + sum(len(m) for m in self._more.values())


def seen_keys(dedupe: Dedupe) -> SeenKeys | SeenKeysWithin:
    return SeenKeys() if dedupe.horizon_ms is None else SeenKeysWithin(dedupe.horizon_ms)

