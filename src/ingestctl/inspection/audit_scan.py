"""The counting of `topics audit`, one pass over a window's records.

Memory stays small because keys are never kept: each K value becomes a 64-bit digest
(CPython's SipHash of the bytes, keyed per process, or BLAKE2b-64 where the interpreter's
hash is not a 64-bit SipHash) in an open-addressing table sized once from the window's
offsets, at most 75 % full: 16 bytes a slot (digest; position and group) and a count
byte, about 23 bytes a record of the window. At 10 million keys the odds that two distinct
keys share a digest are about n²/2⁶⁵ = 2.7e-6.

The hot path works on runs of one partition's messages (librdkafka hands them out that way)
and does most per-record work in C iterators (map, filter, compress, Counter); only the
table probe is a Python loop.
"""

import hashlib
import re
import sys
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from itertools import chain, compress, groupby, repeat
from operator import contains, is_not, itemgetter, not_

from ..errors import UsageError

EXAMPLE_OCCURRENCES = 10  # positions listed per example key


# Bounded side tables: positions of duplicate records (for examples) and the key bytes of
# duplicated keys; beyond these, examples are chosen among what was kept.
HIT_CAP = 1_000_000


KEY_CAP = 100_000


GROUP_CAP = 10_000  # distinct `by` values; further values count under `by_other`


ID_CAP = 10_000  # distinct schema ids listed; records with further ids: other_id_records


_EMPTY = -1  # CPython's hash() never returns -1; the BLAKE2b fallback maps it to -2


_COUNT = 0x7F  # a slot's count byte: duplicates (saturating; exact in `overflow`) ...


_CROSS = 0x80  # ... and whether the key was seen on more than one partition


_first = itemgetter(0)


_second = itemgetter(1)


_head = itemgetter(slice(0, 5))


_present = partial(is_not, None)

FAIL_ON = ("duplicates", "missing", "any")
DEFAULT_EXAMPLES = 5
MAX_EXAMPLES = 1000
_ABSENT, _OTHER = 0, 1  # group indexes: records without the `by` header, values past the cap


@dataclass(frozen=True)
class Contract:
    """What the audit checks: the idempotency header, required headers, the header to split
    counts by, and how many duplicate examples to show."""

    key_header: str | None = None
    required_headers: tuple[str, ...] = ()
    by_header: str | None = None
    examples: int = DEFAULT_EXAMPLES

    def validate(self) -> None:
        for option, name in (("--idempotency-header", self.key_header),
                             ("--by-header", self.by_header),
                             *(("--require-header", h) for h in self.required_headers)):
            if name is not None and not name.strip():
                raise UsageError(f"{option} was given an empty header name; give the name "
                                 "of a header (e.g. idempotency-key).")
        if not 0 <= self.examples <= MAX_EXAMPLES:
            raise UsageError(f"--examples must be between 0 and {MAX_EXAMPLES}.")

    def check_fail_on(self, fail_on: str | None) -> None:
        if fail_on is None:
            return
        if fail_on not in FAIL_ON:
            raise UsageError(f"--fail-on: '{fail_on}' is not one of {', '.join(FAIL_ON)}.")
        if fail_on == "duplicates" and self.key_header is None:
            raise UsageError("--fail-on duplicates needs an idempotency header: give "
                             "--idempotency-header K (or set contract.idempotency_header in "
                             "the profile).")
        if fail_on == "missing" and not self.required_headers:
            raise UsageError("--fail-on missing needs required headers: give --require-header "
                             "H (or set contract.required_headers in the profile).")
        if fail_on == "any" and self.key_header is None and not self.required_headers:
            raise UsageError("--fail-on any needs something to check: give "
                             "--idempotency-header K or --require-header H (or set them "
                             "under contract in the profile).")



def digest_function() -> Callable[[bytes], int]:
    """A 64-bit digest of bytes, never -1. CPython's hash() of bytes is SipHash (keyed per
    process, 64 bits on 64-bit builds) and ~8x cheaper than BLAKE2b: a digest only has to
    be consistent within one audit."""
    if sys.hash_info.width == 64 and sys.hash_info.algorithm.startswith("siphash"):
        return hash
    return blake2b_64


def blake2b_64(value: bytes) -> int:
    """BLAKE2b with an 8-byte digest, as a signed 64-bit int other than -1."""
    d = int.from_bytes(hashlib.blake2b(value, digest_size=8).digest(), "little", signed=True)
    return -2 if d == _EMPTY else d


class KeyIndex:
    """Which idempotency keys the window holds, as 64-bit digests in one flat array.

    Slot s is two 64-bit words at table[2s] and table[2s + 1], side by side so that a probe
    touches one cache line: the key's digest, and its first record's position and group,
    `loc << 16 | group`. Linear probing from slot digest % size. A
    position (`loc`) numbers the window's records partition by partition, ascending, offsets
    ascending within each; a group is the index of the first record's `by` value (0 without
    `by`). A separate byte per slot counts the key's duplicates (saturating at 127, the exact
    number then in `overflow`) and marks a key seen on more than one partition.

    A key's first record is its earliest in that order: when a record of a lower partition
    arrives after one of a higher partition, the two swap roles. Duplicate records are
    counted per partition and per group as they are met; keys, cross-partition keys and the
    largest repeat are read from the slots at the end.
    """

    def __init__(self, window: dict[int, tuple[int, int]]):
        spans = {p: (s, e) for p, (s, e) in sorted(window.items()) if s < e}
        self.size = self.slots_for(sum(e - s for s, e in spans.values()))
        self.end = 2 * self.size  # the table's length in words
        self.table = array("q", [_EMPTY, 0]) * self.size
        self.partitions: list[int] = []
        self.bases: list[int] = []
        self.shift: dict[int, int] = {}
        base = 0
        for p, (start, end) in spans.items():
            self.partitions.append(p)
            self.bases.append(base)
            self.shift[p] = base - start
            base += end - start
        if base >= 2**47:
            raise UsageError("the window holds more than 2^47 offsets; narrow it with "
                             "--start/--end or --partitions.")
        self.counts = bytearray(self.size)
        self.overflow: dict[int, int] = {}
        self.hit_slots = array("q")
        self.hit_locs = array("q")
        self.key_of: dict[int, bytes] = {}
        self.dups_by_partition: Counter = Counter()
        self.dups_by_group: Counter = Counter()
        self.duplicates = 0

    @staticmethod
    def slots_for(records: int) -> int:
        """Slots for a window of this many offsets: at most 75 % full. Not a power of two, so
        that a window just past one does not double the memory."""
        return max(16, -(-records * 4 // 3))

    @classmethod
    def memory_bytes(cls, records: int) -> int:
        """The table's size for a window of this many offsets: 17 bytes a slot."""
        return cls.slots_for(records) * 17

    def add(self, partition: int, digests: Iterable[int], offsets: Iterable[int],
            keys: list[bytes], groups: Iterable[int] | None = None) -> None:
        """The keyed records of one partition, in offset order: their digests, offsets and
        key bytes (and group indexes when counting by group)."""
        table, size, end, empty = self.table, self.size, self.end, _EMPTY
        base = self.shift[partition] << 16  # a slot's second word: position << 16 | group
        if groups is None:
            for h, o, k in zip(digests, offsets, keys, strict=True):
                i = (h % size) << 1
                d = table[i]
                while d != h:
                    if d == empty:
                        table[i] = h
                        table[i + 1] = (o << 16) + base
                        break
                    i += 2
                    if i == end:
                        i = 0
                    d = table[i]
                else:
                    self._hit(i, partition, o + (base >> 16), k, 0)
            return
        for h, o, k, g in zip(digests, offsets, keys, groups, strict=True):
            i = (h % size) << 1
            d = table[i]
            while d != h:
                if d == empty:
                    table[i] = h
                    table[i + 1] = (o << 16) + base + g
                    break
                i += 2
                if i == end:
                    i = 0
                d = table[i]
            else:
                self._hit(i, partition, o + (base >> 16), k, g)

    def _hit(self, i: int, partition: int, loc: int, key: bytes, group: int) -> None:
        """A record whose key the slot at table index i already holds."""
        word = self.table[i + 1]
        stored, stored_group = word >> 16, word & 0xFFFF
        stored_partition = self.partition_at(stored)
        duplicate_loc, duplicate_partition, duplicate_group = loc, partition, group
        if loc < stored:  # this record comes first in the window's order: roles swap
            self.table[i + 1] = loc << 16 | group
            duplicate_loc, duplicate_partition, duplicate_group = (
                stored, stored_partition, stored_group)
        self.duplicates += 1
        self.dups_by_partition[duplicate_partition] += 1
        self.dups_by_group[duplicate_group] += 1
        slot = i >> 1
        count = self.counts[slot]
        repeats = count & _COUNT
        if repeats < _COUNT:
            repeats += 1
            if repeats == _COUNT:
                self.overflow[slot] = _COUNT
        else:
            self.overflow[slot] += 1
        cross = _CROSS if (count & _CROSS or stored_partition != partition) else 0
        self.counts[slot] = cross | repeats
        if len(self.hit_slots) < HIT_CAP:
            self.hit_slots.append(slot)
            self.hit_locs.append(duplicate_loc)
        if slot not in self.key_of and len(self.key_of) < KEY_CAP:
            self.key_of[slot] = key

    def partition_at(self, loc: int) -> int:
        return self.partitions[bisect_right(self.bases, loc) - 1]

    def position(self, loc: int) -> tuple[int, int]:
        """(partition, offset) of a position."""
        p = self.partition_at(loc)
        return p, loc - self.shift[p]

    def first(self, slot: int) -> tuple[int, int]:
        """(position, group) of a slot's first record."""
        word = self.table[2 * slot + 1]
        return word >> 16, word & 0xFFFF

    def repeats(self, slot: int) -> int:
        """Duplicates of the key in a slot (its records minus one)."""
        count = self.counts[slot] & _COUNT
        return self.overflow[slot] if count == _COUNT else count

    def duplicated(self) -> Iterable[int]:
        """The slots of keys with duplicates."""
        return (m.start() for m in re.finditer(rb"[^\x00]", self.counts))

    def summary(self, group_count: int, examples: int) -> tuple[dict, dict[int, dict]]:
        """Overall and per group index: keys, cross_partition_keys, max_repeats; and the
        examples: the keys with the most duplicates (ties: first record first)."""
        total = {"keys": 0, "cross_partition_keys": 0, "max_repeats": 0}
        per_group = {g: dict(total) for g in range(group_count)}
        candidates = []
        for slot in self.duplicated():
            repeats = self.repeats(slot)
            cross = 1 if self.counts[slot] & _CROSS else 0
            loc, group = self.first(slot)
            for t in (total, per_group[group]):
                t["keys"] += 1
                t["cross_partition_keys"] += cross
                t["max_repeats"] = max(t["max_repeats"], repeats)
            if slot in self.key_of:
                candidates.append((-repeats, loc, slot))
        candidates.sort()
        total["examples"] = self._examples([slot for _, _, slot in candidates[:examples]])
        return total, per_group

    def _examples(self, chosen: list[int]) -> list[dict]:
        if not chosen:
            return []
        others: dict[int, list[int]] = {slot: [] for slot in chosen}
        for slot, loc in zip(self.hit_slots, self.hit_locs, strict=True):
            if slot in others:
                others[slot].append(loc)
        out = []
        for slot in chosen:
            locs = sorted([self.first(slot)[0], *others[slot]])
            key_text, encoding = _text(self.key_of[slot])
            example = {"key": key_text, "records": self.repeats(slot) + 1,
                       "partitions": sorted({self.partition_at(loc) for loc in locs}),
                       "occurrences": [{"partition": p, "offset": o} for p, o in
                                       map(self.position, locs[:EXAMPLE_OCCURRENCES])]}
            if encoding == "base64":
                example["key_encoding"] = "base64"
            out.append(example)
        return out


def _text(value: bytes) -> tuple[str, str]:
    try:
        return value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        import base64

        return base64.b64encode(value).decode("ascii"), "base64"


class Scan:
    """Everything the audit counts, fed batches of messages (anything with partition(),
    offset(), key(), value(), headers() and len() of the value, as confluent_kafka's
    Message) of the window's partitions, each partition in offset order."""

    def __init__(self, contract: Contract, window: dict[int, tuple[int, int]],
                 schema_ids: bool = False, digest: Callable[[bytes], int] | None = None):
        self.contract = contract
        self.window = dict(window)
        top = max(window, default=-1) + 1
        self.last = [-1] * top  # last offset in the window, per partition number
        self.next = [0] * top  # for progress: the offset after the last one read
        for p, (start, end) in window.items():
            self.last[p] = end - 1
            self.next[p] = start
        self.records = [0] * top
        self.bytes = [0] * top
        self.digest = digest or digest_function()
        self.key_header = contract.key_header
        self.required = tuple(dict.fromkeys(contract.required_headers))
        self.by = contract.by_header
        self._needs_dicts = bool(self.key_header or self.required or self.by)
        self.keys = KeyIndex(window) if self.key_header else None
        self.without_key = 0
        self.missing = {h: 0 for h in self.required}
        # by: group index per value (bytes); 0 records without the header, 1 values past the
        # cap; per group: records, records without the key, missing per header
        self.group_of: dict[bytes | None, int] = {None: _ABSENT}
        self.group_values: list[bytes | None] = [None, None]
        self.group_records: Counter = Counter()
        self.group_without_key: Counter = Counter()
        self.group_missing = {h: Counter() for h in self.required}
        self.schema_ids = schema_ids
        self.ids: Counter = Counter()  # 5-byte wire-format head -> records
        self.not_wire = 0
        self.tombstones = 0
        self.other_id_records = 0

    def feed(self, msgs: list) -> list[int]:
        """Count a batch; returns the partitions that reached their window's end in it
        (messages past the end are left out)."""
        if not msgs:
            return []
        kind = type(msgs[0])  # unbound methods: map() calls them in C, ~5x a methodcaller
        finished = []
        for p, run in groupby(msgs, kind.partition):
            run = list(run)
            last = self.last[p]
            offsets = None
            if run[-1].offset() >= last:
                offsets = list(map(kind.offset, run))
                cut = bisect_right(offsets, last)
                finished.append(p)
                if cut < len(run):
                    run, offsets = run[:cut], offsets[:cut]
                    if not run:
                        continue
            self.next[p] = run[-1].offset() + 1
            self._count(kind, p, run, offsets)
        return finished

    def _count(self, kind, p: int, run: list, offsets: list[int] | None) -> None:
        n = len(run)
        self.records[p] += n
        hss = list(map(kind.headers, run))
        size = sum(map(len, run)) + sum(map(len, filter(None, map(kind.key, run))))
        flat = list(chain.from_iterable(filter(None, hss)))
        if flat:
            size += len("".join(map(_first, flat)).encode())
            size += sum(map(len, filter(None, map(_second, flat))))
        self.bytes[p] += size
        if self.schema_ids:
            self._count_schemas(kind, n, run)
        if not self._needs_dicts:
            return
        if None in hss:
            hss = [h or () for h in hss]
        ds = list(map(dict, hss))  # a repeated header name: its last value counts
        groups = None
        if self.by is not None:
            values = list(map(dict.get, ds, repeat(self.by)))
            groups = list(map(self.group_of.get, values))
            if None in groups:
                groups = self._new_groups(values)
            self.group_records.update(groups)
        for header in self.required:
            missing = n - sum(map(contains, ds, repeat(header)))
            if missing:
                self.missing[header] += missing
                if groups is not None:
                    self.group_missing[header].update(
                        compress(groups, map(not_, map(contains, ds, repeat(header)))))
        if self.key_header is not None:
            kvs = list(map(dict.get, ds, repeat(self.key_header)))
            keys = list(filter(None, kvs))  # an empty value is no key
            if offsets is None:
                offsets = list(map(kind.offset, run))
            if len(keys) < n:
                self.without_key += n - len(keys)
                if groups is not None:
                    self.group_without_key.update(compress(groups, map(not_, kvs)))
                offsets = compress(offsets, kvs)
                if groups is not None:
                    groups = compress(groups, kvs)
            self.keys.add(p, map(self.digest, keys), offsets, keys, groups)

    def _new_groups(self, values: list) -> list[int]:
        for value in values:
            if value not in self.group_of:
                if len(self.group_values) - 2 < GROUP_CAP:
                    self.group_of[value] = len(self.group_values)
                    self.group_values.append(value)
                else:
                    self.group_of[value] = _OTHER
        return list(map(self.group_of.get, values))

    def _count_schemas(self, kind, n: int, run: list) -> None:
        heads = Counter(map(_head, filter(_present, map(kind.value, run))))
        self.tombstones += n - sum(heads.values())
        ids = self.ids
        for head, count in heads.items():
            if len(head) == 5 and head[0] == 0:
                if head in ids or len(ids) < ID_CAP:
                    ids[head] += count
                else:
                    self.other_id_records += count
            else:
                self.not_wire += count

    # -- results -----------------------------------------------------------------------------

    @property
    def total_records(self) -> int:
        return sum(self.records)

    def offsets_read(self) -> int:
        return sum(self.next[p] - start for p, (start, _) in self.window.items())

    def result(self) -> dict:
        """The counts as the JSON document's `records`, `duplicates`, `missing_headers`, `by`,
        `partitions` (schemas are added by the caller, which knows the registry)."""
        total = self.total_records
        group_count = len(self.group_values)
        duplicates = None
        per_group_keys: dict[int, dict] = {}
        if self.keys is not None:
            overall, per_group_keys = self.keys.summary(group_count, self.contract.examples)
            duplicates = {
                "header": self.key_header,
                "records": self.keys.duplicates,
                "keys": overall["keys"],
                "cross_partition_keys": overall["cross_partition_keys"],
                "max_repeats": overall["max_repeats"],
                "without_key": self.without_key,
                "examples": overall["examples"],
            }
        partitions = []
        sizes = [self.records[p] for p in sorted(self.window)]
        mean = total / len(sizes) if sizes else 0
        for p, (start, end) in sorted(self.window.items()):
            partitions.append({
                "partition": p, "start": start, "end": end,
                "records": self.records[p], "bytes": self.bytes[p],
                "duplicates": self.keys.dups_by_partition[p] if self.keys else None,
                "share": round(self.records[p] / total, 4) if total else 0.0,
            })
        doc = {
            "records": total,
            "bytes": sum(self.bytes),
            "duplicates": duplicates,
            "missing_headers": dict(self.missing),
            "by_header": self.by,
            "by": None, "by_absent": None, "by_other": None,
            "partitions": partitions,
            "partition_skew": round(max(sizes) / mean, 3) if total else None,
        }
        if self.by is not None:
            def group_doc(g: int) -> dict:
                entry = {"records": self.group_records[g],
                         "missing_headers": {h: self.group_missing[h][g]
                                             for h in self.required}}
                if self.keys is not None:
                    keys = per_group_keys[g]
                    entry["duplicates"] = {
                        "records": self.keys.dups_by_group[g], "keys": keys["keys"],
                        "cross_partition_keys": keys["cross_partition_keys"],
                        "max_repeats": keys["max_repeats"],
                        "without_key": self.group_without_key[g]}
                else:
                    entry["duplicates"] = None
                return entry

            by = {}
            for g in range(2, group_count):
                text, encoding = _text(self.group_values[g])
                by[text if encoding == "utf-8" else f"base64:{text}"] = group_doc(g)
            doc["by"] = dict(sorted(by.items()))
            doc["by_absent"] = group_doc(_ABSENT) if self.group_records[_ABSENT] else None
            doc["by_other"] = group_doc(_OTHER) if self.group_records[_OTHER] else None
        return doc

    def schema_counts(self) -> dict[int, int]:
        return {int.from_bytes(head[1:5], "big"): n for head, n in self.ids.items()}

