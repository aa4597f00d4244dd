"""What changed on the cluster since a saved plan was made, as sentences: the facts that make
applying it unsafe. Pure: the caller passes the plan's facts and the live ones."""
from ..partitions import TP, name
from .planners import Bounds


def drift(planned_states: dict[str, str], live_states: dict[str, str],
          planned_current: dict[str, dict[TP, int | None]],
          live_current: dict[str, dict[TP, int]],
          planned_bounds: dict[TP, Bounds], live_bounds: dict[TP, Bounds]) -> list[str]:
    """Everything that changed since a plan was made, one sentence each."""
    problems = []
    for group, state in sorted(planned_states.items()):
        if live_states.get(group) != state:
            problems.append(f"group {group} was {state}, now {live_states.get(group)}.")
        for tp, offset in sorted(planned_current.get(group, {}).items()):
            now = live_current.get(group, {}).get(tp)
            if now != offset:
                problems.append(f"group {group} {name(tp)}: committed offset was {offset}, "
                                f"now {now}.")
    for tp, bounds in sorted(planned_bounds.items()):
        now = live_bounds.get(tp)
        if now is None:
            problems.append(f"{name(tp)} no longer exists.")
        elif now != bounds:
            problems.append(f"{name(tp)}: log-start/end were {bounds.log_start}/{bounds.end}, "
                            f"now {now.log_start}/{now.end}.")
    return problems

