"""Stage 3, function integration: documents with overlapping function merge into one tool.

Lookup tools of the same entity type (``get_film_director``, ``get_film_release_year``) merge,
with probability ``merge_prob``, into one general tool (``film_info``) whose ``field`` enum
argument selects the attribute. Afterwards one tool may answer several sub-questions.
"""

from __future__ import annotations

import random

from toolgym.generate.documents import ToolSpec, key_noun
from toolgym.generate.domains import DOMAINS

__all__ = ["FIELD_PARAM", "generalize", "integrate", "tool_for"]

FIELD_PARAM = "field"
"""Argument of merged tools that selects the attribute to return."""

_MERGED_NAMES = ("{t}_info", "get_{t}_details", "{t}_lookup", "query_{t}_records")


def generalize(spec: ToolSpec, fields: list[str], rand: random.Random) -> ToolSpec:
    """Returns a general tool of ``spec.entity`` that returns any of ``fields`` on request.

    The fields keep the domain's attribute order, so the schema does not depend on draw order.
    """
    type_ = DOMAINS[spec.entity]
    order = [a.name for a in type_.attributes if a.name in fields]
    name = rand.choice(_MERGED_NAMES).format(t=spec.entity)
    listing = "; ".join(f"{f}: {type_.attr(f).doc}" for f in order)
    description = (f"Looks up a {spec.entity} by its {key_noun(spec.entity)} and returns one field of "
                   f"its record ({listing}). Fails with a hint when no {spec.entity} matches.")
    properties = {
        type_.key_param: {"type": "string", "description": type_.key_doc},
        FIELD_PARAM: {"type": "string", "enum": order,
                      "description": f"Which field of the {spec.entity} record to return."},
    }
    return ToolSpec(name, spec.entity, description, properties, [type_.key_param, FIELD_PARAM],
                    order, FIELD_PARAM, spec.distractor)


def integrate(specs: list[ToolSpec], merge_prob: float, rand: random.Random) -> list[ToolSpec]:
    """Merges each group of two or more lookup specs of one entity type with ``merge_prob``.

    Args:
        specs: The drafted specs, in step order.
        merge_prob: Probability that a group merges.
        rand: The scenario's random source.

    Returns:
        The specs after merging, a merged tool taking the place of its group's first member.
    """
    groups: dict[str, list[ToolSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.entity, []).append(spec)
    merged: dict[str, ToolSpec] = {}
    for entity, group in groups.items():
        if entity in DOMAINS and len(group) > 1 and rand.random() < merge_prob:
            fields = [f for spec in group for f in spec.fields]
            merged[entity] = generalize(group[0], fields, rand)
    result: list[ToolSpec] = []
    for spec in specs:
        if spec.entity not in merged:
            result.append(spec)
        elif merged[spec.entity] not in result:
            result.append(merged[spec.entity])
    return result


def tool_for(specs: list[ToolSpec], entity: str, attr: str | None) -> ToolSpec:
    """Returns the needed spec that answers ``attr`` of ``entity`` (``attr`` None: calculator)."""
    for spec in specs:
        if spec.entity == entity and not spec.distractor and (attr is None or attr in spec.fields):
            return spec
    raise KeyError(f"no tool answers {entity}.{attr}")
