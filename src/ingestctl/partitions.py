"""A topic partition as the rest of ingestctl passes it around: a (topic, partition) tuple,
shown as topic[partition]."""

TP = tuple[str, int]


def name(tp: TP) -> str:
    return f"{tp[0]}[{tp[1]}]"
