"""`topics audit` counting without a broker: the compact key table and the scan against a
naive implementation that keeps every key (hypothesis), window ends, probe chains, counts
past a byte, schema heads, and the option checks."""

import struct
from collections import Counter, defaultdict
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestctl.errors import UsageError
from ingestctl.inspection.audit import failures
from ingestctl.inspection.audit_scan import (
    Contract,
    KeyIndex,
    Scan,
    blake2b_64,
    digest_function,
)


@dataclass
class Msg:
    """What the scan reads of a confluent_kafka Message."""

    p: int
    o: int
    k: bytes | None
    v: bytes | None
    h: list | None

    def partition(self):
        return self.p

    def offset(self):
        return self.o

    def key(self):
        return self.k

    def value(self):
        return self.v

    def headers(self):
        return self.h

    def __len__(self):
        return len(self.v) if self.v is not None else 0


def naive(msgs: list[Msg], contract: Contract, window: dict[int, tuple[int, int]],
          schema_ids: bool = False) -> dict:
    """The audit's counts with every key kept, the records sorted into the window's order
    (partition, then offset): the definition the compact scan must match."""
    inside = sorted((m for m in msgs if window[m.p][0] <= m.o < window[m.p][1]),
                    key=lambda m: (m.p, m.o))
    by = contract.by_header
    required = list(dict.fromkeys(contract.required_headers))

    def header(m, name):
        return dict(m.h or ()).get(name)

    def group(m):
        return header(m, by) if by is not None else None

    out = {"records": len(inside), "missing": Counter(), "without_key": 0,
           "records_by_group": Counter(), "missing_by_group": defaultdict(Counter),
           "without_key_by_group": Counter(), "dups_by_partition": Counter(),
           "dups_by_group": Counter(), "bytes": Counter()}
    first_of: dict[bytes, Msg] = {}
    records_of: dict[bytes, list[Msg]] = defaultdict(list)
    for m in inside:
        size = len(m) + (len(m.k) if m.k is not None else 0)
        size += sum(len(n.encode()) + (len(v) if v is not None else 0) for n, v in m.h or ())
        out["bytes"][m.p] += size
        g = group(m)
        out["records_by_group"][g] += 1
        names = dict(m.h or ())
        for r in required:
            if r not in names:
                out["missing"][r] += 1
                out["missing_by_group"][r][g] += 1
        if contract.key_header is None:
            continue
        key = header(m, contract.key_header)
        if not key:
            out["without_key"] += 1
            out["without_key_by_group"][g] += 1
            continue
        records_of[key].append(m)
        if key in first_of:
            out["dups_by_partition"][m.p] += 1
            out["dups_by_group"][g] += 1
        else:
            first_of[key] = m
    keys = {k: ms for k, ms in records_of.items() if len(ms) > 1}
    out["duplicates"] = sum(len(ms) - 1 for ms in keys.values())
    out["keys"] = len(keys)
    out["cross"] = sum(1 for ms in keys.values() if len({m.p for m in ms}) > 1)
    out["max_repeats"] = max((len(ms) - 1 for ms in keys.values()), default=0)
    out["keys_by_group"] = Counter(group(ms[0]) for ms in keys.values())
    out["cross_by_group"] = Counter(group(ms[0]) for ms in keys.values()
                                    if len({m.p for m in ms}) > 1)
    out["max_by_group"] = {}
    for ms in keys.values():
        g = group(ms[0])
        out["max_by_group"][g] = max(out["max_by_group"].get(g, 0), len(ms) - 1)
    ranked = sorted(keys.items(), key=lambda kv: (-(len(kv[1]) - 1), kv[1][0].p, kv[1][0].o))
    out["examples"] = [
        {"key": k.decode(), "records": len(ms), "partitions": sorted({m.p for m in ms}),
         "occurrences": [{"partition": m.p, "offset": m.o} for m in ms[:10]]}
        for k, ms in ranked[:contract.examples]]
    return out


def compare(msgs_in_delivery_order, batches, contract, window, digest=None):
    scan = Scan(contract, window, digest=digest)
    finished = set()
    for batch in batches(msgs_in_delivery_order):
        finished.update(scan.feed(batch))
    doc = scan.result()
    expect = naive(msgs_in_delivery_order, contract, window)
    assert doc["records"] == expect["records"]
    assert doc["missing_headers"] == {h: expect["missing"][h]
                                      for h in dict.fromkeys(contract.required_headers)}
    for row in doc["partitions"]:
        assert row["records"] == sum(1 for m in msgs_in_delivery_order if m.p == row["partition"]
                                     and window[m.p][0] <= m.o < window[m.p][1])
        assert row["bytes"] == expect["bytes"][row["partition"]]
        if contract.key_header:
            assert row["duplicates"] == expect["dups_by_partition"][row["partition"]]
    if contract.key_header:
        dups = doc["duplicates"]
        assert (dups["records"], dups["keys"], dups["cross_partition_keys"],
                dups["max_repeats"], dups["without_key"]) == (
            expect["duplicates"], expect["keys"], expect["cross"], expect["max_repeats"],
            expect["without_key"])
        assert dups["examples"] == expect["examples"]
    else:
        assert doc["duplicates"] is None
    if contract.by_header:
        groups = {None if name is None else name.encode(): entry
                  for name, entry in doc["by"].items()}
        if doc["by_absent"] is not None:
            groups[None] = doc["by_absent"]
        assert {g: e["records"] for g, e in groups.items()} == dict(expect["records_by_group"])
        for g, entry in groups.items():
            assert entry["missing_headers"] == {
                h: expect["missing_by_group"][h][g]
                for h in dict.fromkeys(contract.required_headers)}
            if contract.key_header:
                assert entry["duplicates"] == {
                    "records": expect["dups_by_group"][g], "keys": expect["keys_by_group"][g],
                    "cross_partition_keys": expect["cross_by_group"][g],
                    "max_repeats": expect["max_by_group"].get(g, 0),
                    "without_key": expect["without_key_by_group"][g]}
    return scan, doc, finished


# --- hypothesis: the compact scan equals the naive one -------------------------------------

KEYS = [f"k{i}".encode() for i in range(12)]
TENANTS = [b"acme", b"globex", b"initech"]


@st.composite
def streams(draw):
    partitions = draw(st.integers(1, 4))
    per_partition = {}
    for p in range(partitions):
        base = draw(st.integers(0, 5))
        records = []
        offset = base
        for _ in range(draw(st.integers(0, 25))):
            offset += draw(st.sampled_from([1, 1, 1, 2]))  # gaps: transaction markers
            headers = []
            if draw(st.integers(0, 9)):
                headers.append(("idempotency-key", draw(st.sampled_from(KEYS + [b""]))))
            if draw(st.integers(0, 5)):
                headers.append(("tenant", draw(st.sampled_from(TENANTS))))
            if draw(st.integers(0, 7)):
                headers.append(("producer", draw(st.sampled_from([b"a", None]))))
            headers = draw(st.permutations(headers))
            records.append(Msg(p, offset, draw(st.sampled_from([None, b"key", "ü".encode()])),
                               draw(st.sampled_from([None, b"", b"\x00\x00\x00\x00\x07xy",
                                                     b"{json}"])),
                               list(headers) if headers or draw(st.booleans()) else None))
        per_partition[p] = records
    # Delivery: each partition in offset order, partitions interleaved in chunks.
    queues = {p: list(rs) for p, rs in per_partition.items()}
    delivered = []
    while any(queues.values()):
        p = draw(st.sampled_from(sorted(p for p, q in queues.items() if q)))
        take = draw(st.integers(1, 6))
        delivered += queues[p][:take]
        del queues[p][:take]
    window = {}
    for p, rs in per_partition.items():
        offsets = [m.o for m in rs]
        lo = min(offsets, default=0)
        hi = max(offsets, default=0) + 1
        start = draw(st.integers(lo, hi))
        end = draw(st.integers(start, hi + 2))
        window[p] = (start, end)
    # Messages before the start are never delivered (the reader starts there).
    delivered = [m for m in delivered if m.o >= window[m.p][0]]
    cuts = draw(st.lists(st.integers(1, 10), max_size=20))
    return delivered, window, cuts


def batches_by(cuts):
    def split(msgs):
        out, i = [], 0
        for n in cuts:
            if i >= len(msgs):
                break
            out.append(msgs[i:i + n])
            i += n
        if i < len(msgs):
            out.append(msgs[i:])
        return out
    return split


CONTRACTS = st.builds(
    Contract,
    key_header=st.sampled_from(["idempotency-key", None]),
    required_headers=st.sampled_from([(), ("producer",), ("producer", "tenant", "producer")]),
    by_header=st.sampled_from([None, "tenant"]),
    examples=st.integers(0, 4),
)


@settings(max_examples=300, deadline=None)
@given(stream=streams(), contract=CONTRACTS)
def test_compact_scan_equals_naive_dict_of_keys(stream, contract):
    delivered, window, cuts = stream
    compare(delivered, batches_by(cuts), contract, window)


@settings(max_examples=100, deadline=None)
@given(stream=streams(), contract=CONTRACTS, home=st.sampled_from(["first", "last"]))
def test_long_probe_chains_give_the_same_counts(stream, contract, home):
    """Digests that all start at one slot: the first (a long chain), or the last (the chain
    wraps around to the table's start)."""
    delivered, window, cuts = stream
    size = KeyIndex(window).size
    start = 0 if home == "first" else size - 1
    ids = {k: i for i, k in enumerate(KEYS)}
    compare(delivered, batches_by(cuts), contract, window,
            digest=lambda k: (ids[k] + 1) * size + start)


@settings(max_examples=50, deadline=None)
@given(stream=streams(), contract=CONTRACTS)
def test_the_blake2b_digest_gives_the_same_counts(stream, contract):
    """The digest used where the interpreter's hash is not a 64-bit SipHash."""
    delivered, window, cuts = stream
    compare(delivered, batches_by(cuts), contract, window, digest=blake2b_64)


def test_digests():
    assert digest_function() is hash  # CPython on 64 bits: SipHash
    assert blake2b_64(b"k") == blake2b_64(b"k") != blake2b_64(b"l")
    assert -2**63 <= blake2b_64(b"k") < 2**63


# --- specific behaviours --------------------------------------------------------------------

def keyed(p, o, key, **headers):
    return Msg(p, o, None, b"v", [("idempotency-key", key),
                                  *((n, v.encode()) for n, v in headers.items())])


def test_first_record_is_the_lowest_partition_whatever_the_delivery_order():
    window = {0: (0, 10), 1: (0, 10)}
    contract = Contract(key_header="idempotency-key", by_header="tenant")
    late_low = [keyed(1, 0, b"a", tenant="t1"), keyed(0, 5, b"a", tenant="t0")]
    scan = Scan(contract, window)
    scan.feed(late_low)
    doc = scan.result()
    # Partition 0's record is the first; partition 1's is the duplicate.
    assert [r["duplicates"] for r in doc["partitions"]] == [0, 1]
    assert doc["by"]["t1"]["duplicates"]["records"] == 1
    assert doc["by"]["t0"]["duplicates"]["keys"] == 1  # the key belongs to its first record
    assert doc["by"]["t1"]["duplicates"]["keys"] == 0
    assert doc["duplicates"]["cross_partition_keys"] == 1
    assert doc["duplicates"]["examples"] == [{
        "key": "a", "records": 2, "partitions": [0, 1],
        "occurrences": [{"partition": 0, "offset": 5}, {"partition": 1, "offset": 0}]}]


def test_repeats_past_a_byte_are_exact():
    window = {0: (0, 1000)}
    scan = Scan(Contract(key_header="idempotency-key"), window)
    scan.feed([keyed(0, o, b"same") for o in range(300)] + [keyed(0, 300, b"other")])
    dups = scan.result()["duplicates"]
    assert (dups["records"], dups["keys"], dups["max_repeats"]) == (299, 1, 299)
    assert dups["examples"][0]["records"] == 300
    assert len(dups["examples"][0]["occurrences"]) == 10


def test_messages_past_the_end_are_left_out_and_the_partition_finished():
    window = {0: (0, 3), 1: (0, 100)}
    scan = Scan(Contract(key_header="idempotency-key"), window)
    finished = scan.feed([keyed(0, 0, b"a"), keyed(0, 2, b"b"), keyed(0, 3, b"a"),
                          keyed(1, 0, b"c")])
    assert finished == [0]
    doc = scan.result()
    assert doc["records"] == 3 and doc["duplicates"]["records"] == 0
    # A partition whose last offsets hold transaction markers: the first message past the
    # end finishes it too.
    scan = Scan(Contract(), {0: (0, 3)})
    assert scan.feed([keyed(0, 0, b"a"), keyed(0, 5, b"a")]) == [0]
    assert scan.result()["records"] == 1


def test_bytes_are_key_value_and_headers_as_utf8():
    scan = Scan(Contract(), {0: (0, 10)})
    scan.feed([Msg(0, 0, b"kk", b"vvv", [("ü", b"12"), ("n", None)]),
               Msg(0, 1, None, None, None)])
    assert scan.result()["partitions"][0]["bytes"] == 2 + 3 + 2 + 2 + 1


def test_schema_heads():
    scan = Scan(Contract(), {0: (0, 10)}, schema_ids=True)
    wire7 = b"\x00" + struct.pack(">I", 7) + b"payload"
    wire9 = b"\x00" + struct.pack(">I", 9)
    scan.feed([Msg(0, 0, None, wire7, None), Msg(0, 1, None, wire7, None),
               Msg(0, 2, None, wire9, None), Msg(0, 3, None, None, None),
               Msg(0, 4, None, b"", None), Msg(0, 5, None, b"\x00\x01", None),
               Msg(0, 6, None, b'{"a":1}', None)])
    assert scan.schema_counts() == {7: 2, 9: 1}
    assert (scan.tombstones, scan.not_wire) == (1, 3)


def test_the_table_for_ten_million_records_fits_the_memory_goal():
    # 13.3 million slots of 16 bytes + a count byte: 227 MB, under 400 MB with the process.
    assert KeyIndex.slots_for(10_000_000) == 13_333_334
    assert KeyIndex.memory_bytes(10_000_000) == 13_333_334 * 17 < 230_000_000
    assert KeyIndex({0: (0, 100)}).size == 134
    assert KeyIndex({0: (5, 5)}).size == 16


def test_group_values_that_are_not_utf8_are_marked():
    scan = Scan(Contract(by_header="tenant"), {0: (0, 10)})
    scan.feed([Msg(0, 0, None, b"v", [("tenant", b"\xff")]), Msg(0, 1, None, b"v", [])])
    doc = scan.result()
    assert list(doc["by"]) == ["base64:/w=="]
    assert doc["by_absent"]["records"] == 1


@pytest.mark.parametrize("contract, fail_on, sentence", [
    (Contract(), "sometimes", "--fail-on: 'sometimes' is not one of duplicates, missing, any."),
    (Contract(), "duplicates", "--fail-on duplicates needs an idempotency header"),
    (Contract(key_header="k"), "missing", "--fail-on missing needs required headers"),
    (Contract(), "any", "--fail-on any needs something to check"),
    (Contract(key_header=" "), None, "--idempotency-header was given an empty header name"),
    (Contract(examples=-1), None, "--examples must be between 0 and 1000"),
])
def test_option_checks(contract, fail_on, sentence):
    with pytest.raises(UsageError) as exc:
        contract.validate()
        contract.check_fail_on(fail_on)
    assert sentence in exc.value.message


def test_failures_sentence():
    doc = {"topic": "t", "duplicates": {"records": 3, "keys": 2, "header": "idem"},
           "missing_headers": {"tenant": 0, "producer": 4}}
    assert failures(doc, None) is None
    assert failures(doc, "missing") == (
        "t breaks its contract in the window: 4 record(s) without header producer "
        "(--fail-on missing).")
    assert "3 duplicate record(s) of 2 key(s) by header idem" in failures(doc, "any")
    clean = {"topic": "t", "duplicates": {"records": 0, "keys": 0, "header": "idem"},
             "missing_headers": {"producer": 0}}
    assert failures(clean, "any") is None


def test_a_window_whose_key_table_would_not_fit_is_refused_before_reading():
    from ingestctl.inspection.audit import _check_memory

    _check_memory(1_000_000)  # 23 MB: fine anywhere
    with pytest.raises(UsageError) as exc:
        _check_memory(10**12)  # a trillion offsets: 21 TiB of table
    assert "the window holds 1,000,000,000,000 offsets" in exc.value.message
    assert "narrow it (--start/--end, --partitions)" in exc.value.message


def test_the_table_keeps_big_numbers_whole_in_80_columns():
    """Offsets in the trillions, a long tenant and a long key: numbers stay whole."""
    import io

    from rich.console import Console

    from ingestctl.cli.views import audit as audit_view

    big = 1_234_567_890_123
    doc = {
        "topic": "payments.authorized", "records": 9_876_543_210, "bytes": 98_765_432_100_000,
        "window": {"start": "2026-11-26T02:10:00.000Z", "end": None, "partitions": [0, 11],
                   "offsets": 9_876_543_210, "ends_fixed_at": "2026-11-26T03:40:00.000Z"},
        "duplicates": {"header": "idempotency-key", "records": 123_456_789, "keys": 98_765_432,
                       "cross_partition_keys": 1_234_567, "max_repeats": 4_321,
                       "without_key": 7,
                       "examples": [{"key": "k" * 60, "records": 4_322, "partitions": [0, 11],
                                     "occurrences": [{"partition": 11, "offset": big + i}
                                                     for i in range(10)]}]},
        "missing_headers": {"schema-version": 55_555},
        "by_header": "tenant",
        "by": {"a-very-long-tenant-name-that-goes-on-and-on": {
            "records": 9_876_543_210, "missing_headers": {"schema-version": 55_555},
            "duplicates": {"records": 123_456_789, "keys": 98_765_432,
                           "cross_partition_keys": 1_234_567, "max_repeats": 4_321,
                           "without_key": 7}}},
        "by_absent": None, "by_other": None,
        "partitions": [{"partition": p, "start": big, "end": big + 4_938_271_605,
                        "records": 4_938_271_605, "bytes": 49_382_716_050_000,
                        "duplicates": 61_728_394, "share": 0.5} for p in (0, 11)],
        "partition_skew": 1.0, "schemas": None,
    }
    out = io.StringIO()
    console = Console(file=out, width=80, highlight=False, soft_wrap=False)
    for item in audit_view(doc):
        console.print(item, crop=False)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80, out.getvalue()
    assert any(line.split() == ["11", str(big), str(big + 4_938_271_605), "4938271605",
                                "49382716050000", "61728394", "50.0%"] for line in lines)
    # The tenant is shortened before any number is cut.
    assert any(line.split()[1:] == ["9876543210", "123456789", "98765432", "1234567", "4321",
                                    "55555"]
               and line.startswith("a-very-long-tenant") and "…" in line
               for line in lines), out.getvalue()
    assert any("4322" in line.split() for line in lines), out.getvalue()
