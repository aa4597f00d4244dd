"""A wave's cutover onto a mirrored target: the plan moving its groups there (`cutover groups`,
applied by the rollback machinery: refusals, read-back, audit) and its readiness (`cutover
check`, read-only)."""

import time
from dataclasses import dataclass, field

from ..config import Settings
from ..errors import NotFoundError, RefusedError
from ..partitions import TP, name
from .plan import (
    GroupPlan,
    Plan,
    checkpoint_groups,
    partition_bounds,
    refuse_active_groups,
    refuse_plan_problems,
)
from .planners import place_all
from .translate import TopicMapping, Translation, content, translate

# The topic configs that must agree on both sides for consumers to meet the same log.
CONFIGS = ("retention.ms", "retention.bytes", "cleanup.policy", "min.insync.replicas",
           "max.message.bytes", "compression.type")


@dataclass
class Scope:
    topics: list[str]
    groups: list[str]


def _source_scope(admin, scope: Scope) -> tuple[list[str], list[TP], dict[str, dict[TP, int]]]:
    from ..kafka import groups as kafka_groups
    from ..kafka import metadata

    if not scope.groups:
        raise RefusedError("the wave names no consumer group; nothing to move.")
    committed = kafka_groups.committed_offsets(admin, scope.groups)
    topics = list(scope.topics) or sorted({t for offsets in committed.values()
                                           for t, _ in offsets})
    metas = metadata.topics(admin, topics)  # NotFoundError naming a missing topic
    tps = [(t, p) for t in topics for p in sorted(metas[t].partitions)]
    wave = {t for t in topics}
    committed = {g: {tp: o for tp, o in committed.get(g, {}).items() if tp[0] in wave}
                 for g in scope.groups}
    return topics, tps, committed


@dataclass
class CutoverPlan:
    plan: Plan
    translations: list[Translation]
    how: str
    source_cluster_id: str
    mapping: TopicMapping
    source_states: dict[str, str] = field(default_factory=dict)  # group -> state on the source

    def as_json(self, executed: bool) -> dict:
        document = self.plan.as_json(executed)
        document["translate"] = self.how
        document["source_cluster_id"] = self.source_cluster_id
        document["topic_mapping"] = self.mapping.describe()
        by_target = {(t.group, t.target_topic, t.partition): t for t in self.translations}
        for g in document["groups"]:
            if g["group"] in self.source_states:
                g["source_state"] = self.source_states[g["group"]]
            for p in g["partitions"]:
                t = by_target[(g["group"], p["topic"], p["partition"])]
                p["source_topic"], p["source_offset"] = t.topic, t.committed
            g["uncommitted"] = [
                {"source_topic": t.topic, "topic": t.target_topic, "partition": t.partition,
                 "note": t.note}
                for t in self.translations if t.group == g["group"] and t.committed is None]
        return document


def plan_groups(source: Settings, target: Settings, scope: Scope, mapping: TopicMapping,
                how: str, alias: str | None = None) -> CutoverPlan:
    """Plan moving the wave's groups onto the target, each partition translated `how`."""
    from .. import kafka
    from ..kafka import groups as kafka_groups

    source_admin = kafka.Admin(source)
    source_cluster = kafka.cluster_id(source_admin)
    _, tps, committed = _source_scope(source_admin, scope)
    text = (f"cluster {source_cluster} ({source.bootstrap_servers}), --translate {how}, "
            f"{mapping.describe()}")
    result = _plan_on_target(source, target, source_cluster, scope.groups, committed, tps,
                             mapping, how, alias, "cutover groups", text)
    result.source_states = {g: i.state for g, i in
                            kafka_groups.describe_groups(source_admin, scope.groups).items()}
    return result


def plan_rollback_translated(source: Settings, target: Settings, checkpoint_path,
                             groups: list[str] | None, topics: list[str] | None,
                             mapping: TopicMapping, how: str,
                             alias: str | None = None) -> CutoverPlan:
    """`rollback --translate exact|mm2`: the checkpoint's groups, recorded on the source
    cluster, placed on this (target) cluster at the copies of the records they were to read
    next then. The source must still hold those records."""
    from .. import kafka

    cp, chosen = checkpoint_groups(checkpoint_path, groups)
    source_cluster = kafka.cluster_id(kafka.Admin(source))
    if source_cluster != cp.cluster_id:
        raise RefusedError(
            f"checkpoint {checkpoint_path} was taken on cluster {cp.cluster_id}, but "
            f"--from-bootstrap-servers {source.bootstrap_servers} is cluster {source_cluster}: "
            "give the cluster the checkpoint was taken on.")
    committed = {g: {(t, p): o.offset for t, parts in cp.groups[g].offsets.items()
                     for p, o in parts.items() if not topics or t in topics} for g in chosen}
    tps = sorted({tp for offsets in committed.values() for tp in offsets})
    text = (f"{checkpoint_path} (--translate {how} from cluster {source_cluster}, "
            f"{mapping.describe()})")
    return _plan_on_target(source, target, source_cluster, chosen, committed, tps, mapping,
                           how, alias, "rollback", text)


def _plan_on_target(source: Settings, target: Settings, source_cluster: str,
                    groups: list[str], committed: dict[str, dict[TP, int]], tps: list[TP],
                    mapping: TopicMapping, how: str, alias: str | None, command: str,
                    source_text: str) -> CutoverPlan:
    from .. import kafka
    from ..kafka import groups as kafka_groups

    target_admin = kafka.Admin(target)
    target_cluster = kafka.cluster_id(target_admin)
    if target_cluster == source_cluster:
        raise RefusedError(f"the target {target.bootstrap_servers} is the source cluster "
                           f"({source_cluster}); give the migration's target.")
    infos = kafka_groups.describe_groups(target_admin, groups)
    refuse_active_groups(infos)
    translations = translate(source, target, committed, tps, mapping, how, alias)
    problems = [f"group {t.group} {name(t.tp)}: {t.problem}" for t in translations
                if t.problem]
    if problems:
        raise RefusedError(f"{len(problems)} partition(s) cannot be translated "
                           f"{'exactly' if how == 'exact' else 'with --translate ' + how}; "
                           "nothing was changed.", details=problems)
    target_tps = sorted({t.target_tp for t in translations if t.target is not None})
    bounds = partition_bounds(target_admin, target_tps)
    current = kafka_groups.committed_offsets(target_admin, groups)
    plans, out_of_range = [], []
    for group in groups:
        mine = [t for t in translations if t.group == group and t.target is not None]
        wanted = {t.target_tp: t.target for t in mine}
        notes = {t.target_tp: t.note for t in mine}
        moves, problems = place_all(wanted, current.get(group, {}), bounds, False, notes)
        out_of_range += [f"group {group} {p}" for p in problems]
        plans.append(GroupPlan(group, infos[group].state, moves))
    refuse_plan_problems(out_of_range, False)
    plan = Plan(command, source_text, target_cluster, time.time_ns() // 1_000_000, plans,
                bounds)
    return CutoverPlan(plan, translations, how, source_cluster, mapping)


# -- readiness ------------------------------------------------------------------------------

@dataclass
class Readiness:
    source_cluster_id: str
    target_cluster_id: str
    topics: list[dict] = field(default_factory=list)
    groups: list[dict] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"ready": not self.blockers, "source_cluster_id": self.source_cluster_id,
                "target_cluster_id": self.target_cluster_id, "topics": self.topics,
                "groups": self.groups, "blockers": self.blockers}


def _mirror_lag(source: Settings, target: Settings, admins: tuple,
                pairs: list[tuple[TP, TP]], source_bounds: dict[TP, tuple[int, int]],
                target_bounds: dict[TP, tuple[int, int]]) -> dict[TP, tuple[int | None, str]]:
    """Per source partition: the number of source records (read_committed) after the one
    that the target's last record copies; None with the reason when that record is not
    found on the source. All partitions at once: a read per side and step."""
    from ..kafka import records
    from .translate import Seek, provenance, seek_all

    lags: dict[TP, tuple[int | None, str]] = {}
    lasts = records.last_records_before(
        target, {ttp: target_bounds[ttp][1] for _, ttp in pairs},
        {ttp: target_bounds[ttp][0] for _, ttp in pairs})
    counts: dict[TP, list[Seek]] = {}
    notes: dict[TP, str] = {}
    copied: dict[TP, int | None] = {}
    by_content: dict[TP, tuple[TP, object]] = {}
    for stp, ttp in pairs:
        last = lasts[ttp]
        if last is None:
            counts[stp], notes[stp] = [Seek(*source_bounds[stp], None)], "nothing copied yet"
            continue
        origin = provenance(last)
        if origin is not None and (origin[0], origin[1]) == stp:
            copied[stp] = origin[2]
        else:
            # A mirror copies in order: the source record that the target's last record
            # copies, counting identical records on both sides from their timestamp on.
            by_content[stp] = (ttp, last)
    copied.update(_matched_offsets(source, target, admins, by_content, source_bounds))
    for stp, copied_offset in copied.items():
        if copied_offset is None:
            ttp, last = by_content[stp]
            lags[stp] = (None, f"the target's last record ({name(ttp)} offset {last.offset}) "
                               "is not on the source")
            continue
        counts[stp], notes[stp] = [Seek(copied_offset + 1, source_bounds[stp][1], None)], ""
    seek_all(source, counts)
    lags.update({stp: (seeks[0].count, notes[stp]) for stp, seeks in counts.items()})
    return lags


def _matched_offsets(source: Settings, target: Settings, admins: tuple,
                     lasts: dict[TP, tuple[TP, object]],
                     source_bounds: dict[TP, tuple[int, int]]) -> dict[TP, int | None]:
    """Per source partition, the source offset of the record that the target's record
    `last` copies, counting identical records on both sides from their timestamp on."""
    from .translate import Seek, content, first_at_or_after, seek_all

    source_admin, target_admin = admins
    firsts = first_at_or_after(source_admin, [(stp, last.timestamp)
                                              for stp, (_, last) in lasts.items()])
    found: dict[TP, int | None] = {stp: None for stp in lasts}
    starts = {stp: firsts[(stp, last.timestamp)] for stp, (_, last) in lasts.items()}
    on_source = [stp for stp, first in starts.items() if first >= 0]
    firsts = first_at_or_after(target_admin, [(lasts[stp][0], lasts[stp][1].timestamp)
                                              for stp in on_source])
    repeats: dict[TP, Seek] = {}
    for stp in on_source:
        ttp, last = lasts[stp]
        repeats[stp] = Seek(firsts[(ttp, last.timestamp)], last.offset, content(last))
    seek_all(target, {lasts[stp][0]: [seek] for stp, seek in repeats.items()})
    finds = {stp: Seek(starts[stp], source_bounds[stp][1], content(lasts[stp][1]),
                       skip=seek.count) for stp, seek in repeats.items()}
    seek_all(source, {stp: [seek] for stp, seek in finds.items()})
    found.update({stp: seek.found.offset for stp, seek in finds.items()
                  if seek.found is not None})
    return found


def check(source: Settings, target: Settings, scope: Scope, mapping: TopicMapping,
          max_lag: int = 0) -> Readiness:
    """Whether the wave can move: read-only."""
    from .. import kafka
    from ..kafka import groups as kafka_groups
    from ..kafka import metadata

    source_admin = kafka.Admin(source)
    target_admin = kafka.Admin(target)
    result = Readiness(kafka.cluster_id(source_admin), kafka.cluster_id(target_admin))
    topics, tps, committed = _source_scope(source_admin, scope)
    source_topics = metadata.topics(source_admin, topics)
    target_present = metadata.list_topics(target_admin)
    targets = {t: mapping.target(t) for t in topics}
    present = [t for t in topics if targets[t] in target_present]
    source_configs = metadata.topic_configs(source_admin, topics)
    target_configs = metadata.topic_configs(target_admin, [targets[t] for t in present])
    source_bounds = metadata.watermarks(source_admin, tps, read_committed=True)
    pairs = [((t, p), (targets[t], p)) for t, p in tps
             if t in present and p in target_present[targets[t]].partitions]
    target_bounds = metadata.watermarks(target_admin, [ttp for _, ttp in pairs],
                                        read_committed=True)
    lags = _mirror_lag(source, target, (source_admin, target_admin), pairs,
                       source_bounds, target_bounds)
    for topic in topics:
        entry = {"topic": topic, "target_topic": targets[topic],
                 "partitions": len(source_topics[topic].partitions),
                 "target_partitions": None, "configs": {}, "lag": []}
        result.topics.append(entry)
        if topic not in present:
            result.blockers.append(f"topic {targets[topic]} does not exist on the target "
                                   f"(mirror of {topic}).")
            continue
        count = len(target_present[targets[topic]].partitions)
        entry["target_partitions"] = count
        if count < entry["partitions"]:
            result.blockers.append(f"topic {targets[topic]} has {count} partition(s) on the "
                                   f"target, fewer than {topic}'s {entry['partitions']}.")
        for key in CONFIGS:
            here = source_configs[topic].get(key)
            there = target_configs[targets[topic]].get(key)
            entry["configs"][key] = {"source": here, "target": there}
            if here != there:
                result.blockers.append(f"topic {targets[topic]}: {key} is {there} on the "
                                       f"target, {here} on the source.")
        for p in sorted(source_topics[topic].partitions):
            lag, why = lags.get((topic, p), (None, "no such partition on the target"))
            entry["lag"].append({"partition": p, "records": lag, "note": why})
            if lag is None:
                result.blockers.append(f"{name((topic, p))}: mirror lag unknown: {why}.")
            elif lag > max_lag:
                result.blockers.append(f"{name((topic, p))}: the mirror is {lag} record(s) "
                                       f"behind (more than --max-mirror-lag {max_lag}).")

    infos = kafka_groups.describe_groups(target_admin, scope.groups)
    target_committed = kafka_groups.committed_offsets(target_admin, scope.groups)
    try:
        translations = translate(source, target, committed, [tp for tp in tps
                                                             if tp[0] in present],
                                 mapping, "exact")
    except NotFoundError as exc:
        result.blockers.append(str(exc))
        translations = []
    for group in scope.groups:
        state = infos[group].state
        g = {"group": group, "target_state": state, "partitions": []}
        result.groups.append(g)
        if state not in ("Empty", "Dead"):
            result.blockers.append(f"group {group} is {state} on the target with "
                                   f"{len(infos[group].members)} member(s); it must be Empty.")
        for t in (t for t in translations if t.group == group):
            same = None
            if t.target_record is not None:
                same = content(t.target_record) == content(t.anchor)
            row = {"topic": t.topic, "partition": t.partition, "target_topic": t.target_topic,
                   "source_committed": t.committed, "translated": t.target,
                   "target_committed": target_committed.get(group, {}).get(t.target_tp),
                   "same_record": same, "note": t.problem or t.note}
            g["partitions"].append(row)
            if t.problem:
                result.blockers.append(f"group {group} {name(t.tp)}: {t.problem}.")
    return result
