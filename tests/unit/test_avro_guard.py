"""The guard against corrupt block counts of arrays whose items take no bytes (fastavro would
build the list and run out of memory). Pure logic: schemas are parsed locally."""

import io
import json
import struct

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestctl.config import Settings
from ingestctl.serde import avro_guard
from ingestctl.serde.schema import CORRUPT_PAYLOAD, InvalidRecordError, Registry, Schema

EMPTY = {"type": "record", "name": "Empty", "fields": []}
NOTHING = {"type": "record", "name": "Nothing", "fields": [{"name": "n", "type": "null"}]}
WIDE = {  # every kind of type, with arrays of items that take no bytes
    "type": "record", "name": "Event", "namespace": "t", "fields": [
        {"name": "flag", "type": "boolean"},
        {"name": "n", "type": "int"}, {"name": "big", "type": "long"},
        {"name": "ratio", "type": "float"}, {"name": "exact", "type": "double"},
        {"name": "text", "type": "string"}, {"name": "blob", "type": "bytes"},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B", "C"]}},
        {"name": "tag", "type": {"type": "fixed", "name": "Tag", "size": 3}},
        {"name": "maybe", "type": ["null", "string", EMPTY]},
        {"name": "marks", "type": {"type": "array", "items": "null"}},
        {"name": "empties", "type": {"type": "array", "items": "Empty"}},
        {"name": "nothings", "type": {"type": "array", "items": NOTHING}},
        {"name": "counts", "type": {"type": "map", "values": "int"}},
        {"name": "nested", "type": {"type": "array", "items": {
            "type": "array", "items": "null"}}},
    ]}
PARSED = fastavro.parse_schema(WIDE)


def zigzag(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


@pytest.mark.parametrize("schema, guarded", [
    ({"type": "array", "items": "null"}, True),
    ({"type": "array", "items": {"type": "null"}}, True),
    ({"type": "array", "items": EMPTY}, True),
    ({"type": "array", "items": {"type": "fixed", "name": "Z", "size": 0}}, True),
    (["null", {"type": "array", "items": NOTHING}], True),
    ({"type": "map", "values": {"type": "array", "items": "null"}}, True),
    ({"type": "array", "items": "int"}, False),
    ({"type": "array", "items": ["null", "int"]}, False),  # the branch index takes a byte
    ({"type": "map", "values": "null"}, False),  # each key takes a byte
    ({"type": "record", "name": "Node", "fields": [  # recursive, finite
        {"name": "next", "type": ["null", "Node"]}]}, False),
    (WIDE, True),
])
def test_which_schemas_need_the_guard(schema, guarded):
    assert avro_guard.needs_guard(fastavro.parse_schema(schema)) is guarded


def values():
    text = st.text(max_size=20)
    return st.fixed_dictionaries({
        "flag": st.booleans(), "n": st.integers(-2**31, 2**31 - 1),
        "big": st.integers(-2**63, 2**63 - 1),
        "ratio": st.floats(width=32, allow_nan=False), "exact": st.floats(allow_nan=False),
        "text": text, "blob": st.binary(max_size=20), "id": st.uuids().map(str),
        "at": st.integers(0, 2**41), "kind": st.sampled_from(["A", "B", "C"]),
        "tag": st.binary(min_size=3, max_size=3),
        "maybe": st.one_of(st.none(), text, st.just({})),
        "marks": st.lists(st.none(), max_size=50), "empties": st.lists(st.just({}), max_size=9),
        "nothings": st.lists(st.just({"n": None}), max_size=9),
        "counts": st.dictionaries(text, st.integers(-2**31, 2**31 - 1), max_size=5),
        "nested": st.lists(st.lists(st.none(), max_size=5), max_size=5),
    })


@settings(max_examples=200, deadline=None)
@given(values())
def test_the_walk_reads_every_valid_value_to_its_end_and_passes_it(value):
    out = io.BytesIO()
    fastavro.schemaless_writer(out, PARSED, value)
    data = out.getvalue()
    assert avro_guard._walk(PARSED, PARSED["__named_schemas"], data, 0) == len(data)
    assert avro_guard.excessive_count(PARSED, data) is None


def test_huge_counts_of_empty_items_are_refused_others_left_to_fastavro():
    array = fastavro.parse_schema({"type": "array", "items": "null"})
    for blocks in ([2**40], [-(2**40)], [600_000, 600_000]):
        data = b"".join(zigzag(n) + (zigzag(0) if n < 0 else b"") for n in blocks) + zigzag(0)
        problem = avro_guard.excessive_count(array, data)
        assert problem is not None and "items of a type that takes no bytes" in problem
    assert avro_guard.excessive_count(array, zigzag(1_000_000) + zigzag(0)) is None
    ints = fastavro.parse_schema({"type": "array", "items": "int"})
    assert avro_guard.excessive_count(ints, zigzag(2**40) + zigzag(0)) is None  # runs out
    assert avro_guard.excessive_count(array, b"\xff" * 12) is None  # a broken varint


def test_decode_refuses_the_corrupt_count_before_fastavro_sees_it():
    registry = Registry(Settings(schema_registry_url="http://127.0.0.1:1"))
    text = json.dumps({"type": "record", "name": "Batch", "fields": [
        {"name": "id", "type": "int"}, {"name": "acks", "type": {"type": "array",
                                                                 "items": "null"}}]})
    parsed = fastavro.parse_schema(json.loads(text))
    registry._schemas[9] = Schema(9, "AVRO", text, None, parsed, guarded=True)
    header = b"\x00" + struct.pack(">I", 9)
    assert registry.decode(header + zigzag(5) + zigzag(3) + zigzag(0)).value == {
        "id": 5, "acks": [None, None, None]}
    corrupt = zigzag(5) + zigzag(2**40) + zigzag(0)
    assert avro_guard.excessive_count(parsed, corrupt) is not None  # else decode would OOM
    with pytest.raises(InvalidRecordError) as caught:
        registry.decode(header + corrupt)
    assert caught.value.reason == CORRUPT_PAYLOAD
    assert "schema id 9: an array claims 1,099,511,627,776 items" in caught.value.message
