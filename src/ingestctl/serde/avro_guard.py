"""A guard fastavro needs against one kind of corrupt Avro value.

An array's items are preceded by a block count. Where the items take no bytes (null, a
record of such fields, a fixed of size 0), a corrupt count such as 2^40 is not an error to
fastavro: it builds a list of 2^40 items, and the process runs out of memory. For the rare
schema with such arrays, a value is first walked over (nothing is built) and refused when
one of those arrays claims more than MAX_EMPTY_ITEMS items. Every other count is bounded by
the value's own bytes, since each item takes at least one.
"""

MAX_EMPTY_ITEMS = 1_000_000

_FIXED_SIZE = {"boolean": 1, "float": 4, "double": 8}
_VARINTS = ("int", "long", "enum")


class _Corrupt(Exception):
    """The walk met something fastavro will reject by itself (it says why, better)."""


def needs_guard(parsed: dict) -> bool:
    """Whether the parsed schema (fastavro.parse_schema) holds an array of items that take
    no bytes."""
    named = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}
    seen: set[int] = set()

    def visit(schema) -> bool:
        if isinstance(schema, str):
            schema = named.get(schema, schema)
            if isinstance(schema, str):
                return False
        if isinstance(schema, list):
            return any(visit(branch) for branch in schema)
        if id(schema) in seen:
            return False
        seen.add(id(schema))
        kind = schema["type"]
        if kind == "array":
            return _empty(schema["items"], named, frozenset()) or visit(schema["items"])
        if kind == "map":
            return visit(schema["values"])
        if kind in ("record", "error"):
            return any(visit(f["type"]) for f in schema["fields"])
        return isinstance(kind, dict | list) and visit(kind)

    return visit(parsed)


def _empty(schema, named: dict, seen: frozenset) -> bool:
    """Whether every value of the schema encodes to zero bytes."""
    if isinstance(schema, str):
        if schema == "null":
            return True
        if schema in named and schema not in seen:
            return _empty(named[schema], named, seen | {schema})
        return False
    if isinstance(schema, list):  # a union's branch index takes a byte
        return False
    kind = schema["type"]
    if kind in ("record", "error"):
        return all(_empty(f["type"], named, seen) for f in schema["fields"])
    if kind == "fixed":
        return schema["size"] == 0
    if isinstance(kind, str) and kind not in ("array", "map", "enum"):
        return _empty(kind, named, seen)  # a primitive in long form, or with a logicalType
    return isinstance(kind, dict) and _empty(kind, named, seen)


def excessive_count(parsed: dict, payload: bytes | memoryview) -> str | None:
    """A sentence naming the array that claims more than MAX_EMPTY_ITEMS items that take no
    bytes, else None (also when the value is corrupt in a way fastavro itself reports)."""
    named = parsed.get("__named_schemas", {})
    data = bytes(payload)
    try:
        _walk(parsed, named, data, 0)
    except (_Corrupt, RecursionError):
        return None
    except _TooMany as exc:
        return str(exc)
    return None


class _TooMany(Exception):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Corrupt
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


def _walk(schema, named: dict, data: bytes, pos: int) -> int:
    """The position after one value of `schema` that starts at `pos`."""
    if isinstance(schema, str):
        if schema in named:
            return _walk(named[schema], named, data, pos)
        if schema == "null":
            return pos
        if schema in _FIXED_SIZE:
            pos += _FIXED_SIZE[schema]
        elif schema in _VARINTS:
            _, pos = _varint(data, pos)
        elif schema in ("bytes", "string"):
            size, pos = _varint(data, pos)
            if size < 0:
                raise _Corrupt
            pos += size
        if pos > len(data):
            raise _Corrupt
        return pos
    if isinstance(schema, list):
        branch, pos = _varint(data, pos)
        if not 0 <= branch < len(schema):
            raise _Corrupt
        return _walk(schema[branch], named, data, pos)
    kind = schema["type"]
    if kind in ("record", "error"):
        for f in schema["fields"]:
            pos = _walk(f["type"], named, data, pos)
        return pos
    if kind == "fixed":
        pos += schema["size"]
        if pos > len(data):
            raise _Corrupt
        return pos
    if kind in ("array", "map"):
        items = schema["items"] if kind == "array" else schema["values"]
        empty = kind == "array" and _empty(items, named, frozenset())
        total = 0
        while True:
            count, pos = _varint(data, pos)
            if count == 0:
                return pos
            if count < 0:  # a negative count is followed by the block's size in bytes
                count = -count
                _, pos = _varint(data, pos)
            total += count
            if empty:
                if total > MAX_EMPTY_ITEMS:
                    raise _TooMany(f"an array claims {total:,} items of a type that takes no "
                                   f"bytes (more than {MAX_EMPTY_ITEMS:,} is taken for a "
                                   "corrupt count)")
                continue
            for _ in range(count):
                if kind == "map":
                    pos = _walk("string", named, data, pos)
                pos = _walk(items, named, data, pos)
    if kind == "enum":
        return _varint(data, pos)[1]
    return _walk(kind, named, data, pos)  # a primitive in long form, or with a logicalType
