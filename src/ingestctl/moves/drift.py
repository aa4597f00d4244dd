"""What changed on the cluster since a saved plan was made, as sentences: the facts that make
applying it unsafe. Pure: the caller passes the plan's facts and the live ones.

A plan's targets are absolute offsets, so records written since (producers keep writing
during an outage) are not drift. Drift is: a group's state or committed offsets changed,
partitions added or removed, the topic recreated (another topic id, or an end or log-start
that went down), or a target no longer within the retained offsets (below the log-start, or
past the end)."""

from ..partitions import TP, name
from .plan import TopicFacts
from .planners import Bounds


def drift(planned_states: dict[str, str], live_states: dict[str, str],
          planned_current: dict[str, dict[TP, int | None]],
          live_current: dict[str, dict[TP, int]],
          planned_bounds: dict[TP, Bounds], live_bounds: dict[TP, Bounds],
          planned_targets: dict[str, dict[TP, int]] | None = None,
          planned_topics: dict[str, TopicFacts] | None = None,
          live_topics: dict[str, TopicFacts] | None = None) -> list[str]:
    """Everything that changed since a plan was made, one sentence each. `planned_topics`
    is empty for a plan file written before plans recorded topic ids and partition counts:
    then partitions and offsets alone tell."""
    problems = []
    for group, state in sorted(planned_states.items()):
        if live_states.get(group) != state:
            problems.append(f"group {group} was {state}, now {live_states.get(group)}.")
        for tp, offset in sorted(planned_current.get(group, {}).items()):
            now = live_current.get(group, {}).get(tp)
            if now != offset:
                problems.append(f"group {group} {name(tp)}: committed offset was {offset}, "
                                f"now {now}.")
    gone = set()
    for topic, facts in sorted((planned_topics or {}).items()):
        now = (live_topics or {}).get(topic)
        if now is None:
            problems.append(f"topic {topic} no longer exists.")
            gone.add(topic)
            continue
        if facts.topic_id and now.topic_id and facts.topic_id != now.topic_id:
            problems.append(f"topic {topic} was recreated (deleted and created again) since "
                            f"the plan was made: its topic id was {facts.topic_id}, now "
                            f"{now.topic_id}.")
        if now.partitions != facts.partitions:
            change = now.partitions - facts.partitions
            problems.append(f"topic {topic} had {facts.partitions} partitions when planned, "
                            f"now {now.partitions} ({'added' if change > 0 else 'removed'} "
                            f"{abs(change)}).")
    for tp, bounds in sorted(planned_bounds.items()):
        if tp[0] in gone:
            continue
        now = live_bounds.get(tp)
        if now is None:
            problems.append(f"{name(tp)} no longer exists.")
        elif now.end < bounds.end:
            problems.append(f"{name(tp)}: its end went down from {bounds.end} to {now.end}, so "
                            "the topic was recreated or truncated since the plan was made.")
        elif now.log_start < bounds.log_start:
            problems.append(f"{name(tp)}: its log-start went down from {bounds.log_start} to "
                            f"{now.log_start}, so the topic was recreated since the plan was "
                            "made.")
    for group, targets in sorted((planned_targets or {}).items()):
        for tp, target in sorted(targets.items()):
            now = live_bounds.get(tp)
            if now is None:
                continue
            if target < now.log_start:
                problems.append(f"group {group} {name(tp)}: target {target} is now below the "
                                f"log-start {now.log_start} (those records were deleted).")
            elif target > now.end:
                problems.append(f"group {group} {name(tp)}: target {target} is now past the "
                                f"end {now.end}.")
    return problems
