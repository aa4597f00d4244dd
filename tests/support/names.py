"""Unique names: every test uses its own topics, groups and ids on the shared broker."""

import uuid


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
