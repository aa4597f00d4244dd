"""Hypothesis strategies for checkpoints, shared by the format and the connector tests."""

from hypothesis import strategies as st

from ingestctl import checkpoints as cps
from ingestctl.checkpoints import model

names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)

offsets = st.integers(min_value=0, max_value=2**62)

times = st.one_of(st.none(), st.integers(min_value=0, max_value=253402300799999))

texts = st.text(min_size=1, max_size=30).filter(lambda s: s.strip() == s and s)


@st.composite
def checkpoints(draw):
    topics = {}
    for topic in draw(st.lists(names, max_size=4, unique=True)):
        partitions = {}
        for p in draw(st.lists(st.integers(0, 50), max_size=5, unique=True)):
            log_start = draw(offsets)
            end = log_start + draw(st.integers(0, 10**9))
            partitions[p] = model.PartitionState(
                p, log_start, end, draw(times), draw(times),
                tuple(sorted(draw(st.sets(st.integers(0, 2**31 - 1), max_size=2)))))
        topics[topic] = model.TopicState(partitions)
    groups = {}
    for group in draw(st.lists(texts, max_size=3, unique=True)):
        group_offsets = {}
        for topic, state in topics.items():
            chosen = draw(st.lists(st.sampled_from(sorted(state.partitions)), unique=True)
                          if state.partitions else st.just([]))
            if chosen:
                group_offsets[topic] = {p: model.GroupOffset(p, draw(offsets), draw(times),
                                                           draw(times)) for p in chosen}
        groups[group] = model.GroupState(draw(st.sampled_from(["Stable", "Empty", "Dead"])),
                                       draw(st.integers(0, 100)), group_offsets)
    schemas = {s: cps.SchemaVersion(draw(st.integers(0, 2**31)), draw(st.integers(1, 999)),
                                    "sha256:" + draw(st.text("0123456789abcdef", min_size=64,
                                                             max_size=64)))
               for s in draw(st.lists(texts, max_size=3, unique=True))}
    return cps.Checkpoint(
        wave=draw(names), created_at=draw(st.integers(0, 253402300799999)),
        cluster_id=draw(texts), note=draw(st.one_of(st.none(), st.text(max_size=40))),
        topics=topics, groups=groups, schemas=schemas,
    )
