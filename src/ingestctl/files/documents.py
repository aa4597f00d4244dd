"""Checksummed YAML documents, shared by checkpoints and plan files: a canonical dump, its
sha256 checksum, a strict loader (no duplicate keys, no surprises) and a field reader whose
errors name the file and the field (exit 7)."""

import hashlib
import json
import re
from typing import NoReturn

import yaml

from ..errors import InvalidFileError, UsageError
from ..parsing import parse_time_ms

TIME_TEXT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")



class Flow(dict):
    """A mapping written on one line: one partition per line keeps the file readable."""


class YamlDumper(yaml.CSafeDumper):
    pass


def represent_text(dumper, text: str):
    # PyYAML writes these Unicode line breaks unquoted yet reads them as breaks: quote them.
    style = '"' if any(c in text for c in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


class StrictLoader(yaml.CSafeLoader):
    """Refuses duplicate keys, which plain YAML loading silently collapses."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen = set()
            for key_node, _ in node.value:
                key = getattr(key_node, "value", None)
                if isinstance(key, str) and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}'", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def checksum(document: dict) -> str:
    """sha256 over the canonical JSON of everything but the checksum itself, so the YAML's
    layout may vary but no value can change unnoticed."""
    content = {k: v for k, v in document.items() if k != "checksum"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class FieldReader:
    """Typed access to a loaded document (a checkpoint, or a saved plan) that names the file
    and the field on any problem."""

    def __init__(self, source: str, kind: str = "checkpoint"):
        self.source = source
        self.kind = kind

    def fail(self, where: str, problem: str) -> NoReturn:
        remedy = ("take a new checkpoint or restore this file from a copy"
                  if self.kind == "checkpoint" else f"make the {self.kind} again")
        raise InvalidFileError(
            f"{self.kind} {self.source} is not intact: field {where} {problem}; {remedy}."
        )

    def get(self, data: dict, key: str, where: str):
        if key not in data:
            self.fail(f"{where}{key}", "is missing")
        return data[key]

    def mapping(self, data: dict, key: str, where: str) -> dict:
        value = self.get(data, key, where)
        if not isinstance(value, dict):
            self.fail(f"{where}{key}", "must be a mapping")
        return value

    def items(self, data: dict, key: str, where: str) -> list:
        value = self.get(data, key, where)
        if not isinstance(value, list):
            self.fail(f"{where}{key}", "must be a list")
        return value

    def text(self, data: dict, key: str, where: str, optional: bool = False) -> str | None:
        value = self.get(data, key, where)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            self.fail(f"{where}{key}", "must be a non-empty string")
        return value

    def count(self, data: dict, key: str, where: str) -> int:
        value = self.get(data, key, where)
        if type(value) is not int:
            self.fail(f"{where}{key}", "must be a whole number")
        if value < 0:
            self.fail(f"{where}{key}", f"is negative ({value})")
        return value

    def time(self, data: dict, key: str, where: str, optional: bool = True) -> int | None:
        value = self.get(data, key, where)
        if value is None and optional:
            return None
        expected = ("must be a UTC time like 2026-11-26T21:00:00.000Z" +
                    (" or null" if optional else ""))
        if not isinstance(value, str) or not TIME_TEXT.match(value):
            self.fail(f"{where}{key}", expected)
        try:
            return parse_time_ms(value)
        except UsageError:  # the right shape, but no such day or hour (month 00, hour 25)
            self.fail(f"{where}{key}", expected)

